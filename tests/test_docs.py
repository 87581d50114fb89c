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
