"""zh-CN for churn (#16): every sentence, display table and figure of 20_churn and 21_early_warning.

Each builder runs on fixed inputs (those of tests/test_narratives.py, extended to reach every branch)
under ``i18n.using("zh-CN")``; the test checks that (a) no run of three English words is left once the
allowed names and the data values passed in are taken out, (b) the numbers are the English output's
numbers and the interval label is the Chinese one, and (c) English comes back unchanged afterwards.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from crm_lib import i18n, plots  # noqa: E402
from crm_lib.churn import narrative as N  # noqa: E402
from crm_lib.churn import warning as W  # noqa: E402
from crm_lib.churn.settings import ChurnDefinition  # noqa: E402
from crm_lib.config import Period  # noqa: E402

ALPHA = 0.2
Q3 = Period.parse("2026Q3")
ENGLISH_RUN = re.compile(r"[A-Za-z]{2,}(?:[ -][A-Za-z]{2,}){2,}")
CJK = re.compile(r"[\u4e00-\u9fff]")
# Names that stay in Latin letters in Chinese: methods, authors, models, file columns.
ALLOWED = ["Kaplan-Meier", "Fleming-Harrington", "Aalen-Johansen", "Grambsch & Therneau", "van Houwelingen",
           "Lin & Wei", "Schoenfeld", "log-rank", "Log-rank", "Cox", "Weibull", "Wilson", "Poisson", "Wald", "Holm",
           "Harrell", "Uno", "Akaike", "AIC", "AUC", "Brier", "bootstrap", "landmark", "logistic", "CLV", "AUM",
           "CRM", "value_at_risk", "clv_at_risk", "lifelines"]
# Values of the inputs below: data, parameters, other modules' words (covariate labels and units come from
# crm_lib.churn.covariates, model notes from the fitting code), shown as they are.
DATA = ["assets with the bank", "products held", "aged under 30", "x2.7 the value", "1 product", "voluntary",
        "price related", "bank initiated", "private banking", "mass affluent", "mass", "affluent", "retention",
        "RET-2026-07", "complaints: few events", "bank initiated: too few events", "few events at 12 months",
        "did not converge: x", "no campaign of kind retention", "10-year horizon, 8% discount",
        "accounts.product 'FX' has no margin rate", "assets -24% in 3 months (typical +1%) x7.8",
        "early_warning_2026Q3.csv", "early_warning_2026Q3.parquet", "/tmp/out", "balance drop", "vip flag"]


# --------------------------------------------------------------------------- inputs

def _inputs():
    pc = pd.Series({"at_risk_start": 1514, "churned_of_start": 38, "churn_rate": 0.025099, "churn_rate_lower": 0.02078,
                    "churn_rate_upper": 0.03029, "churned": 41, "customer_years": 402.6, "hazard_per_year": 0.10184,
                    "hazard_lower": 0.0853, "hazard_upper": 0.1213})
    ret = pd.DataFrame({"group": ["all customers", "mass_affluent"], "n": [1932, 400], "events": [311, 50],
                        "median_years": [np.inf, 3.0], "median_lower": [7.25, 2.0], "median_upper": [np.inf, np.inf],
                        "retention_12m": [0.9412, 0.9], "retention_12m_lower": [0.9341, 0.8],
                        "retention_12m_upper": [0.9476, 0.95], "retention_24m": [0.88, np.nan],
                        "retention_24m_lower": [0.86, np.nan], "retention_24m_upper": [0.9, np.nan],
                        "estimator": ["Kaplan-Meier", "Fleming-Harrington (KM reached 0)"]})
    camp = pd.Series({"status": "ok", "campaign_id": "RET-2026-07", "hr": 0.6123, "hr_lower": 0.4511, "hr_upper": 0.8312,
                      "p": 0.0021, "logrank_p": 0.0018, "n_treated": 180, "n_control": 175, "events_treated": 11,
                      "events_control": 21, "churn_12m_treated": 0.0521, "churn_12m_treated_lower": 0.0391,
                      "churn_12m_treated_upper": 0.0693, "churn_12m_control": 0.1012, "churn_12m_control_lower": 0.0823,
                      "churn_12m_control_upper": 0.1240})
    rows = []
    for h in (6, 12):
        for metric, base in (("c_index", 0.71), ("uno_c", 0.70), ("td_auc", 0.74), ("brier", 0.0312), ("ibs", 0.0211)):
            for model, d in (("cox", 0.0), ("baseline", -0.01), ("difference", 0.01)):
                rows.append({"metric": metric, "horizon_months": h, "model": model, "value": base + d,
                             "lower": base + d - 0.005, "upper": base + d + 0.005})
    precision = pd.DataFrame({"horizon_months": [6, 6], "model": ["cox", "baseline"], "n_flagged": [60, 60],
                              "precision": [0.35, 0.08], "precision_lower": [0.30, np.nan],
                              "precision_upper": [0.41, np.nan], "lift": [7.0, 1.6], "base_rate": [0.05, 0.05],
                              "recall": [0.33, 0.07]})
    val = SimpleNamespace(metrics=pd.DataFrame(rows), horizons_months=[6, 12], test_start=pd.Timestamp("2025-09-30"),
                          n_test=1400, test_events=90, alpha=ALPHA, precision=precision, n_train_rows=5200,
                          n_train_customers=1500, train_landmarks=[pd.Timestamp("2024-09-30"), pd.Timestamp("2024-12-31")],
                          as_of=pd.Timestamp("2026-09-30"), n_boot=200, notes=["few events at 12 months"],
                          model=SimpleNamespace(alpha=ALPHA))
    frame = pd.DataFrame({"entry": [0, 1.5, 0, 2, 0, 0, 0, 0], "event": [1, 0, 0, 0, 0, 1, 0, 0],
                          "cause": ["voluntary", "censored", "bank_initiated", "other", "censored", "dormancy",
                                    "closure", "censored"],
                          "censored_at_contact": [0, 1, 0, 0, 0, 0, 0, 0]})
    inc = pd.DataFrame({"cause": ["voluntary", "bank_initiated", "other"] * 2, "years": [1, 1, 1, 5, 5, 5],
                        "incidence": [0.05, 0.004, 0.001, 0.2502, 0.016, 0.004],
                        "lower": [0.04, 0.002, 0.0, 0.2461, 0.012, 0.001],
                        "upper": [0.06, 0.006, 0.002, 0.2533, 0.023, 0.009]})
    summary = pd.DataFrame({"label": ["assets with the bank", "products held"], "per": ["x2.7 the value", "1 product"],
                            "hr": [0.8, 1.9], "hr_lower": [0.7, 1.5], "hr_upper": [0.9, 2.4], "p": [1e-300, 0.2]})
    ph = pd.DataFrame({"label": ["assets with the bank", "products held", "aged under 30"], "statistic": [9.1, 0.3, 5.5],
                       "p": [0.002, 0.6, 0.02], "slope": [0.2, 0.0, -0.1], "ph_holds": [False, True, False],
                       "action": ["stratified (4 quantile groups)", "none", "stratified (2 levels)"]})
    aft = pd.DataFrame({"model": ["weibull", "loglogistic", "lognormal"], "status": ["ok", "ok", "did not converge: x"],
                        "log_likelihood": [-1200.3, -1210.2, np.nan], "n_params": [9, 9, np.nan],
                        "aic": [2418.6, 2438.4, np.nan], "delta_aic": [0.0, 19.8, np.nan],
                        "akaike_weight": [0.99995, 0.00005, np.nan], "shape": [0.81, 1.2, np.nan],
                        "shape_lower": [0.75, 1.1, np.nan], "shape_upper": [0.88, 1.3, np.nan],
                        "concordance": [0.701, 0.699, np.nan]})
    cs = pd.DataFrame({"label": ["assets with the bank", "assets with the bank"], "cause": ["voluntary", "other"],
                       "hr": [1.2, 0.9], "hr_lower": [1.1, 0.7], "hr_upper": [1.3, 1.1], "events": [40, 12]})
    cs.attrs["notes"] = ["bank initiated: too few events"]
    overall = pd.Series({"groups": 3, "statistic": 12.34, "df": 2, "p": 0.0004, "n": 1500})
    pairs = pd.DataFrame({"group_a": ["mass", "mass"], "group_b": ["private_banking", "affluent"],
                          "p_holm": [0.0004, 0.3], "significant": [True, False]})
    model = SimpleNamespace(n_=900, n_events_=80, engine_="lifelines", concordance_=0.71,
                            notes_=["complaints: few events"])
    rng = np.random.default_rng(3)
    prob = np.sort(rng.uniform(0.2, 0.6, 50))[::-1]
    aum = rng.uniform(1e4, 5e5, 50)
    clv = rng.uniform(-2e3, 4e4, 50)
    table = pd.DataFrame({"rank": np.arange(1, 51), "customer_id": [f"P{i:015x}" for i in range(50)],
                          "churn_probability": prob, "aum": aum, "value_at_risk": prob * aum, "clv": clv,
                          "clv_at_risk": clv * prob, "customer_type": "individual",
                          "tier": np.where(np.arange(50) % 2, "mass", "mass_affluent"), "tenure_years": 3.26,
                          "reason_1": "assets -24% in 3 months (typical +1%) x7.8", "reason_2": "", "reason_3": ""})

    def wl(**kw):
        base = dict(table=table, top_share=0.05, n_scored=1000, horizon_months=6, as_of=pd.Timestamp("2026-09-30"),
                    cutoff_probability=0.2, expected_churners_scored=61.0, value_at_risk_scored=2.1e6,
                    clv_at_risk_scored=3.4e5, clv_note="", rank_by="churn_probability",
                    clv_assumptions="10-year horizon, 8% discount")
        return SimpleNamespace(**{**base, **kw})

    def settings(**kw):
        return SimpleNamespace(alpha=ALPHA, retention_months=(12,), definition=ChurnDefinition(**kw))

    stratified = SimpleNamespace(strata=["stratum_balance_drop"], window_days=365, summary_=summary)
    no_clv = wl(clv_note="CLV not computed: accounts.product 'FX' has no margin rate" + W.RANKED_BY_PROBABILITY_INSTEAD,
                table=table.assign(clv=np.nan), clv_at_risk_scored=np.nan)
    paths = [Path("/tmp/out/early_warning_2026Q3.csv"), Path("/tmp/out/early_warning_2026Q3.parquet")]
    return {
        "definition closure": lambda: N.definition_md(settings()),
        "definition dormancy": lambda: N.definition_md(settings(kind="dormancy", event_reasons=("voluntary", "price_related"))),
        "definition any closure": lambda: N.definition_md(settings(event_reasons=None, censor_treated_kinds=())),
        "frame": lambda: N.frame_md(frame, "2021-01-01", "2026-09-30"),
        "frame no competing exit": lambda: N.frame_md(frame.assign(cause="censored"), "2021-01-01", "2026-09-30"),
        "headline": lambda: N.headline_md(pc, ret, val, camp, Q3, ALPHA),
        "headline median": lambda: N.headline_md(pc, ret.iloc[1:], None, None, Q3, ALPHA),
        "retention table": lambda: N.retention_display(ret, ALPHA),
        "log-rank": lambda: N.logrank_md(overall, pairs, "value-tier", ALPHA),
        "log-rank no pair": lambda: N.logrank_md(overall, pairs.assign(significant=False), "acquisition-channel", ALPHA),
        "hazard ratios": lambda: N.hr_display(summary, ALPHA),
        "cox model": lambda: N.model_md(model, "2025-09-30", "2026-09-30"),
        "ph table": lambda: N.ph_display(ph),
        "ph rejected": lambda: N.ph_md(ph, stratified, ALPHA),
        "ph holds": lambda: N.ph_md(ph.assign(ph_holds=True), None, ALPHA),
        "stratified": lambda: N.stratified_display(stratified, ALPHA),
        "stratified none": lambda: N.stratified_display(None, ALPHA).data,
        "aft table": lambda: N.aft_display(aft),
        "aft falls": lambda: N.aft_md(aft),
        "aft rises": lambda: N.aft_md(aft.assign(shape_lower=1.1, shape_upper=1.4)),
        "aft flat": lambda: N.aft_md(aft.assign(shape_lower=0.9, shape_upper=1.4)),
        "competing": lambda: N.competing_md(inc, frame, alpha=ALPHA),
        "incidence table": lambda: N.incidence_display(inc, ALPHA),
        "cause table": lambda: N.cause_display(cs, ALPHA),
        "cause": lambda: N.cause_md(cs),
        "campaign": lambda: N.campaign_md(camp, alpha=ALPHA),
        "campaign none": lambda: N.campaign_md(pd.Series({"status": "no campaign of kind retention"}), alpha=ALPHA),
        "metrics table": lambda: N.metrics_display(val),
        "validation": lambda: N.validation_md(val),
        "precision table": lambda: N.precision_display(val),
        "landmark": lambda: N.landmark_md(model, 6),
        "warning": lambda: N.warning_md(wl(), val, ALPHA),
        "warning by value at risk": lambda: N.warning_md(wl(rank_by="clv_at_risk"), val, ALPHA),
        "warning consistent": lambda: N.warning_md(wl(table=table.assign(churn_probability=0.35)), val, ALPHA),
        "warning below": lambda: N.warning_md(wl(table=table.assign(churn_probability=0.1)), val, ALPHA),
        "warning without clv": lambda: N.warning_md(no_clv, val, ALPHA),
        "warning list without clv": lambda: N.warning_md(wl(table=table.assign(clv=np.nan)), val, ALPHA),
        "list": lambda: N.list_display(wl()),
        "list without clv": lambda: N.list_display(no_clv),
        "by tier": lambda: N.list_by_tier(wl(), ALPHA),
        "by tier without clv": lambda: N.list_by_tier(no_clv, ALPHA),
        "export": lambda: N.export_md(paths, wl()),
    }


BUILDERS = _inputs()
# Builders with neither dates nor amounts: the same numbers in both languages, digit for digit.
SAME_NUMBERS = ["retention table", "log-rank", "log-rank no pair", "hazard ratios", "ph table", "ph rejected",
                "ph holds", "aft table", "aft falls", "aft rises", "aft flat", "competing", "incidence table",
                "cause table", "campaign", "metrics table", "precision table"]


def text(obj) -> str:
    """What a reviewer reads of a builder's output (a table: index name, headers, row labels and cells)."""
    if isinstance(obj, pd.DataFrame):
        lines = [" | ".join(map(str, [obj.index.name, *obj.columns]))]
        lines += [" | ".join(map(str, [i, *r])) for i, r in zip(obj.index, obj.itertuples(index=False))]
        return "\n".join(lines)
    return str(obj)


def english_left(s: str) -> list[str]:
    s = html.unescape(s)
    for word in sorted(DATA + ALLOWED, key=len, reverse=True):
        s = s.replace(word, " ")
    return ENGLISH_RUN.findall(s)


def numbers(s: str) -> Counter:
    return Counter(re.findall(r"\d+(?:[.,]\d+)*", html.unescape(s)))


@pytest.fixture(scope="module")
def english():
    return {name: text(build()) for name, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def chinese():
    with i18n.using("zh-CN"):
        return {name: text(build()) for name, build in BUILDERS.items()}


# --------------------------------------------------------------------------- narrative and tables

@pytest.mark.parametrize("name", list(BUILDERS))
def test_nothing_is_left_in_english(name, chinese, english):
    assert chinese[name] != english[name]
    assert CJK.search(chinese[name]), chinese[name]
    assert english_left(chinese[name]) == [], chinese[name]


@pytest.mark.parametrize("name", SAME_NUMBERS)
def test_chinese_states_the_same_numbers(name, chinese, english):
    assert numbers(chinese[name]) == numbers(english[name]), (chinese[name], english[name])


def test_intervals_carry_the_chinese_level_label(chinese, english):
    labelled = [k for k, v in english.items() if "80% CI" in v]
    assert len(labelled) > 15
    for name in labelled:
        assert "80%置信区间" in chinese[name] and "CI" not in chinese[name].replace("CLV", ""), chinese[name]
    assert "2026年第3季度" in chinese["headline"] and "2026年9月30日" in chinese["headline"]
    assert "2024年9月, 2024年12月" in chinese["validation"]
    assert "万" in chinese["warning"] and "m of assets" in english["warning"]


def test_english_comes_back_unchanged(english):
    with i18n.using("zh-CN"):
        BUILDERS["headline"]()
    assert {name: text(build()) for name, build in BUILDERS.items()} == english
    assert english["incidence table"].splitlines()[0] == \
        "cause | by 1 year of tenure (80% CI) | by 5 years of tenure (80% CI)"


def test_the_definition_reaches_the_page_in_chinese_and_the_facts_in_english():
    d = ChurnDefinition(kind="dormancy", event_reasons=("voluntary",), censor_treated_kinds=("retention",))
    english = d.describe()
    with i18n.using("zh-CN"):
        page, facts = d.describe(localised=True), d.describe()
    assert facts == english == d.describe(localised=True)
    assert page.startswith("客户在以下情形中先发生者即视为**流失**") and "*voluntary*" in page and "180" in page
    assert english_left(page) == []


# --------------------------------------------------------------------------- early-warning reasons

def test_reasons_are_worded_in_the_runs_language():
    frame = pd.DataFrame({"balance_drop": [0.9, 0.1, 0.2], "vip_flag": [0.0, 1.0, 1.0]})
    contributions = pd.DataFrame({"balance_drop": [1.2, 0.0, 0.0], "vip_flag": [0.4, 0.0, 0.0]}, index=frame.index)
    model = SimpleNamespace(contributions=lambda f: contributions.loc[f.index], window_days=365)
    en = W.reasons(model, frame, n=2).iloc[0].tolist()
    with i18n.using("zh-CN"):
        zh = W.reasons(model, frame, n=2).iloc[0].tolist()
    assert en == ["balance drop 0.9 (typical 0.2) x3.3", "not vip flag x1.5"]
    assert zh == ["balance drop 0.9（典型值 0.2） ×3.3", "非vip flag ×1.5"]
    assert W.reasons(model, frame, n=2).iloc[0].tolist() == en


# --------------------------------------------------------------------------- figures

def _curves():
    return pd.DataFrame({"group": ["mass"] * 2 + ["affluent"] * 2, "time": [0.0, 1.0] * 2,
                         "survival": [1.0, 0.9, 1.0, 0.95], "lower": [1.0, 0.85, 1.0, 0.9],
                         "upper": [1.0, 0.95, 1.0, 0.98], "n": [10, 10, 12, 12]})


def _figures():
    rng = np.random.default_rng(1)
    summary = pd.DataFrame({"label": ["assets with the bank"], "per": ["x2.7 the value"], "hr": [0.8],
                            "hr_lower": [0.7], "hr_upper": [0.9]})
    res = pd.DataFrame({"covariate": "log_aum", "label": "assets with the bank", "time": np.linspace(0, 5, 40),
                        "residual": rng.normal(size=40), "smooth": 0.1, "coef": 0.05})
    cal = pd.DataFrame([{"horizon_months": h, "model": m, "predicted": p, "observed": p, "lower": p / 2, "upper": p * 2}
                        for h in (6, 12) for m in ("cox", "baseline") for p in (0.02, 0.1)])
    metrics = pd.DataFrame([{"metric": k, "horizon_months": h, "model": m, "value": 0.6, "lower": 0.5, "upper": 0.7}
                            for k in ("td_auc", "brier") for h in (6, 12) for m in ("cox", "baseline")])
    gains = pd.DataFrame({"horizon_months": [6, 6], "share_targeted": [0.05, 0.1], "share_of_churners": [0.3, 0.45]})
    cif = pd.DataFrame({"cause": ["voluntary"] * 2 + ["other"] * 2, "time": [0.0, 2.0] * 2,
                        "incidence": [0.0, 0.1, 0.0, 0.02], "lower": [0.0, 0.08, 0.0, 0.01],
                        "upper": [0.0, 0.12, 0.0, 0.03]})
    scores = pd.DataFrame({"churn_probability": rng.uniform(0, 0.5, 200)})
    return {
        "curves": lambda: plots.churn_curves(_curves(), alpha=ALPHA),
        "curves by tier": lambda: plots.churn_curves(_curves(), title="Retention by value tier at entry", alpha=ALPHA),
        "curves by arm": lambda: plots.churn_curves(_curves(), title="Retention after the campaign contact, by arm",
                                                    xlabel="years since contact", alpha=ALPHA),
        "no curves": lambda: plots.churn_curves(_curves().iloc[:0], alpha=ALPHA),
        "forest": lambda: plots.hazard_ratio_forest(summary, alpha=ALPHA),
        "forest early warning": lambda: plots.hazard_ratio_forest(
            summary, title="Hazard ratios of the early-warning model", alpha=ALPHA),
        "ph residuals": lambda: plots.ph_residuals_plot(res),
        "calibration": lambda: plots.calibration_plot(cal, alpha=ALPHA),
        "validation": lambda: plots.validation_metrics_plot(metrics),
        "gains": lambda: plots.gains_chart(gains, 0.05),
        "incidence": lambda: plots.cumulative_incidence_plot(cif, alpha=ALPHA),
        "risk": lambda: plots.risk_distribution(scores, 0.3, 6),
    }


def _figure_texts(fig) -> list[str]:
    out = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        out += [ax.get_title(loc=w) for w in ("left", "center")] + [ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.texts] + [t.get_text() for t in ax.get_xticklabels()]
        if ax.get_legend() is not None:
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    return [t for t in out if t]


@pytest.mark.parametrize("name", list(_figures()))
def test_figures_speak_chinese(name):
    import matplotlib.pyplot as plt

    build = _figures()[name]
    en_fig = build()
    en = _figure_texts(en_fig)
    with i18n.using("zh-CN"):
        zh_fig = build()
        zh = _figure_texts(zh_fig)
    again = _figure_texts(build())
    plt.close("all")
    assert again == en
    titles = [zh_fig._suptitle.get_text()] if zh_fig._suptitle is not None else \
        [zh_fig.axes[0].get_title(loc="left")]
    assert all(CJK.search(t) for t in titles), titles
    assert any(CJK.search(t) for t in zh if t not in titles), zh
    left = [w for t in zh for w in english_left(t)]
    assert left == [], zh
    if "80% CI" in " ".join(en):
        assert any("80%置信区间" in t for t in zh), zh
