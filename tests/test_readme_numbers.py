"""Every number in the README's benchmark table is one the doc it links reports (to the README's precision)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"(?<![\w.])[-−+]?\d[\d,]*(?:\.\d+)?(?![\d.]*[MB]\b)")
"""A number, not part of a word or a model's size (``135M``); a trailing ``x`` or ``%`` is allowed."""


def table_rows(readme: str) -> list[tuple[str, list[str], str]]:
    """(bench, linked doc names, headline) per row of the table under ``## Benchmark results``."""
    table = readme[readme.index("| bench | headline"):]
    rows = []
    for line in table[:table.index("\n\n")].splitlines():
        if line.startswith("| `"):
            _, bench, headline, _ = line.split("|", 3)
            rows.append((bench.split("(")[0].strip(" `").replace("`", ""), re.findall(r"\(docs/([\w-]+\.md)\)", bench),
                         re.sub(r"\[[^\]]*\]\([^)]*\)", "", headline)))
    return rows


def values(text: str) -> list[str]:
    """The numbers of ``text``, unsigned, without thousands separators; a percentage (``8–13%`` marks both)
    ends in ``%``."""
    out = []
    for match in NUMBER.finditer(text):
        percent = re.match(r"[\d.,–-]*%", text[match.end():])
        out.append(match.group().lstrip("+-−").replace(",", "") + ("%" if percent else ""))
    return out


def reported(number: str, doc_numbers: set[str]) -> bool:
    """``number`` is in the doc, to the README's precision; a percentage may be written there as a
    percentage or as a fraction (``80%``, ``0.80``)."""
    if number.endswith("%"):
        value = number[:-1]
        return (rounds_to(value, {d[:-1] for d in doc_numbers if d.endswith("%")})
                or rounds_to(str(Decimal(value).scaleb(-2)), {d.rstrip("%") for d in doc_numbers}))
    return rounds_to(number, {d.rstrip("%") for d in doc_numbers})


def rounds_to(number: str, candidates: set[str]) -> bool:
    """``number`` is one of ``candidates``, or a more precise one rounds to it (0.227 to 0.23)."""
    if number in candidates:
        return True
    places = Decimal(number).as_tuple().exponent
    quantum = Decimal(1).scaleb(places)
    return any(Decimal(d).quantize(quantum, rounding=ROUND_HALF_UP) == Decimal(number)
               for d in candidates if Decimal(d).as_tuple().exponent < places)


def test_the_table_is_found_and_every_row_links_a_doc() -> None:
    rows = table_rows((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(rows) >= 8 and all(docs for _, docs, _ in rows)
    assert values("11.9x faster, 0.96–1.26, −0.71 ± 0.13, 1,303 edges, the 135M model") == [
        "11.9", "0.96", "1.26", "0.71", "0.13", "1303"]
    assert values("8–13% of it, 5x") == ["8%", "13%", "5"]


@pytest.mark.parametrize("docs, headline", [
    pytest.param(docs, headline, id=bench) for bench, docs, headline in table_rows((ROOT / "README.md").read_text(encoding="utf-8"))])
def test_every_headline_number_comes_from_its_doc(docs: list[str], headline: str) -> None:
    doc_numbers = set(values("\n".join((ROOT / "docs" / d).read_text(encoding="utf-8") for d in docs)))
    missing = [n for n in values(headline) if not reported(n, doc_numbers)]
    assert not missing, f"README numbers not in {', '.join(docs)}: {missing}"


def test_a_number_the_doc_does_not_have_is_caught() -> None:
    doc = set(values("ratio 11.9x, median 532 ms, recall 0.227"))
    assert reported("532", doc) and reported("0.23", doc) and reported("11.9", doc)
    assert not reported("463", doc) and not reported("0.24", doc) and not reported("13", doc)
    assert reported("23%", doc) and not reported("23%", set(values("recall 0.25")))
