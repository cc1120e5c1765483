"""Every link in the Markdown files resolves, and so does every docs/ path named anywhere."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from tests.docs.docs_support import ROOT, anchors, github_slug, prose_lines, tracked_files

# [text](target), ![alt](target), optionally with a "title"; reference definitions `[x]: target`;
# and the src/href of inline HTML.
_INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\".*\")?\s*$")
_HTML = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
# A repository path such as docs/operations.md named in a comment or in prose (not ../docs/…).
_DOCS_MENTION = re.compile(r"(?<![\w./-])docs/[\w./-]*\w")


def _markdown_files() -> list[str]:
    return sorted(p for p in tracked_files() if p.endswith(".md") and not _is_run_log(p))


def _is_run_log(path: str) -> bool:
    # Dated benchmark logs are generated records of a past run; they are not edited afterwards.
    return path.startswith("bench/results/")


def _links(text: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for number, line in prose_lines(text):
        for pattern in (_INLINE, _HTML):
            found += [(number, m.group(1)) for m in pattern.finditer(line)]
        reference = _REFERENCE.match(line)
        if reference:
            found.append((number, reference.group(1)))
    return found


def broken_links(source: str, root: Path = ROOT) -> list[str]:
    """The links of one Markdown file that lead nowhere, as `file:line: target (why)`."""
    path = (root / source).resolve()
    problems: list[str] = []
    for number, target in _links(path.read_text(encoding="utf-8")):
        if _EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / unquote(file_part)).resolve() if file_part else path
        where = f"{source}:{number}: {target}"
        if not resolved.is_relative_to(root.resolve()):
            problems.append(f"{where} (outside the repository)")
        elif not resolved.exists():
            problems.append(f"{where} (no such file)")
        elif (
            anchor
            and resolved.suffix == ".md"
            and unquote(anchor).lower() not in anchors(resolved.read_text(encoding="utf-8"))
        ):
            problems.append(f"{where} (no heading with that anchor)")
    return problems


def test_there_are_markdown_files_with_links() -> None:
    files = _markdown_files()
    assert "README.md" in files
    links = [link for f in files for link in _links((ROOT / f).read_text(encoding="utf-8"))]
    assert len(links) >= 5  # the scan sees links at all (a broken regex would find none)


def test_every_relative_link_and_anchor_resolves() -> None:
    problems = [problem for f in _markdown_files() for problem in broken_links(f)]
    assert problems == []


def test_every_docs_path_named_in_the_repository_exists() -> None:
    """Comments and prose name docs/ pages (`Metric names: docs/operations.md`); each must exist."""
    missing: list[str] = []
    for source in tracked_files():
        if _is_run_log(source) or source.startswith("docs/img/"):
            continue
        try:
            text = (ROOT / source).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images and other binary files
        for number, line in enumerate(text.splitlines(), start=1):
            for mention in _DOCS_MENTION.findall(line):
                target = mention.rstrip(".")
                if not (ROOT / target).exists() and not _is_pattern(target):
                    missing.append(f"{source}:{number}: {target}")
    assert missing == []


def _is_pattern(path: str) -> bool:
    return any(ch in path for ch in "*?")


def test_slugs_follow_github() -> None:
    # GitHub's anchors for headings of the kinds our pages use.
    assert github_slug(" Bulk import: `roomtemp import FILE|-`") == (
        "bulk-import-roomtemp-import-file-"
    )
    assert github_slug(" Layering rules") == "layering-rules"
    assert github_slug(" Uploads: `POST /v1/captures` with NDJSON") == (
        "uploads-post-v1captures-with-ndjson"
    )
    assert github_slug(" `ROLLUP_READS` and *rollups*") == "rollup_reads-and-rollups"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


def test_the_checker_reports_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    # The checker itself must be able to fail: a page with one bad file and one bad anchor.
    (tmp_path / "guide").mkdir()
    (tmp_path / "guide" / "page.md").write_text(
        "# Probe\n[a](nowhere.md) [b](#probe) [c](#elsewhere) `[d](x.md)` [e](../README.md)\n"
        "```\n[f](fenced.md)\n```\n"
    )
    (tmp_path / "README.md").write_text("# Readme\n")
    problems = broken_links("guide/page.md", tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "nowhere.md (no such file)",
        "#elsewhere (no heading with that anchor)",
    ]
