"""The library's calls give the same results on Spark (``SparkWarehouse``) as on DuckDB (``Warehouse``).

Every query is written once, in DuckDB's SQL; on Spark it is compiled by SQLGlot and run by a real local
session (one for this file: starting one takes ~10 s). Both engines read the same Parquet folder, the tiny
bank's; the door is compared on a copy of it with planted faults.
"""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd
import pytest

from crm_lib.data.store import open_source
from test_mapping_files import MAPPING as CUSTOMER_MASTER

pytestmark = pytest.mark.slow
KEY = "spark-test-key"
TODAY = pd.Timestamp("2026-11-23")


@pytest.fixture(scope="module")
def spark():
    from crm_lib.data.spark import local_session

    s = local_session()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def engines(spark, tiny_bank):
    """(DuckDB, Spark) warehouses on the tiny bank's Parquet folder.

    Spark is told not to broadcast small tables nor to coalesce shuffle partitions, so its joins shuffle and
    return rows in an order of their own
    (as on a big bank): a query whose row order is not fixed by ORDER BY then differs from DuckDB's, and a
    bootstrap over its rows would draw other resamples (caught at 100k customers by benchmarks/run.py
    pack_engines: churn and CLV intervals moved by up to 4.5%)."""
    folder = tiny_bank / "parquet"
    with open_source(folder) as duck, open_source(f"spark:local[2]?path={folder}") as sw:
        for k, v in (("spark.sql.autoBroadcastJoinThreshold", "-1"), ("spark.sql.adaptive.autoBroadcastJoinThreshold", "-1"),
                     ("spark.sql.adaptive.coalescePartitions.enabled", "false")):
            sw.spark.conf.set(k, v)
        yield duck, sw


def assert_same_frame(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    """Same columns, dtypes, rows in order; numbers to 1e-9 relative, everything else exactly."""
    assert list(a.columns) == list(b.columns), what
    assert a.dtypes.to_dict() == b.dtypes.to_dict(), (what, {c: (a[c].dtype, b[c].dtype) for c in a
                                                             if a[c].dtype != b[c].dtype})
    assert len(a) == len(b) > 0, what
    assert list(a.index) == list(b.index), what
    for c in a.columns:
        x, y = a[c], b[c]
        if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
            np.testing.assert_allclose(y.astype(float).to_numpy(), x.astype(float).to_numpy(), rtol=1e-9, atol=0,
                                       equal_nan=True, err_msg=f"{what}: {c}")
        else:
            assert x.isna().equals(y.isna()), f"{what}: {c} (nulls)"
            assert (x[x.notna()] == y[y.notna()]).all(), f"{what}: {c}"


def test_the_source_reads_the_same(engines):
    duck, sw = engines
    assert sw.tables() == duck.tables()
    for t in duck.tables():
        assert sw.columns(t) == duck.columns(t), t    # DuckDB's type names: VARCHAR, TIMESTAMP, ...
    assert (sw.absent, sw.retyped) == (duck.absent, duck.retyped)
    assert (sw.data_start(), sw.data_end()) == (duck.data_start(), duck.data_end())


def test_feature_table(engines):
    from crm_lib.features import feature_table

    duck, sw = engines
    want = feature_table(duck, "2025-06-30", key=KEY)
    got = feature_table(sw, "2025-06-30", key=KEY)
    assert got["customer_id"].str.fullmatch(r"P[0-9a-f]{15}").all()
    assert list(got["customer_id"]) == list(want["customer_id"])   # the same pseudonyms, in the same order
    assert got.attrs["lacking"] == want.attrs["lacking"]
    assert_same_frame(want, got, "feature_table")


def test_overview_measures(engines):
    from crm_lib.overview import measures
    from crm_lib.periods import Period

    duck, sw = engines
    period = Period.parse("2026Q2")
    assert_same_frame(measures.coverage(duck), measures.coverage(sw), "coverage")
    assert_same_frame(measures.base_movement(duck, period).to_frame(), measures.base_movement(sw, period).to_frame(),
                      "base_movement")
    assert_same_frame(measures.engagement(duck, period), measures.engagement(sw, period), "engagement")


def test_monthly_resolution_time(engines):
    """The complaint resolution times the effectiveness review's action evaluation reads: equal to the bit
    (a decimal divisor once made Spark round them by up to 4e-8 days)."""
    from crm_lib.evaluation.actions import monthly_kpi

    duck, sw = engines
    want, got = (monthly_kpi(w, "median_resolution_days", "2026-09-30") for w in (duck, sw))
    assert len(want) > 12 and (want["value"].to_numpy() == got["value"].to_numpy()).all()


def test_clv_summary(engines):
    from crm_lib.clv import warehouse_summary

    duck, sw = engines
    want = warehouse_summary(duck, "2025-06-30", "2026-06-30", key=KEY)
    got = warehouse_summary(sw, "2025-06-30", "2026-06-30", key=KEY)
    assert got.attrs["origin"] == want.attrs["origin"]
    assert_same_frame(want, got, "warehouse_summary")


def test_survival_frame(engines):
    from crm_lib.churn.frame import survival_frame

    duck, sw = engines
    assert_same_frame(survival_frame(duck, "2026-06-30", key=KEY), survival_frame(sw, "2026-06-30", key=KEY),
                      "survival_frame")


def test_a_book_built_in_parts_from_kept_results_is_the_book_of_one_query(engines):
    """The scoring snapshot in parts of ~300 customers: each table computed once for everyone and kept by
    the engine (a cached table on Spark, a temporary table on DuckDB), the parts read from it; the same
    frame as one query on DuckDB, and nothing kept after."""
    from crm_lib.churn import covariates as cv
    from crm_lib.churn.frame import snapshot
    from crm_lib.churn.warning import scored_columns

    duck, sw = engines
    keep = scored_columns(cv.DYNAMIC)
    want = snapshot(duck, "2026-06-30", key=KEY, reduce=keep)
    for wh in (duck, sw):
        got = snapshot(wh, "2026-06-30", key=KEY, chunk_customers=300, reduce=keep)
        assert_same_frame(want, got, f"snapshot in parts on {wh.kind}")
        assert not wh.keeping
    assert not [t for t in sw.spark.catalog.listTables() if t.name.startswith("crm_kept_")]
    assert not duck.sql("SELECT * FROM duckdb_tables() WHERE table_name LIKE 'crm_kept_%'").shape[0]


def test_a_model_sample_draws_the_same_customers_and_features(engines):
    """A model's stratified sample (crm_lib.data.sample) is chosen by pseudonym, and its features are computed
    in the engine for the sampled customers alone (the sample's condition compiled for Spark): the same frame."""
    from crm_lib.churn.frame import cohort_frame

    from crm_lib.data.sample import pseudonym_parts

    duck, sw = engines
    a, b = (cohort_frame(wh, "2025-06-30", "2026-06-30", key=KEY, sample=500) for wh in (duck, sw))
    assert len(a) == 500 and a.attrs["model_sample"] == b.attrs["model_sample"]
    assert_same_frame(a, b, "cohort_frame(sample=500)")
    # a book built part by part (pseudonym ranges, each queried for its customers alone) is the whole book
    whole = cohort_frame(duck, "2025-06-30", "2026-06-30", key=KEY)
    for wh in (duck, sw):
        parts = pd.concat([cohort_frame(wh, "2025-06-30", "2026-06-30", key=KEY, part=p) for p in pseudonym_parts(2)],
                          ignore_index=True)
        assert_same_frame(whole, parts, "cohort_frame(part=...) x 2")


FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">="}


@pytest.mark.parametrize("kind", ["ASOF LEFT JOIN", "ASOF JOIN"])
def test_asof_join(engines, kind):
    """DuckDB's ASOF join (the dormancy churn definition: the last transaction before each month-end) has no
    Spark twin; the query layer compiles it to a join on each row's next key. Same rows, for every inequality
    either way round, with ties, NULL keys and rows without a match. (The whole dormancy survival frame agrees
    too, but takes ~15-30 s on Spark, too long for CI.)"""
    duck, sw = engines
    left = pd.DataFrame({"k": ["a", "a", "b", "a", "c", None, "a"], "x": [5, 10, 3, 4, None, 5, 1]})
    right = pd.DataFrame({"k": ["a", "a", "a", "a", "b", "a", None, "b"], "y": [1, 4, 4, 9, 7, None, 2, 3]})
    for wh in (duck, sw):
        wh.con.register("asof_l", left.astype({"x": "Int64"}))
        wh.con.register("asof_r", right.astype({"y": "Int64"}))
    try:
        for i, op in enumerate(FLIP):
            on = f"b.x {op} t.y" if i % 2 else f"t.y {FLIP[op]} b.x"
            q = f"SELECT b.k, b.x, t.y FROM asof_l b {kind} asof_r t ON b.k = t.k AND {on}"
            want = sorted(duck.con.execute(q).fetchall(), key=str)
            assert sorted(sw.con.execute(q).fetchall(), key=str) == want, q
    finally:
        for wh in (duck, sw):
            wh.con.unregister("asof_l")
            wh.con.unregister("asof_r")


@pytest.fixture(scope="module")
def faulty_folder(tiny_bank, tmp_path_factory):
    """The tiny bank's Parquet tables with faults the door finds: broken values, a duplicate key, a closure
    before onboarding, dates held as text (one not a date), numbers held as text (all castable, read as their
    type), two optional columns and one optional table missing."""
    src = tiny_bank / "parquet"
    out = tmp_path_factory.mktemp("faulty_parquet")
    for t in ("accounts", "balances", "transactions", "campaign_contacts"):   # no campaigns
        pd.read_parquet(src / t).to_parquet(out / f"{t}.parquet", index=False)
    c = pd.read_parquet(src / "customers")
    c.loc[c.index[:3], "age"] = -5
    c.loc[c.index[5], "closed_date"] = c.loc[c.index[5], "onboard_date"] - pd.Timedelta(days=10)
    c.loc[c.index[7], "customer_type"] = "alien"
    c = pd.concat([c, c.iloc[[10]]], ignore_index=True).drop(columns=["acquisition_cost", "region"])
    c.to_parquet(out / "customers.parquet", index=False)
    k = pd.read_parquet(src / "complaints")
    k["opened_at"] = k["opened_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    k.loc[k.index[2], "opened_at"] = "not a date"
    k.loc[k.index[3], "opened_at"] = " "
    k.to_parquet(out / "complaints.parquet", index=False)
    s = pd.read_parquet(src / "surveys")
    s["csat"] = s["csat"].astype("Int64").astype(str).replace("<NA>", "")
    s["nps"] = s["nps"].astype(float)
    s.loc[s.index[4], "nps"] = 11.0
    s.to_parquet(out / "surveys.parquet", index=False)
    return out


def _problems(report) -> list:
    return [(p.table, p.column, p.rule, p.count, p.severity,
             None if p.examples is None else p.examples.astype(str).to_dict("records")) for p in report.problems]


def test_the_door_finds_the_same_problems(spark, faulty_folder):
    from crm_lib.data.door import check_source

    notebooks = ["00_data_overview", "20_churn", "40_clv"]
    duck, want = check_source(faulty_folder, today=TODAY, notebooks=notebooks)
    sw, got = check_source(f"spark:local[2]?path={faulty_folder}", today=TODAY, notebooks=notebooks)
    with duck, sw:
        assert (sw.absent, sw.retyped) == (duck.absent, duck.retyped) == (
            {"customers": ["region", "acquisition_cost"]}, {"surveys": ["csat"]})
        assert {t: sw.columns(t) for t in sw.tables()} == {t: duck.columns(t) for t in duck.tables()}
    rules = {(p.table, p.column, p.rule.split(" (")[0]) for p in want.problems}
    assert {("customers", "age", "integer 18-120"), ("customers", "customer_id", "unique key"),
            ("customers", "closed_date", "closed_date >= onboard_date"), ("surveys", "nps", "integer 0-10"),
            ("complaints", "opened_at", "type date"), ("campaigns", "*", "optional table present")} <= rules
    assert _problems(got) == _problems(want)   # rules, counts, severities and the example rows
    # what the quality card reuses: each key's duplicate rows, each cross-table rule's broken rows
    assert (got.duplicate_rows, got.rule_counts) == (want.duplicate_rows, want.rule_counts)
    assert want.duplicate_rows["customers"] > 0 and want.rule_counts


# the customer master of tests/test_mapping_files.py, and deposits in cents
MAPPING = CUSTOMER_MASTER + """\
  balances:
    columns:
      deposits: {column: DEP_CENTS, scale: 0.01}
"""


def _mapped_folder(tiny_bank, out, faults: bool = False):
    """The tiny bank's Parquet tables as a core-banking system exports them: the customer master under its own
    table and column names, customer types as codes, opening dates as day/month/year text without zero padding
    ("1/2/2024", which DuckDB's strptime reads and Spark needs ``d/M/yyyy`` for) and deposits in cents. With
    ``faults``, one customer type the mapping has no code for and one opening date that is no date."""
    src = tiny_bank / "parquet"
    for t in ("accounts", "transactions", "complaints", "surveys", "campaigns", "campaign_contacts"):
        pd.read_parquet(src / t).to_parquet(out / f"{t}.parquet", index=False)
    c = pd.read_parquet(src / "customers").rename(columns={"customer_id": "CUST_NO", "customer_type": "CUST_TYPE",
                                                            "onboard_date": "OPEN_DT"})
    c["CUST_TYPE"] = c["CUST_TYPE"].map({"individual": "P", "corporate": "C"})
    c["OPEN_DT"] = [f" {d.day}/{d.month}/{d.year}" if i % 7 == 0 else f"{d.day}/{d.month}/{d.year}"
                    for i, d in enumerate(c["OPEN_DT"])]       # a leading space now and then, as exports have
    if faults:
        c.loc[c.index[4], "CUST_TYPE"] = "Z"
        c.loc[c.index[6], "OPEN_DT"] = "31/2/2024"
    c.to_parquet(out / "CUST_MASTER.parquet", index=False)
    b = pd.read_parquet(src / "balances")
    b["DEP_CENTS"] = (b.pop("deposits") * 100).round()
    b.to_parquet(out / "balances.parquet", index=False)
    (out / "mapping.yaml").write_text(MAPPING)
    return out


def test_a_mapped_source_reads_the_same_on_spark_as_on_duckdb(spark, tiny_bank, tmp_path):
    """A bank's own names, codes, date text and units, mapped once (``parameters/mappings``), give Spark the
    canonical tables DuckDB gives: the same columns and types, and the same feature table as the bank's own
    canonical Parquet (pseudonyms, tiers, AUM from deposits in cents), cell for cell."""
    from crm_lib.data.door import check_source
    from crm_lib.features import feature_table

    folder = _mapped_folder(tiny_bank, tmp_path)
    mapping = folder / "mapping.yaml"
    duck, _ = check_source(folder, mapping=mapping, today=TODAY)
    sw, _ = check_source(f"spark:local[2]?path={folder}", mapping=mapping, today=TODAY)
    with duck, sw, open_source(tiny_bank / "parquet") as own:
        assert sw.tables() == duck.tables() == own.tables()
        for t in duck.tables():
            assert sw.columns(t) == duck.columns(t), t
        assert (sw.absent, sw.retyped) == (duck.absent, duck.retyped)
        want = feature_table(own, "2025-06-30", key=KEY)
        for wh in (duck, sw):
            assert_same_frame(want, feature_table(wh, "2025-06-30", key=KEY), f"feature_table on {wh.kind}")


def test_a_mapping_that_does_not_cover_the_source_is_refused_alike(spark, tiny_bank, tmp_path):
    from crm_lib.data.door import check_source
    from crm_lib.errors import ConfigError

    folder = _mapped_folder(tiny_bank, tmp_path, faults=True)
    said = []
    for source in (folder, f"spark:local[2]?path={folder}"):
        with pytest.raises(ConfigError) as e:
            check_source(source, mapping=folder / "mapping.yaml", today=TODAY)
        said.append(str(e.value).split("; add these values")[1])
    assert said[0] == said[1]          # the same rules, counts and example rows: the Z code, the 31st of February
    assert "customers.customer_type: 1 row(s) break rule 'code mapped by" in said[0]
    assert "customers.onboard_date: 1 row(s) break rule 'date format '%d/%m/%Y'" in said[0]
    assert re.search(r"\bZ\s+1\b", said[0]) and re.search(r"31/2/2024\s+1\b", said[0])


def test_spark_date_patterns_parse_what_duckdb_parses():
    import duckdb

    from crm_lib.data.spark import spark_datetime_pattern

    assert spark_datetime_pattern("%d/%m/%Y") == "d/M/yyyy"                 # one or two digits, as DuckDB
    assert spark_datetime_pattern("%Y%m%d") == "yyyyMMdd"                   # no separator: fixed widths
    assert spark_datetime_pattern("%Y-%m-%dT%H:%M:%S") == "yyyy-M-d'T'H:m:s"
    assert duckdb.sql("SELECT try_strptime(' 1/2/2024 ', '%d/%m/%Y')").fetchall()[0][0].isoformat() == \
        "2024-02-01T00:00:00"                                               # DuckDB skips surrounding space
    import sqlglot

    with pytest.raises(sqlglot.errors.UnsupportedError, match="%a"):
        spark_datetime_pattern("%a %d/%m/%Y")
    # a two-digit year means 1985 to DuckDB and 2085 to Spark: refused, not read differently
    assert duckdb.sql("SELECT year(try_strptime('1/2/85', '%d/%m/%y'))").fetchall()[0][0] == 1985
    with pytest.raises(sqlglot.errors.UnsupportedError, match="%y"):
        spark_datetime_pattern("%d/%m/%y")


def test_what_spark_does_not_take(spark, tiny_bank, tmp_path):
    from crm_lib.data.sources import SourceError

    with pytest.raises(SourceError, match="Spark reads a folder of Parquet tables"):
        open_source(f"spark:local[2]?path={tiny_bank}")          # the folder holds warehouse.duckdb
    with pytest.raises(SourceError, match=r"spark:local\[N\]\?path="):
        open_source(f"spark:yarn?path={tiny_bank / 'parquet'}")


def test_the_fingerprint_is_the_duckdb_one(engines, tmp_path):
    """A pack's manifest records the source's fingerprint: the same data gives the same one on Spark (each
    row's text is written alike by both engines, ``crm_lib.data.store.row_text``), here for the tiny bank and
    for a table of edge values (NaN, infinity, millionths, 1e14 + 0.5, NULL, an empty string, dates)."""
    from test_fingerprint import CUSTOMERS

    duck, sw = engines
    assert sw.fingerprint() == duck.fingerprint()
    folder = tmp_path / "edges"
    folder.mkdir()
    duckdb.connect().execute(f"COPY ({CUSTOMERS}) TO '{folder / 'customers.parquet'}' (FORMAT parquet)")
    with open_source(folder) as d, open_source(f"spark:local[2]?path={folder}") as s:
        assert s.columns("customers") == d.columns("customers")
        assert s.fingerprint() == d.fingerprint()
