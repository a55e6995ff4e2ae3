"""Segmentation and tiering: planted truth recovered, published tie rules kept, bad input stopped.

Planted truth (``crm_lib/data/personas.py``): value-tier thresholds on the 3-month average
AUM; 5 individual and 3 corporate personas; a log-AUM random walk per persona (drift,
volatility) with a wind-down (25% AUM outflow a month) in the 6 months before a
voluntary closure. Tests that need many customers use ``small_bank`` (50k); the rest
``tiny_bank`` (2k).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import adjusted_rand_score

from conftest import END_DATE, SHARED_DATA
from crm_lib import config
from crm_lib.data import personas as P
from crm_lib.data.privacy import pseudonymise_id
from crm_lib.data.store import open_source
from crm_lib.errors import ConfigError, DataContractError
from crm_lib.features import feature_table
from crm_lib.reporting.facts import FactBook
from crm_lib.segmentation import (CustomerClusters, analyse_period, cluster_customers, lifecycle_stages,
                                  lifecycle_summary, load_overrides, load_rfm_map, load_settings, migration_pairs,
                                  migration_rates, name_clusters, profile, quantile_score, record_facts, rfm_scores,
                                  segment_customers, tier_summary, transition_matrix, value_tiers)

KEY = "segmentation-test-key"
YEAR_AGO = "2025-09-30"
RISK_DATE = "2026-03-31"  # mid-history: customers closing in the next 6 months are winding down
SETTINGS = load_settings()
PARAMS = {"tiers": P.TIER_THRESHOLDS, "seed": 20261, "alpha": 0.05, "window_days": 365, "aum_months": 3}


def _features(bank, as_of):
    with open_source(bank / "warehouse.duckdb") as wh:
        return feature_table(wh, as_of, key=KEY)


def _truth(bank) -> pd.DataFrame:
    """Per-customer truth keyed by pseudonym: persona, closure date and reason, true exit date and reason."""
    tc = pd.read_parquet(bank / "truth_customers.parquet",
                         columns=["customer_id", "persona", "exit_date", "exit_reason"])
    cu = pd.read_parquet(bank / "parquet" / "customers", columns=["customer_id", "closed_date", "closed_reason"])
    t = tc.merge(cu, on="customer_id")
    t["customer_id"] = [pseudonymise_id(c, KEY) for c in t["customer_id"]]
    return t.set_index("customer_id")


@pytest.fixture(scope="module")
def tiny_now(tiny_bank):
    return _features(tiny_bank, END_DATE)


@pytest.fixture(scope="module")
def small_now(small_bank):
    return _features(small_bank, END_DATE)


@pytest.fixture(scope="module")
def small_truth(small_bank):
    return _truth(small_bank)


@pytest.fixture(scope="module")
def small_clusters(small_now):
    return cluster_customers(small_now, SETTINGS["clusters"], random_state=20261)


# --------------------------------------------------------------------------- value tiers

def test_tiers_match_the_planted_thresholds_exactly(tiny_bank, tiny_now):
    """Independent pandas computation from the balances table and personas.TIER_THRESHOLDS."""
    bal = pd.read_parquet(tiny_bank / "parquet" / "balances")
    last = pd.Timestamp(END_DATE)  # a month-end
    bal = bal[(bal["month"] <= last) & (bal["month"] > last - pd.offsets.MonthEnd(P.TIER_AUM_MONTHS))]
    avg = (bal["deposits"] + bal["investments"]).groupby(bal["customer_id"]).mean()
    cust = pd.read_parquet(tiny_bank / "parquet" / "customers", columns=["customer_id", "customer_type"])
    cust = cust.assign(aum=cust["customer_id"].map(avg), pid=[pseudonymise_id(c, KEY) for c in cust["customer_id"]])

    def planted(row):
        tiers = P.TIER_THRESHOLDS[row.customer_type]
        return [t for t, lo in tiers.items() if row.aum >= lo][-1]

    cust = cust[cust["aum"].notna()]            # closed customers hold no balance at the date
    cust["expected"] = [planted(r) for r in cust.itertuples()]
    got = value_tiers(tiny_now, P.TIER_THRESHOLDS).merge(cust, left_on="customer_id", right_on="pid")
    assert len(got) == int(tiny_now["is_active"].sum()) > 1000
    assert (got["tier"] == got["expected"]).all()
    assert not got["overridden"].any()
    # the feature table's own tier column (SQL) agrees with the pandas rule
    assert (tiny_now.set_index("customer_id").loc[got["customer_id_x"], "tier"].to_numpy() == got["tier"]).all()


def test_other_thresholds_are_reapplied_without_a_new_query(tiny_bank, tiny_now):
    other = {"individual": {"mass": 0, "affluent": 50_000, "private_banking": 500_000},
             "corporate": {"sme": 0, "large_corporate": 2_000_000}}
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        sql = feature_table(wh, END_DATE, tier_thresholds=other, key=KEY)
    got = value_tiers(tiny_now, other).set_index("customer_id")["tier"]
    assert (got == sql.set_index("customer_id").loc[got.index, "tier"]).all()
    assert (got != value_tiers(tiny_now, P.TIER_THRESHOLDS).set_index("customer_id")["tier"]).sum() > 50


def test_tier_summary_adds_up(tiny_now):
    s = tier_summary(value_tiers(tiny_now, P.TIER_THRESHOLDS), P.TIER_THRESHOLDS)
    assert list(s["tier"]) == ["mass", "affluent", "private_banking", "sme", "large_corporate"]
    assert s["customers"].sum() == tiny_now["is_active"].sum()
    assert s["share"].sum() == pytest.approx(1) and s["aum_share"].sum() == pytest.approx(1)
    act = tiny_now[tiny_now["is_active"]]
    assert s["aum"].sum() == pytest.approx(act["aum_avg"].sum(), rel=1e-12)


def test_non_increasing_thresholds_are_refused(tiny_now):
    bad = {"individual": {"mass": 0, "affluent": 100_000, "private_banking": 100_000}}
    with pytest.raises(DataContractError, match=r"parameters\.tiers\.individual.*strictly increasing.*private_banking"):
        value_tiers(tiny_now, bad)
    with pytest.raises(DataContractError, match=r"first tier starts at 0"):
        value_tiers(tiny_now, {"individual": {"mass": 10, "affluent": 100}, "corporate": {"sme": 0}})


def test_customer_without_balances_is_named_then_handled_by_policy(tiny_now):
    f = tiny_now.copy()
    ids = f.loc[f["is_active"], "customer_id"].iloc[[3, 7]].tolist()
    f.loc[f["customer_id"].isin(ids), "aum_avg"] = np.nan
    with pytest.raises(DataContractError, match=rf"(?s)features\.aum_avg: 2 row\(s\) break rule 'an active customer "
                                                rf"has balances.*{ids[0]}.*no_balance"):
        value_tiers(f, P.TIER_THRESHOLDS)
    low = value_tiers(f, P.TIER_THRESHOLDS, no_balance="lowest").set_index("customer_id")
    assert (low.loc[ids, "tier_rank"] == 0).all()
    drop = value_tiers(f, P.TIER_THRESHOLDS, no_balance="drop")
    assert len(drop) == f["is_active"].sum() - 2 and not drop["customer_id"].isin(ids).any()
    with pytest.raises(DataContractError, match="aum_avg.*clustered customer has balances"):
        CustomerClusters(features=["log_aum"], n_bootstrap=0).fit(f[f["is_active"]])


def test_overrides_apply_expire_and_are_checked(tmp_path, tiny_now):
    act = tiny_now[tiny_now["is_active"]]
    mass = act.loc[(act["tier"] == "mass"), "customer_id"].iloc[:2].tolist()
    corp = act.loc[act["customer_type"] == "corporate", "customer_id"].iloc[0]
    path = tmp_path / "tier_overrides.yaml"
    path.write_text(f"overrides:\n  {mass[0]}: {{tier: private_banking, reason: RM assignment}}\n"
                    f"  {mass[1]}: {{tier: affluent, reason: expired, until: 2026-01-31}}\n")
    t = value_tiers(tiny_now, P.TIER_THRESHOLDS, path, as_of=END_DATE).set_index("customer_id")
    assert t.loc[mass[0], ["rule_tier", "tier", "tier_rank", "overridden"]].tolist() == \
        ["mass", "private_banking", 2, True]
    assert t.loc[mass[1], "tier"] == "mass" and not t.loc[mass[1], "overridden"]   # expired before the date
    assert t["overridden"].sum() == 1

    unknown = pd.DataFrame({"customer_id": ["P000000000000000"], "tier": ["affluent"]})
    with pytest.raises(DataContractError, match=r"(?s)tier_overrides\.customer_id.*pseudonymous id.*P000000000000000"):
        value_tiers(tiny_now, P.TIER_THRESHOLDS, unknown)
    wrong = pd.DataFrame({"customer_id": [corp], "tier": ["private_banking"]})
    with pytest.raises(DataContractError, match=r"(?s)tier_overrides\.tier.*corporate: sme, large_corporate.*"
                                                + corp):
        value_tiers(tiny_now, P.TIER_THRESHOLDS, wrong)
    raw = tmp_path / "raw.yaml"
    raw.write_text("overrides:\n  CUS00000001: {tier: affluent}\n")
    with pytest.raises(ConfigError, match="raw customer id"):
        load_overrides(raw)
    assert len(load_overrides()) == 0   # the project's file ships empty


# --------------------------------------------------------------------------- RFM

def test_quantile_score_is_qcut_without_ties_and_fair_with_them():
    rng = np.random.default_rng(5)
    x = rng.normal(size=1000)
    # pandas' equal-frequency bins on the ranks are the reference when nothing is tied
    ref = pd.qcut(pd.Series(x).rank(), 5, labels=False).to_numpy() + 1
    assert (quantile_score(x, 5) == ref).all()
    perm = rng.permutation(1000)
    assert (quantile_score(x[perm], 5) == ref[perm]).all()                      # row order does not matter
    assert (quantile_score(-x, 5, higher_is_better=False) == ref).all()       # recency runs the other way
    tied = np.r_[np.zeros(600), np.arange(1, 401)]
    s = quantile_score(tied, 5)
    assert set(s[:600]) == {1} and s[600:].min() == 4                          # a tie is never split
    assert quantile_score([np.nan, 1.0, 2.0, 3.0, 4.0], 5)[0] == 1             # missing scores worst


def test_rfm_on_cdnow_keeps_the_published_non_repeaters_together():
    """CDNOW 1/10 sample (Fader, Hardie & Lee 2005): 2,357 customers, 1,411 with no repeat purchase."""
    cd = pd.read_csv(SHARED_DATA / "cdnow_sample" / "cdnow_customers_summary_with_transactions.csv")
    feats = pd.DataFrame({"customer_id": cd["ID"].astype(str), "customer_type": "individual",
                          "recency_days": (cd["T"] - cd["t_x"]) * 7, "frequency": cd["x"],
                          "monetary": cd["x"] * cd["zbar"], "is_active": True})
    r = rfm_scores(feats)
    assert len(r) == 2357
    assert (r["f_score"] == 1).sum() == 1411 and (r.loc[r["frequency"] == 0, "f_score"] == 1).all()
    assert (r.loc[r["frequency"] > 0, "f_score"] >= 3).all()   # 1411/2357 = 59.9% strictly below x = 1
    # every repeat buyer's spend is positive, so M = 1 is exactly the non-repeaters too
    assert ((r["m_score"] == 1) == (r["frequency"] == 0)).all()
    assert r["segment"].notna().all()


def test_rfm_segments_follow_the_documented_map(tiny_now):
    cells = load_rfm_map()
    assert len(cells) == 25 and cells["segment"].nunique() == 10
    r = rfm_scores(tiny_now, segment_map=cells)
    assert len(r) == tiny_now["is_active"].sum()
    champions = r[r["segment"] == "champions"]
    assert len(champions) and (champions["r_score"] == 5).all() and (champions["f_score"] >= 4).all()
    hib = r[r["segment"] == "hibernating"]
    assert (hib["r_score"] <= 2).all() and (hib["f_score"] <= 2).all()
    # scored within customer type: the corporates' turnover does not take every top M score
    ind = r[r["customer_type"] == "individual"]
    assert (ind["m_score"] == 5).mean() == pytest.approx(0.2, abs=0.02)   # ties shift quintiles by < 2 points


def test_rfm_map_with_a_gap_or_overlap_is_refused(tmp_path):
    gap = tmp_path / "gap.yaml"
    gap.write_text("bins: 5\nsegments:\n  all_but_one: {r: [1, 5], f: [1, 4]}\n  top: {r: [1, 4], f: [5, 5]}\n")
    with pytest.raises(ConfigError, match=r"1 \(R, F\) cell\(s\) unnamed.*\(5, 5\)"):
        load_rfm_map(gap)
    over = tmp_path / "over.yaml"
    over.write_text("bins: 5\nsegments:\n  a: {r: [1, 5], f: [1, 5]}\n  b: {r: [5, 5], f: [5, 5]}\n")
    with pytest.raises(ConfigError, match="overlap"):
        load_rfm_map(over)


def test_empty_window_is_refused(tiny_bank, tiny_now):
    with open_source(tiny_bank / "warehouse.duckdb") as wh, pytest.raises(DataContractError, match="window"):
        feature_table(wh, END_DATE, window_days=0, key=KEY)
    quiet = tiny_now.assign(frequency=0, monetary=0.0)
    with pytest.raises(DataContractError, match=r"features\.frequency.*at least one transaction in the window"):
        rfm_scores(quiet)


# --------------------------------------------------------------------------- clusters

def test_clusters_recover_the_planted_personas(small_clusters, small_truth, truth):
    """ARI >= 0.8 against the personas and k equal to the planted persona count, per customer type."""
    assign, models = small_clusters
    persona = small_truth.loc[assign["customer_id"], "persona"].to_numpy()
    for ctype in ("individual", "corporate"):
        planted = sum(p["customer_type"] == ctype for p in truth["personas"])
        m = (assign["customer_type"] == ctype).to_numpy()
        assert models[ctype].k_ == planted, models[ctype].selection_[["k", "icl", "stability_lower", "note"]]
        ari = adjusted_rand_score(persona[m], assign.loc[m, "cluster"])
        assert ari >= 0.8, f"{ctype}: ARI {ari:.3f}"
        st = models[ctype].stability_
        assert st["ci_lower"] >= 0.8 and st["ci_lower"] <= st["mean"] <= st["ci_upper"] <= 1
        sel = models[ctype].selection_
        # the diagnostics a reviewer reads: every candidate scored, one chosen, reasons given
        assert list(sel["k"]) == list(range(2, 9)) and sel["chosen"].sum() == 1 and sel["note"].str.len().min() > 5


def test_cluster_labels_stay_with_the_same_personas_across_periods(small_bank, small_clusters, small_truth):
    """Refit a year earlier, matched to this period's centroids: each persona keeps its label."""
    assign, models = small_clusters
    before = _features(small_bank, YEAR_AGO)
    ind = before[before["is_active"] & (before["customer_type"] == "individual")]
    m = CustomerClusters(features=SETTINGS["clusters"]["features"]["individual"], k=5, n_bootstrap=0,
                         reference=models["individual"], label_prefix="I", random_state=7).fit(ind)
    assert m.label_map_["reference_label"].tolist() == m.label_map_["label"].tolist()
    now = pd.Series(assign.set_index("customer_id")["cluster"])
    then = m.labels_
    p_now = small_truth.loc[now.index, "persona"]
    p_then = small_truth.loc[then.index, "persona"]
    majority_now = now.groupby(p_now.to_numpy()).agg(lambda s: s.mode()[0])
    majority_then = then.groupby(p_then.to_numpy()).agg(lambda s: s.mode()[0])
    ind_personas = [p.name for p in P.PERSONAS if p.customer_type == "individual"]
    assert (majority_now[ind_personas] == majority_then[ind_personas]).all()
    assert majority_then[ind_personas].nunique() == 5


def test_hungarian_matching_follows_a_relabelled_reference():
    rng = np.random.default_rng(11)
    centres = np.array([[0, 0], [6, 0], [0, 6], [6, 6]], dtype=float)
    X = np.vstack([c + rng.normal(0, 0.5, (150, 2)) for c in centres])
    df = pd.DataFrame({"customer_id": [f"P{i:015d}" for i in range(len(X))], "x": X[:, 0], "y": X[:, 1]})
    base = CustomerClusters(features=["x", "y"], k=4, n_bootstrap=0, label_prefix="K").fit(df)
    ref = base.centroids_.copy()
    ref.index = ["K4", "K1", "K3", "K2"]          # the reference knows the same clusters under other labels
    again = CustomerClusters(features=["x", "y"], k=4, n_bootstrap=0, label_prefix="K", reference=ref,
                             random_state=99).fit(df.sample(frac=1, random_state=3))
    relabel = dict(zip(base.centroids_.index, ref.index))
    assert (again.labels_.loc[base.labels_.index] == base.labels_.map(relabel)).all()
    assert again.label_map_["distance"].max() < 0.1            # same data: centroids coincide (sd units)
    more = CustomerClusters(features=["x", "y"], k=5, n_bootstrap=0, label_prefix="K", reference=ref).fit(df)
    assert more.label_map_["reference_label"].isna().sum() == 1 and "K5" in more.labels_.values


def test_large_populations_use_a_mini_batch_fit(tiny_now):
    ind = tiny_now[tiny_now["is_active"] & (tiny_now["customer_type"] == "individual")]
    feats = SETTINGS["clusters"]["features"]["individual"]
    full = CustomerClusters(features=feats, k=5, n_bootstrap=0, random_state=1).fit(ind)
    mini = CustomerClusters(features=feats, k=5, n_bootstrap=0, minibatch_threshold=500, selection_sample=800,
                            random_state=1).fit(ind)
    assert "MiniBatchKMeans" in mini.fit_method_ and "threshold" in mini.fit_method_
    assert "sample of 800" in mini.fit_method_ and "MiniBatch" not in full.fit_method_
    # same partition up to a few boundary customers: mini-batch k-means approximates k-means
    assert adjusted_rand_score(full.labels_, mini.labels_.loc[full.labels_.index]) > 0.9


def test_gmm_and_pca_variants_agree_with_kmeans(tiny_now):
    ind = tiny_now[tiny_now["is_active"] & (tiny_now["customer_type"] == "individual")]
    feats = SETTINGS["clusters"]["features"]["individual"]
    km = CustomerClusters(features=feats, k=5, n_bootstrap=0, random_state=1).fit(ind)
    gmm = CustomerClusters(features=feats, k=5, n_bootstrap=3, algorithm="gmm", minibatch_threshold=1000,
                           random_state=1).fit(ind)
    assert "Gaussian mixture fitted on a random sample" in gmm.fit_method_
    pca = CustomerClusters(features=feats, k=5, n_bootstrap=0, pca_components=3, random_state=1).fit(ind)
    assert list(pca.centroids_.columns) == feats and pca.centroids_["age"].between(18, 95).all()
    # well-separated personas: the three fits find nearly the same partition (ARI on 1,300 customers)
    assert adjusted_rand_score(km.labels_, gmm.labels_.loc[km.labels_.index]) > 0.8
    assert adjusted_rand_score(km.labels_, pca.labels_.loc[km.labels_.index]) > 0.9


def test_cluster_bad_input_gets_clear_messages(tiny_now):
    ind = tiny_now[tiny_now["is_active"] & (tiny_now["customer_type"] == "individual")]
    feats = ["age", "log_income", "log_aum"]
    with pytest.raises(DataContractError, match=r"too few customers.*n=15.*k=2 needs at least 20"):
        CustomerClusters(features=feats).fit(ind.head(15))
    same = ind.head(200).assign(age=40, income=50_000.0, aum_avg=10_000.0)
    with pytest.raises(DataContractError, match=r"all 200 customers have the same values.*one segment"):
        CustomerClusters(features=feats).fit(same)
    with pytest.raises(DataContractError, match=r"missing column\(s\) \['revenue'\]"):
        CustomerClusters(features=["log_revenue"]).fit(ind.drop(columns="revenue"))
    with pytest.raises(DataContractError, match=r"features\.region: rule 'numeric clustering feature'"):
        CustomerClusters(features=["region"]).fit(ind)
    with pytest.raises(DataContractError, match=r"missing for all"):
        CustomerClusters(features=["log_revenue", "age"]).fit(ind)    # individuals have no revenue


def test_fast_ari_equals_scikit_learn():
    from crm_lib.segmentation.clusters import _ari

    rng = np.random.default_rng(3)
    for k in (2, 5, 8):
        a = rng.integers(0, k, 2000)
        b = np.where(rng.random(2000) < 0.6, a, rng.integers(0, k, 2000))   # partly agreeing partitions
        assert _ari(a, b, k) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    assert _ari(np.zeros(50, int), np.zeros(50, int), 3) == adjusted_rand_score(np.zeros(50), np.zeros(50)) == 1


def test_cluster_names_are_unique_and_descriptive():
    z = pd.DataFrame({"age": [-1.2, 0.1, 1.8], "log_aum": [-1.0, 0.0, 0.4], "log_income": [-0.5, 0.05, -0.6]},
                     index=["I1", "I2", "I3"])
    names = name_clusters(z)
    assert names["I1"] == "younger, lower AUM" and names["I2"] == "typical" and names["I3"].startswith("oldest")
    assert names.is_unique


def test_cluster_descriptions_from_a_profile_already_made_are_the_ones_it_makes(small_now, small_clusters):
    """analyse_period hands its cluster profile to cluster_descriptions instead of joining every customer again."""
    from crm_lib.segmentation.profiles import cluster_descriptions

    assign, models = small_clusters
    for ctype, m in models.items():
        own = cluster_descriptions(m, small_now)
        seg = assign[assign["customer_type"] == ctype]
        given = cluster_descriptions(m, small_now, profiled=profile(small_now, seg, "cluster"))
        pd.testing.assert_frame_equal(given, own)
        assert own["customers"].sum() == len(seg) and own["description"].str.contains("customers").all()


def test_single_segment_profile_does_not_crash(tiny_now):
    act = tiny_now[tiny_now["is_active"]]
    p = profile(tiny_now, pd.DataFrame({"customer_id": act["customer_id"], "everyone": "all"}), "everyone")
    assert len(p) == 1 and p["share"].iloc[0] == 1 and p["customers"].iloc[0] == len(act)
    assert p["median_aum"].iloc[0] == pytest.approx(act["aum_avg"].median())


# --------------------------------------------------------------------------- lifecycle

def test_aum_outflow_signal_matches_the_planted_wind_down(small_bank, small_truth):
    """Expected count of 'AUM fell 30% in 3 months' from the planted walk and wind-down, analytically.

    log(aum_t / aum_{t-3}) ~ N(3 drift + log(1 - outflow) * (wind_t - wind_{t-3}), 3 vol^2), where
    wind = months (up to 6) inside the wind-down before a voluntary exit (_synth/activity.py), observed
    or not: customers who will leave after the risk date are already winding down.
    """
    t0 = pd.Timestamp(RISK_DATE)
    f = _features(small_bank, RISK_DATE)
    st = lifecycle_stages(f, SETTINGS["lifecycle"]).set_index("customer_id")
    a = f[f["is_active"] & f["aum_change_3m"].notna()].set_index("customer_id")
    t = small_truth.loc[a.index]
    pers = {p.name: p for p in P.PERSONAS}
    mu = t["persona"].map(lambda p: pers[p].aum_drift).to_numpy()
    vol = t["persona"].map(lambda p: pers[p].aum_vol).to_numpy()
    ch = P.ChurnTruth()
    voluntary = (t["exit_reason"] == "voluntary").to_numpy()

    def wind(month):
        months_to_exit = (t["exit_date"] - month).dt.days.to_numpy() / 30.44
        return np.where(voluntary, np.clip(ch.wind_down_months - months_to_exit, 0, None), 0.0)

    mean = 3 * mu + np.log(1 - ch.wind_down_aum_outflow) * (wind(t0) - wind(t0 - pd.offsets.MonthEnd(3)))
    cut = np.log(1 + SETTINGS["lifecycle"]["at_risk_aum_change_3m"])
    p = norm.cdf((cut - mean) / (vol * np.sqrt(3)))
    observed = int(st.loc[a.index, "signal_aum_outflow"].sum())
    expected, sd = p.sum(), np.sqrt((p * (1 - p)).sum())
    # Poisson-binomial count: 3.3 sd is a 99.9% band; deposits/investments rounding to cents is negligible
    assert abs(observed - expected) <= 3.3 * sd, (observed, expected, sd)
    assert observed > 500
    # and the stage earns its name: at-risk customers mostly close (voluntarily) within 6 months
    at_risk = st.index[st["stage"] == "at_risk"]
    closes = (small_truth.loc[at_risk, "closed_date"] <= t0 + pd.Timedelta(days=183)).mean()
    mature = st.index[st["stage"] == "mature"]
    base = (small_truth.loc[mature, "closed_date"] <= t0 + pd.Timedelta(days=183)).mean()
    assert closes > 0.8 and base < 0.05


def test_lifecycle_stages_follow_their_rules(tiny_now):
    st = lifecycle_stages(tiny_now, SETTINGS["lifecycle"]).merge(tiny_now, on="customer_id")
    rules = SETTINGS["lifecycle"]
    assert (st.loc[st["stage"] == "onboarding", "tenure_days"] <= rules["onboarding_days"]).all()
    dormant = st[st["stage"] == "dormant"]
    assert (dormant["recency_days"].isna() | (dormant["recency_days"] > rules["dormant_days"])).all()
    assert (st.loc[st["stage"] == "closed", "is_active"] == False).all()  # noqa: E712
    assert st["is_active"].sum() == tiny_now["is_active"].sum()           # every active customer has a stage
    summ = lifecycle_summary(st[["customer_id", "stage"]], tiny_now)
    assert list(summ.index) == ["onboarding", "growing", "mature", "at_risk", "dormant", "closed"]
    assert summ["customers"].sum() == len(st) and summ.loc["closed", "aum"] == 0
    with pytest.raises(DataContractError, match="churn_score"):
        lifecycle_stages(tiny_now, {**rules, "at_risk_churn_score": 0.5})


# --------------------------------------------------------------------------- migration

def test_tier_migration_matches_the_planted_random_walk(small_bank, small_now, small_truth):
    """Expected transitions by simulating the planted monthly log-AUM walk from each start AUM.

    A year from 2025-09-30 to 2026-09-30: 12 monthly steps N(drift, vol^2) per persona; the end
    tier uses the mean of the last 3 month-ends, so only S_10, S_11, S_12 are drawn. Customers who
    will leave voluntarily within 6 months of a month-end are winding down there (an outflow of
    ``wind_down_aum_outflow`` per month inside the window, whether or not the exit is observed):
    that planted drift is added to their walk. Nobody active at the data end winds down a year
    earlier, so the start AUM is clean.
    """
    start = _features(small_bank, YEAR_AGO)
    t0, t1 = value_tiers(start, P.TIER_THRESHOLDS), value_tiers(small_now, P.TIER_THRESHOLDS)
    pairs = migration_pairs(t0, t1)
    stay = pairs[~pairs["direction"].isin(["new", "closed"])].set_index("customer_id")
    a = start.set_index("customer_id").loc[stay.index]
    pers = {p.name: p for p in P.PERSONAS}
    persona = small_truth.loc[stay.index, "persona"]
    mu = persona.map(lambda p: pers[p].aum_drift).to_numpy()[:, None]
    sg = persona.map(lambda p: pers[p].aum_vol).to_numpy()[:, None]
    rng = np.random.default_rng(2026)
    reps = 200   # MC error of a rate over ~30k customers x 200 draws is < 0.0002, far inside the CIs
    ch = P.ChurnTruth()
    truth = small_truth.loc[stay.index]
    voluntary = (truth["exit_reason"] == "voluntary").to_numpy()

    def wind(k):   # planted log-outflow at the k-th month-end after the start
        months_to_exit = (truth["exit_date"] - (pd.Timestamp(YEAR_AGO) + pd.offsets.MonthEnd(k))).dt.days / 30.44
        w = np.where(voluntary, np.clip(ch.wind_down_months - months_to_exit.to_numpy(), 0, None), 0.0)
        return (np.log(1 - ch.wind_down_aum_outflow) * w)[:, None]

    walk10 = np.log(a["aum"].to_numpy())[:, None] + 10 * mu + np.sqrt(10) * sg * rng.standard_normal((len(a), reps))
    walk11 = walk10 + mu + sg * rng.standard_normal((len(a), reps))
    walk12 = walk11 + mu + sg * rng.standard_normal((len(a), reps))
    s10, s11, s12 = walk10 + wind(10), walk11 + wind(11), walk12 + wind(12)
    avg = (np.exp(s10) + np.exp(s11) + np.exp(s12)) / 3
    p_up = np.zeros(len(a))
    p_down = np.zeros(len(a))
    exp_cells = []
    for ctype, tiers in P.TIER_THRESHOLDS.items():
        m = (a["customer_type"] == ctype).to_numpy()
        rank = np.searchsorted(np.array(list(tiers.values())), avg[m], side="right") - 1
        r0 = stay.loc[m, "from_state"].map({t: i for i, t in enumerate(tiers)}).to_numpy()[:, None]
        p_up[m], p_down[m] = (rank > r0).mean(axis=1), (rank < r0).mean(axis=1)
        for j, tier in enumerate(tiers):
            e = pd.Series((rank == j).mean(axis=1)).groupby(stay.loc[m, "from_state"].to_numpy()).sum()
            exp_cells += [(ctype, frm, tier, v) for frm, v in e.items()]
    # rates: alpha = 0.01 so that the ~20 comparisons below rarely fail by chance (seeds fixed)
    rates = migration_rates(pairs, alpha=0.01, n_boot=4000, seed=1).loc["all"]
    n0 = rates["n_start"]
    for name, p in (("up_rate", p_up), ("down_rate", p_down)):
        expected = p.sum() / n0    # closures are observed outcomes: they move neither up nor down
        assert rates[f"{name}_lower"] <= expected <= rates[f"{name}_upper"], (name, expected, rates[name])
    assert rates["up"] > 300 and rates["down"] > 200
    # every transition share among customers active at both dates
    for ctype in P.TIER_THRESHOLDS:
        pm = pairs[(pairs["customer_type"] == ctype) & ~pairs["direction"].isin(["new", "closed"])]
        tm = transition_matrix(pm, list(P.TIER_THRESHOLDS[ctype]), alpha=0.01, n_boot=4000, seed=2,
                               include_new=False).set_index(["from_state", "to_state"])
        for ct, frm, to, e in exp_cells:
            if ct != ctype:
                continue
            row = tm.loc[(frm, to)]
            share = e / row["row_total"]
            assert row["ci_lower"] - 1e-9 <= share <= row["ci_upper"] + 1e-9, (ctype, frm, to, share, row.to_dict())


def test_transition_matrix_counts_and_intervals():
    start = pd.DataFrame({"customer_id": list("abcdef"), "customer_type": "individual",
                          "tier": ["mass", "mass", "mass", "affluent", "affluent", "mass"],
                          "tier_rank": [0, 0, 0, 1, 1, 0], "aum_avg": [1.0, 2, 3, 400, 500, 6]})
    end = pd.DataFrame({"customer_id": list("abdeg"), "customer_type": "individual",
                        "tier": ["mass", "affluent", "mass", "affluent", "mass"], "tier_rank": [0, 1, 0, 1, 0],
                        "aum_avg": [1.5, 200, 90, 510, 5]})
    pairs = migration_pairs(start, end).set_index("customer_id")
    assert pairs["direction"].to_dict() == {"a": "same", "b": "up", "c": "closed", "d": "down", "e": "same",
                                            "f": "closed", "g": "new"}
    tm = transition_matrix(pairs.reset_index(), ["mass", "affluent"], n_boot=500).set_index(["from_state", "to_state"])
    assert tm.loc[("mass", "closed"), "count"] == 2 and tm.loc[("mass", "closed"), "row_share"] == pytest.approx(0.5)
    assert tm.groupby(level=0)["row_share"].sum().dropna().round(12).eq(1).all()
    assert ((tm["ci_lower"] <= tm["row_share"]) & (tm["row_share"] <= tm["ci_upper"])).all()
    r = migration_rates(pairs.reset_index(), n_boot=500).loc["individual"]
    assert (r["n_start"], r["up"], r["down"], r["closed"], r["new"]) == (6, 1, 1, 2, 1)
    assert r["aum_moved_up"] == 200 and r["aum_moved_down"] == 90 and r["aum_closed"] == 9
    assert r["net_up_rate"] == 0
    with pytest.raises(DataContractError, match="no customer at the start"):
        migration_rates(migration_pairs(start.iloc[:0], end).iloc[:0])


def test_all_customers_in_one_tier_migrate_cleanly(tiny_now):
    one = {"individual": {"everyone": 0}, "corporate": {"everyone_corp": 0}}
    t = value_tiers(tiny_now, one)
    assert set(t["tier"]) == {"everyone", "everyone_corp"}
    r = migration_rates(migration_pairs(t, t), n_boot=200).loc["all"]
    assert r["up_rate"] == 0 and r["down_rate"] == 0 and r["up_rate_lower"] == 0
    # 0 of n: the bootstrap cannot move, the Wilson bound z^2 / (n + z^2) ~ 3.8 / n stands in for it
    assert r["up_rate_upper"] == pytest.approx(1.959964 ** 2 / (r["n_start"] + 1.959964 ** 2), rel=1e-6)
    assert r["net_up_rate_lower"] < 0 < r["net_up_rate_upper"]


# --------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def period_result(tiny_bank):
    params = {**config.resolve("quarterly").as_dict(), "tiers": P.TIER_THRESHOLDS}
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        return analyse_period(wh, config.Period.parse("2026Q3"), params, key=KEY)


def test_period_analysis_records_facts_with_uncertainty(period_result):
    fb = FactBook("10_segmentation", "2026Q3")
    record_facts(fb, period_result)
    facts = fb.facts
    for name in ("tier_customers_mass", "tier_aum_private_banking", "cluster_count_individual",
                 "cluster_stability_individual", "uptier_rate", "downtier_rate", "uptier_rate_yoy"):
        assert name in facts, name
    for f in facts.values():
        assert f.uncertainty or f.ci_lower is not None
        assert f.n is not None and f.definition
    up = facts["uptier_rate"]
    assert up.ci_lower <= up.value <= up.ci_upper and up.headline
    assert facts["cluster_stability_individual"].ci_lower <= facts["cluster_stability_individual"].value
    assert sum(f.value for n, f in facts.items() if n.startswith("tier_customers_")) == \
        period_result.tier_summary["customers"].sum()
    # this period's clusters kept last period's labels
    lm = period_result.current.models["individual"].label_map_
    assert (lm["reference_label"] == lm["label"]).all()


def test_outputs_hold_no_raw_identifiers(period_result):
    raw = re.compile(r"CUS\d{8}")
    frames = [period_result.current.customers, period_result.current.lifecycle, period_result.tier_pairs,
              *period_result.cluster_profiles.values()]
    for df in frames:
        assert not df.astype(str).apply(lambda c: c.str.contains(raw)).any().any()
    assert period_result.current.customers["customer_id"].str.fullmatch(r"P[0-9a-f]{15}").all()


def test_segment_customers_returns_one_row_per_active_customer(tiny_now):
    res = segment_customers(tiny_now, PARAMS, SETTINGS)
    c = res.customers
    assert len(c) == tiny_now["is_active"].sum() and c["customer_id"].is_unique
    assert c[["tier", "rfm_segment", "cluster", "stage"]].notna().all().all()
    assert set(res.timings) == {"tiers", "rfm", "clusters", "lifecycle"}


def test_settings_file_errors_name_file_and_key(tmp_path):
    bad = tmp_path / "segmentation.yaml"
    bad.write_text("clusters:\n  k_rnage: [2, 5]\n")
    with pytest.raises(ConfigError, match=r"segmentation\.yaml: clusters\.k_rnage: unknown key"):
        load_settings(bad)
    bad.write_text("clusters:\n  k_range: [1, 5]\n")
    with pytest.raises(ConfigError, match=r"clusters\.k_range"):
        load_settings(bad)
