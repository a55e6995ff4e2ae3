"""What reviewers read: every narrative and table builder on a fixed results object.

Each test checks the sentence itself, that every number in it is a recorded fact (or an input
count) at the printed precision, that interval labels follow the run's alpha (0.2 here, so a
stray "95%" shows), and that values from data or parameters come out as text, not markup.
"""

from __future__ import annotations

import html as H
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from crm_lib import fmt
from crm_lib.churn import narrative as churn_narrative
from crm_lib.churn import report as churn_report
from crm_lib.churn.settings import ChurnDefinition
from crm_lib.config import Period
from crm_lib.evaluation import narrative as review_text
from crm_lib.evaluation import report as review
from crm_lib.evaluation.scorecard import facts_frame, scorecard
from crm_lib.reporting import prose
from crm_lib.reporting.facts import FactBook
from crm_lib.satisfaction import narrative as sat_narrative
from crm_lib.satisfaction import report as sat_report
from crm_lib.satisfaction import tables as sat_tables
from crm_lib.segmentation import narrative as seg_narrative

ALPHA = 0.2
LEVEL = 1 - ALPHA
Q3 = Period.parse("2026Q3")
IMG = "<img src=x onerror=alert(1)>"
LINK = "[x](javascript:alert(1))"
SCRIPT = "RET<script>alert(1)</script>"


# --------------------------------------------------------------------------- helpers

def rendered(markdown: str) -> str:
    """The HTML nbconvert makes of a Markdown output (what the page holds)."""
    return markdown2html_mistune(markdown)


def visible(markdown: str) -> str:
    return " ".join(H.unescape(re.sub(r"<[^>]+>", " ", rendered(markdown))).split())


def assert_inert(markdown: str, *payloads: str) -> None:
    """Each payload shows as its own text and made no markup: no image, script or link."""
    out = rendered(markdown)
    # nbconvert's own heading anchors (href="#...") are the only links allowed
    assert not re.search(r"<(img|script)\b|<a\b(?![^>]*class=\"anchor-link\" href=\"#)", out, re.I), out
    assert "javascript:" not in re.sub(r"<[^>]+>", "", out) or "href" not in out
    text = visible(markdown)
    for p in payloads:
        assert " ".join(p.split()) in text, (p, text)


def assert_labels_follow_alpha(text: str, alpha: float = ALPHA) -> None:
    want = fmt.level_pct(alpha)
    levels = re.findall(r"(?<![\d.])(\d+(?:\.\d+)?%) (?:CI|prediction interval|interval|significance|percentile|"
                        r"bootstrap)", text)
    assert levels, f"no interval label in: {text[:300]}"
    assert all(lv in (want, fmt.significance(alpha)) for lv in levels), (levels, text)
    assert "95%" not in text


DATE = re.compile(r"\d{2} [A-Z][a-z]{2} \d{4}|\d{4}-\d{2}-\d{2}|\d{4}Q\d")


def assert_numbers_from(text: str, values, pct: tuple = ()) -> None:
    """Every number printed in ``text`` is one of ``values`` (or 100 x one of ``pct``) at its printed precision."""
    allowed = [float(v) for v in values if not fmt.missing(v)] + [100 * float(v) for v in pct if not fmt.missing(v)]
    text = DATE.sub(" ", text)
    text = re.sub(r"\d+(?:\.\d+)?% (?:CI|prediction interval|interval|significance|percentile|bootstrap)", " ",
                  text)                                                   # the labels
    for tok in re.findall(r"(?<![\w.])[+-]?\d[\d,]*(?:\.\d+)?", text):
        x = float(tok.replace(",", ""))
        d = len(tok.split(".")[1]) if "." in tok else 0
        assert any(abs(abs(x) - abs(v)) <= 0.5 * 10 ** -d + 1e-9 for v in allowed), f"{tok} is no fact: {text}"


def facts(book: FactBook) -> dict:
    return {k: f for k, f in book.facts.items()}


def fact_numbers(book: FactBook) -> tuple[list, list]:
    """(plain values, proportions) of every fact's value, interval and n."""
    plain, props = [], []
    for f in book.facts.values():
        vals = [f.value, f.ci_lower, f.ci_upper]
        (props if f.unit == "proportion" else plain).extend(v for v in vals if isinstance(v, (int, float)))
        if f.unit in ("churns per customer-year",):
            props.extend(v for v in vals if isinstance(v, (int, float)))
        if f.n is not None:
            plain.append(f.n)
    return plain, props


# --------------------------------------------------------------------------- churn (20_churn, 21_early_warning)

@pytest.fixture
def churn_results():
    pc = pd.Series({"at_risk_start": 1514, "churned_of_start": 38, "churn_rate": 0.025099, "churn_rate_lower": 0.02078,
                    "churn_rate_upper": 0.03029, "churned": 41, "customer_years": 402.6, "hazard_per_year": 0.10184,
                    "hazard_lower": 0.0853, "hazard_upper": 0.1213})
    ret = pd.DataFrame({"group": ["all"], "n": [1932], "events": [311], "median_years": [np.inf],
                        "median_lower": [7.25], "median_upper": [np.inf], "retention_12m": [0.9412],
                        "retention_12m_lower": [0.9341], "retention_12m_upper": [0.9476]})
    camp = pd.Series({"status": "ok", "campaign_id": SCRIPT, "hr": 0.6123, "hr_lower": 0.4511, "hr_upper": 0.8312,
                      "p": 0.0021, "logrank_p": 0.0018, "n_treated": 180, "n_control": 175, "events_treated": 11,
                      "events_control": 21, "churn_12m_treated": 0.0521, "churn_12m_treated_lower": 0.0391,
                      "churn_12m_treated_upper": 0.0693, "churn_12m_control": 0.1012, "churn_12m_control_lower": 0.0823,
                      "churn_12m_control_upper": 0.1240})
    settings = SimpleNamespace(alpha=ALPHA, retention_months=(12,),
                               definition=ChurnDefinition(censor_treated_kinds=("retention", IMG)))
    return pc, ret, camp, settings


def test_churn_headline_numbers_are_the_recorded_facts(churn_results):
    pc, ret, camp, settings = churn_results
    md = churn_narrative.headline_md(pc, ret, None, camp, Q3, ALPHA)
    book = FactBook("20_churn", "2026Q3", alpha=ALPHA)
    churn_report.record_churn_facts(book, pc, ret, None, camp, settings)
    f = facts(book)
    assert "**2.51% (80% CI 2.08%-3.03%)** (Wilson)" in md
    assert "10.2% a year (80% CI 8.5%-12.1%, exact Poisson)" in md
    assert "**94.1% (80% CI 93.4%-94.8%)** after 12 months" in md
    assert f"**{fmt.ratio_ci(f['retention_campaign_hr'].value, 0.4511, 0.8312)}** times the rate" in md
    assert f["defined_churn_rate"].ci_level == LEVEL and f["retention_campaign_hr"].ci_level == LEVEL
    plain, props = fact_numbers(book)
    plain += [pc["churned_of_start"], pc["churned"], pc["customer_years"], camp["n_treated"], camp["n_control"],
              ret["events"].iloc[0], 12, 50, camp["p"]]
    assert_numbers_from(visible(md), plain, props)
    assert_labels_follow_alpha(visible(md))
    assert_inert(md, SCRIPT)


def test_cumulative_incidence_sentence_says_the_runs_level(churn_results):
    # issue #21: "voluntary 25.0% (95% CI 24.6%-25.3%)" at alpha 0.2
    inc = pd.DataFrame({"cause": ["voluntary", "bank_initiated", IMG], "years": [5, 5, 5],
                        "incidence": [0.2502, 0.016, 0.004], "lower": [0.2461, 0.012, 0.001],
                        "upper": [0.2533, 0.023, 0.009]})
    frame = pd.DataFrame({"cause": ["voluntary"] * 5 + ["bank_initiated"] + [IMG] + ["censored"] * 3})
    md = churn_narrative.competing_md(inc, frame, alpha=ALPHA)
    assert "voluntary 25.0% (80% CI 24.6%-25.3%)" in md
    assert "bank initiated 1.6% (80% CI 1.2%-2.3%)" in md
    assert_labels_follow_alpha(md)
    assert_numbers_from(visible(md), [5, 1, 5], inc[["incidence", "lower", "upper"]].to_numpy().ravel())
    assert_inert(md, IMG.replace("_", " "))
    table = churn_narrative.incidence_display(inc, ALPHA)
    assert list(table.columns) == ["by 5 years of tenure (80% CI)"]
    assert table.loc["voluntary"].iloc[0] == "25.0% (24.6-25.3)"


def test_campaign_sentence_and_definition_escape_their_values(churn_results):
    _, _, camp, settings = churn_results
    md = churn_narrative.campaign_md(camp, alpha=ALPHA)
    assert "0.61 (0.45-0.83)** (80% CI)" in md
    assert "5.2% (80% CI 3.9%-6.9%) of treated and 10.1% (80% CI 8.2%-12.4%) of control" in md
    assert_labels_follow_alpha(visible(md))
    assert_inert(md, SCRIPT)
    d = churn_narrative.definition_md(settings)
    assert_inert(d, IMG)
    assert "retention/" in visible(d) and "*voluntary*" not in visible(d) and "voluntary" in visible(d)


def test_churn_tables_head_their_intervals_with_the_level():
    summary = pd.DataFrame({"label": ["assets", IMG], "per": ["doubling", "yes vs no"], "hr": [0.8, 1.9],
                            "hr_lower": [0.7, 1.5], "hr_upper": [0.9, 2.4], "p": [1e-300, 0.2]})
    hr = churn_narrative.hr_display(summary, ALPHA)
    assert list(hr.columns) == ["per", "hazard ratio (80% CI)", "p"]
    assert hr["p"].tolist() == ["<0.001", "0.200"]
    assert IMG in hr._repr_html_().replace("&lt;", "<").replace("&gt;", ">") and "<img" not in hr._repr_html_()
    ret = pd.DataFrame({"group": ["mass"], "n": [10], "events": [2], "median_years": [3.0], "median_lower": [2.0],
                        "median_upper": [np.inf], "retention_12m": [0.9], "retention_12m_lower": [0.8],
                        "retention_12m_upper": [0.95]})
    r = churn_narrative.retention_display(ret, ALPHA)
    assert list(r.columns) == ["customers", "churns", "median tenure, years (80% CI)", "retained 12m (80% CI)"]
    assert r.iloc[0].tolist() == ["10", "2", "3.0 (2.0-not reached)", "90.0% (80.0-95.0)"]
    cs = pd.DataFrame({"label": ["assets"], "cause": ["voluntary"], "hr": [1.2], "hr_lower": [1.1], "hr_upper": [1.3],
                       "events": [40]})
    assert list(churn_narrative.cause_display(cs, ALPHA).columns) == ["voluntary: HR (80% CI), 40 exits"]
    val = SimpleNamespace(model=SimpleNamespace(alpha=ALPHA), precision=pd.DataFrame(
        {"horizon_months": [6], "n_flagged": [100], "precision": [0.31], "precision_lower": [0.27],
         "precision_upper": [0.35], "base_rate": [0.05], "lift": [6.2], "recall": [0.4], "model": ["cox"]}))
    p = churn_narrative.precision_display(val)
    assert p["churned within horizon (80% CI)"].tolist() == ["31.0% (27.0%-35.0%)"]


def test_logrank_text_escapes_group_names_and_states_the_significance_level():
    overall = pd.Series({"groups": 2, "statistic": 12.34, "df": 1, "p": 0.0004, "n": 1500})
    pairs = pd.DataFrame({"group_a": ["mass"], "group_b": [LINK], "p_holm": [0.0004], "significant": [True]})
    md = churn_narrative.logrank_md(overall, pairs, "value-tier", ALPHA)
    assert_inert(md, LINK)
    assert "chi-square 12.3 on 1 df, **p <0.001** (n = 1,500)" in md
    none = churn_narrative.logrank_md(overall, pairs.assign(significant=False), "segment", ALPHA)
    assert "at the 20% significance level" in none


def test_warning_numbers_are_the_recorded_facts():
    rng = np.random.default_rng(3)
    prob = np.sort(rng.uniform(0.2, 0.6, 50))[::-1]
    aum = rng.uniform(1e4, 5e5, 50)
    t = pd.DataFrame({"churn_probability": prob, "aum": aum, "value_at_risk": prob * aum})
    wl = SimpleNamespace(table=t, top_share=0.05, n_scored=1000, horizon_months=6, as_of=pd.Timestamp("2026-09-30"),
                         cutoff_probability=0.2, expected_churners_scored=61.0, value_at_risk_scored=2.1e6)
    val = SimpleNamespace(test_start=pd.Timestamp("2025-09-30"), precision=pd.DataFrame(
        {"horizon_months": [6], "model": ["cox"], "n_flagged": [60], "precision": [0.35], "precision_lower": [0.30],
         "precision_upper": [0.41], "lift": [7.0], "base_rate": [0.05], "recall": [0.33]}))
    md = churn_narrative.warning_md(wl, val, ALPHA)
    book = FactBook("21_early_warning", "2026Q3", alpha=ALPHA)
    churn_report.record_warning_facts(book, wl, val, ALPHA)
    f = facts(book)
    e, v = f["warning_expected_churners"], f["warning_aum_at_risk"]
    assert f"expects {e.value:,.0f} of the listed customers to churn (80% prediction interval " \
           f"{e.ci_lower:,.0f}-{e.ci_upper:,.0f})" in md
    assert f"**{fmt.money(v.value)}** of assets (AUM x probability; 80% prediction interval " \
           f"{fmt.money(v.ci_lower)}-{fmt.money(v.ci_upper)}" in md
    assert e.ci_level == v.ci_level == f["early_warning_precision"].ci_level == LEVEL
    assert_labels_follow_alpha(md)


def test_export_names_paths_as_code_whatever_they_hold():
    paths = [Path("/tmp/a`b/early_warning_2026Q3.csv"), Path("/tmp/a`b/early_warning_2026Q3.parquet")]
    md = churn_narrative.export_md(paths, SimpleNamespace(table=pd.DataFrame(index=range(3))))
    out = rendered(md)
    assert out.count("<code>") == 3 and "<code>/tmp/a`b</code>" in out


# --------------------------------------------------------------------------- overview and scorecard (prose)

def test_overview_movement_and_tiers():
    mv = pd.Series({"active_start": 1500, "new": 40, "closed": 26, "active_end": 1514, "net_growth_rate": 0.00933,
                    "closed_of_start": 26, "churn_rate": 0.01733, "churn_ci_lower": 0.0139, "churn_ci_upper": 0.0216})
    md = prose.movement(mv, Q3, level=LEVEL)
    assert "**1.73% (80% CI 1.39%-2.16%)**" in md
    assert_labels_follow_alpha(md)
    tiers = pd.DataFrame({"customer_type": ["individual", "individual", "corporate"], "tier": ["mass", IMG, "sme"],
                          "customers": [1000, 100, 50], "aum": [2e7, 3e8, -1e6], "share": [0.87, 0.087, 0.043],
                          "aum_share": [0.06, 0.94, 0.0]})
    t = prose.tiers(tiers)
    assert t.startswith("1,150 active customers hold 319.0m of AUM")
    assert_inert(t, IMG)


def test_scorecard_table_heads_with_the_level_and_escapes_names():
    cur = facts_frame([
        {"name": "churn_rate_period", "value": 0.02, "unit": "proportion", "n": 1500, "ci_lower": 0.015,
         "ci_upper": 0.026, "ci_level": LEVEL, "uncertainty": "Wilson score interval"},
        {"name": "cluster_stability_individual", "value": 0.97, "unit": "ARI", "n": 1300, "ci_lower": 0.95,
         "ci_upper": 0.99, "ci_level": 0.95, "uncertainty": "bootstrap"}])
    card = scorecard(cur, None, None, {"churn_rate_period": {"target": 0.03, "near_band": 0.002}}, alpha=ALPHA)
    card = card.rename(index={"churn_rate_period": f"churn_rate_period{IMG}"})
    levels = cur["ci_level"].rename(index={"churn_rate_period": f"churn_rate_period{IMG}"})
    out = prose.scorecard_table(card, ALPHA, levels).to_html()
    assert "80% CI" in out and "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "1.50% – 2.60%" in out
    assert "0.950 – 0.990 (95% CI, fixed level)" in out


# --------------------------------------------------------------------------- segmentation

@pytest.fixture
def seg_results():
    d = {"current": pd.Timestamp("2026-09-30"), "previous": pd.Timestamp("2026-06-30"),
         "year_ago": pd.Timestamp("2025-09-30")}
    ts = pd.DataFrame({"customer_type": ["individual", "individual"], "tier": ["mass", IMG], "customers": [1200, 158],
                       "aum": [3.1e7, 2.9e8], "share": [0.884, 0.116], "aum_share": [0.097, 0.903],
                       "overridden": [0, 2], "median_aum": [21000.0, 1.2e6]})
    cols = {}
    for k, (v, lo, hi) in {"up_rate": (0.031, 0.024, 0.038), "down_rate": (0.022, 0.016, 0.029),
                           "net_up_rate": (0.009, -0.001, 0.018), "closed_rate": (0.017, 0.012, 0.023)}.items():
        cols.update({k: v, f"{k}_lower": lo, f"{k}_upper": hi})
    rates = pd.DataFrame([{**cols, "up": 42, "down": 30, "n_start": 1350, "aum_moved_up": 4.2e6, "aum_moved_down": 2.5e6,
                           "new": 40}] * 2, index=pd.Index(["all", IMG]))
    sel = pd.DataFrame({"k": [2, 3], "stability": [0.8, 0.98], "stability_lower": [0.3, 0.964],
                        "stability_upper": [0.99, 0.998], "silhouette": [0.37, 0.44], "bic": [11044.0, 10500.0],
                        "icl": [11393.0, 10800.0], "note": ["unstable", "chosen"], "admissible": [False, True],
                        "chosen": [False, True]})
    model = SimpleNamespace(k_=3, n_=1358, stability_={"mean": 0.981, "ci_lower": 0.964, "ci_upper": 0.998,
                                                        "n_bootstrap": 20, "n_sample": 1358},
                            selection_=sel, min_stability=0.8, min_silhouette=0.25, silhouette_=0.44,
                            features_=["log_aum", LINK], fit_method_="k-means",
                            label_map_=pd.DataFrame({"reference_label": [None], "distance": [0.0]}))
    ls = pd.DataFrame({"customers": [30, 2, 1300, 14], "aum_share": [0.01, 0.0, 0.95, 0.04]},
                      index=["at_risk", "dormant", "mature", "closed"])
    closure = pd.DataFrame({"customer_type": ["individual"], "from_state": [IMG], "row_total": [150], "count": [3],
                            "row_share": [0.02], "ci_lower": [0.01], "ci_upper": [0.035]})
    return SimpleNamespace(alpha=ALPHA, tier_summary=ts, dates=d, tier_rates=rates, tier_rates_yoy=None,
                           current=SimpleNamespace(models={"individual": model}), lifecycle_summary=ls,
                           tier_closure=closure)


def test_segmentation_headline_follows_alpha_and_says_why_stability_is_fixed(seg_results):
    md = seg_narrative.headline(seg_results)
    assert "up-tier rate **3.10% (80% CI 2.40%-3.80%)**" in md
    assert "net 0.90% (80% CI -0.10% to 1.80%)" in md
    assert "95% interval, fixed by design, 0.964-0.998" in md
    assert "Intervals are 80% percentile bootstraps" in md
    text = visible(md)
    # every level printed is the run's, except the stability interval, which says why
    for m in re.finditer(r"(\d+)% (?:CI|interval|percentile)", text):
        assert m.group(1) == "80" or "fixed by design" in text[m.start():m.start() + 400], text[m.start():]
    assert_inert(md, IMG)
    r = seg_results.tier_rates.loc["all"]
    aum_m = [(3.1e7 + 2.9e8) / 1e6, r["aum_moved_up"] / 1e6, r["aum_moved_down"] / 1e6]     # printed as "321.0m"
    assert_numbers_from(text, [r["up"], r["down"], r["n_start"], 1358, 3, 0.981, 0.964, 0.998, 30, 2, 20, 0,
                               *seg_results.lifecycle_summary["customers"], *aum_m],
                        [*[v for k, v in r.items() if "rate" in k], 0.116, 0.903, 30 / 1332, 2 / 1332])


def test_segmentation_texts_and_tables(seg_results):
    res = seg_results
    c = seg_narrative.clusters_text(res, "individual")
    assert "95% interval, fixed by design: k is admitted only when this interval's lower bound" in c
    assert_inert(c, LINK)
    sel = seg_narrative.selection_table(res.current.models["individual"])
    assert "lower (95%, fixed by design)" in sel.columns and "upper (95%, fixed by design)" in sel.columns
    rates = seg_narrative.rates_table(res)
    assert "up % [80% CI]" in rates.columns and rates.iloc[0]["up % [80% CI]"] == "3.10 [2.40-3.80]"
    clo = seg_narrative.closure_table(res)
    assert list(clo.columns)[-1] == "closure rate % [80% CI]"
    assert "<img" not in clo._repr_html_()
    mig = seg_narrative.migration_text(res)
    assert "80% bootstrap interval" in mig and "95%" not in mig
    assert_inert(mig, IMG)
    tt = seg_narrative.tiers_text(res, {"individual": {"mass": 0, IMG: 250_000}})
    assert_inert(tt, IMG)
    assert "from 250.0k" in tt


def test_facts_table_states_each_intervals_level_and_escapes(seg_results):
    book = FactBook("10_segmentation", "2026Q3", alpha=ALPHA)
    book.record("uptier_rate", 0.031, "proportion", f"customers who moved up {IMG}", n=1350, ci=(0.024, 0.038))
    book.record("cluster_stability_individual", 0.981, "ARI", "stability", n=1358, ci=(0.964, 0.998), ci_level=0.95,
                uncertainty="bootstrap", ci_level_fixed="fixed by design: the gate reads it")
    out = prose.facts_table(book).to_html()
    assert "2.40% to 3.80% (80% CI)" in out
    assert "0.964 to 0.998 (95% CI, fixed by design)" in out
    assert "<img" not in out and "&lt;img" in out
    assert book.facts["uptier_rate"].ci_level == LEVEL


# --------------------------------------------------------------------------- satisfaction and complaints

def satisfaction_inputs():
    """A satisfaction headline (as answered and weighted) and index: shared with tests/test_i18n_sat.py."""
    row = {"n": 143, "n_csat": 143, "n_nps": 143, "status": "ok", "csat_top2box": 0.671, "csat_top2box_lower": 0.619,
           "csat_top2box_upper": 0.719, "csat_mean": 3.81, "csat_mean_lower": 3.70, "csat_mean_upper": 3.92,
           "nps": -53.1, "nps_lower": -60.3, "nps_upper": -46.0, "promoters": 0.10, "detractors": 0.63}
    w = {**row, "csat_top2box": 0.662, "csat_top2box_lower": 0.601, "csat_top2box_upper": 0.718, "nps": -54.0,
         "nps_lower": -62.0, "nps_upper": -46.1}
    headline = pd.DataFrame([row, w], index=pd.Index(["as answered", "weighted to customer base"], name="estimate"))
    index = pd.DataFrame({"index": [69.7], "ci_lower": [68.1], "ci_upper": [71.2], "n": [140], "status": ["ok"]},
                         index=["all"])
    return headline, index


@pytest.fixture
def sat_results():
    return satisfaction_inputs()


def test_satisfaction_headline_numbers_are_the_recorded_facts(sat_results):
    headline, index = sat_results
    md = sat_narrative.satisfaction_headline(headline, index, "2026Q3", 30, LEVEL)
    book = FactBook("30_satisfaction", "2026Q3", alpha=ALPHA)
    sat_report.record_satisfaction_facts(book, SimpleNamespace(params={"alpha": ALPHA, "min_n": 30}), headline, index)
    f = facts(book)
    assert "**67.1% satisfied**" in md and "80% CI 61.9%-71.9%" in md
    assert "**Net Promoter Score of -53** (80% CI -60 to -46;" in md
    assert "**satisfaction index is 69.7 of 100** (80% CI 68.1 to 71.2;" in md
    assert all(x.ci_level == LEVEL for x in f.values() if x.ci_lower is not None)
    plain, props = fact_numbers(book)
    assert_numbers_from(visible(md), plain + [5, 4, 100], props + [0.10, 0.63])
    assert_labels_follow_alpha(md)


def test_satisfaction_tables_follow_the_level(sat_results):
    headline, index = sat_results
    t = sat_tables.headline_view(headline, index, level=LEVEL)
    assert {"CSAT 80% CI", "NPS 80% CI", "index 80% CI"} <= set(t.columns)
    assert t.loc["as answered", "CSAT 80% CI"] == "61.9-71.9%"
    assert not any("95%" in c for c in t.columns)
    assert list(sat_tables.index_view(index, level=LEVEL).columns) == ["responses", "index (0-100)", "80% CI", "status"]


def test_segment_summary_escapes_touchpoints():
    seg = pd.DataFrame({"dimension": ["touchpoint"] * 3, "segment": [IMG, LINK, "branch_visit"],
                        "nps": [-40.0, -60.0, 10.0], "n": [50, 60, 5], "status": ["ok", "ok", "small n"]})
    md = sat_narrative.segment_summary(seg, "nps", 30)
    assert_inert(md, LINK, IMG)
    assert "ranges from -60" in md and "(1 segment(s) below 30 responses flagged)" in md


def test_score_change_and_churn_link_follow_the_level():
    change = pd.DataFrame({"previous_period": ["2026Q2", "2026Q2"], "change": [0.031, 4.2], "ci_lower": [-0.01, -2.0],
                           "ci_upper": [0.07, 10.1], "p_value": [0.15, 0.3]}, index=["csat_top2box", "nps"])
    md = sat_narrative.score_change(change, LEVEL)
    # p = 0.15 < alpha 0.2: significant at this run's level, and it says so
    assert "CSAT moved by +3.1 percentage points (80% CI -1.0 to 7.0, p = 0.150)" in md
    assert "the change in CSAT is larger than sampling noise would explain" in md
    assert_labels_follow_alpha(md)
    churn = pd.Series({"hazard_ratio": 1.8, "hr_lower": 1.2, "hr_upper": 2.6, "p_value": 0.004, "t0": "2025-09-30",
                       "complainants": 120, "others": 1800, "churn_complainants": 0.08, "churn_others": 0.04,
                       "customers": 1920})
    c = sat_narrative.churn_link(churn, LEVEL)
    assert "(hazard ratio, 80% CI 1.20 to 2.60; log-rank p = 0.004)" in c
    v = sat_tables.churn_view(churn, level=LEVEL)
    assert v.loc["hazard ratio 80% CI", "value"] == "1.20 to 2.60" and v.loc["log-rank p-value", "value"] == "0.004"


def test_complaints_headline_and_tables_follow_the_level():
    volumes = pd.DataFrame({"dimension": ["all", "channel"], "segment": ["all", IMG], "complaints": [36, 36],
                            "share": [1.0, 1.0], "customers": [1540, 1540], "rate_per_1000": [23.38, 23.38],
                            "rate_lower": [18.54, 18.54], "rate_upper": [29.21, 29.21], "rate_status": ["ok", "ok"],
                            "escalated": [4, 4], "escalation_rate": [0.111, 0.111], "escalation_lower": [0.06, 0.06],
                            "escalation_upper": [0.19, 0.19], "status": ["ok", "ok"]})
    repeat = pd.Series({"complainants": 33, "repeat_complainants": 3, "repeat_share": 0.09, "ci_lower": 0.04,
                        "ci_upper": 0.18, "repeat_complaint_share": 0.17})
    sla = pd.DataFrame({"due": [30], "met": [27], "compliance": [0.9], "ci_lower": [0.8], "ci_upper": [0.95],
                        "status": ["ok"], "sla_days": [np.nan], "breached": [3], "still_open": [0]},
                       index=pd.Index(["all"], name="severity"))
    summ = pd.DataFrame({"n": [36], "resolved": [30], "open": [6], "median_days": [4.0], "median_lower": [3.0],
                         "median_upper": [6.0], "naive_median_days": [3.0], "sla_days": [np.nan], "within_sla": [np.nan],
                         "within_sla_lower": [np.nan], "within_sla_upper": [np.nan], "status": ["ok"]},
                        index=pd.Index(["all"], name="group"))
    rt = SimpleNamespace(summary_=summ)
    md = sat_narrative.complaints_headline(volumes, repeat, sla, rt, pd.DataFrame(index=range(3)), "2026Q3", 30, LEVEL)
    assert "**23.4 per 1,000 customers** (80% CI 18.5 to 29.2;" in md
    assert "**90.0% met their SLA** (80% CI 80.0%-95.0%)" in md
    assert_labels_follow_alpha(md)
    book = FactBook("31_complaints_sla", "2026Q3", alpha=ALPHA)
    data = SimpleNamespace(params={"alpha": ALPHA, "min_n": 30})
    sat_report.record_complaint_facts(book, data, volumes, repeat, rt, sla, pd.DataFrame(index=range(3)))
    plain, props = fact_numbers(book)
    assert_numbers_from(visible(md), plain + [1000, 4, 3, 33, 30], props)
    vv = sat_tables.volumes_view(volumes, level=LEVEL)
    assert "rate 80% CI" in vv.columns and "escalation 80% CI" in vv.columns
    assert "<img" not in vv._repr_html_()
    assert "share 80% CI" in sat_tables.repeat_view(repeat, level=LEVEL).index
    assert "80% CI" in sat_tables.sla_view(sla, level=LEVEL).columns
    assert "median 80% CI" in sat_tables.resolution_view(rt, level=LEVEL).columns
    res = sat_narrative.resolution(SimpleNamespace(summary_=pd.concat([summ, summ.rename(index={"all": IMG})])), 30,
                                   LEVEL)
    assert "median 4.0 days (80% CI 3.0 to 6.0)" in res
    assert_inert(res, IMG)


def test_control_chart_signals_are_text():
    chart = pd.DataFrame({"month": ["2026-08", "2026-09"], "center": [20.0, 20.0], "signal": ["", IMG]})
    assert_inert(sat_narrative.control_chart(chart, "the complaint rate", " per 1,000"), IMG)


# --------------------------------------------------------------------------- effectiveness review

def test_review_sentences_follow_alpha_and_escape_ids_and_names():
    cur = facts_frame([{"name": "churn_rate_period", "value": 0.02, "unit": "proportion", "n": 1500,
                        "ci_lower": 0.015, "ci_upper": 0.026, "ci_level": LEVEL, "uncertainty": "Wilson"}])
    card = scorecard(cur, None, None, {}, alpha=ALPHA)
    camps = pd.DataFrame({"evaluable": [True, False], "kind": ["cross_sell", "retention"], "uplift": [0.0619, np.nan],
                          "uplift_ci_lower": [0.0433, np.nan], "uplift_ci_upper": [0.0789, np.nan],
                          "uplift_p": [1e-5, np.nan], "n_treatment": [920, 0], "n_control": [260, 0],
                          "roi": [0.43, np.nan], "roi_ci_lower": [-0.2, np.nan], "roi_ci_upper": [1.1, np.nan],
                          "note": ["", f"no control group {LINK}"]},
                         index=pd.Index([f"ACT{IMG}", "RET-1"], name="campaign_id"))
    acts = pd.DataFrame({"note": ["", "not evaluable: too short"], "name": [f"Complaint desk {LINK}", SCRIPT],
                         "scale": ["relative", "absolute"], "estimate": [-0.45, np.nan], "ci_lower": [-0.53, np.nan],
                         "ci_upper": [-0.37, np.nan], "p_value": [2.8e-7, np.nan], "kpi": ["complaint_rate", "nps"],
                         "expected_effect": [-0.3, 1.0], "consistent": [False, False], "start_date": ["2025-01-01"] * 2},
                        index=pd.Index([f"ACT{IMG}", "ACT-02"]))
    alerts = pd.DataFrame({"kpi": ["churn_rate_period"], "rule": [f"above {IMG}"], "value": [0.02], "periods": ["x"]})
    md = review_text.summary_md(card, alerts, camps, acts, Q3, alpha=ALPHA)
    assert "lifted response: +6.19 pp (80% CI +4.33 to +7.89; n = 920 vs 260), ROI +43% (80% CI -20% to +110%)" in md
    assert "changed by -45.0% at its start (80% CI -53.0% to -37.0%, p < 0.001)" in md
    assert_labels_follow_alpha(md)
    assert_inert(md, IMG, LINK, SCRIPT)
    book = FactBook("90_effectiveness_review", "2026Q3", alpha=ALPHA)
    review.record_facts(book, card, alerts, camps, acts, alpha=ALPHA)
    u = book.facts[f"campaign_uplift_ACT{IMG}"]
    assert (u.value, u.ci_lower, u.ci_upper, u.ci_level) == (0.0619, 0.0433, 0.0789, LEVEL)
    assert f"{100 * u.value:+.2f} pp" in md and f"{100 * u.ci_lower:+.2f} to {100 * u.ci_upper:+.2f}" in md


# --------------------------------------------------------------------------- figure titles and legends

def test_figure_titles_and_legends_state_the_runs_level():
    from crm_lib import plots

    summary = pd.DataFrame({"label": ["assets"], "per": ["doubling"], "hr": [0.8], "hr_lower": [0.7], "hr_upper": [0.9]})
    fig = plots.hazard_ratio_forest(summary, alpha=ALPHA)
    assert fig.axes[0].get_title(loc="left") == "Hazard ratios of churn (80% CI)"
    assert plots.hazard_ratio_forest(summary).axes[0].get_title(loc="left") == "Hazard ratios of churn (95% CI)"
    camps = pd.DataFrame({"evaluable": [True], "uplift": [0.06], "uplift_ci_lower": [0.04], "uplift_ci_upper": [0.08],
                          "planned_uplift": [np.nan]}, index=["C1"])
    legend = plots.uplift_forest(camps, alpha=ALPHA).axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["uplift, 80% CI"]
    curves = pd.DataFrame({"group": ["a", "a"], "time": [0.0, 1.0], "survival": [1.0, 0.9], "lower": [1.0, 0.85],
                           "upper": [1.0, 0.95], "n": [10, 10]})
    assert plots.churn_curves(curves, title="Retention", alpha=ALPHA).axes[0].get_title(loc="left") == \
        "Retention (bands: 80% CI)"
    sel = pd.DataFrame({"k": [2, 3], "stability": [0.8, 0.9], "stability_lower": [0.7, 0.85],
                        "stability_upper": [0.9, 0.95], "silhouette": [0.3, 0.4], "bic": [10.0, 9.0],
                        "icl": [11.0, 10.0], "chosen": [False, True]})
    titles = [a.get_title() for a in plots.cluster_selection(sel).axes]
    assert any("95% interval, fixed by design" in t for t in titles)


# --------------------------------------------------------------------------- the remaining builders

def test_driver_sentence_follows_the_level_and_its_numbers_are_the_facts():
    imp = pd.DataFrame({"rw_share": [0.41, 0.30, 0.29], "rw_share_lower": [0.33, 0.22, 0.20],
                        "rw_share_upper": [0.50, 0.38, 0.37], "lmg_share": [0.40, 0.31, 0.29]},
                       index=pd.Index(["attr_resolution", "attr_fees", f"attr_{IMG}"], name="driver"))
    kda = SimpleNamespace(importance_=imp, n_=812, r2_=0.4123, r2_lower_=0.36, r2_upper_=0.46, outcome_="csat")
    matrix = pd.DataFrame({"quadrant": ["concentrate here", "low priority", "low priority"], "priority": [1, 2, 3]},
                          index=imp.index)
    md = sat_narrative.drivers(kda, matrix, "2025-10-01", "2026-09-30", LEVEL)
    assert "**R² = 0.41** (80% CI 0.36 to 0.46) of CSAT" in md
    assert "41% of the explained variance (80% CI 33%-50%, Johnson's relative weights; LMG 40%)" in md
    assert_labels_follow_alpha(md)
    assert_inert(md, IMG)
    book = FactBook("30_satisfaction", "2026Q3", alpha=ALPHA)
    sat_report.record_satisfaction_facts(
        book, SimpleNamespace(params={"alpha": ALPHA, "min_n": 30}),
        pd.DataFrame([{"n": 812, "n_csat": 812, "n_nps": 812, "status": "ok", "csat_top2box": 0.6,
                       "csat_top2box_lower": 0.55, "csat_top2box_upper": 0.65, "csat_mean": 3.8, "csat_mean_lower": 3.7,
                       "csat_mean_upper": 3.9, "nps": 1.0, "nps_lower": -2.0, "nps_upper": 4.0}],
                     index=["as answered"]),
        pd.DataFrame({"index": [70.0], "ci_lower": [69.0], "ci_upper": [71.0], "n": [800], "status": ["ok"]},
                     index=["all"]), kda)
    plain, props = fact_numbers(book)
    r2 = book.facts["drivers_r2"]                       # a proportion printed as a decimal (R² = 0.41)
    # the LMG share is shown beside the recorded relative weight, as a cross-check, and is not a fact itself
    assert_numbers_from(visible(md), plain + [2, len(imp), r2.value, r2.ci_lower, r2.ci_upper],
                        props + list(imp["lmg_share"]))
    assert book.facts["drivers_r2"].ci_level == LEVEL


def test_ph_and_model_notes_escape_labels_and_state_the_significance_level():
    ph = pd.DataFrame({"label": [IMG, "tenure"], "p": [0.01, 0.5], "slope": [0.2, 0.0], "ph_holds": [False, True]})
    md = churn_narrative.ph_md(ph, None, ALPHA)
    assert md.startswith("Proportional hazards is rejected at the 20% level for **1** covariate(s)")
    assert_inert(md, IMG)
    model = SimpleNamespace(n_=900, n_events_=80, engine_="lifelines", concordance_=0.71, notes_=[f"dropped {LINK}"])
    assert_inert(churn_narrative.model_md(model, "2025-09-30", "2026-09-30"), LINK)


def test_header_door_and_rule_texts_escape_parameters():
    ctx = SimpleNamespace(period=Q3, profile=f"quarterly{IMG}", door={"rows": {"customers": 2000}, "errors": 0,
                                                                      "warnings": 0})
    assert_inert(prose.header(ctx, "Churn"), IMG)
    rules = {"closed_lookback_days": IMG, "onboarding_days": 90, "at_risk_aum_change_3m": -0.3,
             "at_risk_complaints_90d": 2, "dormant_days": 180, "growing_tenure_days": 365, "growing_aum_change_3m": 0.1}
    res = SimpleNamespace(lifecycle_summary=pd.DataFrame({"aum_share": [0.9]}, index=["mature"]))
    md = seg_narrative.lifecycle_text(res, rules)
    assert_inert(md, IMG)
    assert "AUM down 30% or more" in md and "Mature customers hold 90.0% of AUM" in md
    settings = {"clusters": {"features": {"individual": ["log_aum", IMG]}, "pca_components": 0, "algorithm": "kmeans",
                             "k_range": [2, 8], "selection_sample": 10000, "n_bootstrap": 20, "min_stability": LINK,
                             "min_silhouette": 0.25, "minibatch_threshold": 200000}}
    assert_inert(seg_narrative.clusters_method(settings), IMG, LINK)


def test_rfm_text_escapes_segment_names():
    rfm = pd.DataFrame({"customer_type": ["individual"] * 2, "segment": ["champions", "at_risk"], "share": [0.2, 0.1],
                        "value_share": [0.5, 0.05], "customers": [200, 100]})
    md = seg_narrative.rfm_text(SimpleNamespace(rfm_summary=rfm))
    assert "*champions* 20.0% of customers / 50.0% of value; *at risk* 10.0% of customers / 5.0% of value" in md
    rfm["customer_type"] = IMG
    assert_inert(seg_narrative.rfm_text(SimpleNamespace(rfm_summary=rfm)), IMG)
