"""A source's fingerprint (recorded in every pack's manifest) is a hash of what its tables hold, not of how they
are stored or which engine reads them.

The same bank as a DuckDB file, a Parquet folder and a CSV folder has one fingerprint (on Spark too:
tests/test_spark_warehouse.py and the pack of tests/test_spark_pack.py); a value stored in another type (a whole
DOUBLE and a BIGINT, a DECIMAL(18,2) and a DOUBLE, a DATE and a TIMESTAMP at midnight) or rows in another order
give the same one; any changed cell, a NULL for an empty string, a duplicated or a dropped row give another.
"""

from __future__ import annotations

import duckdb
import pytest

from crm_lib.data.store import open_source

CUSTOMERS = """
SELECT * FROM (VALUES
  ('C1', 'retail', 41, 5200.0, 12.5, DATE '2020-01-31', true, 'a'),
  ('C2', 'sme', 37, 0.0, -0.0000015, DATE '2021-06-30', false, ''),
  ('C3', 'retail', NULL, 1e14 + 0.5, NULL, NULL, NULL, NULL),
  ('C4', 'retail', 60, 'nan'::DOUBLE, 'inf'::DOUBLE, DATE '2019-12-31', true, 'x|y')
) v(customer_id, customer_type, age, income, revenue, onboard_date, consent_marketing, occupation)"""


def _fingerprint(folder, query: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"COPY ({query}) TO '{folder / 'customers.parquet'}' (FORMAT parquet)")
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
    assert len(prints["file"]) == 16 and int(prints["file"], 16) >= 0


def test_a_value_stored_in_another_type_or_order_reads_alike(tmp_path):
    base = _fingerprint(tmp_path / "base", CUSTOMERS)
    same = {
        "rows in another order": f"SELECT * FROM ({CUSTOMERS}) ORDER BY customer_id DESC",
        "columns in another order": f"SELECT occupation, customer_id, * EXCLUDE (occupation, customer_id) "
                                    f"FROM ({CUSTOMERS})",
        "age as a DOUBLE": f"SELECT * REPLACE (CAST(age AS DOUBLE) AS age) FROM ({CUSTOMERS})",
        "dates as TIMESTAMP": f"SELECT * REPLACE (CAST(onboard_date AS TIMESTAMP) AS onboard_date) FROM ({CUSTOMERS})",
        "revenue as a DECIMAL(18,7)": f"SELECT * REPLACE (CAST(revenue AS DECIMAL(18, 7)) AS revenue) FROM "
                                      f"(SELECT * REPLACE (CASE WHEN isinf(revenue) THEN NULL ELSE revenue END AS "
                                      f"revenue) FROM ({CUSTOMERS}))",
    }
    for what, q in same.items():
        want = base if "DECIMAL" not in what else _fingerprint(
            tmp_path / "dec_base", f"SELECT * REPLACE (CASE WHEN isinf(revenue) THEN NULL ELSE revenue END AS "
                                   f"revenue) FROM ({CUSTOMERS})")
        assert _fingerprint(tmp_path / what.replace(" ", "_"), q) == want, what


@pytest.mark.parametrize("what, change", [
    ("a changed number", "SELECT * REPLACE (CASE WHEN customer_id = 'C1' THEN 5200.01 ELSE income END AS income)"),
    ("a millionth", "SELECT * REPLACE (CASE WHEN customer_id = 'C2' THEN -0.0000005 ELSE revenue END AS revenue)"),
    ("a changed date", "SELECT * REPLACE (CASE WHEN customer_id = 'C1' THEN DATE '2020-02-01' ELSE onboard_date "
                       "END AS onboard_date)"),
    ("a time of day", "SELECT * REPLACE (CASE WHEN customer_id = 'C1' THEN TIMESTAMP '2020-01-31 00:00:00.000001' "
                      "ELSE onboard_date END AS onboard_date)"),
    ("NULL for an empty string", "SELECT * REPLACE (CASE WHEN customer_id = 'C2' THEN NULL ELSE occupation END "
                                 "AS occupation)"),
    ("a flag flipped", "SELECT * REPLACE (CASE WHEN customer_id = 'C2' THEN true ELSE consent_marketing END AS "
                       "consent_marketing)"),
    ("a value moved to the next column", "SELECT * REPLACE (CASE WHEN customer_id = 'C4' THEN 'xy|' ELSE "
                                         "occupation END AS occupation)"),
    ("a duplicated row", "SELECT * FROM (SELECT * UNION ALL SELECT * WHERE customer_id = 'C1')"),
    ("a dropped row", "SELECT * WHERE customer_id <> 'C3'"),
])
def test_any_changed_cell_or_row_changes_it(tmp_path, what, change):
    base = _fingerprint(tmp_path / "base", CUSTOMERS)
    q = change.replace("SELECT * FROM (SELECT * UNION ALL SELECT *", f"SELECT * FROM (SELECT * FROM ({CUSTOMERS}) "
                       f"UNION ALL SELECT * FROM ({CUSTOMERS})")
    if q == change:
        q = f"{change} FROM ({CUSTOMERS})" if "WHERE" not in change else change.replace(
            " WHERE", f" FROM ({CUSTOMERS}) WHERE")
    assert _fingerprint(tmp_path / "changed", q) != base, what
