"""Churn models and metrics against published results (R, lifelines docs, SAS) and their bad-input behaviour."""

from __future__ import annotations

import logging
import math
import runpy

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from conftest import SHARED_DATA
from crm_lib import churn
from crm_lib.churn import metrics as M
from crm_lib.churn.cox import ChurnCox
from crm_lib.churn.frame import YEAR_DAYS
from crm_lib.data.privacy import pseudonymise_id
from crm_lib.data.store import open_source
from crm_lib.errors import DataContractError

KEY = "churn-model-test-key"
ROSSI = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
REFS = SHARED_DATA / "statsmodels_survival_refs"


# --------------------------------------------------------------------------- rossi through the warehouse path

@pytest.fixture(scope="module")
def rossi_frame(tmp_path_factory):
    """Rossi (432 releases, 114 arrests) loaded as a bank: release = onboarding, arrest = voluntary closure."""
    r = pd.read_csv(SHARED_DATA / "rossi" / "rossi.csv")
    root = tmp_path_factory.mktemp("rossi")
    start = pd.Timestamp("2000-01-03")
    ids = [f"CUS{i:08d}" for i in range(1, len(r) + 1)]
    closed = start + pd.to_timedelta(r["week"] * 7, unit="D")
    pd.DataFrame({"customer_id": ids, "customer_type": "individual", "age": r["age"], "onboard_date": start,
                  "closed_date": closed.where(r["arrest"] == 1), "closed_reason": np.where(r["arrest"] == 1,
                                                                                          "voluntary", None),
                  "acquisition_channel": "branch", "region": "north"}).to_parquet(root / "customers.parquet")
    with open_source(root) as wh:
        f = churn.survival_frame(wh, start + pd.Timedelta(days=52 * 7), start=start, key=KEY)
    # age travels through the frame (customers.age); the other covariates join on the pseudonym
    covs = r[[c for c in ROSSI if c != "age"]].assign(customer_id=[pseudonymise_id(i, KEY) for i in ids])
    return f.merge(covs, on="customer_id", validate="one_to_one"), r


def test_rossi_frame_is_exact(rossi_frame):
    f, r = rossi_frame
    assert len(f) == 432 and f["event"].sum() == 114 and (f["entry"] == 0).all()
    # durations are weeks converted to years exactly (7 days a week, 365.25 a year)
    assert np.allclose(np.sort(f["duration"]), np.sort(r["week"] * 7 / YEAR_DAYS), atol=1e-12)


def test_cox_reproduces_the_published_rossi_fit(rossi_frame):
    """Fox & Weisberg, R `coxph(Surv(week, arrest) ~ fin+age+race+wexp+mar+paro+prio)`, Efron ties
    (shared/data/rossi/PROVENANCE.md): coefficients and SEs to 1e-4 (optimiser convergence, per PROVENANCE)."""
    f, _ = rossi_frame
    m = ChurnCox(covariates=ROSSI).fit(f)
    published = {"fin": (-0.37942, 0.19138), "age": (-0.05744, 0.02200), "race": (0.31390, 0.30799),
                 "wexp": (-0.14980, 0.21222), "mar": (-0.43370, 0.38187), "paro": (-0.08487, 0.19576),
                 "prio": (0.09150, 0.02865)}
    for c, (b, se) in published.items():
        assert m.summary_.loc[c, "coef"] == pytest.approx(b, abs=1e-4), c
        assert m.summary_.loc[c, "se"] == pytest.approx(se, abs=1e-4), c
    # HR CIs for fin 0.4702-0.9957 and prio 1.0360-1.1591 (printed to 4 dp)
    s = m.summary_
    assert (s.loc["fin", "hr_lower"], s.loc["fin", "hr_upper"]) == pytest.approx((0.4702, 0.9957), abs=1e-4)
    assert (s.loc["prio", "hr_lower"], s.loc["prio", "hr_upper"]) == pytest.approx((1.0360, 1.1591), abs=1e-4)
    assert m.log_likelihood_ == pytest.approx(-658.748, abs=1e-3)    # lifelines docs, to 3 dp
    assert m.concordance_ == pytest.approx(0.6403, abs=0.005)        # across implementations (PROVENANCE)


def test_weibull_aft_reproduces_the_published_rossi_fit(rossi_frame):
    """lifelines docs WeibullAFTFitter on rossi (PROVENANCE): rho 1.404, coefficients, AIC 1377.833 in weeks.

    Our time unit is years: coefficients and rho do not change; the intercept shifts by log(7/365.25) and the
    log-likelihood by -114 log(7/365.25) (the Jacobian of the unit change), so AIC_years = AIC_weeks + 228 log(7/365.25).
    """
    f, _ = rossi_frame
    tab, fits = churn.parametric_fits(f, ROSSI, models=("weibull",))
    w = fits["weibull"].params_
    assert math.exp(w[("rho_", "Intercept")]) == pytest.approx(math.exp(0.339103), abs=1e-3)
    pub = {"fin": 0.272172, "age": 0.040715, "race": -0.224808, "wexp": 0.106551, "mar": 0.311260,
           "paro": 0.058822, "prio": -0.065817}
    for c, b in pub.items():
        assert w[("lambda_", c)] == pytest.approx(b, abs=1e-3), c     # parametric MLE: abs 1e-3 (PROVENANCE)
    c = math.log(7 / YEAR_DAYS)
    assert w[("lambda_", "Intercept")] == pytest.approx(3.990123 + c, abs=1e-3)
    assert tab.loc[0, "aic"] == pytest.approx(1377.833 + 2 * 114 * c, abs=0.02)


def test_ph_test_matches_lifelines_on_rossi(rossi_frame):
    """lifelines 0.30.3 `proportional_hazard_test(time_transform=...)` on the same data: same statistics (1e-4),
    for the transforms whose definition is the same in both (km, identity, log)."""
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    f, r = rossi_frame
    m = ChurnCox(covariates=ROSSI).fit(f)
    ref = CoxPHFitter().fit(r[ROSSI + ["week", "arrest"]], "week", "arrest")
    for tt in ("km", "identity", "log"):
        want = proportional_hazard_test(ref, r, time_transform=tt).summary["test_statistic"]
        got = m.ph_test(f.assign(duration=f["duration"] * YEAR_DAYS / 7), transform=tt)["statistic"]
        for c in ROSSI:
            assert got[c] == pytest.approx(want[c], abs=1e-4), (tt, c)
    ph = m.ph_test(f)
    assert not ph.loc["age", "ph_holds"] and ph.loc["fin", "ph_holds"]   # age violates PH on rossi (p < 0.001)


# --------------------------------------------------------------------------- R references (delayed entry, strata)

@pytest.mark.parametrize("n,p", [(50, 2), (100, 5), (1000, 10)])
def test_efron_fit_matches_r_with_entry_times_and_strata(n, p):
    """R `coxph(Surv(entry, time, status) ~ exog + strata(s), ties="efron")` shipped with statsmodels 0.15
    (survival_r_results.py); a Newton-Raphson fit reaches R to 1e-6, we allow 1e-5."""
    R = runpy.run_path(str(REFS / "survival_r_results.py"))
    d = np.loadtxt(REFS / f"survival_data_{n}_{p}.csv")
    cols = [f"x{j}" for j in range(p)]
    f = pd.DataFrame(d[:, 3:], columns=cols).assign(duration=d[:, 0], event=d[:, 1].astype(int), entry=d[:, 2],
                                                    s=np.kron(np.arange(1, 6), np.ones(n // 5)))
    for tag, kw, frame in (("efr", {}, f.drop(columns="entry")), ("et_efr", {}, f),
                           ("st_efr", {"strata": "s"}, f.drop(columns="entry")), ("et_st_efr", {"strata": "s"}, f)):
        m = ChurnCox(covariates=cols, **kw).fit(frame)
        assert np.allclose(m.params_.to_numpy(), R[f"coef_{n}_{p}_{tag}"], atol=1e-5), tag
        assert np.allclose(m.summary_["se"].to_numpy(), R[f"se_{n}_{p}_{tag}"], atol=1e-5), tag


def test_engines_agree_ridge_matches_lifelines_and_robust_matches_statsmodels(rossi_frame):
    from lifelines import CoxPHFitter
    from statsmodels.duration.hazard_regression import PHReg

    f, r = rossi_frame
    native = ChurnCox(covariates=ROSSI).fit(f)
    sm = ChurnCox(covariates=ROSSI, engine="statsmodels").fit(f)
    assert np.allclose(native.params_, sm.params_, atol=1e-6)
    ridge = ChurnCox(covariates=ROSSI, penalizer=0.1).fit(f)
    ref = CoxPHFitter(penalizer=0.1).fit(r[ROSSI + ["week", "arrest"]], "week", "arrest")
    assert np.allclose(ridge.params_, ref.params_[ROSSI], atol=1e-4)   # lifelines stops at ~1e-5
    grp = np.arange(len(f)) // 2
    robust = ChurnCox(covariates=ROSSI, cluster_col="pair").fit(f.assign(pair=grp))
    s = PHReg(f["duration"], f[ROSSI], status=f["event"], ties="efron").fit(groups=grp)
    assert np.allclose(robust.summary_["se"], s.bse, atol=1e-6)


def test_predictions_match_lifelines_and_are_conditional_on_tenure(rossi_frame):
    from lifelines import CoxPHFitter

    f, r = rossi_frame
    m = ChurnCox(covariates=ROSSI).fit(f)
    ref = CoxPHFitter().fit(r[ROSSI + ["week", "arrest"]], "week", "arrest")
    t = 20 * 7 / YEAR_DAYS
    want = ref.predict_survival_function(r[ROSSI], times=[20]).to_numpy().ravel()
    got = m.predict_survival(f.sort_index(), t)
    order = f["customer_id"].map({pseudonymise_id(f"CUS{i:08d}", KEY): i - 1 for i in range(1, 433)})
    assert np.allclose(got, want[order.to_numpy()], atol=1e-6)
    p = m.predict_churn_probability(f.assign(entry=t), 10 * 7 / YEAR_DAYS)
    s20, s30 = m.predict_survival(f, t), m.predict_survival(f, 30 * 7 / YEAR_DAYS)
    assert np.allclose(p, 1 - s30 / s20, atol=1e-12)


# --------------------------------------------------------------------------- KM and log-rank (published)

def test_km_median_and_logrank_reproduce_lung():
    """R survival on lung (PROVENANCE): median 310 days; log-log CI 284-361 (lifelines' transform); log-rank by
    sex chi-square 10.3267 (1 df), p 0.00131. Exact integer times, so the median is exact; statistic to 1e-3."""
    lung = pd.read_csv(SHARED_DATA / "lung" / "lung.csv")
    f = pd.DataFrame({"duration": lung["time"], "event": lung["status"], "entry": 0.0, "sex": lung["sex"]})
    s = churn.retention_summary(f, months=(12,), min_n=1).iloc[0]
    assert (s["median_years"], s["median_lower"], s["median_upper"]) == (310, 284, 361)
    overall, pairs = churn.logrank(f, "sex", min_n=1)
    assert overall["statistic"] == pytest.approx(10.3267, abs=1e-3)
    assert overall["p"] == pytest.approx(0.00131, abs=1e-5)
    assert len(pairs) == 1 and pairs.loc[0, "significant"]


def test_km_and_logrank_reproduce_rossi_and_sas_bmt(rossi_frame):
    f, _ = rossi_frame
    curve = churn.km_curves(f, step_years=10 * 7 / YEAR_DAYS, min_at_risk=1)
    # lifelines 0.30.3 (PROVENANCE): S(10)=0.965278, S(20)=0.907407, S(30)=0.861111 weeks
    assert curve["survival"].iloc[1:4].to_numpy() == pytest.approx([0.965278, 0.907407, 0.861111], abs=1e-6)
    overall, _ = churn.logrank(f, "fin", min_n=1)
    assert overall["statistic"] == pytest.approx(3.8376, abs=1e-4)          # PROVENANCE: chi2 3.8376, p 0.0501
    bmt = pd.read_csv(REFS / "bmt.csv")
    aml = bmt[bmt["Group"] != "ALL"]
    o, _ = churn.logrank(pd.DataFrame({"duration": aml["T"], "event": aml["Status"], "g": aml["Group"]}), "g", min_n=1)
    assert o["statistic"] == pytest.approx(13.44556, abs=1e-4)               # R survdiff (statsmodels refs)


def test_left_truncation_changes_km_exactly_as_the_risk_sets_say():
    # 4 customers: entries 0, 0, 2, 2; exits 1 (churn), 3 (churn), 4 (churn), 5 (censored)
    f = pd.DataFrame({"duration": [1.0, 3, 4, 5], "event": [1, 1, 1, 0], "entry": [0.0, 0, 2, 2]})
    c = churn.km_curves(f, step_years=1, min_at_risk=1, min_n=1).set_index("time")["survival"]
    # t=1: 1 of 2 at risk; t=3: 1 of 3 (entries at 2 joined); t=4: 1 of 2
    assert c.loc[[1.0, 3.0, 4.0]].to_numpy() == pytest.approx([0.5, 0.5 * 2 / 3, 0.5 * 2 / 3 * 0.5])


# --------------------------------------------------------------------------- metrics

def test_concordance_equals_lifelines_and_its_jackknife_equals_brute_force():
    from lifelines.utils import concordance_index

    rng = np.random.default_rng(5)
    n = 250
    T = np.round(rng.exponential(size=n) * 20)                      # heavy ties in time
    E = rng.random(n) < 0.5
    r = np.round(rng.normal(size=n) - 0.03 * T, 1)                  # ties in risk
    c, infl = M.concordance(T, E, r, influence=True)
    assert c == pytest.approx(concordance_index(T, -r, E), abs=1e-12)
    P, Q = np.zeros(n), np.zeros(n)
    for i in np.flatnonzero(E):
        for j in range(n):
            if j != i and (T[j] > T[i] or (T[j] == T[i] and not E[j])):
                v = 1.0 if r[i] > r[j] else 0.5 if r[i] == r[j] else 0.0
                P[[i, j]] += v
                Q[[i, j]] += 1
    C = P.sum() / Q.sum()
    assert np.allclose(infl, (P - C * Q) / (Q.sum() / 2), atol=1e-12)


def test_auc_and_brier_reduce_to_plain_ones_without_censoring():
    rng = np.random.default_rng(8)
    T = rng.exponential(size=2000)
    E = np.ones(2000, int)
    p = 1 - np.exp(-rng.uniform(0.2, 3, 2000))
    t = 0.7
    y = T <= t
    assert M.td_auc(T, E, p, t) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert M.brier(T, E, p, t) == pytest.approx(np.mean((y - p) ** 2), abs=1e-12)


def _resampled_block(u, E, Pm, Pb, grid, hidx):
    """The validation metrics on one resample, straight from the public metric functions."""
    G = M.censoring_survival(u, E)
    out = []
    for P in (Pm, Pb):
        b = M.brier_curve(u, E, P, grid, G)
        out += [M.td_auc(u, E, P[:, k], grid[k], G) for k in hidx]
        out += [b[k] for k in hidx]
        out.append(float(np.trapezoid(b, grid) / (grid[-1] - grid[0])) if len(grid) > 1 else float(b[0]))
    return np.array(out)


def _random_block(rng, n: int, event_share: float):
    """A validation block on random times (rounded: ties), events and scores (rounded: tied scores)."""
    from crm_lib.churn.validation import _WeightedBlock

    u = np.round(rng.exponential(1.0, n), 1)
    E = rng.random(n) < event_share
    grid, hidx = np.linspace(0.1, 1.2, 12), [5, 11]
    Pm = np.clip(rng.random((n, 12)) * np.linspace(0.1, 1, 12), 0, 1)
    Pb = np.round(rng.random((n, 12)), 1)
    return _WeightedBlock(u, E, Pm, Pb, grid, hidx), (u, E, Pm, Pb, grid, hidx)


@pytest.mark.parametrize("n", [40, 3000])
def test_weighted_bootstrap_equals_resampling_rows(n):
    # the validation bootstrap passes draw counts as weights instead of copying rows; that must be
    # the very same statistic (ties in time and score included, so the tie rules are exercised)
    rng = np.random.default_rng(n)
    block, (u, E, Pm, Pb, grid, hidx) = _random_block(rng, n, 0.35)
    np.testing.assert_allclose(block(), _resampled_block(u, E, Pm, Pb, grid, hidx), rtol=1e-10)
    for _ in range(5):
        i = rng.integers(0, n, n)
        # the two sum the same terms in a different order: agreement to rounding, not to a tolerance of choice
        np.testing.assert_allclose(block(np.bincount(i, minlength=n)), _resampled_block(u[i], E[i], Pm[i], Pb[i], grid, hidx),
                                   rtol=1e-9, atol=1e-12)


def test_batched_bootstrap_equals_single_replicates():
    # ``_WeightedBlock.bootstrap`` takes the generator's draws in the same order as one replicate at a time
    # and only regroups the sums (one matrix product per batch), so each replicate agrees to rounding
    block, _ = _random_block(np.random.default_rng(4), 3000, 0.3)
    n = 3000
    got = block.bootstrap(np.random.default_rng(9), 37)                # two full batches and a partial one
    r = np.random.default_rng(9)
    ref = np.array([block(np.bincount(r.integers(0, n, n), minlength=n)) for _ in range(37)])
    assert got.shape == ref.shape == (37, 2 * (2 + 2 + 1))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)


def test_calibration_of_true_probabilities_is_within_its_intervals():
    rng = np.random.default_rng(13)
    n = 20_000
    rate = np.exp(rng.normal(-1, 0.8, n))
    T = rng.exponential(1 / rate)
    C = rng.uniform(0.5, 3, n)                                          # random censoring
    t = 0.5
    p = 1 - np.exp(-rate * t)                                           # the true P(T <= t)
    cal = M.calibration_table(np.minimum(T, C), (T <= C).astype(int), p, t, alpha=0.001)
    # with the true probabilities, 99.9% intervals cover the decile mean predicted (misses 1 in 1,000 per decile)
    assert ((cal["lower"] <= cal["predicted"] + 0.005) & (cal["predicted"] - 0.005 <= cal["upper"])).all()


# --------------------------------------------------------------------------- bad input

def _toy(n=400, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    T = rng.exponential(np.exp(-0.5 * x))
    return pd.DataFrame({"customer_id": [f"P{i:015x}" for i in range(n)], "x": x, "z": rng.normal(size=n),
                         "duration": np.minimum(T, 2.0), "event": (T < 2.0).astype(int), "entry": 0.0})


def test_no_events_fails_clearly_everywhere():
    f = _toy().assign(event=0)
    with pytest.raises(DataContractError, match=r"frame\.event: no churn events among 400 customers.*Kaplan-Meier"):
        ChurnCox(covariates=["x"]).fit(f)
    with pytest.raises(DataContractError, match="no churn events"):
        churn.logrank(f.assign(g=np.arange(400) % 2), "g")
    with pytest.raises(DataContractError, match="no exits of any cause"):
        churn.cumulative_incidence(f.assign(cause="censored"))
    with pytest.raises(DataContractError, match="no churn events"):
        churn.parametric_fits(f, ["x"])
    s = churn.retention_summary(f, min_n=1).iloc[0]                     # KM still works: flat at 1
    assert s["retention_12m"] == 1.0 and not np.isfinite(s["median_years"])


def test_constant_and_collinear_covariates_are_dropped_with_reasons():
    f = _toy().assign(k=3.0)
    f["x2"] = 2 * f["x"] - 1
    m = ChurnCox(covariates=["x", "k", "x2", "z"]).fit(f)
    assert m.covariates_ == ["x", "z"]
    assert "constant" in m.dropped_["k"] and "collinear with x" in m.dropped_["x2"]
    assert np.isfinite(m.summary_[["hr", "hr_lower", "hr_upper", "p"]].to_numpy()).all()
    assert any("constant" in n for n in m.notes_)


def test_separation_falls_back_to_a_ridge_and_says_so():
    f = _toy()
    f["sep"] = (f["event"] == 0).astype(float)                         # nobody with sep=1 ever churns
    m = ChurnCox(covariates=["x", "sep"]).fit(f)
    assert "did not converge" in m.fallback_ and "sep" in m.fallback_ and "ridge" in m.fallback_
    assert np.isfinite(m.summary_.to_numpy(dtype=object)[:, 2:].astype(float)).all()
    assert m.summary_.loc["sep", "hr"] < 0.1


def test_bad_durations_entries_and_values_name_column_rule_and_rows():
    f = _toy()
    with pytest.raises(DataContractError, match=r"(?s)frame\.duration: 1 row\(s\) break rule 'duration >= 0.*P0+2"):
        ChurnCox(covariates=["x"]).fit(f.assign(duration=np.where(f.index == 2, -0.5, f["duration"])))
    with pytest.raises(DataContractError, match=r"frame\.entry: .*entry < duration"):
        ChurnCox(covariates=["x"]).fit(f.assign(entry=f["duration"]))
    with pytest.raises(DataContractError, match=r"(?s)frame\.x: 1 row\(s\) break rule 'finite number'.*P0+5"):
        ChurnCox(covariates=["x"]).fit(f.assign(x=np.where(f.index == 5, np.nan, f["x"])))
    with pytest.raises(DataContractError, match=r"frame\.nope: column missing"):
        ChurnCox(covariates=["nope"]).fit(f)
    with pytest.raises(RuntimeError, match="not fitted"):
        ChurnCox(covariates=["x"]).predict_log_hazard(f)


def test_export_refuses_raw_identifiers_and_pii(tmp_path):
    from crm_lib.churn.warning import export_warning_list

    good = pd.DataFrame({"customer_id": ["P0123456789abcde"], "churn_probability": [0.2]})
    assert export_warning_list(good, tmp_path / "ok.parquet").exists()
    with pytest.raises(DataContractError, match=r"customer_id: 1 row\(s\) break rule 'pseudonymous identifier"):
        export_warning_list(good.assign(customer_id="CUS00000001"), tmp_path / "x.csv")
    with pytest.raises(DataContractError, match="PII"):
        export_warning_list(good.assign(email="a@b.c"), tmp_path / "y.csv")
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "y.csv").exists()


def test_library_does_not_print_warnings_for_documented_fallbacks(caplog):
    f = _toy().assign(k=1.0)
    with caplog.at_level(logging.WARNING, logger="crm_lib.churn"):
        ChurnCox(covariates=["x", "k"]).fit(f)
    assert not caplog.records            # reported in notes_ and the notebook prose instead
