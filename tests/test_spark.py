"""The Spark query layer without a JVM: what SQLGlot makes of the library's DuckDB SQL, and the Spark source form.

The results themselves (the same features, pseudonyms, measures and door problems on a real local Spark
session as on DuckDB) are compared in ``tests/test_spark_warehouse.py``.
"""

from __future__ import annotations

import pytest

from crm_lib.data.privacy import _subkeys, pseudonym_sql
from crm_lib.data.sources import SourceError
from crm_lib.data.spark import to_spark
from crm_lib.data.store import open_source
from crm_lib.errors import ConfigError

KEY = "spark-test-key"


def test_the_pseudonym_is_one_formula_compiled_for_spark():
    k_in, k_out = _subkeys(KEY)
    q = to_spark(f"SELECT {pseudonym_sql('customer_id', KEY)} AS p FROM customers")
    # DuckDB's sha256(x) is Spark's sha2(x, 256): the nested hash keeps its keys and order
    assert q.count("SHA2(") == 2 and q.count(", 256)") == 2 and "SHA256" not in q.upper()
    assert q.index(k_out) < q.index(k_in) < q.index("CAST(customer_id AS STRING)")
    assert "SUBSTRING(" in q and ", 1, 15)" in q


def test_parameters_stay_markers():
    q = to_spark("SELECT count(*) FILTER (WHERE x > ?) FROM t WHERE NOT list_contains(CAST(? AS VARCHAR[]), y)")
    assert q.count("?") == 2 and "ARRAY_CONTAINS(CAST(? AS ARRAY<STRING>), y)" in q


def test_duckdb_types_keep_their_meaning():
    q = to_spark("SELECT date_trunc(?, CAST(ts AS TIMESTAMP)) AS p, TIMESTAMP '2025-01-01 00:00:00' AS t, "
                 "* EXCLUDE (customer_id) FROM transactions ORDER BY 1")
    assert "CAST(DATE_TRUNC(?, CAST(ts AS TIMESTAMP_NTZ)) AS TIMESTAMP_NTZ)" in q    # DuckDB's is without time zone
    assert "CAST('2025-01-01 00:00:00' AS TIMESTAMP_NTZ)" in q and "* EXCEPT (customer_id)" in q
    assert "NULLS LAST" in q                                                          # DuckDB's default order


def test_a_decimal_divisor_divides_in_double_as_in_duckdb():
    # Spark reads 86400.0 as DECIMAL(6,1) and rounds the quotient to the decimal's scale; DuckDB divides in DOUBLE
    q = to_spark("SELECT date_diff('second', a, b) / 86400.0 AS days, x / 2 AS half, 1.5 * x AS y FROM t")
    assert "/ CAST(86400.0 AS DOUBLE) AS days" in q and "x / 2 AS half" in q and "1.5 * x" in q


def test_a_spark_source_is_checked_before_spark_starts(tiny_bank, tmp_path):
    with pytest.raises(SourceError, match=r"spark:local\[N\]\?path="):
        open_source("spark:local[2]")
    with pytest.raises(SourceError, match="no such file or folder"):
        open_source(f"spark:local[2]?path={tmp_path / 'nowhere'}")
    with pytest.raises(ConfigError, match="mapping file any.yaml does not exist"):   # read before a session starts
        open_source(f"spark:local[2]?path={tiny_bank / 'parquet'}", mapping="any.yaml")
    # Spark Connect: a token in the source string (the manifest records it), a database that is not a name,
    # a local folder that is not there: refused before any connection is tried
    with pytest.raises(ConfigError, match="SPARK_CONNECT_AUTHENTICATE_TOKEN"):
        open_source("sc://spark.bank.internal:15002/;use_ssl=true;token=s3cret?database=crm")
    with pytest.raises(SourceError, match="is not a name"):
        open_source("sc://spark.bank.internal:15002?database=crm;DROP TABLE x")
    with pytest.raises(SourceError, match="no such file or folder"):
        open_source(f"sc://spark.bank.internal:15002?path={tmp_path / 'nowhere'}")
    with pytest.raises(SourceError, match=r"sc://<host>:<port>\?database="):
        open_source("sc://spark.bank.internal:15002")


def test_pack_engine_starts_nothing_for_other_sources(tiny_bank):
    from crm_lib.reporting.runner import pack_engine

    for source in (str(tiny_bank / "warehouse.duckdb"), "sc://spark.bank.internal:15002?database=crm", None):
        with pack_engine(source) as url:
            assert url is None
