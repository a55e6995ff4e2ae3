"""Churn analyses recover the synthetic bank's planted truth (crm_lib/data/personas.py: ChurnTruth, RetentionTruth).

The frame is built by ``churn.survival_frame`` from the warehouse; the truth-level covariates (latent traits)
join on the pseudonym computed with the same explicit key, as a bank would join an outside label table.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import END_DATE
from crm_lib import churn
from crm_lib.churn import metrics as M
from crm_lib.churn.cox import ChurnCox
from crm_lib.data.privacy import pseudonymise_id
from crm_lib.data.store import open_source

KEY = "churn-truth-key"
TRUTH_COVS = ["complaint_prone", "n_products_at_onboarding", "digital_active", "age_under_30", "age_65_plus",
              "corporate"]


@pytest.fixture(scope="module")
def small(small_bank):
    with open_source(small_bank / "warehouse.duckdb") as wh:
        f = churn.survival_frame(wh, END_DATE, key=KEY)
    tc = pd.read_parquet(small_bank / "truth_customers.parquet")
    tc["customer_id"] = [pseudonymise_id(c, KEY) for c in tc["customer_id"]]
    tc["complaint_prone"] = tc["complaint_prone"].astype(int)
    tc["digital_active"] = tc["digital_active"].astype(int)
    # age bands and corporate come through the frame (customers.age / customer_type), the latent traits from truth
    g = f.merge(tc[["customer_id", "complaint_prone", "digital_active", "n_products_at_onboarding", "lp"]],
                on="customer_id", validate="one_to_one")
    return g


@pytest.fixture(scope="module")
def cox(small):
    return ChurnCox(covariates=TRUTH_COVS).fit(small)


def test_cox_recovers_every_planted_hazard_ratio(small, cox, truth):
    assert small["event"].sum() > 5000            # enough churns for the intervals to be informative
    for name, hr in truth["churn"]["hazard_ratios"].items():
        s = cox.summary_.loc[name]
        assert s["hr_lower"] <= hr <= s["hr_upper"], f"{name}: planted {hr}, 95% CI {s['hr_lower']:.3f}-{s['hr_upper']:.3f}"


def test_c_index_is_that_of_the_true_linear_predictor(small, cox):
    c_fit = M.concordance(small["duration"], small["event"], cox.predict_log_hazard(small))
    c_true = M.concordance(small["duration"], small["event"], small["lp"])
    assert abs(c_fit - c_true) < 0.02 and c_true > 0.6


def test_weibull_recovers_the_planted_shape_scale_and_hazard_ratios(small, truth):
    ch = truth["churn"]
    tab, fits = churn.parametric_fits(small, TRUTH_COVS, models=("weibull",))
    w = tab.iloc[0]
    assert abs(w["shape"] / ch["shape"] - 1) < 0.10                 # the target: within 10%
    assert w["shape_lower"] <= ch["shape"] <= w["shape_upper"]
    # the intercept is the reference customer (every covariate 0): scale in years
    assert abs(math.exp(fits["weibull"].params_[("lambda_", "Intercept")]) / ch["scale"] - 1) < 0.10
    hr = churn.weibull_hazard_ratios(fits["weibull"])
    for name, planted in ch["hazard_ratios"].items():
        assert hr.loc[name, "hr_lower"] <= planted <= hr.loc[name, "hr_upper"], name


def test_left_truncated_km_recovers_the_planted_retention_and_ignoring_entry_does_not(small, truth):
    """Net voluntary-churn survival S(t) = mean over newly onboarded customers of exp(-(t/scale)^shape e^lp)
    (new customers carry the onboarding mix, no selection); KM with delayed entry must cover it at 1, 3 and 5
    years (99.9% intervals: 3 checks, misses 3 in 1,000), and a KM that ignores entry must not."""
    ch = truth["churn"]
    new = small[small["entry"] == 0]
    years = (1, 3, 5)
    planted = [float(np.mean(np.exp(-(t / ch["scale"]) ** ch["shape"] * np.exp(new["lp"])))) for t in years]
    curve = churn.km_curves(small, step_years=1, alpha=0.001).set_index("time")
    naive = churn.km_curves(small.drop(columns="entry"), step_years=1, alpha=0.001).set_index("time")
    for t, s in zip(years, planted):
        assert curve.loc[t, "lower"] <= s <= curve.loc[t, "upper"], (t, s, curve.loc[t].to_dict())
    assert naive.loc[5, "lower"] > planted[2]       # survivor bias: long-tenure survivors over-represented


def test_bank_initiated_exits_have_the_planted_constant_hazard_and_no_covariate_effect(small, truth):
    rate = truth["churn"]["bank_initiated_rate"]
    bank = small["cause"].eq("bank_initiated")
    years_at_risk = float((small["duration"] - small["entry"]).sum())
    k = int(bank.sum())
    lo, hi = stats.chi2.ppf(0.0005, 2 * k) / 2 / years_at_risk, stats.chi2.ppf(0.9995, 2 * k + 2) / 2 / years_at_risk
    assert lo <= rate <= hi, (k, years_at_risk, lo, hi)            # exact Poisson 99.9% interval
    cs = churn.cause_specific_hazards(small, TRUTH_COVS, alpha=0.001).set_index(["cause", "covariate"])
    for c in TRUTH_COVS:                                            # planted: bank exits ignore the customer
        r = cs.loc[("bank_initiated", c)]
        assert r["hr_lower"] <= 1 <= r["hr_upper"], (c, r.to_dict())
    assert cs.loc[("voluntary", "complaint_prone"), "hr_lower"] > 1.5


def test_cumulative_incidences_add_up_to_the_probability_of_leaving(tiny_bank):
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        f = churn.survival_frame(wh, END_DATE, key=KEY)
    cif = churn.cumulative_incidence(f, step_years=1, seed=1)
    assert set(cif["cause"]) == {"voluntary", "bank_initiated"}
    total = cif.groupby("time")["incidence"].sum()
    any_exit = churn.km_curves(f.assign(event=f["cause"].ne("censored").astype(int)), step_years=1)
    s = any_exit.set_index("time")["survival"]
    # Aalen-Johansen: sum over causes = 1 - KM of any exit; lifelines jitters tied times by 1e-4 years, hence 1e-3
    assert np.allclose(total.loc[[1, 3, 5]], 1 - s.loc[[1, 3, 5]], atol=1e-3)


def test_retention_campaign_hazard_ratio_is_recovered(small_bank, truth):
    with open_source(small_bank / "warehouse.duckdb") as wh:
        s, curves = churn.campaign_effect(wh, END_DATE, key=KEY)
    planted = truth["retention_campaign"]["hazard_ratio"]
    assert s["status"] == "ok", s["status"]
    assert s["campaign_id"] == truth["retention_campaign"]["campaign_id"]
    assert s["hr_lower"] <= planted <= s["hr_upper"], s.to_dict()
    assert s["hr_upper"] < 1                                        # the effect is visible, not just covered
    assert set(curves["group"]) == {"treatment", "control"}


# --------------------------------------------------------------------------- dynamic model, validation, list (tiny)

@pytest.fixture(scope="module")
def tiny_runs(tiny_bank):
    s = churn.ChurnSettings(n_boot=50, seed=4)
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        val = churn.out_of_time_validation(wh, END_DATE, s, key=KEY)
        wl = churn.early_warning(wh, END_DATE, s, key=KEY)
    return s, val, wl


def test_validation_is_out_of_time_and_the_model_beats_kaplan_meier(tiny_runs):
    s, val, _ = tiny_runs
    assert val.test_start == pd.Timestamp("2025-09-30")
    assert max(val.train_landmarks) <= val.test_start - pd.DateOffset(months=12)   # follow-up ends before the test
    m = val.metrics.set_index(["metric", "horizon_months", "model"])
    # planted wind-down (AUM outflow before a voluntary exit) makes current behaviour predictive
    assert m.loc[("c_index", 12, "difference"), "lower"] > 0
    assert m.loc[("td_auc", 6, "difference"), "lower"] > 0
    assert m.loc[("ibs", 12, "difference"), "upper"] < 0
    assert ((m["lower"] <= m["value"]) & (m["value"] <= m["upper"])).all()
    cal = val.calibration
    assert set(cal["horizon_months"]) == {6, 12} and cal.groupby(["horizon_months", "model"])["n"].sum().eq(val.n_test).all()
    p = val.precision.set_index(["horizon_months", "model"])
    assert p.loc[(6, "cox"), "precision_lower"] > p.loc[(6, "baseline"), "precision_upper"]


def test_warning_list_is_ranked_valued_explained_and_exported_with_pseudonyms(tiny_runs, tiny_bank, tmp_path):
    from crm_lib.churn.warning import export_warning_list

    s, _, wl = tiny_runs
    t = wl.table
    assert len(t) == math.ceil(s.warning_top_share * wl.n_scored)
    assert t["churn_probability"].is_monotonic_decreasing and t["rank"].tolist() == list(range(1, len(t) + 1))
    assert np.allclose(t["value_at_risk"], t["aum"] * t["churn_probability"])
    assert (t["reason_1"] != "").all() and t["reason_1"].str.contains(r" x\d").all()
    assert t["churn_probability"].min() >= wl.scores["churn_probability"].quantile(1 - s.warning_top_share) - 1e-12
    raw = set(pd.read_parquet(tiny_bank / "parquet" / "customers")["customer_id"])
    for ext in ("csv", "parquet"):
        path = export_warning_list(t, tmp_path / f"list.{ext}")
        back = pd.read_csv(path, skiprows=1) if ext == "csv" else pd.read_parquet(path)
        assert back["customer_id"].tolist() == t["customer_id"].tolist() and not raw & set(back["customer_id"])
