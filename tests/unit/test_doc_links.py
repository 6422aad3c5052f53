"""Every link between the README and the pages of docs/ leads somewhere: the file exists, and so does the heading
an anchor names."""

import re

from tests.support.servers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _anchors(text: str) -> set[str]:
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#{1,6} (.*)$", text, re.M)
    }


def test_every_link_between_the_pages_leads_to_a_file_and_a_heading():
    broken = []
    for page in PAGES:
        text = page.read_text()
        for target, anchor in re.findall(r"\]\((?!https?:|mailto:)([^)#\s]*)(?:#([\w\-]+))?\)", text):
            path = (page.parent / target).resolve() if target else page
            if not path.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path.read_text()):
                broken.append(f"{page.name}: {target}#{anchor}")
    assert broken == []
