"""Citations of the design notes: every "DESIGN.md principle N" in grader/, tests/ and docs/ names a
principle of docs/DESIGN.md, the repository's own copy (not a file outside the checkout)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "DESIGN.md"
THIS = Path(__file__).resolve()  # its examples are not citations
SEARCHED = ("grader", "tests", "docs")
# "DESIGN.md principle 3", "DESIGN.md principles 2 and 5", also wrapped over two comment lines
CITATION = re.compile(r"(\S*)DESIGN\.md,?\s+principles?\s+(\d+(?:\s*(?:,|and)\s*\d+)*)")
HEADING = re.compile(r"^## (\d+)\. \S", re.MULTILINE)
# Files another change is moving; their citations still say "DESIGN.md" without the folder.
PENDING_PATH: set[str] = set()


def principles(text: str) -> set[int]:
    return {int(n) for n in HEADING.findall(text)}


def citations(text: str) -> list[tuple[str, int]]:
    """(the path written before ``DESIGN.md``, principle number) for each citation in ``text``."""
    flat = re.sub(r"\n[ \t]*(?:#[ \t]*)?", " ", text)  # a citation wrapped onto a comment line
    return [(m.group(1), int(n)) for m in CITATION.finditer(flat) for n in re.findall(r"\d+", m.group(2))]


def cited_files():
    for top in SEARCHED:
        for path in sorted((ROOT / top).rglob("*")):
            if (path.suffix in (".py", ".md", ".toml") and path not in (DESIGN, THIS)
                    and "__pycache__" not in path.parts):
                found = citations(path.read_text(encoding="utf-8"))
                if found:
                    yield path.relative_to(ROOT).as_posix(), found


def test_the_parsers_read_headings_and_wrapped_citations():
    assert principles("# T\n\n## 1. One\ntext\n## 2. Two\n### 3. not a principle\n") == {1, 2}
    text = "(docs/DESIGN.md principles 2 and 5)\n# x (DESIGN.md principle\n    # 7; more)"
    assert citations(text) == [("(docs/", 2), ("(docs/", 5), ("(", 7)]


def test_every_cited_principle_exists():
    known = principles(DESIGN.read_text(encoding="utf-8"))
    assert known == set(range(1, len(known) + 1)), f"docs/DESIGN.md: principles are not numbered 1..N: {known}"
    files = dict(cited_files())
    assert files, "no citation found: the pattern no longer matches how the code cites the notes"
    bad = [f"{f}: principle {n}" for f, found in files.items() for _, n in found if n not in known]
    assert not bad, f"cited principles missing from docs/DESIGN.md (1..{len(known)}): {bad}"


def test_citations_name_the_repository_copy():
    files = dict(cited_files())
    outside = sorted(f for f, found in files.items() if f not in PENDING_PATH
                     and any(not prefix.endswith("docs/") for prefix, _ in found))
    assert not outside, f"cite docs/DESIGN.md (the repository's copy), not DESIGN.md: {outside}"
    done = sorted(f for f in PENDING_PATH if all(p.endswith("docs/") for p, _ in files.get(f, [("docs/", 0)])))
    assert not done, f"these now cite docs/DESIGN.md: remove them from PENDING_PATH: {done}"
