"""The as-of feature table: correct, leak-free, portable, pseudonymised."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import sqlglot

from conftest import END_DATE
from crm_lib.data.privacy import pseudonymise_id
from crm_lib.data.store import open_source
from crm_lib.errors import DataContractError
from crm_lib.features import feature_sql, feature_table

AS_OF = "2025-06-30"
KEY = "features-test-key"


@pytest.fixture(scope="module")
def feats(tiny_bank):
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        return feature_table(wh, AS_OF, key=KEY)


def _parquet(bank, table) -> pd.DataFrame:
    return pd.read_parquet(bank / "parquet" / table)


def test_one_row_per_customer_onboarded_by_the_date(tiny_bank, feats):
    cust = _parquet(tiny_bank, "customers")
    expected = cust.loc[cust["onboard_date"] <= pd.Timestamp(AS_OF), "customer_id"]
    assert feats["customer_id"].is_unique
    assert set(feats["customer_id"]) == {pseudonymise_id(c, KEY) for c in expected}


def test_values_match_an_independent_pandas_computation(tiny_bank, feats):
    d = pd.Timestamp(AS_OF)
    ids = {pseudonymise_id(c, KEY): c for c in _parquet(tiny_bank, "customers")["customer_id"]}
    f = feats.assign(raw=feats["customer_id"].map(ids)).set_index("raw")
    tx = _parquet(tiny_bank, "transactions")
    tx = tx[(tx["ts"] < d + pd.Timedelta(days=1)) & (tx["ts"] >= d - pd.Timedelta(days=364))
            & (tx["txn_type"] != "fee_purchase")]
    freq = tx.groupby("customer_id").size().reindex(f.index, fill_value=0)
    assert (freq.to_numpy() == f["frequency"].to_numpy()).all()
    mon = tx.groupby("customer_id")["amount"].sum().reindex(f.index, fill_value=0)
    np.testing.assert_allclose(mon.to_numpy(), f["monetary"].to_numpy(), atol=1e-6)
    bal = _parquet(tiny_bank, "balances")
    last = d + pd.offsets.MonthEnd(0)  # AS_OF is a month-end
    bal = bal[(bal["month"] <= last) & (bal["month"] > last - pd.offsets.MonthEnd(3))]
    bal["aum"] = bal["deposits"] + bal["investments"]
    avg3 = bal.groupby("customer_id")["aum"].mean().reindex(f.index)
    np.testing.assert_allclose(avg3.to_numpy(), f["aum_avg"].to_numpy(), rtol=1e-9)
    acc = _parquet(tiny_bank, "accounts")
    open_ = acc[(acc["open_date"] <= d) & (acc["close_date"].isna() | (acc["close_date"] > d))]
    n = open_.groupby("customer_id").size().reindex(f.index, fill_value=0)
    assert (n.to_numpy() == f["n_products"].to_numpy()).all()


def test_tier_follows_the_thresholds_exactly(feats):
    ind = feats[feats["customer_type"] == "individual"]
    aum = ind["aum_avg"].fillna(0)
    expected = np.select([aum >= 1_000_000, aum >= 100_000], ["private_banking", "affluent"], "mass")
    assert (ind["tier"].to_numpy() == expected).all()
    corp = feats[feats["customer_type"] == "corporate"]
    assert (corp["tier"].to_numpy() == np.where(corp["aum_avg"].fillna(0) >= 10_000_000, "large_corporate", "sme")).all()


def test_custom_thresholds_and_their_errors(tiny_bank):
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        f = feature_table(wh, AS_OF, tier_thresholds={"individual": {"low": 0, "high": 50_000},
                                                      "corporate": {"all": 0}}, key=KEY)
        assert set(f["tier"]) == {"low", "high", "all"}
        with pytest.raises(DataContractError, match=r"tier thresholds for individual.*strictly increasing"):
            feature_table(wh, AS_OF, tier_thresholds={"individual": {"a": 0, "b": 5, "c": 5}}, key=KEY)
        with pytest.raises(DataContractError, match="window_days=0"):
            feature_table(wh, AS_OF, window_days=0, key=KEY)


def test_no_data_after_the_as_of_date_leaks_in(tiny_bank, tmp_path, feats):
    """Scramble, delete and add every row dated after AS_OF: the features must not move."""
    d = pd.Timestamp(AS_OF)
    rng = np.random.default_rng(3)
    out = tmp_path / "scrambled"
    out.mkdir()
    later = d + pd.Timedelta(days=1)
    for table, col in [("transactions", "ts"), ("balances", "month"), ("complaints", "opened_at"),
                       ("surveys", "survey_date"), ("campaign_contacts", "contacted_at"),
                       ("accounts", "open_date"), ("customers", None), ("campaigns", None)]:
        df = _parquet(tiny_bank, table)
        if col:
            post = df[col] >= later
            scr = df[post].copy()
            num = scr.select_dtypes("number").columns
            scr[num] = scr[num] * rng.uniform(0.1, 10, (len(scr), len(num)))
            scr = scr.sample(frac=0.7, random_state=1)            # drop 30% of the future
            extra = scr.head(50).copy()                           # and invent more of it
            for c in df.columns:
                if c.endswith("_id") and c != "customer_id" and c != "campaign_id":
                    extra[c] = extra[c] + "X"
            if table == "balances":
                extra["month"] = extra["month"] + pd.offsets.MonthEnd(240)
            df = pd.concat([df[~post], scr, extra], ignore_index=True)
        if table == "customers":  # closures after the date move to other later dates
            late = df["closed_date"] > d
            df.loc[late, "closed_date"] = pd.Timestamp(END_DATE)
            df.loc[df["closed_date"].isna(), "closed_date"] = pd.Timestamp("2026-01-15")
        if table == "complaints":  # resolutions after the date move
            late = df["resolved_at"] >= later
            df.loc[late, "resolved_at"] = df.loc[late, "resolved_at"] + pd.Timedelta(days=3)
        if table == "accounts":
            df.loc[df["close_date"] > d, "close_date"] = pd.Timestamp(END_DATE)
        df.to_parquet(out / f"{table}.parquet", index=False)
    with open_source(out) as wh:
        again = feature_table(wh, AS_OF, key=KEY)
    pd.testing.assert_frame_equal(feats.reset_index(drop=True), again[feats.columns].reset_index(drop=True))


def test_same_definitions_compile_for_spark():
    sql = feature_sql(AS_OF, ["current_account", "credit_card"], dialect="spark")
    tree = sqlglot.parse_one(sql, read="spark")
    assert tree.find(sqlglot.exp.Select) is not None
    assert "DATEDIFF(" in sql.upper() and "date_diff" not in sql
    duck = feature_sql(AS_OF, ["current_account", "credit_card"], dialect="duckdb")
    assert "DATE_DIFF('DAY'" in duck.upper()


def test_timestamps_stay_naive_on_both_engines():
    # Spark's TIMESTAMP literal means a time-zone-aware instant, which SQLGlot compiles to DuckDB's
    # TIMESTAMPTZ: every naive ts would then be cast through the session time zone (10x slower
    # and zone-dependent). The definitions use TIMESTAMP_NTZ: wall-clock times on both engines.
    for dialect in ("duckdb", "spark"):
        sql = feature_sql(AS_OF, ["current_account"], dialect=dialect).upper()
        assert "TIMESTAMPTZ" not in sql and "WITH TIME ZONE" not in sql and "LTZ" not in sql
    assert "AS TIMESTAMP_NTZ)" in feature_sql(AS_OF, ["current_account"], dialect="spark").upper()


def test_columns_come_back_with_numeric_dtypes(feats):
    # counts are int64 (not object decimals from a HUGEINT sum); only the label columns are strings
    counts = ["tenure_days", "n_products", "frequency", "fee_purchases", "complaints_90d", "complaints_window",
              "open_complaints", "surveys_window", "contacts_window", "responded_window"]
    assert (feats[counts].dtypes == "int64").all()
    assert (feats.filter(like="has_").dtypes == "int32").all()
    labels = {"customer_id", "customer_type", "region", "branch_id", "credit_rating", "acquisition_channel", "tier"}
    assert set(feats.columns[feats.dtypes == object]) == labels
    assert str(feats["age"].dtype) == "Int64" and feats["age"].isna().any()   # corporates have no age


def test_identifiers_are_pseudonymous_and_pii_is_absent(tiny_bank, feats):
    raw = set(_parquet(tiny_bank, "customers")["customer_id"])
    assert not raw & set(feats["customer_id"])
    assert feats["customer_id"].str.fullmatch(r"P[0-9a-f]{15}").all()
    for c in ("full_name", "phone", "email", "national_id"):
        assert c not in feats.columns


def test_csv_source_gives_the_same_features(tiny_bank, tmp_path, feats):
    out = tmp_path / "csv"
    out.mkdir()
    for p in (tiny_bank / "parquet").iterdir():
        pd.read_parquet(p).to_csv(out / f"{p.name}.csv", index=False)
    with open_source(out) as wh:
        again = feature_table(wh, AS_OF, key=KEY)
    cols = ["customer_id", "tier", "n_products", "frequency", "recency_days", "complaints_window"]
    pd.testing.assert_frame_equal(feats[cols], again[cols], check_dtype=False)
