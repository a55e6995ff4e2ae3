"""The synthetic bank carries the truth it claims (checked on `small`, 50k customers)."""

from __future__ import annotations

import hashlib
import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from statsmodels.stats.proportion import confint_proportions_2indep

from conftest import END_DATE
from crm_lib.data.synthetic import generate, last_closed_quarter_end

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _read(bank, table) -> pd.DataFrame:
    with duckdb.connect(str(bank / "warehouse.duckdb"), read_only=True) as con:
        return con.sql(f"SELECT * FROM {table}").df()


def _digest(folder) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in (".parquet", ".json")
            and p.name != "metadata.json"}


def test_same_seed_gives_identical_bytes(tmp_path, tiny_bank):
    again = tmp_path / "again"
    generate(again, "tiny", end_date=END_DATE)
    a, b = _digest(tiny_bank), _digest(again)
    assert len(a) >= 10 and a == b


def test_other_seed_gives_other_data(tmp_path, tiny_bank):
    other = tmp_path / "other"
    generate(other, "tiny", seed=7, end_date=END_DATE)
    a, b = _digest(tiny_bank), _digest(other)
    assert a["parquet/transactions/part-0000.parquet"] != b["parquet/transactions/part-0000.parquet"]


def test_refuses_to_overwrite_without_force(tiny_bank):
    from crm_lib.errors import WorkbenchError

    with pytest.raises(WorkbenchError, match="--force"):
        generate(tiny_bank, "tiny", end_date=END_DATE)


@pytest.mark.parametrize("today, expected", [
    ("2026-11-23", "2026-09-30"), ("2026-10-01", "2026-09-30"), ("2026-09-30", "2026-06-30"),
    ("2027-01-01", "2026-12-31")])
def test_history_ends_on_last_closed_quarter(today, expected):
    assert str(last_closed_quarter_end(pd.Timestamp(today))) == expected


def test_six_years_of_history_and_nine_to_one_mix(small_bank):
    meta = json.loads((small_bank / "metadata.json").read_text())
    assert (meta["history_start"], meta["end_date"]) == ("2020-10-01", "2026-09-30")
    cust = _read(small_bank, "customers")
    share = (cust["customer_type"] == "individual").mean()
    # binomial sd at n=50k is 0.0013; 0.9 +- 0.01 is > 7 sd
    assert share == pytest.approx(0.9, abs=0.01)
    bal = _read(small_bank, "balances")
    assert bal["month"].min() == pd.Timestamp("2020-10-31") and bal["month"].max() == pd.Timestamp("2026-09-30")


def test_personas_match_planted_shares(small_bank, truth):
    tc = pd.read_parquet(small_bank / "truth_customers.parquet")
    for p in truth["personas"]:
        kind = tc["is_individual"] == (p["customer_type"] == "individual")
        got = (tc.loc[kind, "persona"] == p["name"]).mean()
        # left truncation keeps low-churn personas slightly more often; 0.03 allows for it
        assert got == pytest.approx(p["share"], abs=0.03), p["name"]


def _cox_frame(bank, truth):
    tc = pd.read_parquet(bank / "truth_customers.parquet")
    cu = _read(bank, "customers")[["customer_id", "onboard_date", "closed_date", "closed_reason"]]
    df = tc.merge(cu, on="customer_id")
    end, hs = pd.Timestamp(END_DATE), pd.Timestamp("2020-10-01")
    stop = df["closed_date"].fillna(end)
    event = df["closed_reason"].eq("voluntary")
    # Treated customers of the retention campaign change hazard at contact: censor them there.
    treated = df["retention_arm"].eq("treatment") & (df["retention_contact"] < stop)
    stop = stop.where(~treated, df["retention_contact"])
    event &= ~treated
    X = pd.DataFrame({
        "complaint_prone": df["complaint_prone"].astype(int),
        "n_products_at_onboarding": df["n_products_at_onboarding"],
        "digital_active": df["digital_active"].astype(int),
        "age_under_30": df["age_band"].eq("under_30").astype(int),
        "age_65_plus": df["age_band"].eq("65_plus").astype(int),
        "corporate": df["age_band"].eq("corporate").astype(int),
        "T": (stop - df["onboard_date"]).dt.days / 365.25,
        # left truncation: customers onboarded before the history start enter at its date
        "entry": ((hs - df["onboard_date"]).dt.days / 365.25).clip(lower=0),
        "E": event.astype(int)})
    return X[X["T"] > X["entry"]]


def test_cox_recovers_every_planted_hazard_ratio(small_bank, truth):
    import statsmodels.api as sm

    X = _cox_frame(small_bank, truth)
    covs = list(truth["churn"]["hazard_ratios"])
    # statsmodels PHReg (Breslow ties, delayed entry): same model as lifelines, ~10x faster at n=50k
    fit = sm.PHReg(X["T"], X[covs], status=X["E"], entry=X["entry"]).fit()
    ci = np.exp(fit.conf_int(alpha=0.05))
    for i, name in enumerate(covs):
        hr = truth["churn"]["hazard_ratios"][name]
        assert ci[i, 0] <= hr <= ci[i, 1], f"{name}: planted {hr}, 95% CI {ci[i, 0]:.3f}-{ci[i, 1]:.3f}"
    assert X["E"].sum() > 5000  # enough events for the CIs to be informative


def test_retention_campaign_hazard_ratio_is_recovered(small_bank, truth):
    tc = pd.read_parquet(small_bank / "truth_customers.parquet")
    cc = _read(small_bank, "campaign_contacts")
    cu = _read(small_bank, "customers")
    ret = cc[cc["campaign_id"] == truth["retention_campaign"]["campaign_id"]].merge(cu, on="customer_id")
    ret = ret.merge(tc[["customer_id", "complaint_prone", "digital_active", "n_products_at_onboarding"]], on="customer_id")
    stop = ret["closed_date"].fillna(pd.Timestamp(END_DATE))
    df = pd.DataFrame({"treated": ret["group"].eq("treatment").astype(int),
                       "T": (stop - ret["onboard_date"]).dt.days / 365.25,
                       "entry": (ret["contacted_at"] - ret["onboard_date"]).dt.days / 365.25,
                       "E": ret["closed_reason"].eq("voluntary").astype(int),
                       "complaint_prone": ret["complaint_prone"].astype(int),
                       "digital_active": ret["digital_active"].astype(int),
                       "n_products": ret["n_products_at_onboarding"]})
    df = df[df["T"] > df["entry"]]
    s = CoxPHFitter().fit(df, "T", "E", entry_col="entry").summary.loc["treated"]
    planted = truth["retention_campaign"]["hazard_ratio"]
    assert s["exp(coef) lower 95%"] <= planted <= s["exp(coef) upper 95%"]
    assert s["exp(coef) upper 95%"] < 1  # the effect is visible, not just covered


def test_campaigns_are_randomised_and_uplifts_are_planted(small_bank, truth):
    cc = _read(small_bank, "campaign_contacts")
    cu = _read(small_bank, "customers")[["customer_id", "onboard_date", "income"]]
    df = cc.merge(cu, on="customer_id")
    ct = truth["campaigns"]
    # balance: treatment vs control standardised mean differences of pre-contact covariates
    for col in ("income",):
        x = df[col].astype(float)
        t, c = x[df["group"] == "treatment"], x[df["group"] == "control"]
        smd = abs(t.mean() - c.mean()) / np.sqrt((t.var() + c.var()) / 2)
        assert smd < 0.05, f"{col}: standardised mean difference {smd:.3f}"
    tenure = (df["contacted_at"] - df["onboard_date"]).dt.days
    t, c = tenure[df["group"] == "treatment"], tenure[df["group"] == "control"]
    assert abs(t.mean() - c.mean()) / np.sqrt((t.var() + c.var()) / 2) < 0.05
    kind = df["campaign_id"].str.split("-").str[0].map({"CS": "cross_sell", "ACT": "activation"})
    for k in ("cross_sell", "activation"):
        sub = df[kind == k]
        g = sub.groupby("group")["responded"].agg(["sum", "size"])
        share_t = g.loc["treatment", "size"] / g["size"].sum()
        assert share_t == pytest.approx(ct["treatment_share"], abs=0.02)
        lo, hi = confint_proportions_2indep(g.loc["treatment", "sum"], g.loc["treatment", "size"],
                                            g.loc["control", "sum"], g.loc["control", "size"], method="newcomb")
        assert lo <= ct["uplift"][k] <= hi, f"{k}: uplift CI {lo:.4f}-{hi:.4f}"


def test_purchase_process_and_spend_follow_bgnbd_and_gamma_gamma(small_bank, truth):
    tt = truth["transactional"]
    tc = pd.read_parquet(small_bank / "truth_customers.parquet")
    # lambda ~ Gamma(r, alpha): mean r/alpha; sd of the mean over 50k draws is ~0.0006
    assert tc["bgnbd_lambda"].mean() == pytest.approx(tt["r"] / tt["alpha"], rel=0.05)
    assert tc["bgnbd_p"].mean() == pytest.approx(tt["a"] / (tt["a"] + tt["b"]), rel=0.02)
    tx = _read(small_bank, "transactions")
    fee = tx[tx["txn_type"] == "fee_purchase"]
    counts = fee.groupby("customer_id").size().reindex(tc["customer_id"], fill_value=0)
    assert (counts.to_numpy() == tc["purchases"].to_numpy()).all()
    # E[z] = p * gamma / (q - 1) over customers; spend is heavy-tailed, so 5%
    expected = tt["p_spend"] * tt["gamma"] / (tt["q"] - 1)
    per_customer = fee.groupby("customer_id")["amount"].mean()
    assert per_customer.mean() == pytest.approx(expected, rel=0.05)


def test_survey_drivers_rank_as_planted_and_action_lifts(small_bank, truth):
    import statsmodels.api as sm

    sv = _read(small_bank, "surveys")
    w = truth["satisfaction"]["weights"]
    attrs = list(w)
    X = sm.add_constant(sv[attrs].astype(float))
    coef = sm.OLS(sv["csat"].astype(float), X).fit().params[attrs]
    assert list(coef.sort_values(ascending=False).index) == sorted(w, key=w.get, reverse=True)
    start = pd.Timestamp(truth["improvement_action"]["start"])
    exp = truth["improvement_action"]["expected"]
    before = sv[sv["survey_date"] < start]
    after = sv[sv["survey_date"] >= start]
    lift = after["attr_resolution"].mean() - before["attr_resolution"].mean()
    se = np.sqrt(after["attr_resolution"].var() / len(after) + before["attr_resolution"].var() / len(before))
    assert abs(lift - exp["attr_resolution_mean_lift"]) < 4 * se
    lift = after["csat"].mean() - before["csat"].mean()
    se = np.sqrt(after["csat"].var() / len(after) + before["csat"].var() / len(before))
    assert abs(lift - exp["csat_mean_lift"]) < 4 * se and lift > 2 * se


def test_complaint_resolution_follows_severity_and_action(small_bank, truth):
    cm = _read(small_bank, "complaints").merge(pd.read_parquet(small_bank / "truth_complaints.parquet"), on="complaint_id")
    ct, act = truth["complaints"], truth["improvement_action"]
    before = cm[cm["opened_at"] < pd.Timestamp(act["start"])]
    for sev, med in ct["resolution_median_days"].items():
        got = before.loc[before["severity"] == sev, "true_resolution_days"].median()
        assert got == pytest.approx(med, rel=0.10), sev
    after = cm[cm["opened_at"] >= pd.Timestamp(act["start"])]
    ratio = after["true_resolution_days"].median() / before["true_resolution_days"].median()
    mix = after["severity"].value_counts(normalize=True) - before["severity"].value_counts(normalize=True)
    assert abs(mix).max() < 0.03  # same severity mix, so the median ratio is the planted factor
    assert ratio == pytest.approx(act["resolution_time_factor"], rel=0.10)
    # open complaints are censored, not dropped: resolved_at is null exactly when past the data end
    open_ = cm["resolved_at"].isna()
    true_end = cm["opened_at"] + pd.to_timedelta(cm["true_resolution_days"], unit="D")
    assert (true_end[open_] >= pd.Timestamp(END_DATE) + pd.Timedelta(days=1)).all()
    assert open_.sum() > 0


def test_tiers_move_over_time(small_bank, truth):
    bal = _read(small_bank, "balances")
    bal["aum"] = bal["deposits"] + bal["investments"]
    cu = _read(small_bank, "customers")[["customer_id", "customer_type"]]
    th = truth["tiers"]["thresholds"]["individual"]
    edges = [th["affluent"], th["private_banking"]]

    def tier_at(month):
        x = bal[bal["month"] == pd.Timestamp(month)].merge(cu, on="customer_id")
        x = x[x["customer_type"] == "individual"]
        return x.set_index("customer_id")["aum"].pipe(lambda a: pd.Series(np.digitize(a, edges), a.index))

    a, b = tier_at("2024-09-30"), tier_at("2025-09-30")
    both = a.index.intersection(b.index)
    moved = (a[both] != b[both]).mean()
    assert 0.02 < moved < 0.30, f"{moved:.3f} of individuals changed tier in a year"
    shares = b.value_counts(normalize=True)
    assert set(shares.index) == {0, 1, 2} and shares[0] > shares[1] > shares[2]


def test_pii_looks_real_and_is_fake(tiny_bank):
    cu = _read(tiny_bank, "customers")
    assert cu["full_name"].str.contains(" ").all()
    assert cu["email"].str.fullmatch(r"[a-z.\-]+\d{3}@example\.(com|org|net)").all()
    assert cu["phone"].str.fullmatch(r"\+44 7\d{3} \d{6}").all()
    assert cu["national_id"].str.fullmatch(r"[A-Z]{2}\d{6}[A-D]").all()
    assert cu["customer_id"].is_unique and cu["email"].nunique() > 0.95 * len(cu)


def test_a_parquet_only_bank_is_the_same_bank_without_the_warehouse(tiny_bank, tmp_path):
    """``generate(..., warehouse=False)`` (the 10M-customer benchmark bank): the same Parquet tables, no DuckDB file."""
    meta = json.loads((tiny_bank / "metadata.json").read_text())
    out = tmp_path / "parquet_only"
    m = generate(out, meta["n_customers"], seed=meta["seed"], end_date=meta["end_date"], warehouse=False)
    assert not (out / "warehouse.duckdb").exists() and m["warehouse"] is False
    assert m["rows"] == meta["rows"]
    for table in meta["rows"]:
        a = pd.read_parquet(tiny_bank / "parquet" / table)
        b = pd.read_parquet(out / "parquet" / table)
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=table)
