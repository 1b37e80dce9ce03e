"""The docs site builds in strict mode, offline, and the README stays a front door that leads
into it (issue 21): a broken link, a missing anchor or a README grown back into a manual fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from local_runner.services.template import load_template

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "docs" / "mkdocs.yml"
PAGES = ROOT / "docs" / "pages"
README = ROOT / "README.md"
README_MOST_LINES = 200
"""Issue 21: what it is, the two commands, a first session, where to go next; the rest is a page."""

README_LINK = re.compile(r"\]\((docs/pages/[\w./-]+?)(?:#([\w-]+))?\)")
REMOTE_ASSET = re.compile(r"<(?:link|script|img)\b[^>]*\b(?:href|src)=\"?(?:https?:)?//", re.I)
IMAGE = re.compile(r"<img\b[^>]*\bsrc=\"?([^\" >]+)", re.I)


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict`, as `./dev docs` serves it; MkDocs' notice of its successor off."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = build(CONFIG, out)
    assert result.returncode == 0, f"the docs site does not build in strict mode:\n{result.stderr}"
    return out


def nav_pages() -> list[str]:
    """Every page the site's navigation lists, in reading order."""
    config = yaml.safe_load(CONFIG.read_text())
    return [page for entry in config["nav"] for page in entry.values()]


def built(site: Path, page: str) -> Path:
    """Where MkDocs writes a page (directory URLs: architecture.md -> architecture/index.html)."""
    return site / "index.html" if page == "index.md" else site / page[: -len(".md")] / "index.html"


def test_every_page_of_the_navigation_is_built(site: Path) -> None:
    # GIVEN the strict build THEN each page of the nav became a page of the site
    for page in nav_pages():
        assert built(site, page).is_file(), f"{page} was not built"


def test_a_broken_link_or_anchor_fails_the_build(tmp_path: Path) -> None:
    # GIVEN a copy of the docs whose architecture page links to a page that is not there, and to
    # a heading another page does not have
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    page = docs / "pages" / "architecture.md"
    broken = "[a page](no-such-page.md), [a heading](message-contract.md#no-such-heading)"
    page.write_text(f"{page.read_text()}\nSee {broken}.\n")
    # WHEN the site is built THEN the strict build refuses it, naming each broken target
    result = build(docs / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert any("no-such-page.md" in line for line in warnings), result.stderr
    assert any("#no-such-heading" in line for line in warnings), result.stderr


def test_the_site_fetches_nothing_from_the_network(site: Path) -> None:
    # GIVEN every built page THEN no stylesheet, script, font or image comes from another host
    for html in site.rglob("*.html"):
        found = REMOTE_ASSET.search(html.read_text())
        assert found is None, f"{html.relative_to(site)} loads {found.group(0)!r}"


def test_every_image_a_page_shows_is_in_the_site(site: Path) -> None:
    images = 0
    for html in site.rglob("*.html"):
        for source in IMAGE.findall(html.read_text()):
            if not source.startswith("data:"):
                images += 1
                assert (html.parent / source).resolve().is_file(), f"{html}: no {source}"
    assert images >= 2  # the dashboard on a laptop and on a phone


def test_the_readme_is_a_front_door_of_at_most_200_lines() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MOST_LINES, (
        f"README.md has {lines} lines, at most {README_MOST_LINES}: move the detail to a page of "
        "docs/pages/ and link to it"
    )


def test_the_readme_leads_to_every_page_and_every_link_lands(site: Path) -> None:
    # GIVEN the README's links into the docs
    links = README_LINK.findall(README.read_text())
    # THEN each names a file that is there, and a heading its built page has
    for target, anchor in links:
        assert (ROOT / target).is_file(), f"README.md links to {target}, which does not exist"
        if anchor and target.endswith(".md"):
            page = built(site, target.removeprefix("docs/pages/"))
            assert f'id="{anchor}"' in page.read_text(), f"{target} has no heading #{anchor}"
    # AND every page of the site but its home is among them
    linked = {target.removeprefix("docs/pages/") for target, _ in links}
    assert set(nav_pages()) - {"index.md"} <= linked


def test_the_readme_and_the_architecture_page_draw_the_same_picture() -> None:
    picture = README.read_text().split("```\n", 2)[1]
    assert "OcppFunction" in picture
    assert picture in (PAGES / "architecture.md").read_text()


def test_the_architecture_page_names_every_function_the_template_declares() -> None:
    page = (PAGES / "architecture.md").read_text()
    for function in load_template(ROOT / "template.yaml").functions:
        assert f"| `{function}` |" in page, f"architecture.md's table of functions lacks {function}"


def test_the_layout_names_every_script_and_every_module_of_the_emulator() -> None:
    # GIVEN the layout table of the architecture page
    layout = (PAGES / "architecture.md").read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    files = [p for p in (ROOT / "scripts").iterdir() if p.is_file()]
    files += [
        p
        for p in (ROOT / "local_runner").rglob("*")
        if p.suffix in (".py", ".java") and p.name not in ("__init__.py", "__main__.py")
    ]
    # THEN it names each of them
    missing = sorted(str(p.relative_to(ROOT)) for p in files if f"`{p.name}`" not in layout)
    missing = [m for m in missing if f"`{Path(m).parent.name}/{Path(m).name}`" not in layout]
    assert missing == [], f"the layout in docs/pages/architecture.md does not name {missing}"
