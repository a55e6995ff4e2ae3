"""Segmentation and CLV pages in Chinese (#16): every sentence, table header, vocabulary word
and figure text of the two areas comes from the catalogue under ``zh-CN``; the numbers are the
same as in English; English comes back unchanged after the block."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from conftest import END_DATE
from crm_lib.reporting import prose
from crm_lib import config, i18n
from crm_lib.reporting.facts import FactBook
from crm_lib.segmentation import narrative as seg
from crm_lib.segmentation.clusters import STABILITY_LEVEL_WHY
from crm_lib.segmentation.derived import DERIVED, cluster_name_label, name_clusters

ALPHA = 0.2
ENGLISH_RUN = re.compile(r"[A-Za-z]{2,}(?:[ -][A-Za-z]{2,}){2,}")
CJK = re.compile(r"[\u4e00-\u9fff]")
NUMBER = re.compile(r"\d+\.\d+")
RATE_CELL = re.compile(r"-?\d+\.\d+(?: \[[^\]]+\])?(?= \||$)")
# names that stay in Latin letters in Chinese banking text
ALLOWED = ["Kaplan-Meier", "scikit-learn", "Gamma-Gamma", "MiniBatchKMeans", "BG/NBD", "Pareto/NBD"]


def english_left(text: str, *values: str) -> list[str]:
    """Runs of three or more English words in ``text`` once the allowed names and the data values are removed."""
    for v in sorted([*ALLOWED, *map(str, values)], key=len, reverse=True):
        text = text.replace(v, " ")
    return ENGLISH_RUN.findall(text)


def cells(df: pd.DataFrame) -> str:
    """A display table's headers, index and cells as one text."""
    idx = [str(x) for x in df.index.names if x] + [str(v) for v in df.index.to_flat_index()]
    return " | ".join([*map(str, df.columns), *idx, *(str(v) for v in df.to_numpy().ravel())])


def figure_texts(fig) -> str:
    """Every title, axis label, tick label, legend entry and annotation of a figure."""
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [ax.get_title(loc=w) for w in ("left", "center", "right")]
        out += [ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.texts]
        out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        leg = ax.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    return " | ".join(t for t in out if t)


def zh_and_back(build, *values):
    """``build()`` in English, in Chinese, and in English again: (en, zh); checks (a) and (c)."""
    en = build()
    with i18n.using("zh-CN"):
        zh = build()
    again = build()
    en_s, zh_s, again_s = (x if isinstance(x, str) else cells(x) for x in (en, zh, again))
    assert again_s == en_s, "English changed after the Chinese block"
    assert CJK.search(zh_s), zh_s
    assert english_left(zh_s, *values) == [], (english_left(zh_s, *values), zh_s)
    return en_s, zh_s


# --------------------------------------------------------------------------- segmentation (fixed inputs)

@pytest.fixture
def res():
    """tests/test_narratives.py's segmentation results, with plain tier names."""
    d = {"current": pd.Timestamp("2026-09-30"), "previous": pd.Timestamp("2026-06-30"),
         "year_ago": pd.Timestamp("2025-09-30")}
    ts = pd.DataFrame({"customer_type": ["individual", "individual"], "tier": ["mass", "affluent"],
                       "customers": [1200, 158], "aum": [3.1e7, 2.9e8], "share": [0.884, 0.116],
                       "aum_share": [0.097, 0.903], "overridden": [0, 2], "median_aum": [21000.0, 1.2e6]})
    cols = {}
    for k, (v, lo, hi) in {"up_rate": (0.031, 0.024, 0.038), "down_rate": (0.022, 0.016, 0.029),
                           "net_up_rate": (0.009, -0.001, 0.018), "closed_rate": (0.017, 0.012, 0.023)}.items():
        cols.update({k: v, f"{k}_lower": lo, f"{k}_upper": hi})
    rates = pd.DataFrame([{**cols, "up": 42, "down": 30, "n_start": 1350, "aum_moved_up": 4.2e6,
                           "aum_moved_down": 2.5e6, "new": 40}] * 2, index=pd.Index(["all", "individual"]))
    sel = pd.DataFrame({"k": [2, 3], "stability": [0.8, 0.98], "stability_lower": [0.3, 0.964],
                        "stability_upper": [0.99, 0.998], "silhouette": [0.37, 0.44], "bic": [11044.0, 10500.0],
                        "icl": [11393.0, 10800.0], "note": ["unstable", "chosen"], "admissible": [False, True],
                        "chosen": [False, True]})
    model = SimpleNamespace(k_=3, n_=1358, stability_={"mean": 0.981, "ci_lower": 0.964, "ci_upper": 0.998,
                                                        "n_bootstrap": 20, "n_sample": 1358},
                            selection_=sel, min_stability=0.8, min_silhouette=0.25, silhouette_=0.44,
                            features_=["log_aum", "age"], fit_method_="k-means",
                            label_map_=pd.DataFrame({"reference_label": ["I1"], "distance": [0.12]}))
    ls = pd.DataFrame({"customers": [30, 2, 1300, 14], "share": [0.02, 0.001, 0.96, 0.01],
                       "aum": [1e5, 0.0, 3e8, 0.0], "aum_share": [0.01, 0.0, 0.95, 0.04]},
                      index=pd.Index(["at_risk", "dormant", "mature", "closed"], name="stage"))
    closure = pd.DataFrame({"customer_type": ["individual"], "from_state": ["affluent"], "row_total": [150],
                            "count": [3], "row_share": [0.02], "ci_lower": [0.01], "ci_upper": [0.035]})
    rfm = pd.DataFrame({"customer_type": ["individual"] * 3, "segment": ["champions", "at_risk", "cant_lose"],
                        "customers": [200, 100, 50], "share": [0.2, 0.1, 0.05], "monetary": [5e5, 5e4, 1e4],
                        "value_share": [0.5, 0.05, 0.01], "median_recency_days": [5.0, 200.0, 300.0],
                        "median_frequency": [40.0, 12.0, 30.0]})
    return SimpleNamespace(alpha=ALPHA, tier_summary=ts, dates=d, tier_rates=rates, tier_rates_yoy=rates,
                           current=SimpleNamespace(models={"individual": model}), lifecycle_summary=ls,
                           tier_closure=closure, rfm_summary=rfm)


RULES = {"closed_lookback_days": 90, "onboarding_days": 90, "at_risk_aum_change_3m": -0.3,
         "at_risk_complaints_90d": 2, "dormant_days": 180, "growing_tenure_days": 365, "growing_aum_change_3m": 0.1}
SETTINGS = {"clusters": {"features": {"individual": ["log_aum", "age"]}, "pca_components": 2, "algorithm": "gmm",
                         "k_range": [2, 8], "selection_sample": 10000, "n_bootstrap": 20, "min_stability": 0.8,
                         "min_silhouette": 0.25, "minibatch_threshold": 200000}}


def test_segmentation_sentences_are_chinese_with_the_same_numbers(res):
    en, zh = zh_and_back(lambda: seg.headline(res), "affluent", "mass")
    assert "80%置信区间" in zh and "80% CI" in en
    assert "2026年9月30日" in zh and "30 Sep 2026" in en
    for build in (lambda: seg.clusters_text(res, "individual"), lambda: seg.migration_text(res),
                  lambda: seg.lifecycle_text(res, RULES), lambda: seg.rfm_text(res)):
        en, zh = zh_and_back(build, "log_aum", "k-means")
        assert sorted(NUMBER.findall(zh)) == sorted(NUMBER.findall(en)), (en, zh)
    zh_and_back(lambda: seg.tiers_text(res, {"individual": {"mass": 0, "affluent": 250_000}}), "affluent", "mass")
    zh_and_back(lambda: seg.clusters_method(SETTINGS), "log_aum")
    _, zh = zh_and_back(lambda: seg.rfm_text(res))
    assert "重要价值客户" in zh and "个人客户" in zh
    _, zh = zh_and_back(lambda: seg.clusters_text(res, "individual"), "log_aum", "k-means")
    assert "按设计固定" in zh


def test_segmentation_tables_are_chinese_with_the_same_cells(res):
    for build in (lambda: seg.rates_table(res), lambda: seg.closure_table(res),
                  lambda: seg.selection_table(res.current.models["individual"])):
        en, zh = zh_and_back(build, "affluent", "unstable", "chosen")
        # rates with their intervals, and the ARI / silhouette columns: written the same in both languages
        assert sorted(RATE_CELL.findall(zh)) == sorted(RATE_CELL.findall(en)) != [], (en, zh)
    with i18n.using("zh-CN"):
        rates = seg.rates_table(res)
        assert "上迁（%）[80%置信区间]" in rates.columns
        assert rates.iloc[0]["上迁（%）[80%置信区间]"] == "3.10 [2.40-3.80]"
        assert "个人客户" in rates.index.get_level_values(1) and "全部" in rates.index.get_level_values(1)
    for build in (lambda: seg.tier_table(res), lambda: seg.lifecycle_table(res), lambda: seg.rfm_table(res)):
        zh_and_back(build, "affluent", "mass")
    with i18n.using("zh-CN"):
        assert list(seg.lifecycle_table(res).index) == ["有流失风险", "休眠期", "成熟期", "已销户"]


def test_facts_table_headers_and_interval_words_are_chinese():
    book = FactBook("10_segmentation", "2026Q3", alpha=ALPHA)
    book.record("uptier_rate", 0.031, "proportion", "customers who moved up", n=1350, ci=(0.024, 0.038))
    book.record("cluster_stability_individual", 0.981, "ARI", "stability", n=1358, ci=(0.964, 0.998),
                ci_level=0.95, uncertainty="bootstrap", ci_level_fixed="fixed by design: the gate reads it")
    en = prose.facts_table(book).data
    with i18n.using("zh-CN"):
        zh = prose.facts_table(book).data
    assert list(zh.columns) == ["数值", "单位", "区间", "样本量", "p 值", "不确定性", "核心指标", "定义"]
    assert zh.loc["uptier_rate", "区间"] == "2.40% 至 3.80%（80%置信区间）"
    assert zh.loc["cluster_stability_individual", "区间"] == "0.964 至 0.998（95%置信区间，按设计固定）"
    assert prose.facts_table(book).data.equals(en)


def test_the_catalogued_stability_reason_is_the_one_the_clusters_state():
    assert seg._STABILITY_WHY == STABILITY_LEVEL_WHY


def test_cluster_names_are_translated_word_by_word():
    z = pd.DataFrame({"age": [1.8, -0.5, 0.0], "log_aum": [0.4, -1.7, 0.1]}, index=["I1", "I2", "I3"])
    names = name_clusters(z)
    assert names["I3"] == "typical"
    with i18n.using("zh-CN"):
        shown = {k: cluster_name_label(v) for k, v in names.items()}
        assert shown["I1"] == "最年长、AUM 较高" and shown["I2"] == "AUM 很低、较年轻" and shown["I3"] == "典型"
        assert cluster_name_label("older, higher AUM (I4)") == "较年长、AUM 较高（I4）"
        every = [cluster_name_label(w) for d in DERIVED.values() for w in d.words]
    assert all(CJK.search(w) for w in every)
    assert cluster_name_label(names["I1"]) == names["I1"] == "oldest, higher AUM"


# --------------------------------------------------------------------------- segmentation (the tiny bank)

@pytest.fixture(scope="module")
def period_res(tiny_bank):
    from crm_lib import segmentation
    from crm_lib.data.store import open_source
    from crm_lib.segmentation import report

    params = config.resolve("quarterly", [f"alpha={ALPHA}"]).as_dict()
    s = segmentation.load_settings()
    s["clusters"]["n_bootstrap"], s["migration"]["n_bootstrap"] = 4, 200
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        period = config.Period.last_closed(params["period_kind"], wh.data_end().date())
        r = segmentation.analyse_period(wh, period, params, s)
        val = report.value_by_segment(wh, r, aum_months=params["aum_months"])
    return r, val, params


def test_the_segmentation_page_of_a_bank_is_chinese(period_res):
    from crm_lib.margin import ClvSettings

    r, val, params = period_res
    tiers = [t for ts in r.order.values() for t in ts]
    values = [*(t.replace("_", " ") for t in tiers), *tiers, ClvSettings.load().describe().split(", margin from ")[-1]]
    products = [str(i).replace("_", " ") for ct in r.cluster_penetration for i in r.cluster_penetration[ct].columns]
    zh_and_back(lambda: seg.headline(r), *values)
    _, zh = zh_and_back(lambda: seg.value_text(val, r.alpha), *values)
    assert "80%" in zh
    for by in ("tier", "cluster", "stage"):
        en, zh = zh_and_back(lambda: seg.value_table(val, by, r.alpha), *values)
        assert "每位客户均值（80%置信区间）" in zh
    for ct in r.current.models:
        zh_and_back(lambda: seg.cluster_table(r, ct), *values)
        zh_and_back(lambda: seg.penetration_table(r, ct), *products)
        zh_and_back(lambda: seg.clusters_text(r, ct), *r.current.models[ct].features_, r.current.models[ct].fit_method_)
    zh_and_back(lambda: seg.tier_profile_table(r), *values)
    zh_and_back(lambda: seg.lifecycle_table(r))


def test_segmentation_figures_are_chinese(period_res):
    from crm_lib import plots

    r, _, _ = period_res
    tiers = [t.replace("_", " ") for ts in r.order.values() for t in ts]
    ct = next(iter(r.current.models))
    m = r.current.models[ct]
    builds = [lambda: plots.rfm_heatmap(r.rfm_grids[ct]),
              lambda: plots.cluster_selection(m.selection_, m.min_stability, m.min_silhouette),
              lambda: plots.zscore_heatmap(r.cluster_zmeans[ct], m.names_.to_dict()),
              lambda: plots.lifecycle_funnel(r.lifecycle_summary),
              lambda: plots.transition_heatmap(r.lifecycle_matrix),
              lambda: plots.migration_flow(r.tier_matrices[ct], skip_same=True, include_new=False)]
    for build in builds:
        en = figure_texts(build())
        with i18n.using("zh-CN"):
            zh = figure_texts(build())
        assert CJK.search(zh), zh
        assert english_left(zh, *tiers, "ARI", "BIC", "ICL") == [], zh
        assert figure_texts(build()) == en
    with i18n.using("zh-CN"):
        t = figure_texts(plots.lifecycle_funnel(r.lifecycle_summary))
    assert "期末生命周期阶段" in t and "成熟期" in t and "客户数" in t


# --------------------------------------------------------------------------- CLV (the tiny bank)

@pytest.fixture(scope="module")
def book(tiny_bank):
    from crm_lib.churn import ChurnSettings
    from crm_lib.clv.book import value_book
    from crm_lib.data.store import open_source
    from crm_lib.margin import ClvSettings

    s = ChurnSettings.from_params(config.resolve("quarterly").as_dict())
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        return value_book(wh, END_DATE, s, ClvSettings.load(n_draws=60), seed=5)


def test_the_clv_page_is_chinese(book):
    from crm_lib.clv import narrative
    from crm_lib.clv import narrative as clv

    channels = [str(c) for c in book.aggregate("clv_cac", "acquisition_channel").index]
    tiers = [str(t) for t in book.aggregate("total", "tier").index]
    values = [*channels, *(c.replace("_", " ") for c in channels), *tiers, *(t.replace("_", " ") for t in tiers),
              book.not_covered(), book.settings.describe(), *book.model.covariates_]
    en, zh = zh_and_back(lambda: clv.headline_md(book, alpha=ALPHA), *values)
    assert "80%置信区间" in zh and NUMBER.findall(zh)
    zh_and_back(lambda: clv.assumptions_md(book.settings, book.model), *values)
    _, zh = zh_and_back(lambda: clv.tier_md(book, "customer_type", ALPHA), *values)
    assert "客户类型" in zh
    zh_and_back(lambda: clv.clv_cac_md(book, alpha=ALPHA), *values)
    for group in ("tier", "customer_type", "lifecycle", "acquisition_channel"):
        zh_and_back(lambda: narrative.group_display(book, group, ALPHA), *values)
    en, zh = zh_and_back(lambda: narrative.ratio_display(book, "acquisition_channel", ALPHA), *values)
    assert sorted(NUMBER.findall(zh)) == sorted(NUMBER.findall(en))
    products = [str(p).replace("_", " ") for p in book.settings.product_fees_monthly]
    zh_and_back(lambda: narrative.assumptions_display(book.settings), *values, *products)
    with i18n.using("zh-CN"):
        g = narrative.group_display(book, "customer_type", ALPHA)
    assert g.index.name == "客户类型" and set(g.index) <= {"个人客户", "对公客户"}


def test_clv_figures_are_chinese(book):
    from crm_lib import plots
    from crm_lib.clv.relationship import lorenz

    names = [*(str(c).replace("_", " ") for c in book.aggregate("clv_cac", "acquisition_channel").index),
             *(str(t).replace("_", " ") for t in book.aggregate("total", "tier").index)]
    builds = [lambda: plots.clv_by_tier(book.customers, book.aggregate("median", "tier"), ALPHA, currency="GBP"),
              lambda: plots.lorenz_curve(lorenz(book), book.aggregate("gini").loc["all"],
                                         book.aggregate("top10_share").loc["all"], ALPHA),
              lambda: plots.clv_cac_forest(book.aggregate("clv_cac", "acquisition_channel"), ALPHA)]
    for build in builds:
        en = figure_texts(build())
        with i18n.using("zh-CN"):
            zh = figure_texts(build())
        assert CJK.search(zh) and "80%置信区间" in zh + "80%置信区间" * ("CI" not in en), zh
        assert english_left(zh, *names) == [], zh
        assert figure_texts(build()) == en


# --------------------------------------------------------------------------- CLV transactional models (fixed inputs)

def test_transactional_and_validation_texts_are_chinese():
    from crm_lib.clv import narrative
    from crm_lib.clv import narrative as clv

    summary = pd.DataFrame({"frequency": [0, 2, 5, 1]})
    fit = SimpleNamespace(log_likelihood_=-1234.5)
    gg = SimpleNamespace(n_=3, population_mean_=42.5)
    for pearson in (0.1, 0.5):
        check = {"pearson": pearson, "lower": 0.02, "upper": 0.2, "n": 3}
        en, zh = zh_and_back(lambda: clv.transactional_md(summary, fit, fit, gg, check, ALPHA))
        assert sorted(NUMBER.findall(zh)) == sorted(NUMBER.findall(en))
    err = pd.DataFrame({"n": [400, 400, 400], "total_actual": [900, 900, 900], "total_expected": [870, 1000, 0],
                        "mae": [0.8, 0.95, -0.15], "lower": [0.7, 0.85, -0.2], "upper": [0.9, 1.05, -0.1]},
                       index=["model", "naive", "difference"])
    en, zh = zh_and_back(lambda: clv.validation_md(err, None, "2026-03-31", "2026-09-30", ALPHA))
    assert sorted(NUMBER.findall(zh)) == sorted(NUMBER.findall(en)) and "2026年9月30日" in zh
    ce = pd.DataFrame({"n": [100, 50], "actual": [0.2, 1.1], "expected": [0.25, 1.0], "actual_total": [20, 55],
                       "expected_total": [25, 50]}, index=pd.Index([0, 1]))
    zh_and_back(lambda: narrative.expectations_display(ce))
    summ = pd.DataFrame({"estimate": [0.5, 2.0], "se": [0.1, 0.3], "lower": [0.3, 1.4], "upper": [0.7, 2.6]},
                        index=["r", "alpha"])
    m = SimpleNamespace(summary_=summ, log_likelihood_=-1000.0, n_=400)
    zh_and_back(lambda: narrative.params_display({"BG/NBD": m}, ALPHA))
    counts = pd.DataFrame([[1000, 800, 700, 650], [900, 600, 600, np.nan]], index=["2022", "2023"])
    zh_and_back(lambda: narrative.cohort_fits(counts, ALPHA))


def test_validation_figures_are_chinese():
    from crm_lib import plots

    table = pd.DataFrame({"n": [100, 50], "actual": [0.2, 1.1], "expected": [0.25, 1.0]}, index=[0, 1])
    days = pd.date_range("2026-01-04", periods=30, freq="W")
    track = pd.DataFrame({"period_end": days, "actual": np.arange(30.0), "expected": np.arange(30.0) * 1.1,
                          "calibration": [True] * 20 + [False] * 10})
    for build in (lambda: plots.conditional_expectation_plot(table), lambda: plots.tracking_plot(track)):
        en = figure_texts(build())
        with i18n.using("zh-CN"):
            zh = figure_texts(build())
        assert CJK.search(zh) and english_left(zh) == [], zh
        assert figure_texts(build()) == en
    with i18n.using("zh-CN"):
        assert "跟踪图：按周累计交易次数" in figure_texts(plots.tracking_plot(track))


def test_the_notebooks_customer_type_titles_have_chinese_forms(period_res):
    """The titles 10_segmentation writes with the customer type, built by the figures from ``customer_type``."""
    from crm_lib import plots

    r, _, _ = period_res
    ct = "individual"
    m = r.current.models[ct]
    builds = {f"RFM grid, {ct} customers: share of customers (value share)":
              (lambda: plots.rfm_heatmap(r.rfm_grids[ct], customer_type=ct), "RFM 网格（个人客户）"),
              f"Choosing k for {ct} customers: k = {m.k_} (shaded)":
              (lambda: plots.cluster_selection(m.selection_, m.min_stability, m.min_silhouette, customer_type=ct),
               "个人客户聚类数 k 的选择"),
              f"{ct.capitalize()} clusters: standardised means":
              (lambda: plots.zscore_heatmap(r.cluster_zmeans[ct], m.names_.to_dict(), customer_type=ct),
               "个人客户聚类：标准化均值"),
              f"{ct.capitalize()} value tiers: previous period end to this period end":
              (lambda: plots.transition_heatmap(r.tier_matrices[ct], customer_type=ct), "个人客户价值层级：上期末至本期末"),
              f"{ct.capitalize()} customers: where the movers went (customers who stayed not shown)":
              (lambda: plots.migration_flow(r.tier_matrices[ct], skip_same=True, include_new=False, customer_type=ct),
               "个人客户：迁移客户的去向"),
              "Lifecycle stage: previous period end to this period end":
              (lambda: plots.transition_heatmap(r.lifecycle_matrix,
                                                "Lifecycle stage: previous period end to this period end"),
               "生命周期阶段：上期末至本期末")}
    for english, (build, chinese) in builds.items():
        assert english in figure_texts(build())
        with i18n.using("zh-CN"):
            assert chinese in figure_texts(build())
    with i18n.using("zh-CN"):
        assert seg.clusters_heading(ct) == "**个人客户聚类**"
    assert seg.clusters_heading(ct) == "**Individual clusters**"
