"""One survival API on any frame (issue #21 item 2): column arguments, time units, pandas predictions.

A plain churn table with ``months`` / ``left`` / ``start`` columns (no ``duration``, ``event``
or ``entry``) goes through km_curves, logrank, retention_summary, cumulative incidence, ChurnCox
fit / predict, the AFT fits and the frame-level metrics with ``time_unit="months"``, and is
compared with lifelines on the same frame and with the same frame stated in years.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import AalenJohansenFitter, CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import concordance_index
from sklearn.metrics import roc_auc_score

from crm_lib import churn
from crm_lib.churn import scoring
from crm_lib.churn.cox import ChurnCox
from crm_lib.errors import DataContractError

COLS = {"duration_col": "months", "event_col": "left", "entry_col": "start"}
MONTHS = {**COLS, "time_unit": "months"}


def plain_frame(n: int = 600, seed: int = 21) -> pd.DataFrame:
    """Exponential churn in months, hazard ratio exp(0.5) per SD of x1 and exp(-0.7) for x2 = 1;
    uniform censoring 6-60 months; 30% of customers first seen at a tenure of 0-12 months (delayed entry)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.binomial(1, 0.4, n).astype(float)
    T = rng.exponential(30 * np.exp(-(0.5 * x1 - 0.7 * x2)))
    C = rng.uniform(6, 60, n)
    start = np.where(rng.random(n) < 0.3, rng.uniform(0, 12, n), 0.0)
    months = np.minimum(T, C)
    df = pd.DataFrame({"x1": x1, "x2": x2, "months": months, "left": (T <= C).astype(int), "start": start,
                       "segment": rng.choice(["retail", "premier", "private"], n),
                       "reason": np.where(T <= C, rng.choice(["moved", "price"], n), "censored")})
    df = df[df["months"] > df["start"]]                  # left truncation: only customers still there at entry
    df.index = pd.Index([f"C{i:04d}" for i in range(len(df))], name="customer")   # not a RangeIndex on purpose
    return df


@pytest.fixture(scope="module")
def df():
    return plain_frame()


def in_years(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(months=df["months"] / 12, start=df["start"] / 12)


# --------------------------------------------------------------------------- describe

def test_km_curves_on_a_plain_frame_match_lifelines_and_state_months(df):
    curve = churn.km_curves(df, step=3, min_n=1, min_at_risk=1, **MONTHS)
    assert curve.attrs["time_unit"] == "months"
    t = curve["time"].to_numpy()
    assert np.allclose(t, 3 * np.arange(len(t)))                          # the step is 3 months, not 3 years
    km = KaplanMeierFitter().fit(df["months"], df["left"], entry=df["start"])
    # same lifelines estimator underneath, read at the same right-continuous steps: equal to rounding
    assert np.allclose(curve["survival"], km.survival_function_at_times(t).to_numpy(), atol=1e-12, rtol=0)
    # the same customers in years, a quarter-year step: the same curve (the unit only relabels the axis)
    years = churn.km_curves(in_years(df), step=0.25, min_n=1, min_at_risk=1, **COLS)
    assert years.attrs["time_unit"] == "years"
    assert np.allclose(years["survival"], curve["survival"], atol=1e-12)
    # default step is one month of the unit
    assert np.diff(churn.km_curves(df, min_n=1, **MONTHS)["time"].to_numpy()[:2]) == pytest.approx(1.0)


def test_delayed_entry_is_used_only_where_asked(df):
    with_entry = churn.km_curves(df, step=12, min_n=1, min_at_risk=1, **MONTHS)
    ignored = churn.km_curves(df, step=12, min_n=1, min_at_risk=1, **{**MONTHS, "entry_col": None})
    naive = KaplanMeierFitter().fit(df["months"], df["left"]).survival_function_at_times(ignored["time"])
    assert np.allclose(ignored["survival"], naive.to_numpy(), atol=1e-12)
    # left truncation removes early churn-free time of late entrants: the naive curve is higher early on
    assert ignored["survival"].iloc[1] > with_entry["survival"].iloc[1]


def test_logrank_on_a_plain_frame_matches_lifelines_and_ignores_the_unit(df):
    overall, pairs = churn.logrank(df, "segment", min_n=1, **{**MONTHS, "entry_col": None})
    ref = multivariate_logrank_test(df["months"], df["segment"], df["left"])
    # same chi-square statistic from two implementations (statsmodels survdiff vs lifelines): to 1e-8
    assert overall["statistic"] == pytest.approx(ref.test_statistic, rel=1e-8)
    assert overall["p"] == pytest.approx(ref.p_value, rel=1e-6)
    assert overall["df"] == 2 and len(pairs) == 3
    with_entry, _ = churn.logrank(df, "segment", min_n=1, **MONTHS)
    in_y, _ = churn.logrank(in_years(df), "segment", min_n=1, **COLS)
    assert with_entry["statistic"] == pytest.approx(in_y["statistic"], rel=1e-10)   # ranks only


def test_retention_and_median_are_named_and_stated_in_the_unit(df):
    r = churn.retention_summary(df, times=(6, 12), min_n=1, **MONTHS).iloc[0]
    km = KaplanMeierFitter().fit(df["months"], df["left"], entry=df["start"])
    assert r["median_months"] == pytest.approx(km.median_survival_time_, abs=1e-12)
    assert r["retention_6m"] == pytest.approx(float(km.survival_function_at_times(6).iloc[0]), abs=1e-12)
    # months=(12,) means 12 months whatever the unit; in years the same column and value
    a = churn.retention_summary(df, months=(12,), min_n=1, **MONTHS).iloc[0]
    b = churn.retention_summary(in_years(df), months=(12,), min_n=1, **COLS).iloc[0]
    assert a["retention_12m"] == pytest.approx(r["retention_12m"], abs=1e-12)
    assert a["retention_12m"] == pytest.approx(b["retention_12m"], abs=1e-12)
    assert b["median_years"] == pytest.approx(a["median_months"] / 12, rel=1e-12)
    assert "retention_90d" in churn.retention_summary(df.assign(months=df["months"] * 365.25 / 12,
                                                                start=df["start"] * 365.25 / 12),
                                                      times=(90,), min_n=1, **{**COLS, "time_unit": "days"})


def test_period_churn_states_exposure_and_hazard_in_the_unit():
    f = pd.DataFrame({"joined": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-07-01"]),
                      "gone": pd.to_datetime(["2024-12-31", "2024-06-30", "2024-12-31"]), "left": [0, 1, 1]})
    kw = {"event_col": "left", "entry_date_col": "joined", "exit_date_col": "gone"}
    y = churn.period_churn(f, "2024-01-01", "2024-12-31", **kw)
    m = churn.period_churn(f, "2024-01-01", "2024-12-31", time_unit="months", **kw)
    assert m.attrs["time_unit"] == "months" and "hazard_per_month" in m and "hazard_per_year" in y
    # exposure runs from entry (or the period start) to the exit date: 365 + 181 + 183 days in leap-year 2024
    assert y["customer_years"] == pytest.approx((365 + 181 + 183) / 365.25, rel=1e-12)
    assert m["customer_months"] == pytest.approx(12 * y["customer_years"])
    assert m["hazard_per_month"] == pytest.approx(y["hazard_per_year"] / 12)
    with pytest.raises(DataContractError, match=r"frame\.entry_date: column missing.*entry_date_col='entry_date'"):
        churn.period_churn(f, "2024-01-01", "2024-12-31", event_col="left", exit_date_col="gone")


def test_cumulative_incidence_on_a_plain_frame_matches_lifelines(df):
    cif = churn.cumulative_incidence(df, step=6, cause_col="reason", duration_col="months", entry_col="start",
                                     time_unit="months")
    assert cif.attrs["time_unit"] == "months" and set(cif["cause"]) == {"moved", "price"}
    code = df["reason"].map({"moved": 1, "price": 2}).fillna(0).astype(int)
    moved = cif[cif["cause"] == "moved"]
    aj = AalenJohansenFitter(seed=0).fit(df["months"], code, event_of_interest=1, entry=df["start"])
    want = aj.cumulative_density_.iloc[:, 0]
    idx = np.searchsorted(want.index.to_numpy(), moved["time"].to_numpy(), side="right") - 1
    assert np.allclose(moved["incidence"], want.to_numpy()[np.clip(idx, 0, None)], atol=1e-12)
    at = churn.incidence_at(cif, times=(12,))
    assert list(at.columns[:2]) == ["cause", "months"] and (at["months"] == 12).all()
    assert churn.incidence_at(cif, years=(1,))["months"].tolist() == [12.0, 12.0]


# --------------------------------------------------------------------------- ChurnCox

def test_cox_on_a_plain_frame_matches_lifelines_coefficients_and_predictions(df):
    m = ChurnCox(covariates=["x1", "x2"], **MONTHS).fit(df)
    ref = CoxPHFitter().fit(df[["x1", "x2", "months", "left", "start"]], "months", "left", entry_col="start",
                            fit_options={"precision": 1e-12, "r_precision": 1e-14})
    # both maximise the same Efron partial likelihood with delayed entry, lifelines run to precision 1e-12
    # (its default 1e-7 stops ~3e-6 short); measured agreement 2e-12, so 1e-8 leaves room for BLAS rounding
    assert np.allclose(m.params_, ref.params_[["x1", "x2"]], atol=1e-8, rtol=0)
    assert np.allclose(m.summary_["se"], ref.standard_errors_[["x1", "x2"]], atol=1e-8, rtol=0)
    assert m.baseline_[None][0].max() <= df["months"].max()                 # baseline times are months

    # predictions: lifelines' baseline hazard ignores entry times (it sums over every row with T >= t),
    # so compare on the fit without delayed entry, at event times (lifelines interpolates between them)
    m0 = ChurnCox(covariates=["x1", "x2"], **{**MONTHS, "entry_col": None}).fit(df)
    ref0 = CoxPHFitter().fit(df[["x1", "x2", "months", "left"]], "months", "left",
                             fit_options={"precision": 1e-12, "r_precision": 1e-14})
    ev = np.sort(df.loc[df["left"] == 1, "months"].to_numpy())
    times = [ev[np.searchsorted(ev, 6)], ev[np.searchsorted(ev, 12)]]
    got = m0.predict_survival(df, times)
    want = ref0.predict_survival_function(df[["x1", "x2"]], times=times).T
    assert isinstance(got, pd.DataFrame) and got.index.equals(df.index) and list(got.columns) == times
    assert got.attrs["time_unit"] == "months"
    assert np.allclose(got.to_numpy(), want.to_numpy(), atol=1e-8, rtol=0)   # measured 2e-13


def test_cox_in_months_equals_cox_in_years(df):
    m = ChurnCox(covariates=["x1", "x2"], **MONTHS).fit(df)
    y = ChurnCox(covariates=["x1", "x2"], **COLS).fit(in_years(df))
    assert np.allclose(m.params_, y.params_, atol=1e-10)                 # the partial likelihood uses ranks only
    pm = m.predict_churn_probability(df, [6, 12], tenure_col="start")
    py = y.predict_churn_probability(in_years(df), [0.5, 1.0], tenure_col="start")
    assert np.allclose(pm.to_numpy(), py.to_numpy(), atol=1e-12)
    assert np.allclose(m.predict_churn_probability(df, horizon_years=0.5, tenure_col="start"), pm[6.0], atol=1e-15)
    ph_m, ph_y = m.ph_test(df), y.ph_test(in_years(df))
    assert np.allclose(ph_m["statistic"], ph_y["statistic"], rtol=1e-8)  # km transform: unit-free


def test_the_issue_21_calls_work_on_a_plain_frame(df):
    """Issue #21: no `entry` column, months as the unit; these raised KeyError or returned bare arrays."""
    plain = df.drop(columns="start")
    m = ChurnCox(covariates=["x1", "x2"], duration_col="months", event_col="left", time_unit="months").fit(plain)
    p = m.predict_churn_probability(plain, horizon_years=0.5)
    s6 = m.predict_survival(plain, 6)
    assert isinstance(p, pd.Series) and p.index.equals(plain.index) and p.name == "churn_probability"
    assert isinstance(s6, pd.Series) and s6.index.equals(plain.index)
    # no tenure column: the probability of churning within 6 months of onboarding, 1 - S(6)
    assert np.allclose(p, 1 - s6, atol=1e-12)
    # a larger hazard ratio means a higher churn probability, row by row
    lh = m.predict_log_hazard(plain)
    assert (np.diff(p.to_numpy()[np.argsort(lh.to_numpy())]) >= -1e-12).all()
    assert m.summary_.loc["x1", "hr"] > 1 > m.summary_.loc["x2", "hr"]      # planted: exp(0.5), exp(-0.7)
    assert churn.km_curves(plain, duration_col="months", event_col="left", time_unit="months",
                           min_n=1).attrs["time_unit"] == "months"


def test_a_missing_column_is_named_with_its_argument(df):
    with pytest.raises(DataContractError, match=r"frame\.duration: column missing.*duration_col='duration'"):
        churn.km_curves(df)
    with pytest.raises(DataContractError, match=r"frame\.tenure: column missing.*duration_col='tenure'"):
        ChurnCox(covariates=["x1"], duration_col="tenure", event_col="left").fit(df)
    with pytest.raises(DataContractError, match=r"frame\.begin: column missing.*entry_col='begin'"):
        churn.logrank(df, "segment", **{**MONTHS, "entry_col": "begin"})
    m = ChurnCox(covariates=["x1"], **MONTHS).fit(df)
    with pytest.raises(DataContractError, match=r"frame\.now: column missing.*tenure_col='now'"):
        m.predict_churn_probability(df, 6, tenure_col="now")
    with pytest.raises(ValueError, match=r"time_unit='fortnights'"):
        ChurnCox(covariates=["x1"], **{**MONTHS, "time_unit": "fortnights"}).fit(df)
    with pytest.raises(DataContractError, match=r"frame\.months: 1 row\(s\) break rule 'finite number of months'"):
        churn.km_curves(df.assign(months=np.where(np.arange(len(df)) == 3, np.nan, df["months"])), **MONTHS)


def test_parametric_fits_in_months_shift_only_the_likelihood(df):
    tm, _ = churn.parametric_fits(df, ["x1", "x2"], models=("weibull",), **MONTHS)
    ty, _ = churn.parametric_fits(in_years(df), ["x1", "x2"], models=("weibull",), **COLS)
    rm, ry = tm.iloc[0], ty.iloc[0]
    assert tm.attrs["time_unit"] == "months"
    # rescaling time by c = 12 leaves the shape and the ranking alone and lowers each event's
    # log density by log 12: LL_months = LL_years - events * log 12 (optimiser tolerance 1e-4)
    assert rm["shape"] == pytest.approx(ry["shape"], rel=1e-4)
    assert rm["concordance"] == pytest.approx(ry["concordance"], abs=1e-12)
    assert rm["log_likelihood"] == pytest.approx(ry["log_likelihood"] - rm["events"] * np.log(12), abs=1e-4)


# --------------------------------------------------------------------------- metrics on frames

def test_frame_metrics_match_lifelines_and_their_definitions(df):
    m = ChurnCox(covariates=["x1", "x2"], **MONTHS).fit(df)
    lh = m.predict_log_hazard(df)
    c = scoring.concordance_score(df, lh, duration_col="months", event_col="left")
    assert c == pytest.approx(concordance_index(df["months"], -lh, df["left"]), abs=1e-12)
    assert m.score(df) == pytest.approx(c, abs=1e-15)
    assert scoring.concordance_score(df.assign(r=lh), "r", duration_col="months", event_col="left") == c
    # a Series in another row order is aligned on the index, not taken positionally
    assert scoring.concordance_score(df, lh.iloc[::-1], duration_col="months", event_col="left") == c

    # with nobody censored before t the IPCW weights are 1: the Brier score is the plain mean squared
    # error and the cumulative/dynamic AUC the plain ROC AUC of "churned by t"
    f = df[(df["left"] == 1) | (df["months"] > 12)]
    p = 1 - m.predict_survival(f, 12)                                   # churn by 12 months of tenure
    by12 = ((f["months"] <= 12) & (f["left"] == 1)).astype(float)
    kw = {"duration_col": "months", "event_col": "left"}
    assert scoring.brier_score(f, p, 12, **kw) == pytest.approx(((by12 - p) ** 2).mean(), abs=1e-12)
    assert scoring.td_auc_score(f, p, 12, **kw) == pytest.approx(roc_auc_score(by12, p), abs=1e-12)
    P = 1 - m.predict_survival(f, [3, 6, 9, 12])
    curve = [scoring.brier_score(f, P[t], t, **kw) for t in (3, 6, 9, 12)]
    assert scoring.integrated_brier_score(f, P, **kw) == pytest.approx(np.trapezoid(curve, [3, 6, 9, 12]) / 9)
    with pytest.raises(DataContractError, match=r"risk has 2 value\(s\) for"):
        scoring.concordance_score(df, [0.1, 0.2], **kw)
