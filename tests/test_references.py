"""References, glossary and errata: every entry verifiable and cited, every chapter citing its sources."""

from __future__ import annotations

import json
import re

import pytest
from pybtex.database import parse_file

from notebooks import CHAPTERS, ROOT

BIB = parse_file(str(ROOT / "book" / "references.bib"))
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def _markdown(path):
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return path.read_text()


PAGES = [*CHAPTERS, *sorted((ROOT / "book").glob("*.md")), *sorted((ROOT / "book").glob("*.ipynb"))]
CITED = {key.strip() for p in PAGES for m in CITE.finditer(_markdown(p)) for key in m.group(1).split(",")}


@pytest.mark.parametrize("key", sorted(BIB.entries))
def test_every_entry_is_verifiable_and_cited(key):
    entry = BIB.entries[key]
    fields = {k.lower(): v for k, v in entry.fields.items()}
    if "source-article" not in fields.get("keywords", ""):
        assert {"doi", "eprint", "url"} & set(fields), f"{key} needs a DOI, an arXiv id (eprint) or a URL"
        if "eprint" in fields:
            assert re.fullmatch(r"\d{4}\.\d{4,5}", fields["eprint"]), f"{key}: arXiv ids look like 1706.03762"
        if "doi" in fields:
            assert fields["doi"].startswith("10."), key
    assert key in CITED, f"{key} is never cited: cite it or remove it"


def test_every_citation_is_in_the_bibliography():
    assert CITED <= set(BIB.entries), CITED - set(BIB.entries)


def test_the_five_articles_are_told_apart():
    arts = [BIB.entries[f"article00{i}"] for i in range(5)]
    titles = [a.fields["title"] for a in arts]
    assert len(set(titles)) == 5
    assert titles[0].split("[")[0] == titles[4].split("[")[0]  # 000 and 004 share their Chinese title ...
    assert "004" in arts[0].fields["note"] and "000" in arts[4].fields["note"]  # ... and say so
    assert [str(a.persons["author"][0]).strip("{}") for a in arts] == [f"Source article 00{i}" for i in range(5)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_cites_its_sources_and_links_the_glossary(path):
    text = _markdown(path)
    keys = {k.strip() for m in CITE.finditer(text) for k in m.group(1).split(",")}
    assert any(k.startswith("article") for k in keys), "cite the source articles the chapter mirrors"
    assert any(not k.startswith("article") for k in keys), "cite the primary sources the chapter relies on"
    assert "{term}`" in text, "link the key terms to the glossary"
    for n in set(re.findall(r"[Aa]rticles? (00[0-4])", text)):
        assert f"article{n}" in keys, f"the chapter mentions article {n} but does not cite it"


def test_the_errata_cover_every_article_with_evidence():
    text = _markdown(ROOT / "book" / "errata.ipynb")
    for n in range(5):
        rows = [ln for ln in text.splitlines() if ln.startswith(f"| 00{n}-")]
        assert len(rows) >= 5, f"article 00{n}: only {len(rows)} errata"
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert len(cells) == 5 and all(cells), f"every erratum needs section, says, right, evidence: {row}"
            assert cells[1].startswith("§"), row
            evidence = cells[4]
            assert ("{doc}" in evidence or "Cell" in evidence or "reference" in evidence), row
        assert f"**References of article 00{n}**" in text, f"article 00{n}: check its references"


def test_the_glossary_gives_the_articles_chinese_terms():
    text = (ROOT / "book" / "glossary.md").read_text()
    for zh in ("反向传播", "神经架构搜索", "模型压缩", "多模态融合", "预训练", "剪枝", "量化", "知识蒸馏"):
        assert zh in text, zh
