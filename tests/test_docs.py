"""The documents a user navigates by stay true to the code they describe."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_environment_setting_is_documented() -> None:
    read = set(re.findall(r'"(PRICEBOOK_[A-Z_]+)"', (ROOT / "pricebook/settings.py").read_text()))
    documented = set(re.findall(r"PRICEBOOK_[A-Z_]+", (ROOT / "docs/configuration.md").read_text()))
    assert read, "the settings module reads no PRICEBOOK_ variable: the pattern is stale"
    assert read - documented == set()


def test_readme_and_docs_link_only_to_files_in_the_repository() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            if not (page.parent / target).resolve().exists():
                broken.append(f"{page.relative_to(ROOT)} → {target}")
            elif not (page.parent / target).resolve().is_relative_to(ROOT):
                broken.append(f"{page.relative_to(ROOT)} → {target} (outside the repository)")
    assert broken == []
