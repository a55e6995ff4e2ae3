"""A real local Spark session computes the same features as DuckDB from the same definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_lib.data.store import open_source
from crm_lib.features import feature_table

pytestmark = pytest.mark.slow
AS_OF = "2025-06-30"
KEY = "spark-test-key"


@pytest.fixture(scope="module")
def spark():
    from crm_lib.data.spark import local_session

    s = local_session()
    yield s
    s.stop()


def test_spark_and_duckdb_agree(spark, tiny_bank):
    from crm_lib.data.spark import register_parquet
    from crm_lib.features import spark_feature_table

    register_parquet(spark, tiny_bank / "parquet")
    got = spark_feature_table(spark, AS_OF, key=KEY)
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        want = feature_table(wh, AS_OF, key=KEY)
    assert list(got["customer_id"]) == list(want["customer_id"])  # same pseudonyms, same customers
    assert set(want.columns) <= set(got.columns)
    for c in want.columns:
        a, b = want[c], got[c]
        if pd.api.types.is_numeric_dtype(a) or pd.api.types.is_bool_dtype(a):
            np.testing.assert_allclose(pd.to_numeric(b, errors="coerce").astype(float),
                                       a.astype(float), rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=c)
        elif pd.api.types.is_datetime64_any_dtype(a):
            assert (pd.to_datetime(b).dt.date.fillna(0) == a.dt.date.fillna(0)).all(), c
        else:
            assert (a.fillna("<NA>").astype(str) == b.fillna("<NA>").astype(str)).all(), c
