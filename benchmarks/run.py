"""Scale benchmarks for the workbench: measurements, never assertions.

Run by ``make bench`` (``.venv/bin/python benchmarks/run.py``). Every benchmark runs in
its own fresh Python process, so the peak resident memory of that process (``ru_maxrss``
from ``os.wait4`` on the child) belongs to that benchmark alone. Results are merged into
``benchmarks/results.json`` (a dict keyed by benchmark name; entries written by other
benchmarks are kept) and printed as a table. Work files go to ``benchmarks/work/``.

Benchmarks (``--only`` takes these names, comma-separated):

``generate``
    ``crm_lib.data.synthetic.generate`` for each size (default 50k and 1M customers),
    including ``warehouse.duckdb``. Key ``generate_<size>``.
``features``
    ``crm_lib.features.feature_table(wh, AS_OF, key="bench")`` on the DuckDB warehouse,
    against the same features in pandas (``benchmarks/pandas_features.py``) read from the
    same bank's Parquet files, each in its own process, in the same run; the ratio is
    pandas seconds / DuckDB seconds. Default size 1M. Key ``features_<size>``.
``agreement``
    Both feature implementations on the 50k bank: whether the two tables are equal
    (same rows, order, columns, dtypes; floats to 1e-9), mismatches and the largest
    absolute difference per column. Key ``features_agreement_50k``.
``door``
    ``crm_lib.data.schema.validate`` on the work bank (default 1M customers, 97M rows): the
    SQL pre-check that lets a clean table skip the pandera pass, against the pandera pass on
    every table, each in its own process, in the same run; the ratio and whether the two
    reports agree. Key ``door_<size>``.

``clv``
    Transactional CLV (key ``clv_transactional_1m``): BG/NBD + Gamma-Gamma fitted by
    ``crm_lib.clv`` on a 1M-customer summary simulated from the planted parameters (seeded),
    side by side in the same run with lifetimes 0.11.3 on the same summary, run by the
    interpreter in ``$LIFETIMES_PYTHON`` (default ``benchmarks/work/lifetimes-venv/bin/python``;
    a benchmark-only dependency, never in the project's environment); parameters compared and
    the time ratio lifetimes / ours. Relationship CLV (key ``clv_relationship_<size>``):
    ``crm_lib.clv.value_book`` on the work bank (survival model, snapshot, margins, 200 draws),
    time and peak memory.

``scale`` (``make bench-large``; not run by default)
    How the as-of feature table grows with the bank: ``feature_table`` on DuckDB over each size's Parquet
    folder (default 100k, 1M and 10M customers; banks made with ``generate(..., warehouse=False)``, Parquet
    parts only, in bounded memory: one chunk of customers at a time), under a stated DuckDB memory limit
    (``SCALE_MEMORY_LIMIT``) with spill to ``benchmarks/work/spill``: time, peak RSS, the largest spill seen,
    and the growth ratio per 10x. Beside it, at 1M, the same feature table on a local Spark session
    (``spark:local[2]``) and the ratio Spark / DuckDB. Keys ``scale_features_<size>``, ``scale_generate_<size>``,
    ``scale_features_spark_1m`` and ``scale_growth``.

``landmark_scale`` (only when asked; default 10m, the bank of ``make bench-large``)
    The validation's landmark Cox model with the default model-sample cap on the bank's Parquet folder, DuckDB
    under ``SCALE_MEMORY_LIMIT``: wall seconds and peak RSS. Key ``landmark_scale_<size>``.

``driver_frames`` (only when asked; default 10m, the bank of ``make bench-large``)
    What the churn and CLV notebooks hold on the driver, one row per customer: the survival frame and the scoring
    snapshot (features as of the period end) on the bank's Parquet folder, each in a process of its own, DuckDB
    under the limit a pack's kernel gets (``duckdb_memory_limit: auto`` with ``parallel: 2``): rows, seconds, the
    memory it adds while held, the process's peak; stopped past ``DRIVER_CEILING_MB``. Key
    ``driver_frames_<size>``.

``pack_large`` (only when asked; default 10m, the Parquet bank of ``make bench-large``)
    The quarterly pack with ``LARGE_PACK_SETTINGS`` (one notebook at a time, each kernel's DuckDB at 4 GB):
    wall, each notebook's seconds and peak memory (``peak_memory_mb``), the facts. Key ``pack_large_<size>``.

``pack_engines``
    The quarterly pack of one bank's Parquet folder (default 100k customers) on DuckDB and on
    ``spark:local[2]`` (one local Spark Connect server for the pack), back to back: wall, CPU, memory, the
    ratio Spark / DuckDB, and whether the two packs' facts agree (names, n, largest relative difference).
    Key ``pack_engines_<size>``.

``model_sample``
    The 20_churn cohort Cox model on a proportional stratified sample of 100,000 customers (10 % of the 1M
    bank's customers: the share the default cap, ``churn.model_sample_customers`` = 1M, keeps of a 10M bank) and
    on every customer, both scoring every customer: whether the sample fit agrees with the full fit (each
    hazard ratio's z of the nested difference, the full HR inside the sample's interval), the SE ratio against
    sqrt(1 / rate), the agreement of the 12-month churn scores (Spearman, top-5 % overlap, C-index on everyone),
    and the frame and fit times. Then the validation's landmark model (4 landmarks) on the same cap and on
    everyone, each in a fresh process: the same agreement, the C-index on every customer of the test cohort,
    and the time and peak memory of each (the sample's features are computed in DuckDB for its customers
    alone). Key ``model_sample_<size>``.

``marketing``
    ``crm_lib.marketing.report.run_period`` on the work bank (key ``marketing_<size>``): three
    feature tables, the adoption models per product, scoring every customer x product, the
    next-best product with reasons and the target lists; time per step and peak memory.

Usage::

    .venv/bin/python benchmarks/run.py                      # everything (takes minutes)
    .venv/bin/python benchmarks/run.py --quick              # 50k sizes only (smoke)
    .venv/bin/python benchmarks/run.py --only features --sizes 1m
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
RESULTS = HERE / "results.json"
END_DATE = "2026-09-30"
AS_OF = "2025-12-31"
KEY = "bench"
SEED = 20_261
DEFAULT_SIZES = {"generate": ["50k", "1m"], "features": ["1m"], "pack": ["50k"], "door": ["1m"], "segmentation": ["1m"],
                 "churn": ["1m"], "model_sample": ["1m"], "satisfaction": ["1m"], "clv": ["1m"], "marketing": ["1m"], "pack_engines": ["100k"]}
LIFETIMES_PYTHON = os.environ.get("LIFETIMES_PYTHON", str(WORK / "lifetimes-venv" / "bin" / "python"))
QUICK_SIZES = ["50k"]
AGREEMENT_SIZE = "50k"
TARGETS = {"generate_1m": "under 120 s wall and 4096 MB peak RSS",
           "features": "DuckDB at least 5x faster than pandas (end to end)"}


# --------------------------------------------------------------------------- sizes

def parse_size(s: str) -> int:
    s = str(s).strip().lower().replace("_", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(s[-1:], 1)
    return int(float(s[:-1] if mult > 1 else s) * mult)


def label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def bank_dir(n: int) -> Path:
    return WORK / f"bank_{label(n)}"


def bank_is_current(n: int, parquet_only: bool = False) -> bool:
    """The work bank of ``n`` customers exists and was made with this seed, end date and generator
    (with its DuckDB warehouse, unless ``parquet_only``: then its Parquet parts are enough)."""
    meta = bank_dir(n) / "metadata.json"
    if not meta.exists() or not (parquet_only or (bank_dir(n) / "warehouse.duckdb").exists()):
        return False
    m = json.loads(meta.read_text())
    from crm_lib.data.synthetic import GENERATOR_VERSION

    return ((m.get("n_customers"), m.get("end_date"), m.get("seed"), m.get("generator_version"))
            == (n, END_DATE, SEED, GENERATOR_VERSION))


# --------------------------------------------------------------------------- context

def machine() -> dict:
    import duckdb
    import numpy
    import pandas
    import pyarrow

    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cores": os.cpu_count(), "ram_gb": round(ram / 2**30, 1), "python": platform.python_version(),
            "platform": platform.platform(), "duckdb": duckdb.__version__, "pandas": pandas.__version__,
            "pyarrow": pyarrow.__version__, "numpy": numpy.__version__}


def git_commit() -> dict:
    def git(*a):
        r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


# --------------------------------------------------------------------------- children

def run_child(args: list[str]) -> dict:
    """Run ``run.py --child ...`` in a fresh process; its JSON result plus its own rusage.

    The child prints one JSON object on its last stdout line. The parent reaps it with
    ``os.wait4``, which gives that child's own resource usage: peak RSS (``ru_maxrss``,
    KiB on Linux) and user and system CPU seconds.
    """
    import tempfile

    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    load = os.getloadavg()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, text=True)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    res: dict = {}
    lines = [ln for ln in stdout.strip().splitlines() if ln.startswith("{")]
    if lines:
        res = json.loads(lines[-1])
    if code != 0 or not lines:
        res["error"] = (stderr.strip().splitlines() or [f"exit code {code}"])[-1][:500]
    res["process_seconds"] = round(wall, 2)
    res["peak_rss_mb"] = round(ru.ru_maxrss / 1024, 1)
    res["cpu_user_seconds"] = round(ru.ru_utime, 2)
    res["cpu_system_seconds"] = round(ru.ru_stime, 2)
    res["loadavg_1m_before"] = round(load[0], 2)
    return res


def child(argv: list[str]) -> None:
    """Inside the fresh process: run one measurement and print its JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("what")
    p.add_argument("--customers", type=int)
    p.add_argument("--out")
    p.add_argument("--parquet-only", action="store_true")
    p.add_argument("--frame", choices=DRIVER_FRAMES)
    a = p.parse_args(argv)
    os.environ.setdefault("CRM_PSEUDONYM_KEY", KEY)
    sys.path.insert(0, str(HERE))
    res: dict
    if a.what == "generate":
        from crm_lib.data.synthetic import generate

        t0 = time.perf_counter()
        meta = generate(a.out, a.customers, seed=SEED, end_date=END_DATE, force=True, warehouse=not a.parquet_only)
        res = {"wall_seconds": round(time.perf_counter() - t0, 2), "rows": meta["rows"],
               "rows_total": sum(meta["rows"].values())}
    elif a.what == "features_duckdb":
        from crm_lib.data.store import open_source
        from crm_lib.features import feature_table

        t0 = time.perf_counter()
        wh = open_source(Path(a.out) / "warehouse.duckdb")
        t1 = time.perf_counter()
        df = feature_table(wh, AS_OF, key=KEY)
        t2 = time.perf_counter()
        wh.close()
        res = {"wall_seconds": round(t2 - t0, 2), "open_seconds": round(t1 - t0, 3),
               "query_seconds": round(t2 - t1, 2), "rows": len(df), "columns": df.shape[1]}
    elif a.what == "features_scale":
        res = _features_scale(Path(a.out))
    elif a.what in ("allocator_purge", "allocator_keep"):
        res = _allocator(Path(a.out), purge=a.what == "allocator_purge")
    elif a.what == "fingerprint":
        res = _fingerprint(Path(a.out))
    elif a.what == "features_spark":
        from crm_lib.data.store import open_source
        from crm_lib.features import feature_table

        t0 = time.perf_counter()
        wh = open_source(f"spark:local[2]?path={Path(a.out) / 'parquet'}")
        t1 = time.perf_counter()
        df = feature_table(wh, AS_OF, key=KEY)
        t2 = time.perf_counter()
        res = {"wall_seconds": round(t2 - t0, 2), "open_seconds": round(t1 - t0, 2),
               "query_seconds": round(t2 - t1, 2), "rows": len(df), "columns": df.shape[1],
               "spark_driver_memory": wh.spark.conf.get("spark.driver.memory")}
        wh.close()
    elif a.what in ("door_precheck", "door_pandera"):
        from crm_lib.data.schema import validate
        from crm_lib.data.store import open_source

        t0 = time.perf_counter()
        with open_source(Path(a.out) / "warehouse.duckdb") as wh:
            report = validate(wh, today=END_DATE, precheck=a.what == "door_precheck")
        res = {"wall_seconds": round(time.perf_counter() - t0, 2), "errors": len(report.errors),
               "warnings": len(report.warnings), "rows_checked": sum(report.rows.values())}
    elif a.what == "features_pandas":
        from pandas_features import pandas_features

        t0 = time.perf_counter()
        df, timing = pandas_features(a.out, AS_OF, KEY)
        res = {"wall_seconds": round(time.perf_counter() - t0, 2), **timing, "rows": len(df),
               "columns": df.shape[1]}
    elif a.what == "features_plain":
        from pandas_plain import plain_features

        t0 = time.perf_counter()
        df, timing = plain_features(a.out, AS_OF, KEY)
        res = {"wall_seconds": round(time.perf_counter() - t0, 2), **timing, "rows": len(df),
               "columns": df.shape[1]}
    elif a.what == "agreement":
        res = agreement(Path(a.out))
    elif a.what == "segmentation":
        from crm_lib import config
        from crm_lib.data.store import open_source
        from crm_lib.features import feature_table
        from crm_lib.segmentation import segment_customers

        with open_source(Path(a.out) / "warehouse.duckdb") as wh:
            f = feature_table(wh, END_DATE, key=KEY)          # features already built: not timed
        f = f[f["is_active"]].reset_index(drop=True)
        t0 = time.perf_counter()
        r = segment_customers(f, config.resolve("quarterly").as_dict(), as_of=END_DATE)
        res = {"wall_seconds": round(time.perf_counter() - t0, 2), "rows": len(f),
               "steps_seconds": {k: round(v, 2) for k, v in (getattr(r, "timings", {}) or {}).items()}}
    elif a.what == "satisfaction":
        import pandas as pd

        from crm_lib.data.store import open_source
        from crm_lib.features import feature_table
        from crm_lib.satisfaction.complaints import ResolutionTime, complaint_volumes, sla_compliance
        from crm_lib.satisfaction.drivers import KeyDriverAnalysis
        from crm_lib.satisfaction.load import complaint_frame, survey_frame
        from crm_lib.satisfaction.scores import score_table

        sla = {"low": 5, "medium": 15, "high": 30}
        with open_source(Path(a.out) / "warehouse.duckdb") as wh:
            f = feature_table(wh, END_DATE, key=KEY)
            t0 = time.perf_counter()
            sv, _ = survey_frame(wh, "2020-10-01", END_DATE, features=f, key=KEY)
            cm, _ = complaint_frame(wh, "2020-10-01", END_DATE, features=f, key=KEY)
            t_load = time.perf_counter() - t0
        # scale to the 5M responses and 500k complaints by replicating rows (not timed)
        k = max(1, -(-5_000_000 // len(sv)))
        sv = pd.concat([sv.assign(response_id=sv["response_id"] + f"-{i}") for i in range(k)], ignore_index=True)
        sv = sv.head(5_000_000)
        kc = max(1, -(-500_000 // len(cm)))
        cm = pd.concat([cm.assign(complaint_id=cm["complaint_id"] + f"-{i}") for i in range(kc)], ignore_index=True)
        cm = cm.head(500_000)
        steps = {}
        t0 = time.perf_counter()
        score_table(sv, by="tier")
        steps["score_table_by_tier"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        KeyDriverAnalysis(n_boot=200).fit(sv)
        steps["key_drivers_200_boot"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        ResolutionTime().fit(cm, END_DATE)
        steps["resolution_km"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        sla_compliance(cm, sla, "2025-10-01", END_DATE, as_of=END_DATE)
        complaint_volumes(cm, f, by="category")
        steps["sla_and_volumes"] = time.perf_counter() - t3
        res = {"wall_seconds": round(time.perf_counter() - t0, 2), "load_seconds_before_scaling": round(t_load, 2),
               "responses": len(sv), "complaints": len(cm), "customers": len(f),
               "steps_seconds": {k2: round(v, 2) for k2, v in steps.items()}}
    elif a.what == "churn":
        from crm_lib.churn import ChurnCox, score
        from crm_lib.churn.frame import cohort_frame
        from crm_lib.data.store import open_source

        with open_source(Path(a.out) / "warehouse.duckdb") as wh:
            t0 = time.perf_counter()
            frame = cohort_frame(wh, "2025-09-30", horizon_months=12, key=KEY)
            t1 = time.perf_counter()
        model = ChurnCox().fit(frame)
        t2 = time.perf_counter()
        scored = score(model, frame, 6)
        t3 = time.perf_counter()
        res = {"wall_seconds": round(t3 - t1, 2), "frame_seconds": round(t1 - t0, 2), "fit_seconds": round(t2 - t1, 2),
               "score_seconds": round(t3 - t2, 2), "rows": len(frame), "events": int(frame["event"].sum()),
               "engine": model.engine_, "scored": len(scored)}
    elif a.what == "model_sample":
        res = _model_sample(Path(a.out))
    elif a.what == "landmark_sample":
        res = _landmark_sample(Path(a.out), a.customers or None)
    elif a.what == "landmark_scale":
        res = _landmark_scale(Path(a.out))
    elif a.what == "driver_frames":
        res = _driver_frames(Path(a.out), a.frame)
    elif a.what == "clv_transactional":
        res = _clv_transactional(a.customers)
    elif a.what == "clv_relationship":
        from crm_lib import config
        from crm_lib.churn import ChurnSettings
        from crm_lib.clv import value_book
        from crm_lib.data.store import open_source

        s = ChurnSettings.from_params(config.resolve("quarterly").as_dict())
        with open_source(Path(a.out) / "warehouse.duckdb") as wh:
            t0 = time.perf_counter()
            r = value_book(wh, END_DATE, s, key=KEY)
            t1 = time.perf_counter()
        res = {"wall_seconds": round(t1 - t0, 2), "rows": len(r.customers), "draws": r.n_draws,
               "total_clv": float(r.customers["clv"].sum()), "steps_seconds": r.timings}
    elif a.what == "marketing":
        from crm_lib.data.store import open_source
        from crm_lib.marketing import load_rules
        from crm_lib.marketing.report import run_period

        with open_source(Path(a.out) / "warehouse.duckdb") as wh:
            t0 = time.perf_counter()
            r = run_period(wh, END_DATE, load_rules(), seed=SEED, key=KEY, period="2026Q3")
            t1 = time.perf_counter()
        res = {"wall_seconds": round(t1 - t0, 2), "steps_seconds": r.timings, "rows": len(r.scoring.X),
               "products_modelled": len(r.model.models_), "customers_with_a_product": len(r.nbp.best),
               "list": r.target.manifest["n_list"], "control": r.target.manifest["n_control"]}
    else:
        raise SystemExit(f"unknown child benchmark {a.what!r}")
    print(json.dumps(res, default=str))


SCALE_MEMORY_LIMIT = "10GB"     # DuckDB's limit for the scale benchmark: the 16 GB target, less the result frames in Python
SCALE_SIZES = ["100k", "1m", "10m"]


@contextlib.contextmanager
def _largest_size(folders, every: float = 0.2):
    """While the block runs, sum the sizes of the files under ``folders()`` every ``every`` seconds; yields a
    one-item list that holds the largest sum seen (bytes) when the block ends. Files that go while they are
    counted (DuckDB drops its spill files as it goes) are skipped."""
    import threading

    peak = [0]
    done = threading.Event()

    def size() -> int:
        total = 0
        for folder in folders():
            for f in Path(folder).rglob("*"):
                try:
                    total += f.stat().st_size if f.is_file() else 0
                except OSError:
                    pass
        return total

    def watch():
        while not done.wait(every):
            peak[0] = max(peak[0], size())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield peak
    finally:
        done.set()
        watcher.join()


def _features_scale(bank: Path) -> dict:
    """``feature_table`` on DuckDB over ``bank``'s Parquet folder under ``SCALE_MEMORY_LIMIT``, spilling to
    ``WORK/spill``; the spill folder's size is sampled every 0.2 s (its largest size is the spill)."""
    import shutil

    from crm_lib.data.store import open_source
    from crm_lib.features import feature_table

    spill = WORK / "spill"
    shutil.rmtree(spill, ignore_errors=True)
    spill.mkdir(parents=True)
    t0 = time.perf_counter()
    wh = open_source(bank / "parquet")
    wh.con.execute(f"SET memory_limit = '{SCALE_MEMORY_LIMIT}'")
    wh.con.execute(f"SET temp_directory = '{spill}'")
    t1 = time.perf_counter()
    with _largest_size(lambda: [spill]) as peak:
        df = feature_table(wh, AS_OF, key=KEY)
    t2 = time.perf_counter()
    wh.close()
    shutil.rmtree(spill, ignore_errors=True)
    return {"wall_seconds": round(t2 - t0, 2), "open_seconds": round(t1 - t0, 3), "query_seconds": round(t2 - t1, 2),
            "rows": len(df), "columns": df.shape[1], "spill_peak_mb": round(peak[0] / 2**20, 1),
            "duckdb_memory_limit": SCALE_MEMORY_LIMIT}


def _rss_mb() -> float:
    """This process's resident memory now, MB."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _allocator(bank: Path, purge: bool) -> dict:
    """The feature table of ``bank``'s Parquet folder under DuckDB's 4 GB (the large pack's per-kernel limit), with
    DuckDB's allocator purging freed pages in the background (as ``Warehouse`` sets it) or keeping them (DuckDB's
    default): the process's resident memory after the query, and 3 s later, against the frame it holds."""
    from crm_lib.data.store import open_source
    from crm_lib.features import feature_table

    wh = open_source(bank / "parquet", memory_limit="4GB")
    if not purge:
        wh.con.execute("SET allocator_background_threads = false")
    t0 = time.perf_counter()
    df = feature_table(wh, AS_OF, key=KEY)
    secs = time.perf_counter() - t0
    after = round(_rss_mb(), 1)
    time.sleep(3)
    return {"wall_seconds": round(secs, 2), "rows": len(df), "rss_after_query_mb": after,
            "rss_3s_later_mb": round(_rss_mb(), 1), "frame_mb": round(df.memory_usage(deep=False).sum() / 2**20, 1),
            "allocator_background_threads": purge}


def bench_allocator(n: int) -> dict:
    """Resident memory after the feature table with DuckDB's background purging (the workbench's setting) against
    DuckDB's default, each in a fresh process, same run."""
    ensure_bank(n)
    on = run_child(["allocator_purge", "--out", str(bank_dir(n))])
    off = run_child(["allocator_keep", "--out", str(bank_dir(n))])
    ratio = (round(off["rss_after_query_mb"] / on["rss_after_query_mb"], 2)
             if "rss_after_query_mb" in on and "rss_after_query_mb" in off else None)
    return {**on, "benchmark": "allocator", "customers": n, "duckdb_default": off,
            "rss_after_query_ratio_default_to_purge": ratio,
            "what": "feature_table on the Parquet folder: resident memory after the query with DuckDB's allocator "
                    "purging in the background (Warehouse's setting) against DuckDB's default (pages kept)"}


def _fingerprint(bank: Path) -> dict:
    """The source fingerprint of ``bank``'s Parquet folder under DuckDB's 4 GB (a large pack's per-kernel limit):
    the workbench's (MD5 of each row's engine-neutral text, ``Warehouse.fingerprint``) against DuckDB's own row
    hash (``sum(hash(t))``, what it was before, different on Spark), per table, the same process."""
    from crm_lib.data.store import _q, open_source

    wh = open_source(bank / "parquet", memory_limit="4GB")
    tables = wh.tables()
    rows = {t: wh.con.execute(f"SELECT count(*) FROM {_q(t)}").fetchall()[0][0] for t in tables}
    t0 = time.perf_counter()
    fp = wh.fingerprint()
    neutral = time.perf_counter() - t0
    own = {}
    for t in tables:
        t1 = time.perf_counter()
        wh.con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {_q(t)} t").fetchall()
        own[t] = round(time.perf_counter() - t1, 2)
    wh.close()
    return {"wall_seconds": round(neutral, 2), "fingerprint": fp, "rows": rows, "rows_total": sum(rows.values()),
            "duckdb_row_hash_seconds": round(sum(own.values()), 2), "duckdb_row_hash_seconds_by_table": own,
            "ratio_to_duckdb_row_hash": round(neutral / max(sum(own.values()), 1e-9), 2)}


def bench_fingerprint(n: int) -> dict:
    """The source fingerprint a pack records, against DuckDB's own row hash, on the bank's Parquet folder."""
    ensure_bank(n, parquet_only=True)
    res = run_child(["fingerprint", "--out", str(bank_dir(n))])
    res.update({"benchmark": "fingerprint", "customers": n,
                "what": "Warehouse.fingerprint (MD5 of each row's engine-neutral text, summed; the same on Spark) "
                        "on the Parquet folder, DuckDB at 4GB, against sum(hash(row)) (DuckDB's own row hash)"})
    return res


def bench_scale(sizes: list[int]) -> dict:
    """The scale benchmark (see the module docstring): one entry per size, the Spark side at 1M, the growth."""
    out: dict = {}
    for n in sizes:
        try:
            g = ensure_bank(n, parquet_only=True)
        except RuntimeError as e:
            out[f"scale_generate_{label(n)}"] = {"error": str(e)}
            continue
        if g is not None:
            g.update({"benchmark": "generate", "customers": n, "warehouse": False,
                      "what": "generate(out, n, warehouse=False): Parquet parts only, one chunk of customers at a time"})
            out[f"scale_generate_{label(n)}"] = g
        r = run_child(["features_scale", "--out", str(bank_dir(n))])
        meta = json.loads((bank_dir(n) / "metadata.json").read_text())
        r.update({"benchmark": "scale_features", "customers": n, "as_of": AS_OF, "source_rows": meta["rows"],
                  "source_rows_total": sum(meta["rows"].values()),
                  "what": "feature_table(open_source(<bank>/parquet), AS_OF) on DuckDB under memory_limit "
                          f"{SCALE_MEMORY_LIMIT}, spilling to benchmarks/work/spill; a fresh process"})
        out[f"scale_features_{label(n)}"] = r
        print(f"  features {label(n)}: {r.get('wall_seconds')} s, {r.get('peak_rss_mb')} MB", flush=True)
    if 1_000_000 in sizes and "error" not in out.get("scale_features_1m", {"error": 1}):
        sp = run_child(["features_spark", "--out", str(bank_dir(1_000_000))])
        duck = out["scale_features_1m"]
        sp.update({"benchmark": "scale_features_spark", "customers": 1_000_000, "as_of": AS_OF,
                   "what": "the same feature table on spark:local[2] over the same Parquet folder, a fresh process "
                           "(peak RSS is the Python driver's; the JVM runs with spark.driver.memory)",
                   "duckdb_wall_seconds": duck["wall_seconds"]})
        if "error" not in sp:
            sp["ratio_spark_over_duckdb"] = round(sp["wall_seconds"] / duck["wall_seconds"], 2)
        out["scale_features_spark_1m"] = sp
    walls = {n: out[f"scale_features_{label(n)}"]["wall_seconds"] for n in sizes
             if "error" not in out.get(f"scale_features_{label(n)}", {"error": 1})}
    ordered = sorted(walls)
    growth = {f"{label(a)}->{label(b)}": round(walls[b] / walls[a], 2) for a, b in zip(ordered, ordered[1:])}
    out["scale_growth"] = {"benchmark": "scale_growth", "feature_table_wall_seconds": {label(n): walls[n] for n in ordered},
                           "ratio_per_step": growth,
                           "peak_rss_mb": {label(n): out[f"scale_features_{label(n)}"]["peak_rss_mb"] for n in ordered},
                           "target": "near-linear growth (10x per 10x customers or less); peak memory under 16 GB "
                                     "at 10M"}
    return out


MODEL_SAMPLE_CAP = 100_000   # 10 % of the 1M bank's customers: the share the default cap (1M) keeps of a 10M bank


def _model_sample(bank: Path) -> dict:
    """The 20_churn cohort Cox model fitted on a stratified sample of ``MODEL_SAMPLE_CAP`` customers and on every
    customer of the same bank, both scored on every customer: estimates, intervals, scores and their costs."""
    import resource

    import numpy as np
    from scipy import stats

    from crm_lib.churn import EXPLANATORY, ChurnCox, ChurnSettings
    from crm_lib.churn.frame import cohort_frame, observation_start
    from crm_lib.churn.metrics import concordance
    from crm_lib.data.sample import stratified_customer_sample
    from crm_lib.data.store import open_source

    s = ChurnSettings()
    out: dict = {"cap": MODEL_SAMPLE_CAP}
    fits = {}
    with open_source(bank / "warehouse.duckdb") as wh:
        start = observation_start(wh, s.window_days)
        for name, cap in (("sample", MODEL_SAMPLE_CAP), ("full", None)):   # the sample first: its peak RSS is its own
            t0 = time.perf_counter()
            frame = cohort_frame(wh, start, END_DATE, key=KEY, sample=cap)
            t1 = time.perf_counter()
            model = ChurnCox(covariates=EXPLANATORY, alpha=s.alpha).fit(frame, table="cohort frame")
            t2 = time.perf_counter()
            fits[name] = model
            out[name] = {"frame_seconds": round(t1 - t0, 2), "fit_seconds": round(t2 - t1, 2),
                         "customers": len(frame), "events": int(frame["event"].sum()),
                         "peak_rss_mb_so_far": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
            if name == "sample":
                out["sample"]["note"] = model.notes_[0]
                shares = frame["customer_type"].value_counts(normalize=True)
            else:
                out["full"]["customer_type_share"] = frame["customer_type"].value_counts(normalize=True).round(5).to_dict()
                out["sample"]["customer_type_share"] = shares.round(5).to_dict()
    full = fits["full"].summary_
    rate = out["sample"]["customers"] / out["full"]["customers"]
    # both models score every customer of the full cohort (the loop's last frame; vectorised): 12-month churn
    # probability and its ranks
    t0 = time.perf_counter()
    p_full = fits["full"].predict_churn_probability(frame, 1.0).to_numpy()
    t1 = time.perf_counter()
    p_samp = fits["sample"].predict_churn_probability(frame, 1.0).to_numpy()
    T, E = frame["time_since_start"].to_numpy(float), frame["event"].to_numpy(int)
    top = int(0.05 * len(frame))
    top_full, top_samp = set(np.argsort(-p_full)[:top]), set(np.argsort(-p_samp)[:top])
    out.update({
        **_nested_agreement(full, fits["sample"].summary_), "sample_rate": round(rate, 4),
        "se_ratio_expected": round(float(np.sqrt(1 / rate)), 3),
        "scores_spearman": round(float(stats.spearmanr(p_full, p_samp).statistic), 5),
        "scores_max_abs_difference": round(float(np.abs(p_full - p_samp).max()), 5),
        "top_5pct_overlap": round(len(top_full & top_samp) / top, 4),
        "c_index_on_everyone": {"full": round(float(concordance(T, E, p_full)), 4),
                                "sample": round(float(concordance(T, E, p_samp)), 4)},
        "score_seconds_per_model": round(t1 - t0, 2),
        "fit_speedup": round(out["full"]["fit_seconds"] / max(out["sample"]["fit_seconds"], 1e-9), 2),
    })
    # One sample is one draw. Other pseudonym keys draw other samples: emulated by re-keying the pseudonyms
    # (a salted hash orders customers as another key would), 20 draws; the z of the nested differences should
    # be N(0, 1), and the full HR inside the sample's interval P(|Z| < z_a / sqrt(1 - rate)) of the time.
    import hashlib

    zs, inside_n = [], 0
    for r in range(20):
        salt = f"replicate-{r}-".encode()
        rekeyed = frame.assign(customer_id=[hashlib.sha256(salt + c.encode()).hexdigest()[:15]
                                            for c in frame["customer_id"]])
        sub, _ = stratified_customer_sample(rekeyed, MODEL_SAMPLE_CAP)
        m = ChurnCox(covariates=EXPLANATORY, alpha=s.alpha).fit(sub, table="cohort frame")
        z, inside = _nested_z(full, m.summary_)
        zs += list(z)
        inside_n += int(inside.sum())
    zs = np.asarray(zs)
    out["replicates"] = {"draws": 20, "z_values": len(zs), "z_mean": round(float(zs.mean()), 3),
                         "z_sd": round(float(zs.std(ddof=1)), 3), "abs_z_over_3": int((np.abs(zs) > 3).sum()),
                         "full_hr_inside_sample_ci": round(inside_n / len(zs), 3),
                         "expected_inside": round(float(2 * stats.norm.cdf(stats.norm.ppf(1 - s.alpha / 2)
                                                                           / np.sqrt(1 - rate)) - 1), 3)}
    return out


def _landmark_sample(bank: Path, cap: int | None) -> dict:
    """The validation's landmark Cox model (12-month horizon, 4 landmarks before the test window) fitted on a
    stratified sample of ``cap`` customers (``None``: every customer), then scored on every customer of the test
    cohort: its hazard ratios, the C-index there, and the time of the frame (features computed in DuckDB for the
    sampled customers alone) and of the fit."""
    import resource

    import pandas as pd

    from crm_lib.churn import ChurnSettings
    from crm_lib.churn.frame import add_months, cohort_frame
    from crm_lib.churn.metrics import concordance
    from crm_lib.churn.validation import fit_landmark_model
    from crm_lib.data.store import open_source

    s = ChurnSettings(model_sample_customers=cap)
    end = pd.Timestamp(END_DATE)
    test_start = add_months(end, -12)
    with open_source(bank / "warehouse.duckdb") as wh:
        t0 = time.perf_counter()
        model, train = fit_landmark_model(wh, add_months(test_start, -12), 12, s, key=KEY)
        t1 = time.perf_counter()
        rss_fit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        test = cohort_frame(wh, test_start, end=end, key=KEY)
    p = model.predict_churn_probability(test, 1.0).to_numpy()
    T, E = test["time_since_start"].to_numpy(float), test["event"].to_numpy(int)
    return {"cap": cap, "fit_with_frame_seconds": round(t1 - t0, 2), "peak_rss_mb_at_fit": round(rss_fit, 1),
            "rows": len(train),
            "customers": int(train["customer_id"].nunique()), "events": int(train["event"].sum()),
            "note": model.notes_[0] if cap else "", "test_customers": len(test),
            "c_index_test": round(float(concordance(T, E, p)), 4),
            "summary": {c: {k: float(model.summary_.at[c, k]) for k in ("coef", "se", "hr", "hr_lower", "hr_upper")}
                        for c in model.summary_.index}}


def _landmark_scale(bank: Path) -> dict:
    """The validation's landmark Cox model (4 landmarks, 12-month horizon) with the default cap
    (``churn.model_sample_customers``) on ``bank``'s Parquet folder, DuckDB under ``SCALE_MEMORY_LIMIT``: the
    outcomes of every customer, the sample drawn, its features computed for it alone, the cluster-robust fit."""
    import resource
    import shutil

    import pandas as pd

    from crm_lib.churn import ChurnSettings
    from crm_lib.churn.frame import add_months
    from crm_lib.churn.validation import fit_landmark_model
    from crm_lib.data.store import open_source

    spill = WORK / "spill"
    shutil.rmtree(spill, ignore_errors=True)
    spill.mkdir(parents=True)
    s = ChurnSettings()
    t0 = time.perf_counter()
    wh = open_source(bank / "parquet")
    wh.con.execute(f"SET memory_limit = '{SCALE_MEMORY_LIMIT}'")
    wh.con.execute(f"SET temp_directory = '{spill}'")
    model, train = fit_landmark_model(wh, add_months(add_months(pd.Timestamp(END_DATE), -12), -12), 12, s, key=KEY)
    t1 = time.perf_counter()
    wh.close()
    shutil.rmtree(spill, ignore_errors=True)
    return {"wall_seconds": round(t1 - t0, 2), "cap": s.model_sample, "rows": len(train),
            "customers": int(train["customer_id"].nunique()), "events": int(train["event"].sum()),
            "note": model.notes_[0] if model.notes_ else "", "engine": model.engine_,
            "duckdb_memory_limit": SCALE_MEMORY_LIMIT,
            "peak_rss_mb_in_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


DRIVER_CEILING_MB = 20_000     # driver_frames stops a frame past this (the machine has 24 GB; the target is 16)
# the survival frame; the scoring snapshot in one query (every column of every customer, as the list and CLV built
# it before); and as the early-warning list and the CLV book build it now (parts of SCORE_CHUNK, cut to their columns)
DRIVER_FRAMES = ("survival_frame", "snapshot", "warning_snapshot", "clv_snapshot")


def _driver_frames(bank: Path, which: str) -> dict:
    """The survival frame (20_churn) or the scoring snapshot (early warning, CLV) of ``bank``'s Parquet folder as a
    notebook kernel of a ``parallel: 2`` pack builds it (DuckDB under ``duckdb_memory_limit: auto``): rows,
    seconds, the resident memory it adds while held (the process's peak is ``run_child``'s ``peak_rss_mb``). A
    frame whose process passes ``DRIVER_CEILING_MB`` is stopped there (before the OOM killer would), and says when."""
    import gc
    import threading

    import pandas as pd

    from crm_lib.churn import covariates as cv
    from crm_lib.churn.frame import SCORE_CHUNK, snapshot, survival_frame
    from crm_lib.churn.warning import scored_columns
    from crm_lib.clv.book import valued_columns
    from crm_lib.data.store import open_source, resolve_memory_limit

    limit = resolve_memory_limit("auto", 2)
    out = {"frame": which, "duckdb_memory_limit": limit, "ceiling_mb": DRIVER_CEILING_MB}
    t0 = time.perf_counter()

    def watch():
        while True:
            if _rss_mb() > DRIVER_CEILING_MB:
                out.update({"stopped_after_seconds": round(time.perf_counter() - t0, 1)})
                print(json.dumps(out), flush=True)
                print(f"stopped: the process passed {DRIVER_CEILING_MB:,} MB after "
                      f"{out['stopped_after_seconds']} s", file=sys.stderr, flush=True)
                os._exit(3)
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()
    end = pd.Timestamp(END_DATE)
    build = {"survival_frame": survival_frame,
             "snapshot": snapshot,          # every customer's ~70 columns in one query: what the list and CLV built
             "warning_snapshot": lambda wh, end, key: snapshot(wh, end, key=key, chunk_customers=SCORE_CHUNK,
                                                               reduce=scored_columns(cv.DYNAMIC)),
             "clv_snapshot": lambda wh, end, key: snapshot(wh, end, key=key, chunk_customers=SCORE_CHUNK,
                                                           reduce=valued_columns(cv.EXPLANATORY, end))}[which]
    with open_source(bank / "parquet", memory_limit=limit) as wh:
        gc.collect()
        r0 = _rss_mb()
        t0 = time.perf_counter()
        f = build(wh, end, key=KEY)
        secs = time.perf_counter() - t0
        gc.collect()
        out.update({"rows": len(f), "columns": f.shape[1], "seconds": round(secs, 1),
                    "held_mb": round(_rss_mb() - r0, 1)})
    return out


def _nested_z(full, samp):
    """Per covariate of two Cox summaries (``coef``, ``se``, ``hr``, ``hr_lower``, ``hr_upper``), the sample's nested
    in the full data's: the z of their difference (Var(b_sample - b_full) ~ se_sample^2 - se_full^2) and whether
    the full hazard ratio lies inside the sample's interval."""
    import numpy as np

    common = full.index.intersection(samp.index)
    f, sm = full.loc[common], samp.loc[common]
    z = (sm["coef"] - f["coef"]) / np.sqrt(np.clip(sm["se"] ** 2 - f["se"] ** 2, 1e-300, None))
    return z, (f["hr"] >= sm["hr_lower"]) & (f["hr"] <= sm["hr_upper"])


def _nested_agreement(full, samp) -> dict:
    """Per covariate: HRs, the sample's interval, SE ratio and the z of the nested difference; and the summary."""
    import numpy as np

    z, inside = _nested_z(full, samp)
    f, sm = full.loc[z.index], samp.loc[z.index]
    per = {c: {"hr_full": round(float(f.at[c, "hr"]), 5), "hr_sample": round(float(sm.at[c, "hr"]), 5),
               "sample_ci": [round(float(sm.at[c, "hr_lower"]), 5), round(float(sm.at[c, "hr_upper"]), 5)],
               "se_ratio": round(float(sm.at[c, "se"] / f.at[c, "se"]), 3), "z_difference": round(float(z[c]), 2)}
           for c in z.index}
    return {"covariates": per, "max_abs_z_difference": round(float(z.abs().max()), 2),
            "se_ratio_median": round(float(np.median(sm["se"] / f["se"])), 3),
            "full_hr_inside_sample_ci": f"{int(inside.sum())} of {len(per)}"}


def simulate_bgnbd(n: int, seed: int = SEED) -> dict:
    """A BG/NBD + Gamma-Gamma summary of ``n`` customers drawn from the synthetic bank's planted
    parameters (``personas.TransactionalTruth``), vectorised: first purchase at 0, T ~ U(26, 104) weeks,
    recency and T in whole days / 7 and spend in cents, as summaries of real logs are."""
    import numpy as np

    from crm_lib.data.personas import TransactionalTruth

    tt = TransactionalTruth()
    rng = np.random.default_rng(seed)
    T = rng.integers(26 * 7, 104 * 7 + 1, n) / 7.0           # weeks, measured in days as real summaries are
    lam = rng.gamma(tt.r, 1 / tt.alpha, n)
    p = rng.beta(tt.a, tt.b, n)
    events = rng.poisson(lam * T)
    alive = rng.geometric(p)                     # dropout right after the j-th repeat purchase (never at the trial)
    x = np.minimum(events, alive)
    # the x-th of `events` uniform arrival times on [0, T] is T * Beta(x, events - x + 1)
    tx = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(events - x + 1, 1)), 0.0)
    nu = rng.gamma(tt.q, 1 / tt.gamma, n)
    zbar = np.where(x > 0, rng.gamma(tt.p_spend * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1))), 0.0)
    return {"frequency": x.astype(float), "recency": np.floor(tx * 7) / 7.0, "T": T, "monetary_value": np.round(zbar, 2)}


_LIFETIMES_SCRIPT = """
import json, sys, time, warnings
import numpy as np, pandas as pd
warnings.simplefilter("ignore")
import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter
d = np.load(sys.argv[1])
t0 = time.perf_counter()
bg = BetaGeoFitter().fit(pd.Series(d["frequency"]), pd.Series(d["recency"]), pd.Series(d["T"]))
t1 = time.perf_counter()
rep = d["frequency"] > 0
gg = GammaGammaFitter().fit(pd.Series(d["frequency"][rep]), pd.Series(d["monetary_value"][rep]))
t2 = time.perf_counter()
print(json.dumps({"version": lifetimes.__version__, "bgnbd_seconds": t1 - t0, "gamma_gamma_seconds": t2 - t1,
                  "seconds": t2 - t0, "bgnbd": bg.params_.to_dict(),
                  "gamma_gamma": {"p": gg.params_["p"], "q": gg.params_["q"], "gamma": gg.params_["v"]}}))
"""


def _clv_transactional(n: int) -> dict:
    import numpy as np
    import pandas as pd

    from crm_lib.clv import BetaGeoModel, GammaGammaModel

    d = simulate_bgnbd(n)
    path = WORK / f"clv_summary_{label(n)}.npz"
    np.savez(path, **d)
    summary = pd.DataFrame(d)
    t0 = time.perf_counter()
    bg = BetaGeoModel().fit(summary)
    t1 = time.perf_counter()
    gg = GammaGammaModel().fit(summary[summary["frequency"] > 0])
    t2 = time.perf_counter()
    ours = {"bgnbd_seconds": round(t1 - t0, 3), "gamma_gamma_seconds": round(t2 - t1, 3),
            "seconds": round(t2 - t0, 3), "bgnbd": bg.params_.round(6).to_dict(),
            "gamma_gamma": gg.params_.round(6).to_dict(), "bgnbd_log_likelihood": round(bg.log_likelihood_, 3)}
    res = {"wall_seconds": ours["seconds"], "rows": n, "repeat_buyers": int((d["frequency"] > 0).sum()),
           "ours": ours, "planted": {"bgnbd": {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.4},
                                     "gamma_gamma": {"p": 6.0, "q": 4.0, "gamma": 40.0}}}
    if not Path(LIFETIMES_PYTHON).exists():
        res["lifetimes"] = {"error": f"{LIFETIMES_PYTHON} not found: create it with `python3 -m venv "
                                     "benchmarks/work/lifetimes-venv && benchmarks/work/lifetimes-venv/bin/pip install "
                                     "lifetimes==0.11.3` or set LIFETIMES_PYTHON"}
        return res
    r = subprocess.run([LIFETIMES_PYTHON, "-c", _LIFETIMES_SCRIPT, str(path)], capture_output=True, text=True)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        res["lifetimes"] = {"error": (r.stderr.strip().splitlines() or ["failed"])[-1][:300]}
        return res
    lt = json.loads(lines[-1])
    diff = max(max(abs(ours[m][k] - lt[m][k]) for k in ours[m]) for m in ("bgnbd", "gamma_gamma"))
    res.update({"lifetimes": lt, "max_abs_param_diff": diff, "same_to_1e-3": bool(diff <= 1e-3),
                "speedup_vs_lifetimes": round(lt["seconds"] / ours["seconds"], 1),
                "target": "same parameters to 1e-3 and at least 10x faster than lifetimes 0.11.3"})
    return res


def _frames_equal(a, b) -> tuple[bool, list[str]]:
    """Equal frames (floats to a relative 1e-9), and the first lines of the difference when not."""
    import pandas as pd

    try:
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-9)
        return True, []
    except AssertionError as e:
        return False, str(e).splitlines()[:6]


def agreement(bank: Path) -> dict:
    """Whether the DuckDB and pandas feature tables agree: same rows, columns, dtypes, values.

    Tuned pandas is compared with DuckDB column by column; plain pandas with tuned pandas.

    Strings, flags and counts must match exactly; floats to a relative 1e-9 (the two
    engines sum in different orders). Records the largest absolute difference per column.
    """
    import numpy as np
    import pandas as pd
    from pandas_features import pandas_features

    from crm_lib.data.store import open_source
    from crm_lib.features import feature_table

    with open_source(bank / "warehouse.duckdb") as wh:
        db = feature_table(wh, AS_OF, key=KEY)
    pdf, _ = pandas_features(bank, AS_OF, KEY)
    out = {"rows_duckdb": len(db), "rows_pandas": len(pdf), "columns_duckdb": db.shape[1],
           "columns_pandas": pdf.shape[1], "same_columns": list(db.columns) == list(pdf.columns),
           "same_dtypes": bool((db.dtypes == pdf.dtypes.reindex(db.columns)).all()), "max_abs_diff": {},
           "mismatches": {}}
    for col in db.columns:
        if col not in pdf.columns:
            out["mismatches"][col] = "column missing in pandas"
            continue
        a, b = db[col], pdf[col]
        if pd.api.types.is_float_dtype(a) and pd.api.types.is_float_dtype(b):
            diff = (a - b).abs()
            out["max_abs_diff"][col] = float(np.nanmax(diff)) if diff.notna().any() else 0.0
            bad = (a.isna() != b.isna()) | ~np.isclose(a.fillna(0), b.fillna(0), rtol=1e-9, atol=1e-9)
        else:
            bad = (a.isna() != b.isna()) | ((a != b).fillna(False) & a.notna() & b.notna())
        out["mismatches"][col] = int(bad.sum())
    from pandas_plain import plain_features

    plain, _ = plain_features(bank, AS_OF, KEY)
    out["equal"], out["first_difference"] = _frames_equal(db, pdf)
    out["plain_equals_tuned"], out["plain_first_difference"] = _frames_equal(plain, pdf)
    out["summary"] = {"equal": out["equal"], "plain_equals_tuned": out["plain_equals_tuned"],
                      "mismatched_values": sum(out["mismatches"].values())
                      if all(isinstance(v, int) for v in out["mismatches"].values()) else "columns missing",
                      "worst_max_abs_diff": max(out["max_abs_diff"].values(), default=0.0)}
    return out


# --------------------------------------------------------------------------- benchmarks

def ensure_bank(n: int, parquet_only: bool = False) -> dict | None:
    """Generate the work bank of ``n`` customers unless a current one exists (not timed); with ``parquet_only``,
    its Parquet parts without the DuckDB warehouse (one chunk of customers at a time: the 10M bank)."""
    if bank_is_current(n, parquet_only=parquet_only):
        return None
    print(f"  (preparing {label(n)} bank{', Parquet only,' if parquet_only else ''} in {bank_dir(n)} ...)", flush=True)
    res = run_child(["generate", "--customers", str(n), "--out", str(bank_dir(n)),
                     *(["--parquet-only"] if parquet_only else [])])
    if "error" in res:
        raise RuntimeError(f"could not generate the {label(n)} bank: {res['error']}")
    return res


def bench_generate(n: int) -> dict:
    res = run_child(["generate", "--customers", str(n), "--out", str(bank_dir(n))])
    res.update({"benchmark": "generate", "customers": n, "end_date": END_DATE, "seed": SEED,
                "what": "crm_lib.data.synthetic.generate(out, n, end_date=END_DATE), incl. warehouse.duckdb"})
    if n == 1_000_000:
        res["target"] = TARGETS["generate_1m"]
        if "error" not in res:
            res["within_target"] = res["wall_seconds"] < 120 and res["peak_rss_mb"] < 4096
    return res


FEATURE_ROUNDS = 3
FEATURE_SIDES = {"duckdb": "features_duckdb", "pandas_plain": "features_plain", "pandas_tuned": "features_pandas"}


def bench_features(n: int) -> dict:
    """DuckDB against two pandas baselines, each run in a fresh process, over three rounds.

    ``pandas_plain`` is the baseline the issue names (``pd.read_parquet`` + ``groupby
    ("customer_id")``, ``benchmarks/pandas_plain.py``); ``pandas_tuned`` is a harder one
    (dictionary-encoded keys, group-bys on integer positions, ``benchmarks/pandas_features.py``).
    All three return the same 57 columns, pseudonymised and sorted. This machine's timings
    wander by +-20% between runs (shared cores), so the sides are interleaved in each
    round, ratios are taken on the medians, and every round and its paired ratio is kept.
    """
    import statistics

    ensure_bank(n)
    rounds: dict[str, list[dict]] = {side: [] for side in FEATURE_SIDES}
    for _ in range(FEATURE_ROUNDS):
        for side, what in FEATURE_SIDES.items():
            rounds[side].append(run_child([what, "--out", str(bank_dir(n))]))
    res = {"benchmark": "features", "customers": n, "as_of": AS_OF, "rounds": FEATURE_ROUNDS,
           "what": "feature_table(open_source(warehouse.duckdb), AS_OF) vs the same 57 columns (pseudonymised, "
                   "sorted) from pandas on the bank's Parquet files: plain group-bys and tuned; medians of "
                   "interleaved rounds, each in a fresh process",
           "target": TARGETS["features"]}
    for side, runs in rounds.items():
        bad = [r["error"] for r in runs if "error" in r]
        if bad:
            res[side] = {"error": bad[0]}
            continue
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]
               if isinstance(runs[0][k], (int, float)) and not isinstance(runs[0][k], bool)}
        res[side] = {**med, "wall_seconds_rounds": [r["wall_seconds"] for r in runs]}
    duck = res["duckdb"]
    for side in ("pandas_plain", "pandas_tuned"):
        other = res[side]
        if "error" in duck or "error" in other:
            continue
        res[f"speedup_vs_{side}"] = round(other["wall_seconds"] / duck["wall_seconds"], 2)
        res[f"speedup_vs_{side}_compute_only"] = round(other["compute_seconds"] / duck["query_seconds"], 2)
        # paired by round: both sides ran back to back, under the same load
        res[f"speedup_vs_{side}_rounds"] = [round(o / d, 2) for o, d in
                                            zip(other["wall_seconds_rounds"], duck["wall_seconds_rounds"])]
    if "speedup_vs_pandas_plain" in res:
        res["within_target"] = res["speedup_vs_pandas_plain"] >= 5
        res["within_target_vs_tuned"] = res.get("speedup_vs_pandas_tuned", 0) >= 5
    return res


def bench_agreement(n: int) -> dict:
    ensure_bank(n)
    res = run_child(["agreement", "--out", str(bank_dir(n))])
    res.update({"benchmark": "features_agreement", "customers": n, "as_of": AS_OF})
    return res


def bench_pack(n: int) -> dict:
    """Wall time and peak memory of a quarterly pack, split into kernel start, execution and rendering.

    Kernel start is measured on its own by running an empty notebook through Papermill on
    the project kernel; execution and rendering come from the pack's manifest.
    """
    import tempfile

    import nbformat

    ensure_bank(n)
    with tempfile.TemporaryDirectory() as tmp:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("1")]
        nb.metadata["kernelspec"] = {"name": "crm-workbench", "display_name": "CRM", "language": "python"}
        nbformat.write(nb, f"{tmp}/empty.ipynb")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "papermill", f"{tmp}/empty.ipynb", f"{tmp}/out.ipynb", "-k", "crm-workbench",
                        "--no-progress-bar", "--log-level", "ERROR"], check=True, capture_output=True)
        kernel = time.perf_counter() - t0
    res = _timed_pack(str(bank_dir(n) / "warehouse.duckdb"), WORK / f"reports_{label(n)}")
    if "error" not in res:
        res.update({"benchmark": "pack", "customers": n, "kernel_start_seconds_each": round(kernel, 2)})
    return res


def _timed_pack(source: str, reports: Path, settings: tuple = ()) -> dict:
    """``crm-workbench run quarterly --force`` on ``source`` into ``reports`` (and ``--set`` each of
    ``settings``): wall, CPU and memory of it and every process under it, and per notebook from the manifest."""
    import resource

    import tempfile

    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = ru0.ru_maxrss
    load_before = round(os.getloadavg()[0], 2)
    t0 = time.perf_counter()
    # every kernel's DuckDB spills to a folder of its own under the temporary directory (crm_lib.data.store)
    with _largest_size(lambda: Path(tempfile.gettempdir()).glob("crm-duckdb-*"), every=1.0) as spill:
        r = subprocess.run([sys.executable, "-m", "crm_lib.cli", "-q", "run", "quarterly", "--force",
                            "--source", source, "--set", f"reports_dir={reports}",
                            *(x for kv in settings for x in ("--set", kv))],
                           capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = ru1.ru_maxrss
    load_after = round(os.getloadavg()[0], 2)
    if r.returncode not in (0, 4):
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    packs = sorted((reports / "quarterly").glob("20*"))
    m = json.loads((packs[-1] / "manifest.json").read_text())
    nbs = m["notebooks"]
    return {"profile": "quarterly", "period": m["period"], "status": m["status"], "pack": str(packs[-1]),
            "wall_seconds": round(wall, 2),
            "peak_rss_mb_largest_process": round(max(peak, before) / 1024, 1),
            # the largest total of the kernels' DuckDB spill folders, sampled every second
            "spill_peak_mb": round(spill[0] / 2**20, 1),
            # CPU of the run and every process under it (kernels, DuckDB threads); with the load average, says
            # how much of the 2 cores the pack got: wall is inflated when others share the machine
            "cpu_user_seconds": round(ru1.ru_utime - ru0.ru_utime, 1),
            "cpu_system_seconds": round(ru1.ru_stime - ru0.ru_stime, 1),
            "load_avg_1m_before": load_before, "load_avg_1m_after": load_after,
            "notebook_start_order": [ln.split(": ")[-2].split()[-1] for ln in
                                     (packs[-1] / "run.log").read_text().splitlines() if ln.endswith(": executing")]
            if (packs[-1] / "run.log").exists() else None,
            "notebooks": {x["name"]: {"execute_seconds": x["execute_seconds"], "render_seconds": x["render_seconds"],
                                     "peak_memory_mb": x.get("peak_memory_mb"), "status": x["status"]} for x in nbs},
            "execute_seconds_sum": round(sum(x["execute_seconds"] for x in nbs), 2),
            "render_seconds_sum": round(sum(x["render_seconds"] for x in nbs), 2),
            "parallel": m["parameters"]["parallel"],
            "duckdb_memory_limit_per_kernel": m.get("duckdb_memory_limit_per_kernel"),
            "settings": list(settings),
            "facts": len(json.loads((packs[-1] / "facts.json").read_text()))
            if (packs[-1] / "facts.json").exists() else None,
            "what": f"crm-workbench run quarterly (door, all notebooks with parallel={m['parameters']['parallel']}, "
                    "HTML, index); execute includes each notebook's kernel start"}


# the large bank's pack: one notebook at a time, each kernel's DuckDB at 4 GB, on a 24 GB machine
LARGE_PACK_SETTINGS = ("parallel=1", "duckdb_memory_limit=4GB")


def bench_pack_large(n: int) -> dict:
    """The quarterly pack of ``make bench-large``'s Parquet folder (default 10M customers) with
    ``LARGE_PACK_SETTINGS``: wall, each notebook's seconds and peak memory, the facts."""
    if not bank_is_current(n, parquet_only=True) and not bank_is_current(n):
        return {"error": f"no current bank of {label(n)} customers in {bank_dir(n)}: run make bench-large first"}
    res = _timed_pack(str(bank_dir(n) / "parquet"), WORK / f"reports_{label(n)}_large", LARGE_PACK_SETTINGS)
    if "error" not in res:
        res.update({"benchmark": "pack_large", "customers": n})
    return res


def bench_pack_engines(n: int) -> dict:
    """The quarterly pack of one bank's Parquet folder on DuckDB and on ``spark:local[2]`` (one local Spark
    Connect server for the pack), one after the other: time, memory and whether the facts agree."""
    if not bank_is_current(n, parquet_only=True):
        ensure_bank(n)
    folder = bank_dir(n) / "parquet"
    duck = _timed_pack(str(folder), WORK / f"reports_{label(n)}_duckdb")
    spark = _timed_pack(f"spark:local[2]?path={folder}", WORK / f"reports_{label(n)}_spark")
    res = {"benchmark": "pack_engines", "customers": n, "duckdb": duck, "spark": spark,
           "what": "the quarterly pack of the same Parquet folder on DuckDB and on spark:local[2], back to back"}
    if "error" not in duck and "error" not in spark:
        res["ratio_spark_over_duckdb"] = round(spark["wall_seconds"] / duck["wall_seconds"], 2)
        a = {f["name"]: f for f in json.loads((Path(duck["pack"]) / "facts.json").read_text())}
        b = {f["name"]: f for f in json.loads((Path(spark["pack"]) / "facts.json").read_text())}
        worst = 0.0
        for name in set(a) & set(b):
            for k in ("value", "ci_lower", "ci_upper", "p_value"):
                x, y = a[name][k], b[name][k]
                if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
                    worst = max(worst, abs(x - y) / max(abs(x), abs(y), 1e-300))
        res["facts"] = {"duckdb": len(a), "spark": len(b), "same_names": sorted(a) == sorted(b),
                        "same_n": all(a[k]["n"] == b[k]["n"] for k in set(a) & set(b)),
                        "largest_relative_difference": worst}
    return res


def _bench_child(kind: str, n: int, what: str) -> dict:
    ensure_bank(n)
    res = run_child([kind, "--out", str(bank_dir(n))])
    res.update({"benchmark": kind, "customers": n, "what": what})
    return res


def bench_door(n: int) -> dict:
    """The door (``crm_lib.data.schema.validate``) on the work bank: the SQL pre-check that lets clean
    tables skip the pandera pass, against the pandera pass on every table (same report), same run."""
    ensure_bank(n)
    fast = run_child(["door_precheck", "--out", str(bank_dir(n))])
    full = run_child(["door_pandera", "--out", str(bank_dir(n))])
    same = all(k in fast and fast.get(k) == full.get(k) for k in ("errors", "warnings", "rows_checked"))
    return {**fast, "benchmark": "door", "customers": n, "pandera_every_table": full,
            "speedup_vs_pandera_every_table": round(full["wall_seconds"] / fast["wall_seconds"], 1)
            if "wall_seconds" in full and "wall_seconds" in fast else None, "same_report": same,
            "what": "validate(source): per-column contract rules (one DuckDB scan per table first; pandera only on "
                    "a table the scan flags) + relational rules, against pandera on every table"}


def bench_segmentation(n: int) -> dict:
    return _bench_child("segmentation", n,
                        "segment_customers(features of active customers, quarterly parameters): tiers, RFM, "
                        "clusters (k chosen on a sample, MiniBatchKMeans above 200k per type), lifecycle; "
                        "peak memory includes building the feature table")


def bench_satisfaction(n: int) -> dict:
    return _bench_child("satisfaction", n,
                        "CSAT/NPS table by tier, key drivers (200 bootstraps), KM resolution times, SLA compliance "
                        "and complaint volumes on 5M survey responses and 500k complaints (the bank's own rows "
                        "replicated up to those sizes); wall_seconds excludes loading")


def bench_clv(n: int) -> dict:
    """Transactional fits against lifetimes (simulated summary of ``n``), then relationship CLV on the work bank."""
    res = run_child(["clv_transactional", "--customers", str(n)])
    res.update({"benchmark": "clv_transactional", "customers": n,
                "what": "BG/NBD + Gamma-Gamma maximum likelihood on the same simulated summary: crm_lib.clv vs "
                        "lifetimes 0.11.3 (its own process, same run); wall_seconds = ours"})
    return res


def bench_clv_relationship(n: int) -> dict:
    return _bench_child("clv_relationship", n,
                        "crm_lib.clv.value_book at the data end: cohort Cox fit, snapshot features, margins, "
                        "relationship CLV with 200 coefficient draws and every aggregate")


def bench_churn(n: int) -> dict:
    return _bench_child("churn", n,
                        "cohort survival frame at 2025-09-30 (12-month follow-up, features as of the start), "
                        "then a Cox fit and vectorised 6-month churn scoring of every customer; "
                        "wall_seconds = fit + score")


def bench_landmark_scale(n: int) -> dict:
    if not bank_is_current(n, parquet_only=True) and not bank_is_current(n):
        return {"error": f"no current bank of {label(n)} customers in {bank_dir(n)}: run make bench-large first"}
    res = run_child(["landmark_scale", "--out", str(bank_dir(n))])
    res.update({"benchmark": "landmark_scale", "customers": n,
                "what": "the validation's landmark Cox model with the default model-sample cap on the Parquet "
                        "folder, DuckDB under SCALE_MEMORY_LIMIT: wall seconds and peak RSS of the process"})
    return res


def bench_driver_frames(n: int) -> dict:
    if not bank_is_current(n, parquet_only=True) and not bank_is_current(n):
        return {"error": f"no current bank of {label(n)} customers in {bank_dir(n)}: run make bench-large first"}
    res = {which: run_child(["driver_frames", "--out", str(bank_dir(n)), "--frame", which])
           for which in DRIVER_FRAMES}            # one process each: one's failure keeps the others
    res.update({"benchmark": "driver_frames", "customers": n,
                "what": "the survival frame and the scoring snapshot, one row per customer, as a pack's kernel "
                        "builds them (DuckDB under duckdb_memory_limit auto with parallel 2): rows, seconds, "
                        "memory held, peak"})
    return res


def bench_model_sample(n: int) -> dict:
    import pandas as pd

    res = _bench_child("model_sample", n,
                        "the 20_churn cohort Cox model (customers at risk on the observation start, followed to the "
                        f"data end) on a proportional stratified sample of {MODEL_SAMPLE_CAP:,} customers "
                        "(crm_lib.data.sample) and on every customer, both scoring every customer: hazard ratios, "
                        "their agreement (z of the nested difference, full HR inside the sample's CI), SE ratio "
                        "against sqrt(1 / rate), 12-month churn scores (Spearman, top-5% overlap, C-index on "
                        "everyone), frame and fit times")
    # the validation's landmark model, sample and full each in a fresh process (their own peak RSS)
    sides = {name: run_child(["landmark_sample", "--out", str(bank_dir(n)), "--customers", str(cap)])
             for name, cap in (("sample", MODEL_SAMPLE_CAP), ("full", 0))}
    if not any("error" in r for r in sides.values()):
        lm = _nested_agreement(*(pd.DataFrame(sides[k].pop("summary")).T for k in ("full", "sample")))
        rate = sides["sample"]["customers"] / sides["full"]["customers"]
        lm.update({"sample_rate": round(rate, 4), "se_ratio_expected": round((1 / rate) ** 0.5, 3),
                   "time_ratio_full_over_sample": round(sides["full"]["process_seconds"]
                                                        / sides["sample"]["process_seconds"], 2),
                   "peak_rss_at_fit_ratio_full_over_sample": round(sides["full"]["peak_rss_mb_at_fit"]
                                                                   / sides["sample"]["peak_rss_mb_at_fit"], 2)})
    else:
        lm = {}
    res["landmark"] = {**lm, **sides, "what": "the validation's landmark Cox model (4 landmarks, 12-month horizon, "
                       "cluster-robust), on the sample and on everyone, each in a fresh process, scored on every "
                       "customer of the test cohort (C-index of the 12-month churn probability)"}
    return res


def bench_marketing(n: int) -> dict:
    return _bench_child("marketing", n,
                        "crm_lib.marketing.report.run_period at the data end (what notebook 50 computes): feature "
                        "tables at three as-of dates, logistic and calibrated gradient-boosting models per product "
                        "(training rows capped by adoption.max_train_rows), out-of-time evaluation, scoring every "
                        "customer x every product, next-best product with reasons, target lists with control")


# --------------------------------------------------------------------------- output

def merge(results: dict) -> dict:
    """Merge ``results`` into ``results.json`` (other keys kept); returns the merged dict."""
    old = {}
    if RESULTS.exists():
        try:
            old = json.loads(RESULTS.read_text())
        except json.JSONDecodeError:
            old = {}
        if not isinstance(old, dict):
            old = {}
    old.update(results)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(old, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, RESULTS)
    return old


def table(results: dict) -> str:
    rows = [("benchmark", "wall s", "peak MB", "cpu s", "rows", "notes")]
    for name, r in results.items():
        if r.get("benchmark") == "features":
            for side in FEATURE_SIDES:
                s = r.get(side, {})
                note = s.get("error") or (f"read {s.get('read_seconds')} s + compute {s.get('compute_seconds')} s"
                                          if side != "duckdb" else f"query {s.get('query_seconds')} s")
                rows.append((f"{name}/{side}", s.get("wall_seconds", "-"), s.get("peak_rss_mb", "-"),
                             _cpu(s), s.get("rows", "-"), note))
            for side in ("pandas_plain", "pandas_tuned"):
                rows.append((f"{name}/vs_{side}", "", "", "", "",
                             f"DuckDB {r.get(f'speedup_vs_{side}', '-')}x faster end to end, median of "
                             f"{r.get('rounds', 1)} rounds (per round {r.get(f'speedup_vs_{side}_rounds', '-')}; "
                             f"{r.get(f'speedup_vs_{side}_compute_only', '-')}x compute only); target 5x"))
        elif r.get("benchmark") == "features_agreement":
            s = r.get("summary", {})
            rows.append((name, "", r.get("peak_rss_mb", "-"), _cpu(r), r.get("rows_duckdb", "-"),
                         r.get("error") or f"equal: {s.get('equal')} (plain pandas too: "
                                            f"{s.get('plain_equals_tuned')}), mismatched values "
                                            f"{s.get('mismatched_values')}, worst max|diff| "
                                            f"{s.get('worst_max_abs_diff')}"))
        else:
            rows.append((name, r.get("wall_seconds", "-"), r.get("peak_rss_mb", "-"), _cpu(r),
                         r.get("rows_total", "-"), r.get("error") or r.get("target", "")))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = []
    for k, row in enumerate(rows):
        cells = [str(row[i]).rjust(widths[i]) if i else str(row[i]).ljust(widths[i]) for i in range(5)]
        lines.append("  ".join(cells) + "  " + str(row[5]))
        if k == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def _cpu(r: dict):
    if "cpu_user_seconds" not in r:
        return "-"
    return round(r["cpu_user_seconds"] + r["cpu_system_seconds"], 1)


def bench_make_report(_n: int) -> dict:
    """``make report`` on a fresh clone of this commit: a new ``.venv`` (uv's download cache kept, as on a
    machine that has installed packages before), the demo bank, the 8 quarters of facts-only history and
    the current quarter's full pack, one command, wall time."""
    import shutil

    clone = WORK / "fresh_clone"
    shutil.rmtree(clone, ignore_errors=True)
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    t0 = time.perf_counter()
    r = subprocess.run(["make", "report"], cwd=clone, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]}
    packs = {p.name: json.loads((p / "manifest.json").read_text())
             for p in sorted((clone / "reports" / "quarterly").glob("20*"))}
    history = [m for m in packs.values() if m.get("built") == "facts only"]
    current = [m for m in packs.values() if m.get("built") == "full"]
    out = {"benchmark": "make_report", "wall_seconds": round(wall, 1), "under_10_minutes": wall < 600,
           "periods_facts_only": [m["period"] for m in history],
           "facts_only_seconds_sum": round(sum(m["seconds"] for m in history), 1),
           "pack_period": [m["period"] for m in current],
           "pack_seconds": round(sum(m["seconds"] for m in current), 1),
           "what": "git clone, then `make report`: .venv (uv, warm download cache), demo data (small, 50k), "
                   "backfill of 8 quarters (facts only, headline notebooks), the quarterly pack"}
    shutil.rmtree(clone, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated benchmarks: generate, features, agreement, door, pack, segmentation, "
                                    "churn, model_sample, satisfaction, clv, marketing, fingerprint; make_report, scale, "
                                    "landmark_scale, driver_frames, pack_large and allocator (not run by default)")
    ap.add_argument("--sizes", help="comma-separated customer counts for generate and features (e.g. 50k,1m)")
    ap.add_argument("--quick", action="store_true", help="only the 50k sizes (smoke run)")
    a = ap.parse_args(argv)
    known = ["generate", "features", "agreement", "door", "pack", "segmentation", "churn", "model_sample",
             "satisfaction", "clv", "marketing", "make_report", "scale", "landmark_scale", "driver_frames",
             "pack_large", "pack_engines", "allocator", "fingerprint"]
    # make_report (a fresh clone's `make report`, ~10 minutes) and scale (`make bench-large`: a 10M-customer bank,
    # ~1 hour) run only when asked: --only make_report, --only scale
    names = [s.strip() for s in (a.only or ",".join(k for k in known if k not in ("make_report", "scale",
                                                                                  "landmark_scale", "driver_frames",
                                                                                  "pack_large", "allocator"))).split(",")
             if s.strip()]
    unknown = set(names) - set(known)
    if unknown:
        ap.error(f"unknown benchmark(s) {sorted(unknown)}: use {', '.join(known)}")
    if a.sizes:
        sizes = {k: [s for s in a.sizes.split(",") if s.strip()] for k in DEFAULT_SIZES}
    elif a.quick:
        sizes = {k: QUICK_SIZES for k in DEFAULT_SIZES}
    else:
        sizes = DEFAULT_SIZES
    WORK.mkdir(parents=True, exist_ok=True)
    context = {"machine": machine(), "git": git_commit()}
    results: dict = {}
    plan = []
    if "generate" in names:
        plan += [(f"generate_{label(parse_size(s))}", bench_generate, parse_size(s)) for s in sizes["generate"]]
    if "features" in names:
        plan += [(f"features_{label(parse_size(s))}", bench_features, parse_size(s)) for s in sizes["features"]]
    for kind, fn in (("door", bench_door), ("segmentation", bench_segmentation), ("churn", bench_churn),
                     ("model_sample", bench_model_sample), ("satisfaction", bench_satisfaction),
                     ("marketing", bench_marketing)):
        if kind in names:
            plan += [(f"{kind}_{label(parse_size(s))}", fn, parse_size(s)) for s in sizes.get(kind, ["1m"])]
    if "clv" in names:
        plan += [(f"clv_transactional_{label(parse_size(s))}", bench_clv, parse_size(s)) for s in sizes.get("clv", ["1m"])]
        plan += [(f"clv_relationship_{label(parse_size(s))}", bench_clv_relationship, parse_size(s))
                 for s in sizes.get("clv", ["1m"])]
    if "pack" in names:
        plan += [(f"pack_{label(parse_size(s))}", bench_pack, parse_size(s)) for s in sizes.get("pack", ["50k"])]
    if "landmark_scale" in names:
        plan += [(f"landmark_scale_{label(parse_size(s))}", bench_landmark_scale, parse_size(s))
                 for s in (a.sizes.split(",") if a.sizes else ["10m"])]
    if "driver_frames" in names:
        plan += [(f"driver_frames_{label(parse_size(s))}", bench_driver_frames, parse_size(s))
                 for s in (a.sizes.split(",") if a.sizes else ["10m"])]
    if "pack_large" in names:
        plan += [(f"pack_large_{label(parse_size(s))}", bench_pack_large, parse_size(s))
                 for s in (a.sizes.split(",") if a.sizes else ["10m"])]
    if "pack_engines" in names:
        plan += [(f"pack_engines_{label(parse_size(s))}", bench_pack_engines, parse_size(s))
                 for s in sizes.get("pack_engines", ["100k"])]
    if "allocator" in names:
        plan += [(f"allocator_{label(parse_size(s))}", bench_allocator, parse_size(s))
                 for s in (a.sizes.split(",") if a.sizes else ["1m"])]
    if "fingerprint" in names:
        plan += [(f"fingerprint_{label(parse_size(s))}", bench_fingerprint, parse_size(s))
                 for s in (a.sizes.split(",") if a.sizes else ["1m"])]
    if "make_report" in names:
        plan.append(("make_report_fresh_clone", bench_make_report, 0))
    if "scale" in names:
        plan.append(("scale", lambda _n: bench_scale([parse_size(x) for x in (a.sizes.split(",") if a.sizes
                                                                                else SCALE_SIZES)]), 0))
    if "agreement" in names:
        n = parse_size(AGREEMENT_SIZE)
        plan.append((f"features_agreement_{label(n)}", bench_agreement, n))
    for name, fn, n in plan:
        print(f"running {name} ...", flush=True)
        try:
            r = fn(n)
        except Exception as e:         # a failed benchmark is recorded, not fatal
            r = {"error": f"{type(e).__name__}: {e}"}
        stamp = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **context}
        if name == "scale" and "error" not in r:      # several entries, one per size
            for key, entry in r.items():
                entry.update(stamp)
                results[key] = entry
                merge({key: entry})
            continue
        r.update(stamp)
        results[name] = r
        merge({name: r})
    print()
    print(table(results))
    print(f"\nmerged into {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
