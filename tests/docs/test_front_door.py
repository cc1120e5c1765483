"""README.md is a front door: short, the two commands first, a link to every docs/ page; the
folder map (docs/architecture.md, Layout) matches the tree."""

from __future__ import annotations

import re

from tests.docs.docs_support import ROOT, tracked_files

README = ROOT / "README.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MAX_LINES = 200


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _between(text: str, name: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    assert text.count(start) == 1, f"one {start}"
    assert text.count(end) == 1, f"one {end}"
    return text.split(start, 1)[1].split(end, 1)[0]


def layout_folders(block: str) -> set[str]:
    """The folders the Layout block names: `name/` at the start of a line. Unindented lines are
    top-level folders (`service/roomtemp/` names both); indented lines are folders inside the
    last unindented one, and may name several separated by single spaces (`  a/ b/ c/`), so
    that tests/'s one-folder-per-package list fits the README's length limit."""
    [fenced] = re.findall(r"```[^\n]*\n(.*?)```", block, flags=re.S)
    named: set[str] = set()
    parent = ""
    for line in fenced.splitlines():
        match = re.match(r"(\s*)((?:\S+/ )*\S+/)(?:\s|$)", line)
        if not match:
            continue
        indent, paths = match.group(1), match.group(2).split(" ")
        if indent:
            named.update(f"{parent}/{path.rstrip('/')}" for path in paths)
        else:
            path = paths[0].rstrip("/")
            parent = path
            parts = path.split("/")
            named.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return named


def tree_folders() -> set[str]:
    """What the Layout must name: the top-level folders, the packages of service/roomtemp/ and
    the folders of tests/, as git tracks them."""
    folders: set[str] = {"service/roomtemp"}
    for path in tracked_files():
        parts = path.split("/")
        if len(parts) > 1:
            folders.add(parts[0])
        if parts[:2] == ["service", "roomtemp"] and len(parts) > 3:
            folders.add("/".join(parts[:3]))
        if parts[0] == "tests" and len(parts) > 2:
            folders.add("/".join(parts[:2]))
    return folders


def test_readme_is_at_most_200_lines() -> None:
    assert len(_readme().splitlines()) <= MAX_LINES


def test_readme_opens_with_the_two_commands() -> None:
    opening = "\n".join(_readme().splitlines()[:20])
    assert re.search(r"^make run\b", opening, flags=re.M)
    assert re.search(r"^make test\b", opening, flags=re.M)


def test_layout_names_exactly_the_folders_that_exist() -> None:
    named = layout_folders(_between(ARCHITECTURE.read_text(encoding="utf-8"), "layout"))
    existing = tree_folders()
    assert sorted(existing - named) == [], "folders the Layout does not name"
    assert sorted(named - existing) == [], "folders the Layout names that do not exist"


def test_layout_parser_sees_nesting() -> None:
    block = "```\nbench/   x\nservice/roomtemp/   y\n  api/   z\ntests/\n  unit/  w\n```\n"
    assert layout_folders(block) == {
        "bench",
        "service",
        "service/roomtemp",
        "service/roomtemp/api",
        "tests",
        "tests/unit",
    }


def test_layout_parser_reads_several_folders_on_one_indented_line() -> None:
    block = "```\nscripts/   deploy/ (helm)\ntests/\n  api/ auth/ db/   x/ y\n```\n"
    assert layout_folders(block) == {"scripts", "tests", "tests/api", "tests/auth", "tests/db"}


def test_where_to_go_next_links_every_docs_page() -> None:
    section = _readme().split("\n## Where to go next\n", 1)[1].split("\n## ", 1)[0]
    linked = set(re.findall(r"\]\((docs/[\w./-]+\.md)(?:#[\w-]*)?\)", section))
    pages = {p for p in tracked_files() if re.fullmatch(r"docs/[\w.-]+\.md", p)}
    assert pages, "docs/ has pages"
    assert sorted(pages - linked) == []


def test_compose_section_is_only_the_marked_block() -> None:
    section = _readme().split("\n## Run with Docker Compose\n", 1)[1].split("\n## ", 1)[0]
    body = section.strip()
    assert body.startswith("<!-- compose:start -->")
    assert body.endswith("<!-- compose:end -->")
    assert "docker compose up" in _between(section, "compose")


def test_walkthrough_is_marked() -> None:
    assert "$ curl" in _between(_readme(), "walkthrough")
