"""Every source a reader meets can be followed from the repository: the catalogs' source tags are
listed in docs/sources.md, the docs/ files that comments point at exist, and nothing cites the
project's private reference notes (FORMULAS.md, SPECS.md, CLAIMS.md), which do not ship."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from brickwall import catalog as catalogs

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "docs" / "sources.md"
PRIVATE = re.compile(r"\b(FORMULAS|SPECS|CLAIMS)(\.md)?\b|shared/reference")
TAG = re.compile(r"\b[NSGIPM]\d+b?\b")
# tests/test_claims.py reads CLAIMS.md where a checkout has it beside: a check, not a citation
EXEMPT = {ROOT / "tests" / "test_claims.py", Path(__file__).resolve()}


def _files() -> list[Path]:
    roots = [ROOT / "python", ROOT / "rust", ROOT / "docs", ROOT / "tests", ROOT / "benches"]
    out = [ROOT / "README.md"]
    for r in roots:
        out += [
            p
            for p in r.rglob("*")
            if p.suffix in {".py", ".pyi", ".rs", ".md", ".toml"} and "target" not in p.parts
        ]
    return sorted(set(out) - EXEMPT)


def _defined_tags() -> set[str]:
    text = SOURCES.read_text(encoding="utf-8")
    tags = set(re.findall(r"\*\*([A-Z]\d+b?)\*\*", text))
    for letter, lo, hi in re.findall(r"\*\*([A-Z])(\d+)-[A-Z](\d+)\*\*", text):  # **G1-G4**
        tags |= {f"{letter}{i}" for i in range(int(lo), int(hi) + 1)}
    return tags


@pytest.mark.skipif(not (ROOT / "README.md").exists(), reason="not a source checkout")
def test_no_file_cites_the_private_reference_notes() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in _files()
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if PRIVATE.search(line)
    ]
    assert not found, "\n".join(found)


@pytest.mark.skipif(not (ROOT / "README.md").exists(), reason="not a source checkout")
@pytest.mark.parametrize("catalog", ["hardware", "models"])
def test_every_catalog_source_tag_is_listed(catalog: str) -> None:
    entries = catalogs.load(catalog)
    used = {
        (name, tag)
        for name, entry in entries.items()
        for key in ("source", "price_source")
        for tag in TAG.findall(entry.get(key, ""))
    }
    assert used  # the catalogs do cite by tag
    defined = _defined_tags()
    assert {"N1", "G3", "P5", "M15"} <= defined
    missing = sorted((name, tag) for name, tag in used if tag not in defined)
    assert not missing, missing


@pytest.mark.skipif(not (ROOT / "README.md").exists(), reason="not a source checkout")
def test_cited_docs_exist() -> None:
    code = [p for p in _files() if p.suffix in {".py", ".pyi", ".rs"}]  # (toml: others' paths)
    cited = {
        (p.relative_to(ROOT), m)
        for p in code
        for m in re.findall(r"\bdocs/[\w./-]+\.(?:md|toml|png)", p.read_text(encoding="utf-8"))
    }
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    cited |= {(Path("README.md"), m) for m in re.findall(r"\]\((docs/[^)#]+)", readme)}
    assert any(str(doc) == "docs/sources.md" for _, doc in cited)
    missing = sorted((str(p), doc) for p, doc in cited if not (ROOT / doc).exists())
    assert not missing, missing
