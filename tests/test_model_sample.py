"""Model samples (issue #17, 10M customers on one machine): a model's training frame above
``churn.model_sample_customers`` customers is a proportional stratified sample selected by keyed pseudonym
(``crm_lib.data.sample``). Checked here: the allocation and selection rule, the cap's validation, a planted Cox
truth recovered from a sample with the standard errors the sampling rate predicts, and the churn frames of the
tiny bank drawn through the same calls the notebooks make, and the next-best-product run's training and test
windows (``adoption.model_sample_customers``). ``make bench`` (``model_sample_1m``) compares a sample fit with
the full fit at 1M customers.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from crm_lib import churn, i18n
from crm_lib.churn import narrative
from crm_lib.churn.cox import ChurnCox
from crm_lib.churn.validation import _test_window, fit_landmark_model
from crm_lib.data.sample import check_cap, pseudonym_parts, sample_ids, stratified_customer_sample
from crm_lib.data.store import open_source
from crm_lib.errors import ConfigError
from crm_lib.features import feature_table
from crm_lib.fmt import esc
from crm_lib.marketing import load_rules
from crm_lib.marketing import narrative as mkt_narrative
from crm_lib.marketing.adoption import adoption_data
from crm_lib.marketing.report import run_period
from crm_lib.marketing.settings import validate_rules

KEY = "model-sample-test-key"


def _population(rng, sizes: dict) -> pd.DataFrame:
    kinds = np.repeat(list(sizes), list(sizes.values()))
    ids = [f"P{x:016x}" for x in rng.choice(2 ** 60, size=len(kinds), replace=False)]
    return pd.DataFrame({"customer_id": ids, "customer_type": kinds})


def test_proportional_allocation_keeps_the_smallest_pseudonyms_of_each_stratum_and_sums_to_the_cap():
    rng = np.random.default_rng(1)
    people = _population(rng, {"individual": 7_001, "corporate": 2_497, "sme": 502})
    ids, note = sample_ids(people, 1_000)
    assert len(ids) == note.n == 1_000 and note.population == 10_000
    # largest remainders: 700.1 -> 700, 249.7 -> 250, 50.2 -> 50 (the one left over goes to the largest remainder)
    assert note.by_stratum == {"corporate": (250, 2_497), "individual": (700, 7_001), "sme": (50, 502)}
    kept = people[people["customer_id"].isin(ids)]
    for kind, group in people.groupby("customer_type"):
        want = sorted(group["customer_id"])[:note.by_stratum[kind][0]]
        assert sorted(kept.loc[kept["customer_type"] == kind, "customer_id"]) == want
    # the same rule on a reordered frame draws the same customers (selection does not depend on row order)
    again, _ = sample_ids(people.sample(frac=1, random_state=3), 1_000)
    assert set(again) == set(ids)
    assert "1,000 of 10,000 customers (10.0%" in note.text()


def test_no_sample_within_the_cap_and_a_repeated_customer_is_kept_whole():
    rng = np.random.default_rng(2)
    people = _population(rng, {"individual": 3_000, "corporate": 1_000})
    assert sample_ids(people, 4_000) == (None, None) and sample_ids(people, None) == (None, None)
    frame, note = stratified_customer_sample(people, 4_000)
    assert frame is people and note is None
    stacked = pd.concat([people.assign(landmark=k) for k in range(3)], ignore_index=True)   # 3 rows per customer
    sub, note = stratified_customer_sample(stacked, 2_000)
    assert note.population == 4_000 and note.n == 2_000 and len(sub) == 6_000
    assert sub.groupby("customer_id").size().eq(3).all()
    assert sub.attrs["model_sample"] is note


@pytest.mark.parametrize("bad", [99, 1500.5, "many", True, -5_000])
def test_a_cap_that_is_not_a_whole_number_of_at_least_100_customers_is_refused(bad):
    with pytest.raises(ConfigError, match="churn.model_sample_customers"):
        check_cap(bad, "churn.model_sample_customers")
    with pytest.raises(ConfigError, match="churn.model_sample_customers"):
        churn.ChurnSettings.from_params({"churn": {"model_sample_customers": bad}})


def test_never_sample_and_the_default():
    assert check_cap(0) is None and check_cap(None) is None and check_cap(1_000_000) == 1_000_000
    assert churn.ChurnSettings.from_params({}).model_sample == 1_000_000
    assert churn.ChurnSettings.from_params({"churn": {"model_sample_customers": 0}}).model_sample is None


def test_a_cox_model_on_a_quarter_sample_recovers_the_planted_hazard_ratios_with_twice_the_standard_error():
    """40,000 customers with planted log hazard ratios; the sample keeps 10,000 (25 %). Its estimates lie
    within 4 sample SEs of the truth (p ~ 6e-5 each), its SEs are sqrt(1 / 0.25) = 2 times the full fit's
    (to 12 %: an SE estimated from ~1,900 events has ~2 % sampling error, the ratio of two such nested ones a
    few per cent), and the full estimate differs from the sample's by less than 3.5 SD of a nested difference."""
    rng = np.random.default_rng(20261)
    n = 40_000
    people = _population(rng, {"individual": 30_000, "corporate": 10_000})
    beta = np.array([0.5, -0.3, 0.8])
    X = np.column_stack([rng.normal(size=n), rng.normal(size=n), people["customer_type"].eq("corporate").to_numpy(float)])
    t = rng.exponential(1 / (0.1 * np.exp(X @ beta)))
    c = rng.uniform(0, 6, size=n)
    frame = people.assign(x1=X[:, 0], x2=X[:, 1], corporate=X[:, 2], duration=np.minimum(t, c) + 1e-6,
                          event=(t <= c).astype(int))
    sub, note = stratified_customer_sample(frame, 10_000)
    assert note.by_stratum == {"corporate": (2_500, 10_000), "individual": (7_500, 30_000)}
    kw = {"covariates": ["x1", "x2", "corporate"], "entry_col": None}
    full, samp = ChurnCox(**kw).fit(frame), ChurnCox(**kw).fit(sub)
    assert samp.n_ == 10_000 and samp.notes_[0].startswith("fitted on a stratified sample of 10,000 of 40,000")
    b, se = samp.summary_["coef"].to_numpy(), samp.summary_["se"].to_numpy()
    assert np.all(np.abs(b - beta) < 4 * se), (b, se)
    ratio = se / full.summary_["se"].to_numpy()
    assert np.all(np.abs(ratio - 2) < 0.24), ratio
    zdiff = (b - full.summary_["coef"].to_numpy()) / np.sqrt(se ** 2 - full.summary_["se"].to_numpy() ** 2)
    assert np.all(np.abs(zdiff) < 3.5), zdiff


@pytest.fixture(scope="module")
def wh(tiny_bank):
    with open_source(tiny_bank / "warehouse.duckdb") as w:
        yield w


def test_the_cohort_frame_sample_is_the_full_frames_rows_of_the_kept_customers(wh):
    s = churn.ChurnSettings()
    start, end = churn.observation_start(wh, s.window_days), pd.Timestamp("2026-09-30")
    full = churn.cohort_frame(wh, start, end, key=KEY)
    cap = len(full) // 2
    sub = churn.cohort_frame(wh, start, end, key=KEY, sample=cap)
    note = sub.attrs["model_sample"]
    assert len(sub) == note.n == cap and note.population == len(full)
    expected = full.set_index("customer_id").loc[sub["customer_id"]].reset_index()[list(full.columns)]
    pd.testing.assert_frame_equal(sub[list(full.columns)], expected)        # features as for everyone
    kept, sizes = sub["customer_type"].value_counts(), full["customer_type"].value_counts()
    assert (kept - sizes * cap / len(full)).abs().lt(1).all(), (kept, sizes)  # proportional allocation, rounded
    # within the cap the frame is the full one, without a note; the Cox model on the sample says what it is
    assert churn.cohort_frame(wh, start, end, key=KEY, sample=len(full)).equals(full)
    model = ChurnCox(covariates=churn.EXPLANATORY).fit(sub)
    assert model.n_ == cap and model.notes_[0] == note.text()
    # the models fitted beside it on the same frame say it too, once (not once per exit cause)
    aft, _ = churn.parametric_fits(sub, churn.EXPLANATORY)
    assert esc(note.text(localised=True)) in narrative.aft_md(aft)    # as the page shows it (escaped)
    i18n.use("zh-CN")                                                  # and in the run's language
    try:
        assert "的分层样本拟合" in narrative.aft_md(aft) and "customer type" not in narrative.aft_md(aft)
    finally:
        i18n.use("en")
    causes = churn.cause_specific_hazards(sub, churn.EXPLANATORY, min_events=5)
    assert sum(note.text() in x for x in causes.attrs["notes"]) == 1 and causes["cause"].nunique() >= 2


@pytest.fixture(scope="module")
def landmark_model(wh):
    return fit_landmark_model(wh, pd.Timestamp("2025-09-30"), 12, churn.ChurnSettings(), key=KEY)


def test_the_landmark_model_samples_whole_customers_and_draws_none_within_the_cap(wh, landmark_model):
    s = churn.ChurnSettings()
    last = pd.Timestamp("2025-09-30")
    full_model, full = landmark_model
    assert "model_sample" not in full.attrs and full_model.n_ == len(full)     # the tiny bank is within 1M
    people = full["customer_id"].nunique()
    model, sub = fit_landmark_model(wh, last, 12, replace(s, model_sample_customers=people - 300), key=KEY)
    assert sub["customer_id"].nunique() == people - 300
    rows = full[full["customer_id"].isin(sub["customer_id"])]
    assert len(rows) == len(sub)                                              # every landmark row of a kept customer
    # the sampled customers' spells are queried again for them alone (SampleNote.where): the same rows, cell for
    # cell, as the full frame cut to them, and the customers the full frame's own draw keeps
    pd.testing.assert_frame_equal(sub.reset_index(drop=True), rows.reset_index(drop=True))
    ids, _ = sample_ids(full[["customer_id", "customer_type"]], people - 300)
    assert set(sub["customer_id"]) == set(ids)
    assert model.notes_[0].startswith(f"fitted on a stratified sample of {people - 300:,} of {people:,}")


def test_the_test_window_scored_part_by_part_is_the_test_window_scored_at_once(wh, landmark_model):
    """A bank above ``SCORE_CHUNK`` customers has its validation test window built and scored per pseudonym range
    (``pseudonym_parts``): the same customers, in the same order, with the same follow-up and probabilities (to
    the last bits), so every metric and bootstrap interval is the one-query result. Forced here with parts of
    ~400 customers."""
    model, _ = landmark_model
    start, end = pd.Timestamp("2025-09-30"), pd.Timestamp("2026-09-30")
    s = churn.ChurnSettings()
    whole = _test_window(wh, model, start, end, 12, s, KEY)
    parts = _test_window(wh, model, start, end, 12, s, KEY, chunk_customers=400)
    assert len(whole[0]) > 1_000
    for a, b in zip(whole[:3], parts[:3]):           # follow-up, churn, tenure: the same rows in the same order
        np.testing.assert_array_equal(a, b)
    # probabilities: a matrix product over fewer rows may round the last bit differently (BLAS blocking)
    np.testing.assert_allclose(parts[3], whole[3], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(parts[4], whole[4])
    assert [p.low for p in pseudonym_parts(4)] == [None, "P40", "P80", "Pc0"] and pseudonym_parts(1)[0].high is None


def test_the_early_warning_list_and_the_clv_book_built_in_parts_are_the_ones_built_at_once(wh, landmark_model,
                                                                                         monkeypatch):
    """Above ``SCORE_CHUNK`` active customers the scoring snapshot is built per pseudonym range, each part cut to
    the columns the model, the CLV and the list read (``snapshot(reduce=...)``), so the driver never holds every
    customer's ~70 columns. Forced here with parts of ~300 of the tiny bank's ~1,500 active customers: the same
    list, scores, CLV and every CLV aggregate and interval, to the last bit. The book also has its customers'
    lifecycle stages (the snapshot now carries ``closed_date``, which the stages read)."""
    from crm_lib.clv.book import value_book
    from crm_lib.margin import ClvSettings

    model, _ = landmark_model
    s = churn.ChurnSettings()
    end = pd.Timestamp("2026-09-30")
    whole = churn.early_warning(wh, end, s, key=KEY, model=model, chunk_customers=None)
    made = []
    monkeypatch.setattr(wh, "_create_temp", lambda name, q, real=wh._create_temp: (made.append(name), real(name, q)))
    parts = churn.early_warning(wh, end, s, key=KEY, model=model, chunk_customers=300)
    assert len(made) == 3        # the outcomes, the features, the product changes: each queried once for all the parts
    assert whole.n_scored > 1_200
    pd.testing.assert_frame_equal(parts.table, whole.table)
    pd.testing.assert_frame_equal(parts.scores, whole.scores)
    assert parts.expected_churners_scored == whole.expected_churners_scored
    assert parts.clv_at_risk_scored == whole.clv_at_risk_scored and np.isfinite(whole.clv_at_risk_scored)

    cs = ClvSettings.load(n_draws=40)
    b_whole = value_book(wh, end, s, cs, key=KEY, seed=3, chunk_customers=None)
    b_parts = value_book(wh, end, s, cs, key=KEY, model=b_whole.model, seed=3, chunk_customers=300)
    pd.testing.assert_frame_equal(b_parts.customers, b_whole.customers)
    pd.testing.assert_frame_equal(b_parts.aggregates, b_whole.aggregates)
    stages = b_whole.aggregate("total", "lifecycle")
    assert set(stages.index) <= {"onboarding", "at_risk", "dormant", "growing", "mature", "unknown"}
    assert len(stages) >= 3 and stages["n"].sum() == len(b_whole.customers)


def test_snapshot_parts_are_checked(wh):
    with pytest.raises(ValueError, match="at least 1 customer per part"):
        churn.snapshot(wh, "2026-09-30", key=KEY, chunk_customers=0)
    with pytest.raises(ValueError, match="not both"):
        churn.snapshot(wh, "2026-09-30", key=KEY, chunk_customers=10, part=pseudonym_parts(2)[0])


def test_a_narrow_feature_table_is_the_whole_tables_columns(wh):
    full = feature_table(wh, "2026-09-30", key=KEY)
    cols = ["customer_type", "is_active", "aum_avg", "customer_id", "aum_avg"]     # id moved first, repeats once
    narrow = feature_table(wh, "2026-09-30", key=KEY, columns=cols)
    assert list(narrow.columns) == ["customer_id", "customer_type", "is_active", "aum_avg"]
    pd.testing.assert_frame_equal(narrow, full[list(narrow.columns)])
    assert narrow.attrs["lacking"] == full.attrs["lacking"]
    with pytest.raises(ValueError, match="columns= or part="):
        feature_table(wh, "2026-09-30", key=KEY, columns=cols, part=pseudonym_parts(2)[0])


def test_a_narrow_feature_table_whose_query_runs_out_of_engine_memory_is_read_whole_and_narrowed(wh, monkeypatch,
                                                                                                 caplog):
    """At 10M customers under DuckDB's 4 GB the segmentation's 37-column select ran out of memory where the whole
    row's plan did not: the narrow table is then read whole and narrowed, with the same values."""
    from crm_lib.errors import EngineMemoryError

    cols = ["customer_type", "is_active", "aum_avg", "has_savings", "share_mobile"]
    want = feature_table(wh, "2026-09-30", key=KEY, columns=cols)
    read, queries = wh.arrow, []

    def no_room_for_narrow(q):
        queries.append(q)
        if "EXCLUDE (customer_id)" not in q:
            raise EngineMemoryError("DuckDB ran out of memory for one query: failed to pin block (3.7 GiB/3.7 GiB used)")
        return read(q)

    monkeypatch.setattr(wh, "arrow", no_room_for_narrow)
    with caplog.at_level("WARNING", logger="crm_lib.features"):
        got = feature_table(wh, "2026-09-30", key=KEY, columns=cols)
    pd.testing.assert_frame_equal(got, want)
    assert len(queries) == 2 and "the 6-column query ran out of engine memory" in caplog.text

    def no_room(q):
        raise EngineMemoryError("DuckDB ran out of memory for one query")

    monkeypatch.setattr(wh, "arrow", no_room)
    with pytest.raises(EngineMemoryError):   # the whole table has no other way: the error stands
        feature_table(wh, "2026-09-30", key=KEY)


def test_a_narrow_feature_table_leaves_out_a_name_that_is_not_a_feature(wh, caplog):
    """A clustering feature named in the settings that the feature table does not have is left out and logged, not
    a DuckDB binder error; the caller (the clustering) says what it misses."""
    want = feature_table(wh, "2026-09-30", key=KEY, columns=["customer_type", "aum_avg"])
    with caplog.at_level("WARNING", logger="crm_lib.features"):
        got = feature_table(wh, "2026-09-30", key=KEY, columns=["customer_type", "wallet_share", "aum_avg"])
    pd.testing.assert_frame_equal(got, want)
    assert "named ['wallet_share'], not features" in caplog.text


def test_the_adoption_windows_of_a_larger_bank_are_a_stratified_sample_with_everyones_features(wh):
    full = adoption_data(wh, "2025-09-30", 12, key=KEY)
    n = len(full.features)
    cap = n // 3
    sub = adoption_data(wh, "2025-09-30", 12, key=KEY, sample=cap)
    note = sub.sample
    assert full.sample is None and len(sub.features) == note.n == cap and note.population == n
    kept, sizes = sub.features["customer_type"].value_counts(), full.features["customer_type"].value_counts()
    assert (kept - sizes * cap / n).abs().lt(1).all(), (kept, sizes)       # proportional allocation, rounded
    ids = sub.features.index
    assert set(ids) == set(sample_ids(full.features.reset_index()[["customer_id", "customer_type"]], cap)[0])
    for part in ("features", "X", "labels", "at_risk"):                     # everyone's values for the kept customers
        pd.testing.assert_frame_equal(getattr(sub, part), getattr(full, part).loc[ids])
    within = adoption_data(wh, "2025-09-30", 12, key=KEY, sample=n)
    assert within.sample is None and within.features.equals(full.features)


def test_the_next_best_product_run_samples_its_windows_scores_everyone_and_says_so(wh):
    rules = load_rules()
    n_test = len(adoption_data(wh, "2025-09-30", 12, key=KEY).features)
    rules["adoption"]["model_sample_customers"] = cap = n_test // 2
    run = run_period(wh, "2026-09-30", rules, alpha=0.1, seed=7, period="2026Q3", key=KEY)
    assert run.train.sample.n == run.test.sample.n == cap and run.scoring.sample is None
    assert len(run.test.features) == cap
    assert len(run.scoring.features) == len(feature_table(wh, "2026-09-30", key=KEY, columns=["customer_id"]))
    md = mkt_narrative.design_md(run)
    assert "Training window: models " + esc(run.train.sample.text(localised=True)) in md
    assert "Test window: models " + esc(run.test.sample.text(localised=True)) in md
    i18n.use("zh-CN")
    try:
        zh = mkt_narrative.design_md(run)
        assert "训练窗口：模型" in zh and "测试窗口：模型" in zh and "Training window" not in zh
    finally:
        i18n.use("en")
    with pytest.raises(ConfigError, match="adoption.model_sample_customers"):
        validate_rules({**rules, "adoption": {**rules["adoption"], "model_sample_customers": 50}})
