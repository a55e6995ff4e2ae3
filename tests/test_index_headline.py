"""The index's headline block and the review's ranking: selection, order, missing facts, significance, browser."""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path

import pandas as pd
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.proportion import test_proportions_2indep as two_proportion_test

from crm_lib import evaluation as ev
from crm_lib import fmt, kpis
from crm_lib.config import Period
from crm_lib.evaluation import narrative as review_text
from crm_lib.evaluation import report as review
from crm_lib.reporting.index import build_index

NO_ALERTS = pd.DataFrame(columns=["kpi", "rule", "value", "periods"])


def _wilson_fact(name: str, events: int, n: int, level: float = 0.95) -> dict:
    lo, hi = proportion_confint(events, n, alpha=1 - level, method="wilson")
    return {"name": name, "value": events / n, "unit": "proportion", "ci_lower": lo, "ci_upper": hi,
            "ci_level": level, "n": n, "uncertainty": "Wilson score interval", "headline": True}


def _census(name: str, value: float, unit: str) -> dict:
    return {"name": name, "value": value, "unit": unit, "uncertainty": "census count: no sampling error",
            "headline": True}


def _pack(reports: Path, label: str, facts: list[dict], alpha: float = 0.05) -> None:
    d = reports / "quarterly" / label
    d.mkdir(parents=True)
    (d / "facts.json").write_text(json.dumps(facts))
    (d / "manifest.json").write_text(json.dumps({"status": "ok", "parameters": {"alpha": alpha}, "notebooks": []}))


# --------------------------------------------------------------------------- selection and order

def test_headline_is_8_to_12_registered_kpis_in_the_manuals_order():
    names = review.headline_kpis()
    assert 8 <= len(names) <= 12 and len(set(names)) == len(names)
    assert all(n in kpis.REGISTRY for n in names)
    # manuals' order: value, then churn/retention, satisfaction, complaint SLA, AUM/customers by tier, cross-sell
    order = ["clv_cac_ratio", "churn_rate_period", "csat_top2box", "sla_compliance", "total_aum", "cross_sell_ratio"]
    assert [names.index(n) for n in order] == sorted(names.index(n) for n in order)


def test_headline_leaves_out_kpis_the_registry_does_not_hold_yet():
    reg = {k: v for k, v in kpis.REGISTRY.items() if "clv" not in k}
    names = review.headline_kpis(reg)
    assert names[0] == "churn_rate_period" and not any("clv" in n for n in names) and len(names) >= 8


def test_a_kpi_without_facts_is_not_measured_never_a_crash():
    card = review.headline_card(ev.facts_frame([]), None, None, {"csat_top2box": {"target": 0.65, "near_band": 0.03}})
    assert list(card.index) == review.headline_kpis()
    assert (card["status"] == "not measured").all() and card["value"].isna().all()
    assert card.loc["csat_top2box", "target"] == 0.65
    one = review.headline_card(ev.facts_frame([_census("active_customers", 1234, "customers")]), None, None, {})
    assert one.loc["active_customers", "status"] == "no target" and one.loc["active_customers", "value"] == 1234
    assert (one.drop(index="active_customers")["status"] == "not measured").all()


def test_long_tail_is_every_other_kpi_grouped_by_area():
    facts = ev.facts_frame([_census("active_customers", 1000, "customers"), _census("complaints_opened", 12, "complaints"),
                            _census("warning_list_size", 40, "customers"), _census("new_customers", 90, "customers")])
    tail = review.long_tail(ev.scorecard(facts, None, None, {}))
    assert list(tail) == ["Customers, growth and data quality", "Early warning", "Complaints and SLA"]
    assert list(tail["Customers, growth and data quality"].index) == ["new_customers"]  # the headline KPI is not here


# --------------------------------------------------------------------------- executive summary

def _many_changes():
    before = [_wilson_fact(n, 500, 10_000) for n in ("churn_rate_period", "csat_top2box", "sla_compliance",
                                                     "escalation_rate", "repeat_complainant_share")]
    now = [_wilson_fact(n, 350, 10_000) for n in ("churn_rate_period", "csat_top2box", "sla_compliance",
                                                  "escalation_rate", "repeat_complainant_share")]
    return ev.facts_frame(now), ev.facts_frame(before)


def test_summary_has_at_most_8_sentences_and_leads_with_targets_and_headline_moves():
    now, before = _many_changes()
    card = ev.scorecard(now, before, before, {"churn_rate_period": {"target": 0.02, "near_band": 0.005}})
    alerts = pd.DataFrame([{"kpi": "churn_rate_period", "rule": "above 0.03", "value": 0.035, "periods": "2026Q3"}])
    acts = pd.DataFrame([{"name": f"action {i}", "note": "not evaluable: too short"} for i in range(5)],
                        index=[f"A{i}" for i in range(5)])
    camps = pd.DataFrame([{"evaluable": False, "note": "no control group"}] * 4, index=[f"C{i}" for i in range(4)])
    text = ev.summary_md(card, alerts, camps, acts, Period.parse("2026Q3"))
    paras = text.split("\n\n")
    assert paras[0] == "**Executive summary, 2026Q3**" and 1 <= len(paras) - 1 <= review_text.MAX_SENTENCES
    assert paras[1].startswith("Targets: 0 met, 0 near, 1 missed") and paras[2].startswith("Alerts:")
    # the headline sentence names the headline moves in the manuals' order, the long tail comes after
    assert paras[3].startswith("Headline KPIs that changed significantly")
    assert paras[3].index("churn rate period") < paras[3].index("csat top2box") < paras[3].index("sla compliance")
    assert "escalation rate" not in paras[3] and paras[4].startswith("2 other KPI(s) changed significantly")
    # the numbers are the scorecard's: value 3.5%, change -1.50 pp, p of the two-proportion score test
    p = two_proportion_test(350, 10_000, 500, 10_000, method="score")[1]
    assert f"churn rate period improved to 3.5% (-1.50 percentage points vs 2026Q2, {fmt.p_text(p)})" in paras[3]


# --------------------------------------------------------------------------- the index, from planted packs

def test_index_headline_block_from_planted_packs(tmp_path):
    reports = tmp_path / "reports"
    base = [_census("active_customers", 9000, "customers"), _census("total_aum", 4.2e8, "currency")]
    _pack(reports, "2025Q3", [*base, _wilson_fact("churn_rate_period", 420, 9_000)])
    _pack(reports, "2026Q2", [*base, _wilson_fact("churn_rate_period", 400, 10_000)])
    # 2026Q3: churn falls from 400/10,000 to 300/10,000 (significant); CSAT recorded at a fixed 90% level
    _pack(reports, "2026Q3", [_census("active_customers", 9500, "customers"), _census("total_aum", 4.5e8, "currency"),
                              _wilson_fact("churn_rate_period", 300, 10_000), _wilson_fact("csat_top2box", 600, 1000, 0.9),
                              _census("complaints_opened", 12, "complaints")])
    html = build_index(reports).read_text()
    block = html[html.index('id="headline-quarterly"'):]
    shown = re.findall(r'data-kpi="([a-z0-9_]+)"', block)
    assert shown == review.headline_kpis()
    row = lambda k: html_lib.unescape(block[block.index(f'data-kpi="{k}"'):].split("</tr>")[0])  # noqa: E731
    assert "not measured this period" in row("nps") and "not measured this period" in row("total_clv")
    p = two_proportion_test(300, 10_000, 400, 10_000, method="score")[1]
    assert p < 0.05 and f"−1.00 pp ({fmt.p_text(p)}) *".replace("−", "-") in row("churn_rate_period").replace("−", "-")
    assert "better sig" in row("churn_rate_period")  # lower churn is better
    assert "90% CI" in row("csat_top2box") and "95% CI" in row("churn_rate_period")  # each fact's own level
    assert "census (exact)" in row("active_customers") and "+500" in row("active_customers")
    assert "vs 2026Q2" in block and "vs 2025Q3" in block
    assert "<details><summary>Complaints and SLA (1)</summary>" in block
    spark = reports / "index_files" / "quarterly_trend_churn_rate_period.png"
    assert spark.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "(3 period(s))" in row("churn_rate_period")
    assert "no trend yet" in row("nps")


# The end-to-end check in Chromium (a backfilled history and a real pack) is in tests/test_backfill.py.

def test_a_pack_folder_that_is_not_a_period_keeps_the_index_without_a_headline(tmp_path):
    reports = tmp_path / "reports"
    _pack(reports, "adhoc-run", [_census("active_customers", 10, "customers")])
    html = build_index(reports).read_text()
    assert "adhoc-run" in html and 'id="headline-quarterly"' not in html
