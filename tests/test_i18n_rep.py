"""Simplified Chinese for the reporting layer (#16, area "rep"): the page header and door summary,
the overview paragraphs, the scorecard table, the not-estimable box, the reports index, the
overview and review figures and the data-quality tables.

Each builder runs on the fixed inputs of its existing tests under ``i18n.using("zh-CN")`` and
is checked for (a) no English left (no run of three English words once the names and the data
values passed in are removed), (b) the same numbers as in English, and (c) the original English
once the block ends.
"""

from __future__ import annotations

import html as H
import json
import re
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pandas as pd
import pytest

from crm_lib import fmt, i18n
from crm_lib.config import Period
from crm_lib.errors import NotEstimable
from crm_lib.evaluation.scorecard import facts_frame, scorecard
from crm_lib.reporting import context, prose
from crm_lib.reporting.facts import FactBook

ROOT = Path(__file__).resolve().parents[1]
Q3 = Period.parse("2026Q3")
ALPHA = 0.2
LEVEL = 1 - ALPHA
ENGLISH_RUN = re.compile(r"[A-Za-z]{2,}(?:[ -][A-Za-z]{2,}){2,}")
# Names that stay in Latin letters in Chinese text (methods, products, identifiers, file names).
NAMES = ("Kaplan-Meier", "Wilson", "Cox", "crm-workbench backfill", "crm-workbench run quarterly",
         "crm_lib.data.privacy", "facts.json", "manifest.json", "run.log")
CJK = re.compile(r"[\u4e00-\u9fff]")


def english_left(text: str, *values: str) -> list[str]:
    """Runs of three or more English words in ``text`` once ``NAMES`` and ``values`` are removed."""
    for v in sorted({*NAMES, *map(str, values)}, key=len, reverse=True):
        text = text.replace(v, " ")
    return ENGLISH_RUN.findall(text)


def digits(text: str) -> list[str]:
    return re.findall(r"\d+(?:[.,]\d+)*", text)


def both(build):
    """``build()`` in Chinese, then in English again; the English is checked against a first English call."""
    en = build()
    with i18n.using("zh-CN"):
        zh = build()
    again = build()
    if isinstance(en, pd.DataFrame):
        pd.testing.assert_frame_equal(again, en)
    else:
        assert again == en
    return en, zh


# --------------------------------------------------------------------------- prose: header, door, overview

DOOR = {"rows": {"customers": 1500, "accounts": 3200, "balances": 40000}, "errors": 0, "warnings": 2,
        "problems": [{"severity": "warning", "table": "complaints", "column": "channel", "rule": "allowed codes",
                      "count": 3}]}


def test_header_and_door_in_chinese():
    ctx = SimpleNamespace(period=Q3, profile="quarterly", door=DOOR)
    en, zh = both(lambda: prose.header(ctx, "Data overview") + "\n\n" + prose.door(DOOR))
    assert en.startswith("# Data overview: 2026Q3\n\nPeriod **2026Q3** (01 Jul 2026 to 30 Sep 2026), profile "
                         "*quarterly*. Data checked at the door: 44,700 rows in 3 tables, 0 error(s), 2 warning(s).")
    assert zh.startswith("# 数据概览：2026年第3季度\n\n报告期 **2026年第3季度**（2026年7月1日 至 2026年9月30日）")
    assert english_left(zh, "quarterly") == []
    assert "44,700" in zh and "**2 个警告**" in zh
    clean = dict(DOOR, warnings=0, problems=[])
    en, zh = both(lambda: prose.door(clean))
    assert en.startswith("**Every contract held.**") and zh.startswith("**所有数据契约均已满足。**")
    assert english_left(zh) == []


def test_door_table_heads_and_severities_in_chinese():
    en, zh = both(lambda: prose.door_table(DOOR))
    assert list(en.columns) == ["severity", "table", "column", "rule", "count"]
    assert list(zh.columns) == ["严重等级", "表", "列", "规则", "数量"]
    assert zh.iloc[0].tolist() == ["警告", "complaints", "channel", "allowed codes", 3]   # names from the contract
    assert prose.door_table({"problems": []}).empty


def test_movement_and_tiers_in_chinese():
    mv = pd.Series({"active_start": 1500, "new": 40, "closed": 26, "active_end": 1514, "net_growth_rate": 0.00933,
                    "closed_of_start": 26, "churn_rate": 0.01733, "churn_ci_lower": 0.0139, "churn_ci_upper": 0.0216})
    en, zh = both(lambda: prose.movement(mv, Q3, level=LEVEL))
    assert "**1.73% (80% CI 1.39%-2.16%)**" in en
    assert "**1.73% (80%置信区间 1.39%-2.16%)**" in zh and zh.startswith("2026年第3季度期初有 **1,500** 名活跃客户")
    assert english_left(zh) == []
    assert digits(en.replace("2026Q3", "")) == digits(zh.replace("2026年第3季度", ""))

    tiers = pd.DataFrame({"customer_type": ["individual", "individual", "corporate"], "tier": ["mass", "affluent", "sme"],
                          "customers": [1000, 100, 50], "aum": [2e7, 3e8, -1e6], "share": [0.87, 0.087, 0.043],
                          "aum_share": [0.06, 0.94, 0.0]})
    en, zh = both(lambda: prose.tiers(tiers))
    assert en.startswith("1,150 active customers hold 319.0m of AUM")
    assert zh.startswith("1,150 名活跃客户持有 3.19亿 的资产管理规模 (AUM)") and "*affluent*" in zh
    assert english_left(zh, "affluent") == []
    assert [d for d in digits(en) if d != "319.0"] == [d for d in digits(zh) if d != "3.19"]


def test_scorecard_table_in_chinese():
    cur = facts_frame([
        {"name": "churn_rate_period", "value": 0.02, "unit": "proportion", "n": 1500, "ci_lower": 0.015,
         "ci_upper": 0.026, "ci_level": LEVEL, "uncertainty": "Wilson score interval"},
        {"name": "cluster_stability_individual", "value": 0.97, "unit": "ARI", "n": 1300, "ci_lower": 0.95,
         "ci_upper": 0.99, "ci_level": 0.95, "uncertainty": "bootstrap"},
        {"name": "active_customers", "value": 9000, "unit": "customers"}])
    card = scorecard(cur, None, None, {"churn_rate_period": {"target": 0.03, "near_band": 0.002}}, alpha=ALPHA)
    en, zh = both(lambda: prose.scorecard_table(card, ALPHA, cur["ci_level"]).data)
    assert list(en.columns) == ["KPI", "value", "80% CI", "n", "target", "status", "vs previous", "vs year ago",
                                "better"]
    assert list(zh.columns) == ["KPI", "数值", "80%置信区间", "样本量", "目标", "状态", "较上期", "较上年同期", "改善方向"]
    row = zh.set_index("KPI").loc["本期流失率"]
    assert row["状态"] == "达标" and row["改善方向"] == "越低越好" and row["较上期"] == "无历史数据"
    fixed = zh.set_index("KPI").loc["个人客户聚类稳定性", "80%置信区间"]
    assert fixed == "0.950 – 0.990（95%置信区间，固定置信水平）"
    assert zh.set_index("KPI").loc["活跃客户数", "80%置信区间"] == "全量统计"
    assert english_left(zh.to_string()) == []
    assert digits(en.to_string()) == digits(zh.to_string())
    with i18n.using("zh-CN"):   # the status colours follow the translated words
        html = prose.scorecard_table(card, ALPHA, cur["ci_level"]).to_html()
    assert "#d5f5e3" in html


# --------------------------------------------------------------------------- the not-estimable box

def _ctx(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    ctx = context.NotebookContext("20_churn", "quarterly", Q3, {}, None, FactBook("20_churn", "2026Q3"), DOOR)
    return ctx, shown


def test_not_estimable_box_in_chinese_and_facts_in_english(monkeypatch):
    def run():
        ctx, shown = _ctx(monkeypatch)
        with ctx.section("Cox model"):
            raise NotEstimable("only 3 churn events <b>", "a longer history would give more events")
        with ctx.section("Hazard-ratio forest"):
            ctx.require("Cox model")
        return ctx, shown

    ctx_en, en = run()
    with i18n.using("zh-CN"):
        ctx_zh, zh = run()
    assert "<strong>Not estimable: Cox model.</strong> Only 3 churn events &lt;b&gt;. A longer history" in en[0]
    assert "<strong>无法估计：Cox 模型。</strong>Only 3 churn events &lt;b&gt;。A longer history" in zh[0]
    # the reason comes from the analysis (translated there); the box's own words are Chinese
    assert english_left(zh[0], "Only 3 churn events", "A longer history would give more events") == []
    assert "它依赖于“Cox 模型”，而该部分无法估计（only 3 churn events <b>）" in H.unescape(zh[1])
    assert "<strong>无法估计：风险比森林图。</strong>" in zh[1]
    # facts do not depend on the language: the section's English name
    assert set(ctx_zh.facts.facts) == set(ctx_en.facts.facts) == {"omitted.cox_model", "omitted.hazard_ratio_forest"}
    assert ctx_zh.facts.facts["omitted.cox_model"] == ctx_en.facts.facts["omitted.cox_model"]
    assert ctx_zh.facts.facts["omitted.hazard_ratio_forest"].tags["section"] == "Hazard-ratio forest"
    _, again = run()
    assert again == en


def test_every_section_the_notebooks_name_is_in_the_catalogue():
    names = set()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(str(path), as_version=4).cells:
            if cell.cell_type == "code":
                calls = re.finditer(r"ctx\.(?:section|require)\(((?:\s*(?:\"[^\"]*\"|'[^']*')\s*,?)+)\)", cell.source)
                for call in calls:
                    names |= {a or b for a, b in re.findall(r"\"([^\"]*)\"|'([^']*)'", call.group(1))}
    assert len(names) > 60 and names <= set(context.SECTIONS), sorted(names - set(context.SECTIONS))
    with i18n.using("zh-CN"):
        assert all(CJK.search(context.section_title(s)) for s in context.SECTIONS)
        assert all(CJK.search(i18n.gettext(t)) for t in prose.PAGE_TITLES)


# --------------------------------------------------------------------------- the reports index

def _census(name, value, unit):
    return {"name": name, "value": value, "unit": unit, "uncertainty": "census count: no sampling error",
            "headline": True}


def _wilson(name, events, n, level=0.95):
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(events, n, alpha=1 - level, method="wilson")
    return {"name": name, "value": events / n, "unit": "proportion", "ci_lower": lo, "ci_upper": hi,
            "ci_level": level, "n": n, "uncertainty": "Wilson score interval", "headline": True}


def _packs(reports: Path, locale: str) -> None:
    base = [_census("active_customers", 9000, "customers"), _census("total_aum", 4.2e8, "currency")]
    packs = {"2026Q2": [*base, _wilson("churn_rate_period", 400, 10_000)],
             "2026Q3": [_census("active_customers", 9500, "customers"), _census("total_aum", 4.5e8, "currency"),
                        _wilson("churn_rate_period", 300, 10_000), _census("complaints_opened", 12, "complaints")]}
    notebooks = [{"name": "00_data_overview", "status": "ok"},
                 {"name": "20_churn", "status": "ok",
                  "omitted": [{"section": "Cox model", "reason": "only 3 churn events"}]},
                 {"name": "31_complaints_sla", "status": "not run"},
                 {"name": "40_clv", "status": "failed"}]
    for label, facts in packs.items():
        d = reports / "quarterly" / label
        d.mkdir(parents=True)
        (d / "facts.json").write_text(json.dumps(facts))
        (d / "manifest.json").write_text(json.dumps({"status": "ok", "seconds": 412.4, "notebooks": notebooks,
                                                     "parameters": {"alpha": 0.05, "locale": locale}}))


def _text(page: str) -> str:
    """What a reader sees, with the attributes a browser shows (title, alt)."""
    attrs = " ".join(re.findall(r'(?:title|alt)="([^"]*)"', page))
    body = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    return H.unescape(re.sub(r"<[^>]+>", " ", body) + " " + attrs)


def test_index_in_chinese(tmp_path):
    from crm_lib.evaluation import report as review
    from crm_lib.reporting.index import build_index

    _packs(tmp_path / "zh", "zh-CN")
    _packs(tmp_path / "en", "en")
    zh = build_index(tmp_path / "zh").read_text()
    en = build_index(tmp_path / "en").read_text()
    text = _text(zh)
    notebooks = ["00_data_overview", "20_churn", "31_complaints_sla", "40_clv"]
    # area names are crm_lib.evaluation.review's vocabulary, translated in that module's catalogue entries
    assert english_left(text, *notebooks, "only 3 churn events", *review.AREAS.values(), review.OTHER_AREA) == []
    for word in ("正常", "失败", "未运行", "省略了 1 个部分", "412秒", "Cox 模型：only 3 churn events", "全量统计（精确）",
                 "本期未计量", "2026年第2季度 至 2026年第3季度", "（2 个报告期）"):
        assert word in text, word
    assert "412s" in en and "1 section(s) omitted" in en and "Cox model: only 3 churn events" in _text(en)
    assert "2026Q2 to 2026Q3 (2 period(s))" in _text(en) and "census (exact)" in en
    # the same numbers where the formats agree: churn's value, interval, change, p-value and target
    row = lambda page: _text(page.split('data-kpi="churn_rate_period"')[1].split("</tr>")[0])  # noqa: E731
    assert digits(row(zh)) == digits(row(en)) and len(digits(row(en))) >= 6
    assert "95%置信区间" in row(zh) and "95% CI" in row(en)
    assert fmt.get_locale() == "en"


# --------------------------------------------------------------------------- figures

def _texts(fig) -> list[str]:
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        out += [ax.get_title(), ax.get_title(loc="left"), ax.get_xlabel(), ax.get_ylabel()]
        if ax.get_legend():
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    return [t for t in out if t]


def _figures():
    from crm_lib import plots
    from crm_lib.plots import overview as ov

    tiers = pd.DataFrame({"customer_type": ["individual", "individual", "corporate"], "tier": ["mass", "affluent", "sme"],
                          "customers": [1000, 100, 50], "aum_share": [0.06, 0.9, 0.04]})
    value = pd.DataFrame({"tier": ["mass", "affluent", "all"], "customer_type": ["individual", "individual", "all"],
                          "customers": [1000, 100, 1100], "margin_share": [0.4, 0.6, 1.0],
                          "mean_annual_margin": [120.0, 900.0, 190.0], "mean_lower": [100.0, 800.0, 170.0],
                          "mean_upper": [140.0, 1000.0, 210.0]})
    months = pd.date_range("2025-10-31", periods=12, freq="ME")
    monthly = pd.DataFrame({"month": list(months) * 2, "customer_type": ["individual"] * 12 + ["corporate"] * 12,
                            "active": list(range(1000, 1012)) + list(range(50, 62))})
    trends = pd.DataFrame({"name": ["churn_rate_period"] * 2 + ["active_customers"] * 2,
                           "period": ["2026Q2", "2026Q3"] * 2, "value": [0.02, 0.03, 9000, 9500],
                           "ci_lower": [0.015, 0.025, None, None], "ci_upper": [0.025, 0.035, None, None],
                           "unit": ["proportion"] * 2 + ["customers"] * 2})
    camps = pd.DataFrame({"evaluable": [True], "uplift": [0.06], "uplift_ci_lower": [0.04], "uplift_ci_upper": [0.08],
                          "planned_uplift": [0.05]}, index=["C1"])
    curve = pd.DataFrame({"month": months, "value": np.linspace(0.02, 0.03, 12), "fitted": np.linspace(0.02, 0.03, 12),
                          "counterfactual": np.linspace(0.02, 0.035, 12)})
    return {
        "tier_bars": plots.tier_bars(tiers),
        "value_bars": ov.value_bars(value, ALPHA),
        "active_trend": plots.active_trend(monthly, "2026-07-01", "2026-09-30"),
        "kpi_small_multiples": plots.kpi_small_multiples(trends),
        "kpi_trends": plots.kpi_trends(trends, {"churn_rate_period": {"target": 0.03}}, ["churn_rate_period"]),
        "uplift_forest": plots.uplift_forest(camps, alpha=ALPHA),
        "its_plot": plots.its_plot(curve, months[6], "C1: churn rate period", ylabel="churn rate period"),
    }


def test_figures_in_chinese():
    import matplotlib.pyplot as plt

    en = {k: _texts(f) for k, f in _figures().items()}
    with i18n.using("zh-CN"):
        zh = {k: _texts(f) for k, f in _figures().items()}
    plt.close("all")
    assert {k: _texts(f) for k, f in _figures().items()} == en
    plt.close("all")
    assert en["value_bars"] == ["Where the margin comes from, by value tier", "Share (%)",
                                "customers", "annual margin", "Mean annual margin per customer (80% CI)"]
    assert zh["value_bars"] == ["利润来自哪里：按价值层级", "占比 (%)", "客户数", "年度利润",
                                "每位客户的平均年度利润（80%置信区间）"]
    assert sorted(zh["uplift_forest"]) == sorted(["营销活动响应提升度（干预组 - 对照组）", "百分点", "提升度，80%置信区间",
                                                  "计划值"])
    assert "本期流失率（比例）" in zh["kpi_small_multiples"] and "活跃客户数（客户数）" in zh["kpi_small_multiples"]
    assert zh["active_trend"][-3:] == ["对公客户", "个人客户", "本期"]
    for name, texts in zh.items():
        assert texts and all(CJK.search(t) for t in texts if t not in ("C1: churn rate period",)), (name, texts)
        assert english_left(" | ".join(texts), "C1: churn rate period") == [], name


# --------------------------------------------------------------------------- data quality

def test_quality_tables_for_display_in_chinese(tmp_path):
    from crm_lib.data import quality
    from crm_lib.data.store import open_source

    src = tmp_path / "src"
    src.mkdir()
    pd.DataFrame({"ID": ["1", "2", "3"], "Gender": ["Male", "Female", None],
                  "Age": [34, 82, 71]}).to_csv(src / "customers.csv", index=False)
    (tmp_path / "m.yaml").write_text("tables:\n  customers:\n    columns: {customer_id: ID, age: Age}\n")

    def build():
        with open_source(src, mapping=tmp_path / "m.yaml") as wh:
            return quality.for_display(quality.unused_personal_fields(wh))

    en, zh = both(build)
    assert en["reason"].tolist() == ["not in the customers contract: no analysis reads it"]
    assert list(zh.columns) == ["表", "列", "行数", "已填写", "原因"]
    assert zh["原因"].tolist() == ["不在客户表 (customers) 数据契约之内：没有任何分析读取该字段"]
    summary = pd.DataFrame({"dimension": list(quality.DIMENSIONS), "score": [0.99, 0.98, 1.0, 0.8, 0.97],
                            "n": [100, 90, 80, 5, 70], "unit": ["cells", "values", "rows", "tables", "rows"]})
    en, zh = both(lambda: quality.for_display(summary))
    pd.testing.assert_frame_equal(en, summary)
    assert list(zh.columns) == ["维度", "得分", "n", "单位"]
    assert zh["维度"].tolist() == ["完整性", "有效性", "唯一性", "及时性", "一致性"]
    assert zh["单位"].tolist() == ["单元格", "取值", "行数", "表", "行数"]
    assert zh["得分"].tolist() == summary["score"].tolist()
