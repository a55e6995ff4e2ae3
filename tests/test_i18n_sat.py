"""The satisfaction and complaints pages in Chinese (#16): every sentence, table and figure text of
``crm_lib.satisfaction.narrative`` / ``tables`` and ``crm_lib.plots.satisfaction`` under zh-CN.

Each builder is called on the inputs of tests/test_narratives.py (alpha 0.2, so a stray "95%" or
an English "CI" shows) and checked three ways: (a) no English is left once the allowed names and
the data values passed in are removed, (b) the numbers are the English output's numbers, and the
interval label is the Chinese one, (c) English again after the block is the English of before.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

from crm_lib import fmt, i18n
from crm_lib.errors import NotEstimable
from crm_lib.satisfaction import narrative as N
from test_narratives import satisfaction_inputs
from crm_lib.satisfaction import tables as T
from crm_lib.satisfaction.complaints import require_complaints

matplotlib.use("Agg")

ALPHA = 0.2
LEVEL = 1 - ALPHA
IMG = "<img src=x onerror=alert(1)>"
ZH_CI = "80%置信区间"
ENGLISH = re.compile(r"[A-Za-z]{2,}(?:[ -][A-Za-z]{2,}){2,}")
CJK = re.compile(r"[\u4e00-\u9fff]")
# Names that stay in Latin letters in Chinese text: methods, acronyms, and the data values passed in.
ALLOWED = ("Kaplan-Meier", "LMG / Shapley", "Johnson", IMG, fmt.esc(IMG), "web chat", "branch visit",
           "value tier", "acquisition channel")
DATA_VALUES = ("resolution", "Resolution", "fees", "digital", "staff", "mass", "affluent", "referral", "low",
               "medium", "high", "web", "branch", "app outage", "C1", "C2", "p1", "p2")


def english_left(text: str) -> list[str]:
    for a in ALLOWED:
        text = text.replace(a, " ")
    return ENGLISH.findall(text)


DATE_EN = re.compile(r"\d{4}-\d{2}-\d{2}|\d{4}Q\d|\d{4}-\d{2}")
DATE_ZH = re.compile(r"\d{4}年(?:第\d季度|\d{1,2}月(?:\d{1,2}日)?)?")
NUMBER = re.compile(r"[-+]?\d+(?:,\d{3})*(?:\.\d+)?")


def numbers(text: str, dates: re.Pattern) -> list[float]:
    """The numbers printed in ``text`` (dates and periods left out: they are written differently)."""
    text = DATE_EN.sub(" ", dates.sub(" ", text))          # dates from data are as given in both languages
    return sorted(float(x.replace(",", "")) for x in NUMBER.findall(text))


def dates_of(text: str, dates: re.Pattern) -> list[str]:
    return dates.findall(text)


# --------------------------------------------------------------------------- inputs (as tests/test_narratives.py)

headline_inputs = satisfaction_inputs      # the inputs tests/test_narratives.py uses


def small_headline():
    headline, index = headline_inputs()
    return headline.iloc[:1].assign(n=12, status="small n"), index.assign(status="small n")


def change_inputs(p_values=(0.15, 0.3)):
    return pd.DataFrame({"previous_period": ["2026Q2", "2026Q2"], "change": [0.031, 4.2], "ci_lower": [-0.01, -2.0],
                         "ci_upper": [0.07, 10.1], "p_value": list(p_values)}, index=["csat_top2box", "nps"])


def segment_inputs():
    return pd.DataFrame({"dimension": ["touchpoint"] * 3 + ["value tier"] * 2 + ["branch"] * 2,
                         "segment": [IMG, "web_chat", "branch_visit", "mass", "affluent", "B001", "B002"],
                         "nps": [-40.0, -60.0, 10.0, 5.0, 7.0, 1.0, 2.0], "n": [50, 60, 5, 40, 3, 2, 4],
                         "status": ["ok", "ok", "small n", "ok", "small n", "small n", "no responses"]})


def driver_inputs():
    imp = pd.DataFrame({"rw_share": [0.41, 0.30, 0.29], "rw_share_lower": [0.33, 0.22, 0.20],
                        "rw_share_upper": [0.50, 0.38, 0.37], "lmg_share": [0.40, 0.31, 0.29],
                        "lmg_share_lower": [0.3, 0.2, 0.2], "lmg_share_upper": [0.5, 0.4, 0.38],
                        "beta_std": [0.4, 0.2, 0.1], "beta_std_lower": [0.3, 0.1, 0.0], "beta_std_upper": [0.5, 0.3, 0.2],
                        "mean": [3.1, 3.9, 4.0], "performance": [52.0, 72.0, 75.0], "rank": [1, 2, 3]},
                       index=pd.Index(["attr_resolution", "attr_fees", "attr_digital"], name="driver"))
    kda = SimpleNamespace(importance_=imp, n_=812, r2_=0.4123, r2_lower_=0.36, r2_upper_=0.46, outcome_="csat")
    matrix = pd.DataFrame({"quadrant": ["concentrate here", "low priority", "possible overkill"], "priority": [1, 2, 3],
                           "performance": [52.0, 72.0, 75.0], "importance": [0.41, 0.30, 0.29],
                           "importance_lower": [0.33, 0.22, 0.20], "importance_upper": [0.50, 0.38, 0.37]},
                          index=imp.index)
    return kda, matrix


def complaint_inputs():
    volumes = pd.DataFrame({"dimension": ["all", "channel"], "segment": ["all", IMG], "complaints": [36, 36],
                            "share": [1.0, 1.0], "customers": [1540, 1540], "rate_per_1000": [23.38, 23.38],
                            "rate_lower": [18.54, 18.54], "rate_upper": [29.21, 29.21], "rate_status": ["ok", "ok"],
                            "escalated": [4, 4], "escalation_rate": [0.111, 0.111], "escalation_lower": [0.06, 0.06],
                            "escalation_upper": [0.19, 0.19], "status": ["ok", "ok"]})
    repeat = pd.Series({"complainants": 33, "repeat_complainants": 3, "repeat_share": 0.09, "ci_lower": 0.04,
                        "ci_upper": 0.18, "repeat_complaint_share": 0.17})
    sla = pd.DataFrame({"due": [30, 12], "met": [27, 11], "compliance": [0.9, 0.92], "ci_lower": [0.8, 0.7],
                        "ci_upper": [0.95, 0.98], "status": ["ok", "small n"], "sla_days": [np.nan, 5.0],
                        "breached": [3, 1], "still_open": [0, 0]}, index=pd.Index(["all", "low"], name="severity"))
    summ = pd.DataFrame({"n": [36, 20, 16], "resolved": [30, 18, 12], "open": [6, 2, 4],
                         "median_days": [4.0, 3.0, np.nan], "median_lower": [3.0, 2.0, np.nan],
                         "median_upper": [6.0, 4.0, np.nan], "naive_median_days": [3.0, 2.5, 5.0],
                         "sla_days": [np.nan, 5.0, 15.0], "within_sla": [np.nan, 0.8, 0.6],
                         "within_sla_lower": [np.nan, 0.6, 0.4], "within_sla_upper": [np.nan, 0.9, 0.8],
                         "status": ["ok", "ok", "ok"]}, index=pd.Index(["all", "low", "medium"], name="group"))
    return volumes, repeat, sla, SimpleNamespace(summary_=summ)


CHURN = pd.Series({"hazard_ratio": 1.8, "hr_lower": 1.2, "hr_upper": 2.6, "p_value": 0.004, "t0": "2025-09-30",
                   "complainants": 120, "others": 1800, "churn_complainants": 0.08, "churn_others": 0.04,
                   "customers": 1920})
CHART = pd.DataFrame({"month": ["2026-07", "2026-08", "2026-09"], "center": [20.0] * 3, "value": [19.0, 35.0, 21.0],
                      "ucl": [30.0] * 3, "lcl": [10.0] * 3, "signal": ["", "beyond limits", "run of 8 above"]})
PROBLEMS = pd.DataFrame({"rule": ["a", "b"], "action": ["dropped", "kept"], "rows": [3, 2]})


def sentences():
    """Every narrative builder on fixed inputs: name -> a call."""
    headline, index = headline_inputs()
    kda, matrix = driver_inputs()
    volumes, repeat, sla, rt = complaint_inputs()
    return {
        "headline": lambda: N.satisfaction_headline(headline, index, "2026Q3", 30, LEVEL),
        "headline_small": lambda: N.satisfaction_headline(*small_headline(), "2026Q3", 30, LEVEL),
        "change": lambda: N.score_change(change_inputs(), LEVEL),
        "change_both": lambda: N.score_change(change_inputs((0.01, 0.02)), LEVEL),
        "change_neither": lambda: N.score_change(change_inputs((0.6, 0.7)), LEVEL),
        "segments": lambda: N.segment_summary(segment_inputs(), "nps", 30),
        "drivers": lambda: N.drivers(kda, matrix, "2025-10-01", "2026-09-30", LEVEL),
        "drivers_none": lambda: N.drivers(kda, matrix.assign(quadrant="low priority"), "2025-10-01", "2026-09-30",
                                          LEVEL),
        "complaints": lambda: N.complaints_headline(volumes, repeat, sla, rt, pd.DataFrame(index=range(3)), "2026Q3",
                                                    30, LEVEL),
        "complaints_flagged": lambda: N.complaints_headline(
            volumes.assign(status="small n"), repeat, sla.assign(status="small n"),
            SimpleNamespace(summary_=rt.summary_.assign(status="small n")), pd.DataFrame(index=range(3)), "2026Q3",
            30, LEVEL),
        "resolution": lambda: N.resolution(rt, 30, LEVEL),
        "control_rate": lambda: N.control_chart(CHART, "the complaint rate", " per 1,000"),
        "control_sla": lambda: N.control_chart(CHART.assign(signal=""), "SLA compliance", "share"),
        "churn": lambda: N.churn_link(CHURN, LEVEL),
        "churn_none": lambda: N.churn_link(CHURN.drop("hazard_ratio")),
        "data_note": lambda: N.data_note("survey responses", 1234, PROBLEMS, "2026Q3"),
        "data_note_clean": lambda: N.data_note("complaints", 1234, None, "2026-09",
                                               "dates, resolution after opening, duplicates, severity"),
    }


def views():
    """Every table builder on fixed inputs: name -> a call."""
    headline, index = headline_inputs()
    kda, matrix = driver_inputs()
    volumes, repeat, sla, rt = complaint_inputs()
    trend = pd.concat([headline.iloc[:1]] * 2).assign(period=["2026Q2", "2026Q3"]).reset_index(drop=True)
    itrend = pd.DataFrame({"period": ["2026Q2", "2026Q3"], "index": [69.0, 70.0], "ci_lower": [68.0, 69.0],
                           "ci_upper": [70.0, 71.0], "status": ["ok", "small n"]})
    seg = pd.concat([pd.concat([headline.iloc[:1].drop(columns=["nps", "n", "status"])] * 7).reset_index(drop=True),
                     segment_inputs()], axis=1)
    breaches = pd.DataFrame({"complaint_id": ["C1", "C2"], "customer_id": ["p1", "p2"], "severity": ["low", "high"],
                             "category": ["fees", "app_outage"], "channel": ["web", "branch"],
                             "escalated": [True, False], "opened": ["2026-07-01"] * 2, "due": ["2026-07-06"] * 2,
                             "resolved": ["2026-07-09", None], "status": ["resolved late", "open, overdue"],
                             "days_over": [3.0, 80.5]})
    return {
        "headline": lambda: T.headline_view(headline, index, LEVEL),
        "index": lambda: T.index_view(index, LEVEL),
        "trend": lambda: T.trend_view(trend, itrend, LEVEL),
        "segments": lambda: T.segments_view(seg, level=LEVEL),
        "drivers": lambda: T.drivers_view(kda, matrix, pd.Series([0.5, 0.3, 0.2], index=kda.importance_.index), LEVEL),
        "volumes": lambda: T.volumes_view(volumes, LEVEL),
        "repeat": lambda: T.repeat_view(repeat, LEVEL),
        "resolution": lambda: T.resolution_view(rt, LEVEL),
        "sla": lambda: T.sla_view(sla, LEVEL),
        "churn": lambda: T.churn_view(CHURN, LEVEL),
        "problems_none": lambda: T.problems_view(None),
        "breaches": lambda: T.breaches_view(breaches),
        "breaches_none": lambda: T.breaches_view(breaches.iloc[:0]),
    }


def table_text(t: pd.DataFrame) -> list[str]:
    """Headers, index names and labels, and cells of a table, each as text."""
    labels = [str(c) for c in t.columns] + [str(n) for n in t.index.names if n is not None]
    labels += [str(x) for i in range(t.index.nlevels) for x in t.index.get_level_values(i)]
    return labels + [str(v) for v in t.to_numpy().ravel()]


# --------------------------------------------------------------------------- sentences

@pytest.mark.parametrize("name", list(sentences()))
def test_sentences_are_chinese_with_the_same_numbers(name):
    build = sentences()[name]
    en = build()
    with i18n.using("zh-CN"):
        zh = build()
    assert CJK.search(zh), zh
    assert english_left(zh) == [], (english_left(zh), zh)
    # "per 1,000" is a unit, written 每千名 in Chinese; every other number is the English one
    assert numbers(zh, DATE_ZH) == numbers(en.replace("per 1,000", "per thousand"), DATE_EN), (en, zh)
    assert len(dates_of(zh, DATE_ZH)) == len(dates_of(en, DATE_EN)), (en, zh)
    if "80% CI" in en:
        assert ZH_CI in zh and "CI" not in zh.replace(fmt.esc(IMG), "")
    assert "**" not in en or zh.count("**") == en.count("**")     # the Markdown stays inside the message
    assert build() == en                                         # English again after the block


def test_the_chinese_sentences_read_as_they_should():
    with i18n.using("zh-CN"):
        s = sentences()
        head = s["headline"]()
        assert head.startswith("2026年第3季度，**143 条调查回复**给出的 CSAT 为 **67.1% 满意**")
        assert f"**净推荐值为 -53**（{ZH_CI} -60 至 -46；" in head
        assert "**客户满意度指数为 69.7 分（满分 100）**" in head
        assert "与2026年第2季度相比，CSAT 变动 +3.1 个百分点" in s["change"]()
        assert "按价值层级，仅 *mass* 有足够的回复" in s["segments"]()
        assert "截至 2025年9月30日 的 12 个月内" in s["churn"]()
        assert "2026年8月：超出控制限；2026年9月：连续 8 点高于中心线" in s["control_rate"]()
        assert "2026年7月至2026年9月（中心线为 每千名客户 20.0 件），投诉率在 2 个月出现变化信号" in s["control_rate"]()
        assert "*全部*" not in s["resolution"]() and "*low* 中位数 3.0 天" in s["resolution"]()


def test_the_not_estimable_reason_is_chinese_and_english_again_after():
    with i18n.using("zh-CN"), pytest.raises(NotEstimable) as e:
        require_complaints(pd.DataFrame(), "2026-09")
    assert e.value.reason == "2026年9月没有受理任何投诉，因此没有可估计的解决时长"
    assert CJK.search(e.value.remedy) and not english_left(e.value.remedy)
    with pytest.raises(NotEstimable, match=r"^no complaints were opened in 2026-09, so there is no time to resolution"):
        require_complaints(pd.DataFrame(), "2026-09")


# --------------------------------------------------------------------------- tables

@pytest.mark.parametrize("name", list(views()))
def test_tables_are_chinese_with_the_same_numbers(name):
    build = views()[name]
    en = build()
    with i18n.using("zh-CN"):
        zh = build()
    assert en.shape == zh.shape
    words = [x for x in table_text(zh) if x not in DATA_VALUES]
    left = [x for x in words if english_left(x)]
    assert left == [], left
    # every header and index name is Chinese (or a name that stays in Latin letters)
    heads = [str(c) for c in zh.columns] + [str(n) for n in zh.index.names if n not in (None, "#")]
    assert all(CJK.search(h) or h in ("NPS",) for h in heads), heads
    # the cells carry the same numbers (dates and periods aside), and intervals their Chinese label
    assert numbers(" ".join(map(str, zh.to_numpy().ravel())), DATE_ZH) == \
        numbers(" ".join(map(str, en.to_numpy().ravel())), DATE_EN)
    if any("80% CI" in str(c) for c in list(en.columns) + list(en.index)):
        assert any(ZH_CI in str(c) for c in list(zh.columns) + list(zh.index))
    pd.testing.assert_frame_equal(build(), en)                   # English again after the block


def test_the_library_words_in_cells_and_labels_are_chinese_and_data_values_are_not():
    with i18n.using("zh-CN"):
        v = views()
        assert list(v["headline"]().index) == ["按实际回答", "按客户基数加权"]
        assert v["headline"]().iloc[1]["指数（0-100）"] == "未加权"
        assert list(v["drivers"]()["象限"]) == ["重点改进", "低优先级", "可能过度投入"]
        assert list(v["drivers"]().index) == ["resolution", "fees", "digital"]
        assert list(v["resolution"]().index) == ["全部", "low", "medium"]
        seg = v["segments"]()
        assert seg.index.names == ["维度", "细分客群"]
        assert ("网点", "（未列出）") in seg.index and seg.loc[("网点", "（未列出）"), "状态"] == "2 个细分客群低于阈值"
        assert ("价值层级", "affluent") in seg.index and seg.loc[("价值层级", "affluent"), "状态"] == "样本量过小"
        assert list(v["trend"]().index) == ["2026年第2季度", "2026年第3季度"]
        br = v["breaches"]()
        assert list(br["状态"]) == ["逾期解决", "未解决，已逾期"] and list(br["已升级"]) == ["是", "否"]
        assert list(br["已解决"]) == ["2026-07-09", "未解决"]
        assert v["churn"]().loc["风险比 80%置信区间", "数值"] == "1.20 至 2.60"


# --------------------------------------------------------------------------- figures

def figures():
    from crm_lib import plots

    kda, matrix = driver_inputs()
    seg = segment_inputs().assign(nps_lower=lambda d: d["nps"] - 5, nps_upper=lambda d: d["nps"] + 5)
    headline, _index = headline_inputs()
    trend = pd.concat([headline.iloc[:1]] * 2).assign(period=["2026Q2", "2026Q3"]).reset_index(drop=True)
    itrend = pd.DataFrame({"period": ["2026Q2", "2026Q3"], "index": [69.0, 70.0], "ci_lower": [68.0, 69.0],
                           "ci_upper": [70.0, 71.0], "status": ["ok", "ok"]})
    curves = pd.DataFrame([{"group": g, "days": d, "resolved_share": v, "lower": max(0.0, v - 0.1),
                            "upper": min(1.0, v + 0.1)}
                           for g in ("all", "low") for d, v in ((0.0, 0.0), (3.0, 0.5), (10.0, 0.9))])
    return {
        "segments": lambda: plots.score_intervals(seg[seg["dimension"] != "branch"], "nps", "nps_lower", "nps_upper",
                                                  xlabel="NPS (points)", title="NPS by segment", alpha=ALPHA,
                                                  reference=-50.0),
        "branches": lambda: plots.score_intervals(seg[seg["dimension"] == "branch"], "nps", "nps_lower", "nps_upper",
                                                  title="NPS by branch", alpha=ALPHA, hide_flagged=True),
        "trend": lambda: plots.score_trend_panels(trend, itrend, "2026Q3", alpha=ALPHA),
        "importance": lambda: plots.driver_importance(kda.importance_, title="Key drivers of CSAT", alpha=ALPHA),
        "matrix": lambda: plots.driver_matrix(matrix),
        "pareto": lambda: plots.pareto(pd.DataFrame({"segment": ["fees", "app_outage"], "complaints": [30, 12]}),
                                       period_label="2026-09"),
        "km": lambda: plots.km_resolution(curves, {"low": 5}, order=["all", "low"], alpha=ALPHA,
                                          period_label="2026-09"),
        "u_chart": lambda: plots.control_chart(CHART, "Complaints per 1,000 customers (u-chart)",
                                               "per 1,000 customers"),
        "p_chart": lambda: plots.control_chart(CHART.assign(value=0.9, center=0.9, ucl=0.95, lcl=0.85),
                                               "SLA compliance (p-chart)", "% met", percent=True),
    }


def figure_texts(fig) -> dict[str, list[str]]:
    """Titles, axis labels, legend entries and annotations (what is written, not tick values)."""
    out = {"titles": [], "labels": [], "legend": [], "notes": []}
    if fig._suptitle is not None:
        out["titles"].append(fig._suptitle.get_text())
    for ax in fig.axes:
        out["titles"] += [ax.get_title(loc=loc) for loc in ("left", "center", "right")]
        out["labels"] += [ax.get_xlabel(), ax.get_ylabel()]
        out["notes"] += [t.get_text() for t in ax.texts]
        if ax.get_legend() is not None:
            out["legend"] += [t.get_text() for t in ax.get_legend().get_texts()]
    return {k: [x for x in v if x and x not in DATA_VALUES] for k, v in out.items()}


@pytest.mark.parametrize("name", list(figures()))
def test_figures_are_chinese(name):
    build = figures()[name]
    en = figure_texts(build())
    with i18n.using("zh-CN"):
        fig = build()
        zh = figure_texts(fig)
    shown = [x for v in zh.values() for x in v]
    assert shown and all(CJK.search(x) for x in shown), zh
    assert [x for x in shown if english_left(x)] == []
    if any("80% CI" in t for t in en["titles"]):
        assert any(ZH_CI in t for t in zh["titles"]), zh["titles"]
    assert figure_texts(build()) == en                            # English again after the block


def test_figure_ticks_show_chinese_periods_and_the_data_as_it_is():
    with i18n.using("zh-CN"):
        f = figures()
        trend = f["trend"]()
        assert [t.get_text() for t in trend.axes[0].get_xticklabels()] == ["2026年第2季度", "2026年第3季度"]
        assert f["pareto"]().axes[0].get_title() == "按类别的投诉，2026年9月"
        km = f["km"]()
        assert [t.get_text() for t in km.axes[0].get_legend().get_texts()] == ["全部", "low"]
        assert "SLA low 5天" in [t.get_text() for t in km.axes[0].texts]
        assert km.axes[0].get_title() == f"解决时长：2026年9月受理的投诉 (置信带: {ZH_CI})"
    assert figures()["pareto"]().axes[0].get_title() == "Complaints by category, 2026-09"
