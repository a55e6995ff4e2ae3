"""What a query result costs in memory: shared strings (crm_lib.data.store.share_strings: a repetitive text column
points equal strings at one Python object, values, dtypes, missing values, order and attrs exactly those DuckDB
returned), and DuckDB's memory limit and private spill folder for each warehouse."""

import os
import tempfile

import numpy as np
import pandas as pd

from crm_lib.data.store import SHARE_MIN_ROWS, open_source, share_strings


def distinct_objects(col: pd.Series) -> int:
    return len({id(v) for v in col.to_numpy()})


def test_equal_strings_become_one_object_and_nothing_else_changes():
    n = 30_000                                   # a strided sample of every 3rd value
    rng = np.random.default_rng(7)
    kinds = np.array(["individual", "corporate"], dtype=object)[rng.integers(0, 2, n)]
    # rebuilt strings, so that equal values start as distinct objects, as DuckDB gives them
    kinds = np.array(["".join(list(k)) for k in kinds], dtype=object)
    kinds[::97] = None
    kinds[5::101] = np.nan
    df = pd.DataFrame({
        "customer_id": [f"P{i:08x}" for i in range(n)],                   # one per row: left as it is
        "customer_type": kinds,
        "mixed": ["".join("a")] * 1 + [1, True] + ["".join("a")] * (n - 3),  # 1 and True, unsampled: not merged
        "lists": [[i % 2] for i in range(n)],                             # unhashable: left as it is
        "when": pd.date_range("2026-01-01", periods=n, freq="h", tz="Asia/Shanghai"),
        "count": pd.array([None if i % 11 == 0 else i for i in range(n)], dtype="Int64"),
        "aum": rng.normal(size=n),
    })
    df.attrs["note"] = "kept"
    before = df.copy(deep=True)
    assert distinct_objects(df["customer_type"]) > 1000
    out = share_strings(df)
    pd.testing.assert_frame_equal(out, before)                            # values, dtypes, order, index
    assert out.attrs == {"note": "kept"}
    was, now = before["customer_type"].to_numpy(), out["customer_type"].to_numpy()
    assert [i for i, v in enumerate(now) if v is None] == [i for i, v in enumerate(was) if v is None]
    nan_at = [i for i, v in enumerate(was) if isinstance(v, float)]
    assert len(nan_at) > 100 and all(isinstance(now[i], float) and now[i] != now[i] for i in nan_at)  # NaN stays
    # 'individual', 'corporate', None and NaN objects: at most 4 distinct objects left
    assert distinct_objects(out["customer_type"]) <= 4
    assert distinct_objects(out["customer_id"]) == n
    assert out["mixed"].map(type).value_counts().to_dict() == before["mixed"].map(type).value_counts().to_dict()


def test_small_frames_and_duplicate_names_are_returned_as_they_are():
    small = pd.DataFrame({"t": ["".join("ab")] * (SHARE_MIN_ROWS - 1)})
    assert share_strings(small) is small
    dup = pd.DataFrame([["".join("ab"), "".join("ab")]] * SHARE_MIN_ROWS, columns=["t", "t"])
    assert share_strings(dup) is dup


def test_a_warehouse_query_returns_shared_strings_equal_to_duckdbs_own_result(tmp_path):
    (tmp_path / "customers").mkdir()
    pd.DataFrame({"customer_id": [f"C{i}" for i in range(3000)],
                  "customer_type": ["individual" if i % 3 else "corporate" for i in range(3000)]}
                 ).to_parquet(tmp_path / "customers" / "part-0.parquet")
    wh = open_source(tmp_path)
    try:
        q = "SELECT customer_id, customer_type, customer_type || '!' AS shout FROM customers ORDER BY 1"
        raw = wh.con.execute(q).df()
        got = wh.sql(q)
        pd.testing.assert_frame_equal(got, raw)
        assert distinct_objects(raw["customer_type"]) == 3000                # DuckDB: a string per row
        assert distinct_objects(got["customer_type"]) == 2 and distinct_objects(got["shout"]) == 2
    finally:
        wh.close()


def test_a_warehouse_takes_its_memory_limit_from_the_argument_or_the_environment_and_spills_privately(
        tmp_path, monkeypatch):
    """The runner gives each notebook kernel its DuckDB memory limit through ``CRM_DUCKDB_MEMORY_LIMIT``
    (``duckdb_memory_limit``); DuckDB spills to a folder of the warehouse's own, removed on close."""
    import pytest

    from crm_lib.data.store import MEMORY_ENV, machine_memory_mb
    from crm_lib.errors import ConfigError

    (tmp_path / "customers").mkdir()
    pd.DataFrame({"customer_id": ["C1"]}).to_parquet(tmp_path / "customers" / "part-0.parquet")

    def setting(wh, name):
        return wh.con.execute(f"SELECT current_setting('{name}')").fetchone()[0]

    monkeypatch.setenv(MEMORY_ENV, "300MB")
    with open_source(tmp_path) as wh:
        assert setting(wh, "memory_limit") == "286.1 MiB"                  # 300 * 10^6 bytes
        spill = setting(wh, "temp_directory")
        assert spill.startswith(tempfile.gettempdir()) and "crm-duckdb-" in spill
        # a sort larger than the limit spills there and still answers
        n = wh.con.execute("SELECT count(*) FROM (SELECT md5(i::VARCHAR) AS h FROM range(4000000) t(i) "
                           "ORDER BY h) s").fetchone()[0]
        assert n == 4_000_000 and os.path.isdir(spill)                    # DuckDB makes the folder to spill
    assert not os.path.exists(spill)
    with open_source(tmp_path, memory_limit="1GB") as wh:                   # the argument wins
        assert setting(wh, "memory_limit") == "953.6 MiB"
        # freed query memory is purged in the background, not kept by DuckDB's allocator for its next query
        # (DuckDB's default is off; at 1M customers it kept ~0.8 GB after the feature table:
        # `benchmarks/run.py --only allocator`)
        assert setting(wh, "allocator_background_threads") is True
    monkeypatch.setenv(MEMORY_ENV, "auto")                                 # half the machine
    with open_source(tmp_path) as wh:
        number, unit = setting(wh, "memory_limit").split()
        mib = float(number) * {"MiB": 1, "GiB": 1024}[unit]
        assert abs(mib - machine_memory_mb() / 2) < 0.01 * machine_memory_mb()
    monkeypatch.setenv(MEMORY_ENV, "plenty")
    with pytest.raises(ConfigError, match=r"CRM_DUCKDB_MEMORY_LIMIT: a size such as 6GB.*'plenty'"):
        open_source(tmp_path)


def test_the_churn_frames_made_text_columns_share_their_strings(tiny_bank):
    """Labels made in pandas (age band, cause, cohort, tier at entry) are as compact as a query's: one object per
    distinct value, not one Python string a row (~60 bytes: ~600 MB a column at 10M customers)."""
    from crm_lib import churn

    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        end = pd.Timestamp("2026-09-30")
        frames = {"survival": churn.survival_frame(wh, end),
                  "cohort": churn.cohort_frame(wh, end - pd.DateOffset(years=1), end, features=False)}
    for name, f in frames.items():
        text = [c for c in f.columns if f[c].dtype == object and c != "customer_id"]
        assert {"age_band", "cause"} <= set(text), (name, text)
        loose = {c: (distinct_objects(f[c]), f[c].nunique(dropna=False)) for c in text}
        assert all(objs <= values + 1 for objs, values in loose.values()), (name, loose)   # (+1: None and NaN)
        assert len(f) > 1000 and distinct_objects(f["customer_id"]) == len(f)


def test_each_notebook_kernel_gets_glibcs_trim_threshold_unless_the_environment_sets_one(monkeypatch):
    """Freed frames go back to the machine between a kernel's steps (MALLOC_TRIM_THRESHOLD_); a bank's own value
    in the environment is kept."""
    from crm_lib import config
    from crm_lib.reporting.runner import MALLOC_TRIM_ENV, _memory_env

    cfg = config.resolve("quarterly")
    monkeypatch.delenv(MALLOC_TRIM_ENV, raising=False)
    assert _memory_env(cfg)[MALLOC_TRIM_ENV] == "65536"
    monkeypatch.setenv(MALLOC_TRIM_ENV, "1048576")
    assert MALLOC_TRIM_ENV not in _memory_env(cfg)


def test_the_migration_directions_share_their_strings():
    """Each direction label is one object however many customers move (a Python string a row was ~0.6 GB a
    column at 10M customers); the labels are the same."""
    from crm_lib.segmentation.migration import migration_pairs

    n = 3000
    rng = np.random.default_rng(1)
    ids = [f"C{i:05d}" for i in range(n)]
    start = pd.DataFrame({"customer_id": ids, "customer_type": "individual",
                          "tier": rng.choice(["mass", "affluent"], n), "tier_rank": 0, "aum_avg": 1.0})
    start["tier_rank"] = (start["tier"] == "affluent").astype(int)
    end = start.sample(frac=0.9, random_state=2).assign(tier=lambda d: rng.choice(["mass", "affluent"], len(d)))
    end["tier_rank"] = (end["tier"] == "affluent").astype(int)
    p = migration_pairs(start, end)
    assert set(p["direction"]) == {"up", "down", "same", "closed"}
    assert p["direction"].map(id).nunique() == p["direction"].nunique()
