"""A whole quarterly pack on Spark gives the facts the DuckDB pack gives (issue #17).

The DuckDB pack is the shared payload pack (tests/shared_packs.py: the tiny bank with a script payload in its
labels, at alpha 0.2). Here the same warehouse, exported to Parquet, is built again by the CLI on
``spark:local[2]`` (one local Spark Connect server for the pack, ``crm_lib.data.spark.pack_server``), with the
same parameters, seed and pseudonym key; the two packs' facts must have the same names, the same n and the same
values, intervals and p-values to 1e-9 relative, and their target lists the same pseudonymised customers.
The Spark pack is built ``--facts-only``: every code cell of every notebook runs as under Papermill and records
its facts and lists (tests/test_backfill.py shows they are the full pack's), but no page is rendered, which
never touches the engine; it saves a kernel start and a render per notebook of CI time. The DuckDB pack is full.

Why 1e-9 and not equality: both engines sum floating-point numbers, in different orders (Spark in partitions);
1e-9 is ~10^7 ulps of a double, far below any difference a reviewer could read (figures carry 3-4 significant
digits), and far above the ~1e-13 scatter of reordered sums of thousands of terms.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import ROOT
from shared_packs import PAYLOAD_ALPHA, shared_root

pytestmark = pytest.mark.slow
NUMBERS = ("value", "ci_lower", "ci_upper", "p_value")


def assert_same_facts(duck: list[dict], spark: list[dict], roots: tuple[str, str], rel: float = 1e-9) -> None:
    """Same names, n, numbers to ``rel``, and texts (the packs' own reports folders, ``roots``, read alike)."""
    def text(facts, root):
        return json.loads(json.dumps(facts).replace(json.dumps(str(root))[1:-1], "<reports>"))

    a, b = {f["name"]: f for f in text(duck, roots[0])}, {f["name"]: f for f in text(spark, roots[1])}
    assert sorted(a) == sorted(b), (sorted(set(a) ^ set(b)))
    for name, x in a.items():
        y = b[name]
        assert x["n"] == y["n"], (name, x["n"], y["n"])
        for k in NUMBERS:
            u, v = x[k], y[k]
            if isinstance(u, (int, float)) and isinstance(v, (int, float)) and not isinstance(u, bool):
                assert math.isclose(u, v, rel_tol=rel, abs_tol=1e-12), (name, k, u, v)
            else:
                assert u == v, (name, k, u, v)
        for k in set(x) - set(NUMBERS) - {"n"}:        # unit, definition, uncertainty, level, tags, ...
            assert x[k] == y[k], (name, k, x[k], y[k])


@pytest.fixture(scope="module")
def packs(shared_payload_packs, tmp_path_factory):
    """(DuckDB pack folder, Spark pack folder, the Spark run's outcome)."""
    reports, runs = shared_payload_packs
    assert runs["quarterly"]["returncode"] == 0, runs["quarterly"]["stderr"]
    work = shared_root(tmp_path_factory) / "payload_packs"
    folder = tmp_path_factory.mktemp("spark_pack") / "parquet"
    folder.mkdir()
    con = duckdb.connect(str(work / "warehouse.duckdb"), read_only=True)
    for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
        con.execute(f"COPY {t} TO '{folder / t}.parquet' (FORMAT parquet)")
    con.close()
    spark_reports = folder.parent / "reports"
    env = {**os.environ, "CRM_PARAMETERS_DIR": str(work / "parameters")}
    r = subprocess.run([sys.executable, "-m", "crm_lib.cli", "run", "quarterly", "--facts-only",
                        "--source", f"spark:local[2]?path={folder}", "--set", f"reports_dir={spark_reports}",
                        "--set", f"alpha={PAYLOAD_ALPHA}"],
                       capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)
    return reports / "quarterly" / "2026Q3", spark_reports / "quarterly" / "2026Q3", r


def test_the_quarterly_pack_on_spark_has_the_duckdb_packs_facts(packs):
    duck, spark, r = packs
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    m = json.loads((spark / "manifest.json").read_text())
    assert m["status"] == "ok" and m["data"]["source"].startswith("spark:local[2]?path=") and m["built"] == "facts only"
    assert [n["status"] for n in m["notebooks"]] == ["ok"] * 8
    # the same data, read from a DuckDB file and by Spark from Parquet, has one fingerprint
    assert m["data"]["fingerprint"] == json.loads((duck / "manifest.json").read_text())["data"]["fingerprint"]
    facts = json.loads((spark / "facts.json").read_text())
    assert len(facts) > 100
    assert_same_facts(json.loads((duck / "facts.json").read_text()), facts, (duck.parent.parent, spark.parent.parent))
    # one Spark for the whole pack: the door and all 8 kernels were sessions of one local Connect server
    assert (r.stdout + r.stderr).count("one local Spark Connect server (local[2]) for the pack") == 1


def test_the_target_lists_hold_the_same_pseudonymised_customers(packs):
    duck, spark, _ = packs
    for f in ("next_best_product_2026Q3_contacts.csv", "next_best_product_2026Q3_assignment.parquet"):
        def read(path):
            return pd.read_csv(path, skiprows=1) if f.endswith(".csv") else pd.read_parquet(path)  # line 1: a note

        a, b = read(duck / f), read(spark / f)
        assert len(a) > 0 and list(a.columns) == list(b.columns), f
        assert a["customer_id"].str.fullmatch(r"P[0-9a-f]{15}").all(), a["customer_id"].head()   # pseudonyms
        key = [c for c in ("customer_id", "product") if c in a.columns]
        a, b = a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


def test_the_pack_server_is_gone_after_the_pack(packs):
    _, _, r = packs
    running = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            running.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:       # a process that ended while we looked
            pass
    assert running and not [c for c in running if "crm-workbench pack" in c]    # the server's --name


def test_a_spark_connect_source_reads_a_database_or_a_uri_like_the_folder(tiny_bank, monkeypatch):
    """``sc://host:port?database=...`` (a lakehouse's catalog) and ``sc://host:port?path=<URI>`` (a folder only
    the server lists) read what DuckDB reads (the types, and a per-customer aggregate by pseudonym); a token in
    the source string and a server that does not listen are refused with what to do. The server is a local one
    (``pack_server``) standing in for a cluster."""
    from crm_lib.data.sources import SourceError
    from crm_lib.data.spark import connect_session, pack_server
    from crm_lib.data.privacy import pseudonym_sql
    from crm_lib.data.store import open_source
    from crm_lib.errors import ConfigError
    from test_spark_warehouse import assert_same_frame

    folder = tiny_bank / "parquet"
    monkeypatch.setenv("CRM_PSEUDONYM_KEY", "connect-test-key")
    # what the tables hold, by type and by an aggregate with the pseudonym (computed in the engine): the feature
    # table and every other query of a pack are compared on the pack above, through the same session type
    q = (f"SELECT {pseudonym_sql('c.customer_id', 'connect-test-key')} AS customer_id, count(*) AS n, "
         "sum(amount) AS amount FROM transactions t JOIN customers c ON c.customer_id = t.customer_id "
         "GROUP BY 1 ORDER BY 1")
    with open_source(folder) as duck, pack_server(f"spark:local[2]?path={folder}") as url:
        tables, expected = duck.tables(), duck.sql(q)
        admin = connect_session(url)
        admin.sql("CREATE DATABASE crm")
        for t in tables:
            admin.sql(f"CREATE TABLE crm.{t} USING parquet LOCATION '{folder / t}'")
        admin.stop()
        for form in ("database=crm", f"path=file://{folder}"):     # a catalog's tables; a folder only Spark lists
            with open_source(f"{url}?{form}") as sw:
                assert sw.tables() == tables, form
                for t in tables:
                    assert sw.columns(t) == duck.columns(t), (form, t)
                assert_same_frame(expected, sw.sql(q), form)
        with pytest.raises(ConfigError, match="SPARK_CONNECT_AUTHENTICATE_TOKEN"):
            open_source(f"{url}/;token=secret?database=crm")
        with pytest.raises(SourceError, match="database"):
            open_source(f"{url}?database=crm; DROP TABLE x")
    with pytest.raises(SourceError, match="no Spark Connect server listens at localhost:1 "):
        open_source(f"sc://localhost:1?path={folder}")
