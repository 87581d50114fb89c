"""`make mutate`'s patches still apply to the code they target (each anchor occurs exactly once), and a
patch whose anchor moved stops loudly instead of being skipped."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
spec = importlib.util.spec_from_file_location("mutate", ROOT / "tools" / "mutate.py")
mutate = importlib.util.module_from_spec(spec)
sys.modules["mutate"] = mutate  # dataclasses look their module up
spec.loader.exec_module(mutate)


def test_there_are_the_sixteen_mutants_of_the_audit():
    names = [m.name for m in mutate.MUTANTS]
    assert len(names) == len(set(names)) >= 16
    for m in mutate.MUTANTS:
        assert m.tests and all((ROOT / t).exists() for t in m.tests), m.name


@pytest.mark.parametrize("mutant", mutate.MUTANTS, ids=lambda m: m.name)
def test_every_patch_applies_exactly_once(mutant, tmp_path):
    target = tmp_path / mutant.path
    target.parent.mkdir(parents=True)
    target.write_text((ROOT / mutant.path).read_text())
    mutate.apply(mutant, tmp_path)
    assert target.read_text() != (ROOT / mutant.path).read_text()


def test_a_moved_anchor_stops_the_run(tmp_path):
    moved = mutate.Mutant("moved", "", "m.py", "x = 1\n", "x = 2\n", ("tests/test_theory.py",))
    (tmp_path / "m.py").write_text("y = 1\n")
    with pytest.raises(mutate.PatchError, match="patch does not apply"):
        mutate.apply(moved, tmp_path)
