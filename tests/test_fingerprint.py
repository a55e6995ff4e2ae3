"""A source's fingerprint (recorded in every pack's manifest) is a hash of what its tables hold, not of how they
are stored or which engine reads them.

The same bank as a DuckDB file, a Parquet folder and a CSV folder has one fingerprint (on Spark too:
tests/test_spark_warehouse.py and the pack of tests/test_spark_pack.py); a value stored in another type (a whole
DOUBLE and a BIGINT, a DECIMAL(18,7) and a DOUBLE, a DATE and a TIMESTAMP at midnight) or rows in another order
give the same one; any changed cell, a NULL for an empty string, a duplicated or a dropped row give another.
"""

from __future__ import annotations

import re

import duckdb
import pytest

from crm_lib.data.store import open_source

CUSTOMERS = """
SELECT * FROM (VALUES
  ('C1', 'retail', 41, 5200.0, 12.5, DATE '2020-01-31', true, 'a'),
  ('C2', 'sme', 37, 0.0, -0.0000015, DATE '2021-06-30', false, ''),
  ('C3', 'retail', NULL, 1e14 + 0.5, NULL, NULL, NULL, NULL),
  ('C4', 'retail', 60, 'nan'::DOUBLE, 0.25, DATE '2019-12-31', true, 'x|y'),
  ('C5', 'sme', 52, 'inf'::DOUBLE, 3.0, DATE '2018-03-31', false, 'b'),
  ('C6', 'sme', 29, '-inf'::DOUBLE, -7.75, DATE '2022-11-30', true, 'c')
) v(customer_id, customer_type, age, income, revenue, onboard_date, consent_marketing, occupation)"""


def _fingerprint(folder, query: str) -> str:
    """The fingerprint of a source whose one table, customers, is ``query`` with ``{base}`` as CUSTOMERS."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"COPY ({query.replace('{base}', CUSTOMERS)}) TO '{folder / 'customers.parquet'}' (FORMAT parquet)")
    con.close()
    with open_source(folder) as wh:
        assert wh.tables() == ["customers"]
        return wh.fingerprint()


def test_the_same_bank_has_one_fingerprint_in_every_form(tiny_bank, tmp_path):
    csv = tmp_path / "csv"
    csv.mkdir()
    con = duckdb.connect(str(tiny_bank / "warehouse.duckdb"), read_only=True)
    tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    for t in tables:
        con.execute(f"COPY {t} TO '{csv / t}.csv' (HEADER)")
    con.close()
    prints = {}
    for form, src in (("file", tiny_bank / "warehouse.duckdb"), ("parquet", tiny_bank / "parquet"), ("csv", csv)):
        with open_source(src) as wh:
            assert len(wh.tables()) == len(tables) == 8
            prints[form] = wh.fingerprint()
    # the CSV folder's columns are typed by DuckDB's sniffer (dates as DATE where the file had TIMESTAMP)
    assert len(set(prints.values())) == 1, prints
    assert re.fullmatch(r"[0-9a-f]{16}", prints["file"]), prints


@pytest.mark.parametrize("what, query", [
    ("rows in another order", "SELECT * FROM ({base}) ORDER BY customer_id DESC"),
    ("columns in another order", "SELECT occupation, customer_id, * EXCLUDE (occupation, customer_id) FROM ({base})"),
    ("age as a DOUBLE", "SELECT * REPLACE (CAST(age AS DOUBLE) AS age) FROM ({base})"),
    ("dates as TIMESTAMP", "SELECT * REPLACE (CAST(onboard_date AS TIMESTAMP) AS onboard_date) FROM ({base})"),
    ("revenue as a DECIMAL(18,7)", "SELECT * REPLACE (CAST(revenue AS DECIMAL(18, 7)) AS revenue) FROM ({base})"),
])
def test_a_value_stored_in_another_type_or_order_reads_alike(tmp_path, what, query):
    assert _fingerprint(tmp_path / "changed", query) == _fingerprint(tmp_path / "base", "{base}"), what


@pytest.mark.parametrize("what, query", [
    ("a changed number", "SELECT * REPLACE (CASE WHEN customer_id = 'C1' THEN 5200.01 ELSE income END AS income) "
                         "FROM ({base})"),
    ("a millionth", "SELECT * REPLACE (CASE WHEN customer_id = 'C2' THEN -0.0000005 ELSE revenue END AS revenue) "
                    "FROM ({base})"),
    ("infinity's sign", "SELECT * REPLACE (CASE WHEN customer_id = 'C5' THEN '-inf'::DOUBLE ELSE income END AS "
                        "income) FROM ({base})"),
    ("a changed date", "SELECT * REPLACE (CASE WHEN customer_id = 'C1' THEN DATE '2020-02-01' ELSE onboard_date "
                       "END AS onboard_date) FROM ({base})"),
    ("a time of day", "SELECT * REPLACE (CASE WHEN customer_id = 'C1' THEN TIMESTAMP '2020-01-31 00:00:00.000001' "
                      "ELSE onboard_date END AS onboard_date) FROM ({base})"),
    ("NULL for an empty string", "SELECT * REPLACE (CASE WHEN customer_id = 'C2' THEN NULL ELSE occupation END "
                                 "AS occupation) FROM ({base})"),
    ("a flag flipped", "SELECT * REPLACE (CASE WHEN customer_id = 'C2' THEN true ELSE consent_marketing END AS "
                       "consent_marketing) FROM ({base})"),
    ("a value moved to the next column", "SELECT * REPLACE (CASE WHEN customer_id = 'C4' THEN 'xy|' ELSE "
                                         "occupation END AS occupation) FROM ({base})"),
    ("a duplicated row", "SELECT * FROM ({base}) UNION ALL SELECT * FROM ({base}) WHERE customer_id = 'C1'"),
    ("a dropped row", "SELECT * FROM ({base}) WHERE customer_id <> 'C3'"),
])
def test_any_changed_cell_or_row_changes_it(tmp_path, what, query):
    assert _fingerprint(tmp_path / "changed", query) != _fingerprint(tmp_path / "base", "{base}"), what
