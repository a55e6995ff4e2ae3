"""zh-CN (#16) for precision marketing, the data overview's value text and the effectiveness review.

Each builder is called on fixed inputs under ``i18n.using("zh-CN")``: nothing is left in English
(no run of three English words once the allowed names and the data values are removed), the
numbers are the English text's numbers, the interval label is the localised one, and the
English text is unchanged after the block.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_lib import i18n, plots
from crm_lib.data.store import open_source
from crm_lib.evaluation import actions as ev_actions
from crm_lib.evaluation import campaigns as ev_campaigns
from crm_lib.evaluation import narrative as review_text
from crm_lib.evaluation import report as review
from crm_lib.evaluation.scorecard import facts_frame, rule_words, scorecard, status_words
from crm_lib.marketing import load_rules
from crm_lib.marketing import narrative as Nv
from crm_lib.marketing import nbp
from crm_lib.marketing import report as R
from crm_lib.overview import narrative as overview_text
from crm_lib.periods import Period
from test_marketing_loop_review import _recorded

ENGLISH = re.compile(r"[A-Za-z]{2,}(?:[ -][A-Za-z]{2,}){2,}")
CODE = re.compile(r"`[^`]*`")
ENTITY = re.compile(r"&#\d+;")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
ALLOWED = ("Cohen's h", "Brier", "AUC", "ROI", "KPI", "CI", "parameters/marketing.yaml")
CJK = re.compile(r"[\u4e00-\u9fff]")
ALPHA = 0.1


def english_left(text: str, *data_values: str) -> list[str]:
    """Runs of three or more English words, after code spans, entities, names and data values are removed."""
    s = CODE.sub(" ", str(text))
    s = ENTITY.sub(" ", s)
    for v in sorted((str(x) for x in (*ALLOWED, *data_values) if str(x)), key=len, reverse=True):
        s = s.replace(v, " ")
    return ENGLISH.findall(s)


def numbers(text: str) -> list[str]:
    return NUMBER.findall(ENTITY.sub(" ", CODE.sub(" ", str(text))))


def frame_text(df: pd.DataFrame) -> str:
    """Headers, index labels and cells of a display table, as one text."""
    parts = [str(c) for c in df.columns] + [str(n) for n in df.index.names if n]
    parts += [str(i) for i in df.index] + [str(v) for v in df.to_numpy().ravel()]
    return "\n".join(parts)


# --------------------------------------------------------------------------- precision marketing (notebook 50)

@pytest.fixture(scope="module")
def tiny_run(tiny_bank):
    wh = open_source(str(tiny_bank / "warehouse.duckdb"))
    return R.run_period(wh, "2026-09-30", load_rules(), alpha=ALPHA, seed=7, period="2026Q3")


def _products(run) -> list[str]:
    p = set(run.quality["product"]) | set(run.target.assignment["product"]) | set(run.value.index)
    return sorted({str(x).replace("_", " ") for x in p} | {str(x) for x in p}, key=len, reverse=True)


PATHS = {k: Path("/tmp/out/next_best_product_2026Q3") .with_name(f"next_best_product_2026Q3_{k}.x")
         for k in ("contacts_csv", "contacts_parquet", "assignment", "manifest")}
PREVIOUS = pd.DataFrame({"n_treatment": [900, 500], "n_control": [300, 150], "rate_treatment": [0.1234, 0.08],
                         "rate_control": [0.0456, 0.05], "uplift": [0.0778, 0.03], "uplift_ci_lower": [0.04, -0.01],
                         "uplift_ci_upper": [0.11, 0.07], "p_value": [1e-4, 0.2]}, index=["all", "credit_card"])
MANIFEST = {"period": "2025Q3", "as_of": "2025-09-30", "model_version": "logistic@2024-09-30#abc"}


def _marketing_texts(run) -> dict[str, str]:
    return {
        "headline": Nv.headline_md(run, ALPHA), "design": Nv.design_md(run), "skipped": Nv.skipped_md(run),
        "control": Nv.control_md(run, ALPHA), "export": Nv.export_md(PATHS, run),
        "previous": Nv.previous_list_md(PREVIOUS, MANIFEST, "2026-09-30", ALPHA),
        "previous_none": Nv.previous_list_md(PREVIOUS.assign(uplift=np.nan), MANIFEST, "2026-09-30", ALPHA),
        "quality": frame_text(Nv.quality_display(run, ALPHA)),
        "list": frame_text(Nv.list_display(run).drop(columns=[c for c in Nv.list_display(run).columns
                                                              if re.search(r"\d$", str(c))])),
        "value": frame_text(Nv.value_display(run, ALPHA)), "exclusions": frame_text(Nv.exclusions_display(run)),
        "pairs": frame_text(Nv.pair_exclusions_display(run)), "balance": frame_text(Nv.balance_display(run)),
        "previous_table": frame_text(Nv.previous_list_display(PREVIOUS, ALPHA)),
        "coefficients": "\n".join(str(i) for i in Nv.coefficients_display(run).index),
    }


def test_marketing_texts_are_chinese_with_the_same_numbers(tiny_run):
    en = _marketing_texts(tiny_run)
    with i18n.using("zh-CN"):
        zh = _marketing_texts(tiny_run)
    data = [*_products(tiny_run), *tiny_run.target.contacts["customer_id"].head(20), "2025Q3", "2025-09-30"]
    for key, text in zh.items():
        assert CJK.search(text), key
        assert english_left(text, *data) == [], (key, english_left(text, *data))
    # the interval label is the localised one, never the English one
    assert "90%置信区间" in zh["headline"] and "CI" not in zh["headline"]
    assert "90%置信区间" in zh["previous"] and "90%置信区间" in zh["value"]
    # texts without money amounts carry the English text's numbers, in the same order
    for key in ("design", "control", "export", "previous", "previous_none", "skipped"):
        assert numbers(zh[key]) == numbers(en[key]) or sorted(numbers(zh[key])) == sorted(numbers(en[key])), key
    # English again after the block, byte for byte
    assert _marketing_texts(tiny_run) == en
    assert en["headline"].startswith("- **") and "90% CI" in en["headline"]


def test_control_note_is_a_sentence_in_the_runs_language(tiny_run):
    run = tiny_run
    ctrl = dict(run.target.control, note="underpowered: even a half-and-half split of 1,234 customers detects "
                                          "an uplift of 0.010 with power 0.42 only (target 0.80)",
                n_control=617, n_treatment=617, planned_uplift=0.01, power=0.4249)
    rules = dict(run.rules, targeting=dict(run.rules["targeting"], power=0.8))
    fake = type(run)(**{**vars(run), "rules": rules, "target": type(run.target)(**{**vars(run.target), "control": ctrl})})
    en = Nv.headline_md(fake, ALPHA)
    assert "- The control group is underpowered&#58; even a half-and-half split of 1,234 customers detects an uplift " \
           "of 0.010 with power 0.42 only (target 0.80)." in en
    assert "Underpowered&#58; even a half-and-half split" in Nv.control_md(fake, ALPHA)
    with i18n.using("zh-CN"):
        zh = Nv.headline_md(fake, ALPHA) + Nv.control_md(fake, ALPHA)
    assert "检验力不足" in zh and "1,234" in zh and "0.42" in zh and "0.80" in zh
    assert english_left(zh, *_products(run)) == []


def test_reasons_are_written_in_the_runs_language():
    cases = [("age", 67.0, 0.84), ("has_credit_card", 1.0, 0.5), ("has_credit_card", 0.0, 0.3),
             ("tenure_years", 3.25, 0.2), ("rating_notch", 2.0, 0.1), ("log_income", np.log(50000), 0.4),
             ("complaints_window", np.nan, 0.1), ("digital_share", 0.4, 0.12), ("some_new_feature", 3.0, 0.05)]
    en = [nbp._words(*c) for c in cases]
    assert en[0] == "age 67 raises it (+0.84 log-odds)" and en[1] == "holds credit card raises it (+0.50 log-odds)"
    with i18n.using("zh-CN"):
        zh = [nbp._words(*c) for c in cases]
    for e, z in zip(en, zh):
        assert CJK.search(z) and english_left(z, "credit card", "some new feature") == [], z
        assert numbers(z) == numbers(e), (e, z)
    assert zh[0] == "年龄 67，提高倾向（对数几率 +0.84）"
    assert [nbp._words(*c) for c in cases] == en


def test_marketing_figures_are_chinese(tiny_run):
    run = tiny_run

    def figures():
        return [plots.auc_by_product(run.quality, ALPHA), plots.lift_by_decile_plot(R.lift_frame(run)),
                plots.calibration_by_product(R.calibration_frame(run), ALPHA),
                plots.exclusion_funnel(run.target.exclusions, Nv.REMAINING_WORDS)]

    def texts(fig):
        ax = fig.axes[0]
        legend = ax.get_legend()
        return {"title": ax.get_title(loc="left"), "x": ax.get_xlabel(), "y": ax.get_ylabel(),
                "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
                "ticks": [t.get_text() for t in ax.get_yticklabels()]}

    en = [texts(f) for f in figures()]
    with i18n.using("zh-CN"):
        zh = [texts(f) for f in figures()]
    products = _products(run)
    for t in zh:
        assert CJK.search(t["title"]) and CJK.search(t["x"]), t
        for s in [t["title"], t["x"], t["y"], *t["legend"], *t["ticks"]]:
            assert english_left(s, *products) == [], s
    assert zh[0]["title"].endswith("（90%置信区间）") or "90%置信区间" in zh[0]["title"]
    assert set(zh[0]["legend"]) == {"逻辑回归", "梯度提升树", "热门度基线"}
    assert zh[3]["ticks"][0] == "活跃客户数" and zh[3]["ticks"][1] == "已授权营销"
    assert en[0]["title"] == "Out-of-time AUC by product and model (90% CI)"
    assert en[3]["ticks"][:2] == ["active customers", "with marketing consent"]
    assert [texts(f) for f in figures()] == en


# --------------------------------------------------------------------------- data overview: profitability by tier

VALUE = pd.DataFrame({
    "customer_type": ["individual", "individual", "all"], "tier": ["mass", "private_banking", "all"],
    "customers": [1500, 120, 1620], "annual_margin": [-25000.0, 480000.0, 455000.0],
    "margin_share": [np.nan, 1.0, np.nan], "mean_annual_margin": [-16.7, 4000.0, 280.9],
    "mean_lower": [-20.1, 3500.0, 250.0], "mean_upper": [-13.3, 4500.0, np.nan],
    "median_annual_margin": [-5.0, 3800.0, 12.0], "negative_share": [0.61, 0.02, 0.57]})
VALUE.attrs.update(assumptions="spreads of parameters/margin.yaml", n_without_balances=12)


def test_overview_value_text_is_chinese():
    en = overview_text.value_md(VALUE, 0.2), frame_text(overview_text.value_display(VALUE, 0.2))
    with i18n.using("zh-CN"):
        zh = overview_text.value_md(VALUE, 0.2), frame_text(overview_text.value_display(VALUE, 0.2))
    for text in zh:
        assert CJK.search(text)
        assert english_left(text, "spreads of parameters/margin.yaml", "private banking", "individual", "mass") == []
    assert "80%置信区间" in zh[0] and "80%置信区间" in zh[1] and "无法估计" in zh[1]
    assert "**定义：**" in zh[0] and "*private banking*" in zh[0]
    assert (overview_text.value_md(VALUE, 0.2), frame_text(overview_text.value_display(VALUE, 0.2))) == en
    assert en[0].startswith("The 1,620 active customers with balances")


# --------------------------------------------------------------------------- effectiveness review (notebook 90)

Q3 = Period.parse("2026Q3")


def _review_inputs():
    cur = facts_frame([
        {"name": "churn_rate_period", "value": 0.02, "unit": "proportion", "n": 1500, "ci_lower": 0.015,
         "ci_upper": 0.026, "ci_level": 0.9, "uncertainty": "Wilson"},
        {"name": "active_customers", "value": 1514, "unit": "customers"}])
    prev = facts_frame([
        {"name": "churn_rate_period", "value": 0.035, "unit": "proportion", "n": 1500, "ci_lower": 0.027,
         "ci_upper": 0.045, "ci_level": 0.9, "uncertainty": "Wilson"}])
    card = scorecard(cur, prev, None, {"churn_rate_period": {"target": 0.015, "near_band": 0.01}}, alpha=ALPHA)
    camps = ev_campaigns.evaluate_campaigns(
        pd.DataFrame({"campaign_id": ["XS-1", "RET-2"], "kind": ["cross_sell", "retention"], "cost": [500.0, 100.0]}),
        pd.DataFrame({"campaign_id": ["XS-1"] * 1200 + ["RET-2"] * 3,
                      "group": ["treatment"] * 900 + ["control"] * 300 + ["treatment"] * 3,
                      "responded": [True] * 120 + [False] * 780 + [True] * 15 + [False] * 285 + [True, False, False],
                      "revenue": [50.0] * 120 + [0.0] * 780 + [50.0] * 15 + [0.0] * 285 + [10.0, 0, 0]}),
        {"cross_sell": 0.01}, alpha=ALPHA)
    acts = ev_actions.evaluate_actions(None, [
        {"id": "F", "name": "Complaint desk", "kpi": "csat_mean", "start_date": "2027-01-01", "expected_effect": 0.1},
        {"id": "U", "name": "Callback", "kpi": "nps", "start_date": "2025-01-01", "expected_effect": 1}], "2026-09-30")
    worked = pd.DataFrame({"note": [""], "name": ["Faster desk"], "scale": ["relative"], "estimate": [-0.45],
                           "ci_lower": [-0.53], "ci_upper": [-0.37], "p_value": [2.8e-7], "kpi": ["complaint_rate"],
                           "expected_effect": [-0.3], "consistent": [False], "start_date": ["2025-01-01"]},
                          index=pd.Index(["W"], name="id"))
    acts = pd.concat([acts, worked])
    alerts = pd.DataFrame({"kpi": ["churn_rate_period"], "rule": ["above 0.015 for 2 consecutive periods"],
                           "value": [0.02], "periods": ["2026Q2, 2026Q3"]})
    return card, alerts, camps, acts


REVIEW_DATA = ("XS-1", "RET-2", "cross-sell", "Complaint desk", "Callback", "Faster desk", "2026Q2", "2026Q3",
               "2026-06-30", "2027-01-01", "2025Q3", "nps")


def test_review_summary_and_list_are_chinese():
    card, alerts, camps, acts = _review_inputs()
    lists = {"sig": review.list_evaluation(_recorded(120, 1000, 40, 1000, ALPHA), period_label="2026Q3"),
             "quiet": review.list_evaluation(_recorded(50, 1000, 46, 1000, ALPHA), period_label="2026Q3")}

    def build():
        return {"summary": review_text.summary_md(card, alerts, camps, acts, Q3, alpha=ALPHA, lists=lists["sig"]),
                "list": review_text.list_md(lists["sig"], ALPHA), "quiet": review_text.list_md(lists["quiet"], ALPHA),
                "table": frame_text(review_text.list_table(lists["sig"], ALPHA))}

    en = build()
    assert "Targets: 0 met, 1 near, 0 missed" in en["summary"]
    assert "Alerts: churn&#95;rate&#95;period above 0.015 for 2 consecutive periods (2.0%)." in en["summary"]
    with i18n.using("zh-CN"):
        card_zh, alerts_zh, camps_zh, acts_zh = _review_inputs()   # notes are written in the run's language
        zh = build()
        zh["summary"] = review_text.summary_md(card_zh, alerts_zh, camps_zh, acts_zh, Q3, alpha=ALPHA,
                                               lists=lists["sig"])
    definition = lists["sig"]["definition"]
    for key, text in zh.items():
        assert CJK.search(text), key
        assert english_left(text, *REVIEW_DATA, definition) == [], (key, english_left(text, *REVIEW_DATA, definition))
    assert "**管理层摘要，2026Q3**" in zh["summary"] and "90%置信区间" in zh["summary"]
    assert "连续 2 期高于 0.015" in zh["summary"] and "无法评估" in zh["summary"]
    assert "显著提高了推荐产品的采纳" in zh["list"] and "与其对照组相比无显著差异" in zh["quiet"]
    # the list's sentences carry the English sentences' numbers
    assert numbers(zh["list"]) == numbers(en["list"]) and numbers(zh["quiet"]) == numbers(en["quiet"])
    assert sorted(numbers(zh["table"])) == sorted(numbers(en["table"]))
    assert build() == en


def test_review_words_areas_rules_and_statuses():
    card, *_ = _review_inputs()
    rest = pd.concat([card, card.rename(index={"churn_rate_period": "not_a_registered_kpi"})])
    en = list(review.long_tail(rest))
    with i18n.using("zh-CN"):
        zh = list(review.long_tail(rest))
        rules = [rule_words(r) for r in ("above 0.05", "below target 0.9 for 3 consecutive periods", "odd rule")]
        words = [status_words(s) for s in ("met", "no previous period; no year-ago period", "x")]
    assert all(CJK.search(a) for a in zh) and len(zh) == len(en)
    assert "其他事实" in zh and "Other facts" in en
    assert rules == ["高于 0.05", "连续 3 期低于目标 0.9", "odd rule"]
    assert words == ["达标", "无上一期; 无上年同期", "x"]
    assert rule_words("above 0.05") == "above 0.05" and status_words("met") == "met"
