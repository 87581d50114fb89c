"""python -m ntkpaths.cli"""
from . import main

main()
