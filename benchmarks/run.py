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
    Both feature implementations on the 50k bank, joined on the pseudonym; records the
    largest absolute difference per compared column. Key ``features_agreement_50k``.

Usage::

    .venv/bin/python benchmarks/run.py                      # everything (takes minutes)
    .venv/bin/python benchmarks/run.py --quick              # 50k sizes only (smoke)
    .venv/bin/python benchmarks/run.py --only features --sizes 1m
"""

from __future__ import annotations

import argparse
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
DEFAULT_SIZES = {"generate": ["50k", "1m"], "features": ["1m"], "pack": ["50k"], "segmentation": ["1m"],
                 "churn": ["1m"], "satisfaction": ["1m"]}
QUICK_SIZES = ["50k"]
AGREEMENT_SIZE = "50k"
TARGETS = {"generate_1m": "under 120 s wall and 4096 MB peak RSS",
           "features": "DuckDB at least 5x faster than pandas (end to end)"}
COMPARED = ("aum", "aum_avg", "aum_avg_12m", "tier", "n_products", "recency_days", "frequency", "monetary",
            "share_branch", "share_mobile", "share_online", "share_atm", "share_phone", "digital_share",
            "fee_purchases", "fee_spend", "complaints_90d", "complaints_window", "open_complaints",
            "days_since_complaint", "surveys_window", "csat_mean", "nps_mean", "contacts_window",
            "responded_window", "tenure_days", "is_active")


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


def bank_is_current(n: int) -> bool:
    """The work bank of ``n`` customers exists and was made with this seed and end date."""
    meta = bank_dir(n) / "metadata.json"
    if not meta.exists() or not (bank_dir(n) / "warehouse.duckdb").exists():
        return False
    m = json.loads(meta.read_text())
    return (m.get("n_customers"), m.get("end_date"), m.get("seed")) == (n, END_DATE, SEED)


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
    a = p.parse_args(argv)
    os.environ.setdefault("CRM_PSEUDONYM_KEY", KEY)
    sys.path.insert(0, str(HERE))
    res: dict
    if a.what == "generate":
        from crm_lib.data.synthetic import generate

        t0 = time.perf_counter()
        meta = generate(a.out, a.customers, seed=SEED, end_date=END_DATE, force=True)
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
    elif a.what == "features_pandas":
        from pandas_features import pandas_features

        t0 = time.perf_counter()
        df, timing = pandas_features(a.out, AS_OF)
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
    else:
        raise SystemExit(f"unknown child benchmark {a.what!r}")
    print(json.dumps(res, default=str))


def agreement(bank: Path) -> dict:
    """Max absolute difference, per column, between the DuckDB and pandas feature tables."""
    import numpy as np
    from pandas_features import pandas_features

    from crm_lib.data.privacy import pseudonymise_id
    from crm_lib.data.store import open_source
    from crm_lib.features import feature_table

    wh = open_source(bank / "warehouse.duckdb")
    db = feature_table(wh, AS_OF, key=KEY).set_index("customer_id")
    wh.close()
    pdf, _ = pandas_features(bank, AS_OF)
    pdf.index = [pseudonymise_id(c, KEY) for c in pdf["customer_id"]]
    both = db.index.intersection(pdf.index)
    out = {"rows_duckdb": len(db), "rows_pandas": len(pdf), "rows_matched": len(both), "max_abs_diff": {},
           "null_mismatches": {}, "value_mismatches": {}}
    for col in COMPARED:
        if col not in db.columns or col not in pdf.columns:
            out["value_mismatches"][col] = "column missing"
            continue
        a, b = db.loc[both, col], pdf.loc[both, col]
        nulls = int((a.isna() != b.isna()).sum())
        out["null_mismatches"][col] = nulls
        if a.dtype == object or b.dtype == object:
            out["value_mismatches"][col] = int(((a != b) & a.notna() & b.notna()).sum())
        else:
            diff = (a.astype(float) - b.astype(float)).abs()
            out["max_abs_diff"][col] = float(np.nanmax(diff)) if diff.notna().any() else 0.0
    worst = max(out["max_abs_diff"].values(), default=0.0)
    out["summary"] = {"worst_max_abs_diff": worst, "null_mismatches": sum(out["null_mismatches"].values()),
                      "value_mismatches": sum(v for v in out["value_mismatches"].values() if isinstance(v, int))}
    return out


# --------------------------------------------------------------------------- benchmarks

def ensure_bank(n: int) -> dict | None:
    """Generate the work bank of ``n`` customers unless a current one exists (not timed)."""
    if bank_is_current(n):
        return None
    print(f"  (preparing {label(n)} bank in {bank_dir(n)} ...)", flush=True)
    res = run_child(["generate", "--customers", str(n), "--out", str(bank_dir(n))])
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


def bench_features(n: int) -> dict:
    ensure_bank(n)
    duck = run_child(["features_duckdb", "--out", str(bank_dir(n))])
    pand = run_child(["features_pandas", "--out", str(bank_dir(n))])
    res = {"benchmark": "features", "customers": n, "as_of": AS_OF,
           "what": "feature_table(open_source(warehouse.duckdb), AS_OF) vs pandas group-bys on the Parquet files",
           "duckdb": duck, "pandas": pand, "target": TARGETS["features"]}
    if "error" not in duck and "error" not in pand:
        res["speedup_duckdb_vs_pandas"] = round(pand["wall_seconds"] / duck["wall_seconds"], 2)
        res["speedup_compute_only"] = round(pand["compute_seconds"] / duck["query_seconds"], 2)
        res["within_target"] = res["speedup_duckdb_vs_pandas"] >= 5
    return res


def bench_agreement(n: int) -> dict:
    ensure_bank(n)
    res = run_child(["agreement", "--out", str(bank_dir(n))])
    res.update({"benchmark": "features_agreement", "customers": n, "as_of": AS_OF, "compared": list(COMPARED)})
    return res


def bench_pack(n: int) -> dict:
    """Wall time and peak memory of a quarterly pack, split into kernel start, execution and rendering.

    Kernel start is measured on its own by running an empty notebook through Papermill on
    the project kernel; execution and rendering come from the pack's manifest.
    """
    import resource
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
    reports = WORK / f"reports_{label(n)}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "crm_lib.cli", "-q", "run", "quarterly", "--force",
                        "--source", str(bank_dir(n) / "warehouse.duckdb"), "--set", f"reports_dir={reports}"],
                       capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if r.returncode not in (0, 4):
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    packs = sorted((reports / "quarterly").glob("20*"))
    m = json.loads((packs[-1] / "manifest.json").read_text())
    nbs = m["notebooks"]
    return {"benchmark": "pack", "customers": n, "profile": "quarterly", "period": m["period"], "status": m["status"],
            "wall_seconds": round(wall, 2),
            "peak_rss_mb_largest_process": round(max(peak, before) / 1024, 1),
            "kernel_start_seconds_each": round(kernel, 2),
            "notebooks": {x["name"]: {"execute_seconds": x["execute_seconds"], "render_seconds": x["render_seconds"],
                                     "status": x["status"]} for x in nbs},
            "execute_seconds_sum": round(sum(x["execute_seconds"] for x in nbs), 2),
            "render_seconds_sum": round(sum(x["render_seconds"] for x in nbs), 2),
            "parallel": m["parameters"]["parallel"],
            "what": "crm-workbench run quarterly (door, all notebooks with parallel=2, HTML, index); "
                    "execute includes each notebook's kernel start"}


def bench_segmentation(n: int) -> dict:
    ensure_bank(n)
    res = run_child(["segmentation", "--out", str(bank_dir(n))])
    res.update({"benchmark": "segmentation", "customers": n,
                "what": "segment_customers(features of active customers, quarterly parameters): tiers, RFM, "
                        "clusters (k chosen on a sample, MiniBatchKMeans above 200k per type), lifecycle; "
                        "peak memory includes building the feature table"})
    return res


def bench_satisfaction(n: int) -> dict:
    ensure_bank(n)
    res = run_child(["satisfaction", "--out", str(bank_dir(n))])
    res.update({"benchmark": "satisfaction", "customers": n,
                "what": "CSAT/NPS table by tier, key drivers (200 bootstraps), KM resolution times, SLA compliance "
                        "and complaint volumes on 5M survey responses and 500k complaints (the bank's own rows "
                        "replicated up to those sizes); wall_seconds excludes loading"})
    return res


def bench_churn(n: int) -> dict:
    ensure_bank(n)
    res = run_child(["churn", "--out", str(bank_dir(n))])
    res.update({"benchmark": "churn", "customers": n,
                "what": "cohort survival frame at 2025-09-30 (12-month follow-up, features as of the start), "
                        "then a Cox fit and vectorised 6-month churn scoring of every customer; "
                        "wall_seconds = fit + score"})
    return res


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
            for side in ("duckdb", "pandas"):
                s = r[side]
                note = s.get("error") or (f"read {s['read_seconds']} s + compute {s['compute_seconds']} s"
                                          if side == "pandas" else f"query {s.get('query_seconds')} s")
                rows.append((f"{name}/{side}", s.get("wall_seconds", "-"), s.get("peak_rss_mb", "-"),
                             _cpu(s), s.get("rows", "-"), note))
            rows.append((f"{name}/ratio", "", "", "", "",
                         f"DuckDB {r.get('speedup_duckdb_vs_pandas', '-')}x faster end to end "
                         f"({r.get('speedup_compute_only', '-')}x compute only); target 5x"))
        elif r.get("benchmark") == "features_agreement":
            s = r.get("summary", {})
            rows.append((name, "", r.get("peak_rss_mb", "-"), _cpu(r), r.get("rows_matched", "-"),
                         r.get("error") or f"worst max|diff| {s.get('worst_max_abs_diff')}, "
                                            f"null mismatches {s.get('null_mismatches')}, "
                                            f"value mismatches {s.get('value_mismatches')}"))
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated benchmarks: generate, features, agreement, pack, segmentation, churn, "
                                    "satisfaction")
    ap.add_argument("--sizes", help="comma-separated customer counts for generate and features (e.g. 50k,1m)")
    ap.add_argument("--quick", action="store_true", help="only the 50k sizes (smoke run)")
    a = ap.parse_args(argv)
    known = ["generate", "features", "agreement", "pack", "segmentation", "churn", "satisfaction"]
    names = [s.strip() for s in (a.only or ",".join(known)).split(",") if s.strip()]
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
    for kind, fn in (("segmentation", bench_segmentation), ("churn", bench_churn),
                     ("satisfaction", bench_satisfaction)):
        if kind in names:
            plan += [(f"{kind}_{label(parse_size(s))}", fn, parse_size(s)) for s in sizes.get(kind, ["1m"])]
    if "pack" in names:
        plan += [(f"pack_{label(parse_size(s))}", bench_pack, parse_size(s)) for s in sizes.get("pack", ["50k"])]
    if "agreement" in names:
        n = parse_size(AGREEMENT_SIZE)
        plan.append((f"features_agreement_{label(n)}", bench_agreement, n))
    for name, fn, n in plan:
        print(f"running {name} ...", flush=True)
        try:
            r = fn(n)
        except Exception as e:         # a failed benchmark is recorded, not fatal
            r = {"error": f"{type(e).__name__}: {e}"}
        r.update({"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **context})
        results[name] = r
        merge({name: r})
    print()
    print(table(results))
    print(f"\nmerged into {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
