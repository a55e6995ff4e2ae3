"""End to end: a pack built with ``--set alpha=0.2`` says 80% wherever it labels an interval.

Issue #21: at alpha 0.2 intervals were computed at 80% but labelled "95% CI" in most places.
This reads the quarterly pack of the tiny bank built at alpha 0.2 through the CLI - the payload bank's
pack (tests/shared_packs.py: the tiny bank with script payloads in its labels, built once for this file
and test_payload_pack.py) - what a reviewer reads (the HTML pages) and what the index reads
(facts.json). The alpha 0.05 side is not a second pack: the same estimates are recomputed at 0.05
with library calls on the same warehouse.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from shared_packs import PAYLOAD_ALPHA

pytestmark = pytest.mark.slow

ALPHA = PAYLOAD_ALPHA
# a level stated next to an interval word: "80% CI", "80% interval", "[80% CI]", "80% prediction interval",
# "80% pointwise bands", "lower (95%, fixed by design)"
LABEL = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)%(?:,)?\s+(?:CI\b|confidence|interval|prediction interval|pointwise|"
                   r"bootstrap|percentile|bands?\b|lower|upper|fixed)", re.I)
FIXED = re.compile(r"fixed by design|fixed level", re.I)


def visible_text(page: str) -> str:
    """The text of an HTML page as a browser shows it (no styles, scripts or tags)."""
    page = re.sub(r"(?is)<(style|script)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return " ".join(html.unescape(page).split())


def interval_labels(text: str) -> list[tuple[str, str]]:
    """Every (level, context) of an interval label in ``text``; the context runs from the label to the
    next label, at most 200 characters, so a reason given for one label does not excuse another."""
    ms = list(LABEL.finditer(text))
    ends = [m.start() for m in ms[1:]] + [len(text)]
    return [(m.group(1), text[m.start():min(e, m.end() + 200)]) for m, e in zip(ms, ends)]


def test_the_label_scanner_finds_what_it_must():
    text = visible_text("<p>voluntary 25.0% (95% CI 24.6%-25.3%)</p><th>rate [80% CI]</th>"
                        "<td>0.9 (95% interval, fixed by design: the gate reads it)</td><p>80% power</p>")
    assert [lv for lv, _ in interval_labels(text)] == ["95", "80", "95"]
    assert [bool(FIXED.search(c)) for _, c in interval_labels(text)] == [False, False, True]


@pytest.fixture(scope="module")
def pack(shared_payload_packs) -> Path:
    reports, runs = shared_payload_packs
    r = runs["quarterly"]
    assert r["returncode"] == 0, r["stdout"] + r["stderr"]
    return reports / "quarterly" / "2026Q3"


def test_every_interval_label_on_every_page_says_80_percent(pack):
    pages = sorted(pack.glob("*.html"))
    assert {p.stem for p in pages} >= {"00_data_overview", "10_segmentation", "20_churn", "30_satisfaction",
                                       "31_complaints_sla", "90_effectiveness_review"}
    seen = {}
    for page in pages:
        text = visible_text(page.read_text(encoding="utf-8"))
        labels = interval_labels(text)
        wrong = [c for lv, c in labels if lv != "80" and not FIXED.search(c)]
        assert not wrong, f"{page.name}: interval labelled at another level than 80%:\n" + "\n".join(wrong[:5])
        fixed = [c for lv, c in labels if lv != "80"]
        assert all(FIXED.search(c) for c in fixed)
        # no "95%" anywhere on the page unless it says why its level is fixed
        for m in re.finditer(r"(?<![\d.])95(?:\.0)?%", text):
            assert FIXED.search(text[max(0, m.start() - 300):m.end() + 300]), \
                f"{page.name}: '95%' without a fixed-level reason: ...{text[max(0, m.start() - 120):m.end() + 120]}..."
        seen[page.stem] = sum(lv == "80" for lv, _ in labels)
    # every page that shows intervals states their level; the overview's lives in its churn sentence
    for stem in ("00_data_overview", "10_segmentation", "20_churn", "30_satisfaction", "31_complaints_sla",
                 "90_effectiveness_review"):
        assert seen[stem] >= 1, f"{stem}: no interval says 80%"
    # the examples: cumulative incidence on the churn page, uplift in the review, complaints header
    churn = visible_text((pack / "20_churn.html").read_text(encoding="utf-8"))
    assert re.search(r"voluntary \d+\.\d% \(80% CI", churn)
    review = visible_text((pack / "90_effectiveness_review.html").read_text(encoding="utf-8"))
    assert re.search(r"pp \(80% CI [+-]\d", review) or "Campaign" not in review
    seg = visible_text((pack / "10_segmentation.html").read_text(encoding="utf-8"))
    assert "95% interval, fixed by design" in seg   # the stability interval says its level and why


def test_facts_record_each_interval_at_its_level(pack):
    facts = json.loads((pack / "facts.json").read_text())
    with_ci = [f for f in facts if f["ci_lower"] is not None]
    assert len(with_ci) > 30
    for f in with_ci:
        if f["tags"].get("ci_level_fixed"):
            assert f["ci_level"] == 0.95 and "fixed by design" in f["tags"]["ci_level_fixed"], f["name"]
        else:
            assert f["ci_level"] == pytest.approx(1 - ALPHA), f["name"]
    assert {f["name"] for f in with_ci if f["tags"].get("ci_level_fixed")} == {"cluster_stability_individual",
                                                                              "cluster_stability_corporate"}


def test_endpoints_are_the_80_percent_ones_not_the_95_percent_ones(pack):
    """Same point estimates as at alpha 0.05, narrower intervals, and the 80% ones equal the library's."""
    from crm_lib import overview
    from crm_lib.config import Period
    from crm_lib.data.store import open_source

    facts = {f["name"]: f for f in json.loads((pack / "facts.json").read_text())}
    wh = open_source(str(pack.parents[2] / "warehouse.duckdb"))   # the warehouse the pack read
    q3 = Period.parse("2026Q3")
    f = facts["churn_rate_period"]
    mv95, mv80 = overview.base_movement(wh, q3, alpha=0.05), overview.base_movement(wh, q3, alpha=ALPHA)
    assert f["value"] == pytest.approx(mv95["churn_rate"], rel=1e-12)
    # the recorded interval is the 80% Wilson interval, strictly inside the 95% one
    assert (f["ci_lower"], f["ci_upper"]) == pytest.approx((mv80["churn_ci_lower"], mv80["churn_ci_upper"]), rel=1e-12)
    assert mv95["churn_ci_lower"] < f["ci_lower"] < f["value"] < f["ci_upper"] < mv95["churn_ci_upper"]
    eng95 = overview.engagement(wh, q3, alpha=0.05)
    for name in ("cross_sell_ratio", "digital_share"):
        g, r = facts[name], eng95.loc[name]
        assert g["value"] == pytest.approx(r["value"], rel=1e-12)
        assert r["ci_lower"] < g["ci_lower"] and g["ci_upper"] < r["ci_upper"], name
    # and the page prints the 80% endpoints the fact holds
    page = visible_text((pack / "00_data_overview.html").read_text(encoding="utf-8"))
    assert f"(80% CI {100 * f['ci_lower']:.2f}%-{100 * f['ci_upper']:.2f}%)" in page
