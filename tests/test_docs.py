"""The project carries its own documents: the README links them and nothing points outside the repo."""
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def test_science_document_is_shipped_and_linked():
    science = ROOT / "docs" / "science.md"
    assert science.exists() and len(science.read_text().splitlines()) > 100
    assert "](docs/science.md" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("folder", ["ntkpaths", "docs", "benchmarks", "studies", "tests"])
def test_nothing_points_to_files_users_do_not_have(folder):
    texts = [ROOT / "README.md"] + [p for p in (ROOT / folder).rglob("*")
                                    if p.suffix in (".py", ".md", ".toml") and p != Path(__file__)]
    for path in texts:
        text = path.read_text()
        for outside in ("../shared", "SCIENCE" + ".md", "/work/"):
            assert outside not in text, f"{path.relative_to(ROOT)} mentions {outside}"


def test_quickstart_is_two_commands_that_make_provides():
    """One command runs the main job and draws its figures, one runs the tests; nothing else."""
    import re

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["make figures", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^figures:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
    assert "ntkpaths sweep --depth 8 " in makefile and "ntkpaths plot" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
