"""Build one report pack: parameters, door, Papermill runs, HTML, facts, manifest, publish.

A pack is built in a hidden temporary folder beside its final place and moved into
place only when complete, so a killed run leaves the previous pack untouched and no
partial folder visible. An existing pack is replaced only with ``force``, and then kept
aside under ``.archive/``. A per-pack lock (an OS file lock, released by the kernel
when its holder dies, so a stale lock can never block) stops a second run.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from crm_lib import __version__, config
from crm_lib.config import Period, RunConfig
from crm_lib.data.door import check_source
from crm_lib.data.needs import source_shape, unmet
from crm_lib.data.store import MEMORY_ENV, machine_memory_mb, resolve_memory_limit
from crm_lib.errors import EnvironmentFault, WorkbenchError
from crm_lib.reporting import fsafe
from crm_lib.reporting.context import door_summary, omitted_sections
from crm_lib.reporting.facts import load_facts
from crm_lib.reporting.kernels import (OUT_OF_MEMORY, PAPERMILL_DEAD_KERNEL, mark_dead_kernel, raise_if_machine_fault,
                                       run_papermill)
from crm_lib.reporting.render import render_html

logger = logging.getLogger(__name__)

STATUS_OK, STATUS_FAILED = "ok", "failed"
# a notebook whose needs (crm_lib.data.needs) the source cannot meet: listed with its reason, never executed
STATUS_NOT_RUN = "not run"
# how a pack was built (manifest "built"): pages and facts, or facts only (crm-workbench backfill)
BUILT_FULL, BUILT_FACTS_ONLY = "full", "facts only"


class LockHeld(WorkbenchError):
    """Another run of the same pack holds the lock."""

    exit_code = 5


class PackExists(WorkbenchError):
    """The pack exists and --force was not given."""

    exit_code = 2


@dataclass
class NotebookResult:
    name: str
    status: str
    seconds: float
    execute_seconds: float
    render_seconds: float
    error: str = ""
    omitted: list = field(default_factory=list)  # sections shown as 'not estimable' (context.omitted_sections)
    reason: str = ""  # why it was not run ('needs table balances, which the source does not have')
    peak_memory_mb: float | None = None  # its processes' largest high-water mark (the kernel), MB; None: unmeasured


@dataclass
class PackResult:
    profile: str
    period: str
    path: Path
    status: str
    notebooks: list[NotebookResult] = field(default_factory=list)
    archived: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _code_version() -> str:
    try:
        sha = subprocess.run(["git", "-C", str(config.PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(config.PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha, dirty = "", ""
    return f"{__version__}+{sha}{'.dirty' if dirty else ''}" if sha else __version__


def reports_root(cfg: RunConfig) -> Path:
    p = Path(cfg.params.reports_dir)
    return p if p.is_absolute() else config.PROJECT_ROOT / p


def _abs(path: str | None) -> str | None:
    if not path or str(path).startswith(("spark:", "sc://", "duckdb:///")):   # a source URL, not a path
        return path
    p = Path(path)
    return str(p if p.is_absolute() else config.PROJECT_ROOT / p)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Free space a pack needs: 1.5 x the profile's last pack (notebooks grow; the index figure and
# run.log come on top), and never less than MIN_PACK_BYTES, for a profile's first pack (the
# tiny-bank quarterly pack measured 8.4 MB on 2026-12-03; its size barely grows with the bank).
PACK_HEADROOM = 1.5
MIN_PACK_BYTES = 25 * fsafe.MB


def expected_pack_bytes(profile_dir: Path) -> int:
    """Free space to ask for before building a pack of this profile (see ``PACK_HEADROOM``)."""
    packs = [p for p in profile_dir.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")] \
        if profile_dir.is_dir() else []
    last = max(packs, key=lambda p: p.stat().st_mtime, default=None)
    return max(MIN_PACK_BYTES, int(PACK_HEADROOM * fsafe.folder_bytes(last))) if last else MIN_PACK_BYTES


def check_reports_folder(root: Path, profile_dir: Path) -> int:
    """The reports folder of a profile is writable and has room for a pack; free bytes, else EnvironmentFault.

    Nothing is left behind: a probe file is written in the nearest existing folder on the
    way to ``profile_dir`` and removed again.
    """
    fsafe.inside(root, profile_dir)  # a planted symlink on the way is refused here
    return fsafe.check_writable(profile_dir, expected_pack_bytes(profile_dir),
                                what="reports folder")


def _clean_stale(profile_dir: Path) -> None:
    """Remove build folders left by killed runs (their process is gone)."""
    for d in profile_dir.glob(".build-*"):
        try:
            pid = int(d.name.rsplit("-", 1)[-1])
        except ValueError:
            continue
        if not _pid_alive(pid):
            logger.info("removing stale build folder %s (process %d is gone)", d, pid)
            shutil.rmtree(d, ignore_errors=True)


def run_pack(profile: str, period: str | None = None, overrides: list[str] | None = None,
             force: bool = False, parameters_dir: Path | None = None, facts_only: bool = False,
             zygotes=None, index: bool = True, checked: "SourceCheck | None" = None) -> PackResult:
    """Build the pack of ``profile`` for ``period`` and publish it.

    Parameters
    ----------
    profile : str
        A profile in ``parameters/profiles`` (monthly, quarterly, annual).
    period : str, optional
        ``2026-09``, ``2026Q3`` or ``2026``; default the data's last closed period.
    overrides : list of str
        ``key=value`` overrides (``--set``), applied last.
    force : bool
        Replace an existing pack, keeping the old one under ``.archive/``.
    facts_only : bool
        Build the period's facts without pages (``crm-workbench backfill``): each notebook's code
        cells run as under Papermill (``crm_lib.reporting.factsonly``) and record the same facts,
        lists and files, but no notebook or HTML page is written. The manifest says
        ``"built": "facts only"``; the index lists the period and its trend points.
    zygotes : crm_lib.reporting.factsonly.Zygotes, optional
        The worker processes of a facts-only build (``backfill`` shares one pool across periods);
        default: a pool of ``parallel`` workers for this pack.
    index : bool
        Rebuild ``index.html`` after publishing (``backfill`` rebuilds it once, at its end).
    checked : SourceCheck, optional
        The door's verdict on this source for this profile (``check_once``); ``backfill`` checks
        the source once for all its periods. Default: checked here.

    Returns
    -------
    PackResult
        ``status`` is ``ok`` when no notebook that ran failed, ``failed`` otherwise (the pack
        is still published, with the failed notebooks' errors visible). A notebook whose
        needs (``crm_lib.data.needs``) the source cannot meet is not run: it is listed with
        status ``not run`` and its reason, and the rest of the pack builds.

    Raises
    ------
    ConfigError, DataContractError, PackExists, LockHeld
        Before any notebook starts; nothing is written.
    EnvironmentFault
        The reports folder is not writable, lacks room for a pack (checked before any
        notebook starts), fills up or turns read-only during the build, or holds a planted
        symlink: one line saying what, where and what to do. The build folder is removed,
        the lock released, the previous pack and the index are untouched.
    """
    t0 = time.perf_counter()
    started = _now()
    cfg = config.resolve(profile, overrides, parameters_dir)
    with pack_engine(cfg.params.source):
        return _run_pack(cfg, profile, period, force, facts_only, zygotes, index, checked, t0, started)


def pack_engine(source):
    """The engine of a pack, started once for the pack: for ``spark:local[N]?path=...`` one local Spark
    Connect server that the door and every notebook kernel share (``crm_lib.data.spark.pack_server``);
    for any other source nothing. A context manager; nested uses share the outer one."""
    if not (isinstance(source, str) and source.startswith("spark:local")):
        return contextlib.nullcontext()
    from crm_lib.data.spark import pack_server

    return pack_server(source)


def _run_pack(cfg, profile, period, force, facts_only, zygotes, index, checked, t0, started) -> PackResult:
    params = cfg.params
    root = reports_root(cfg)
    check_reports_folder(root, root / profile)
    source = _abs(params.source)
    mapping = _abs(params.mapping)
    checked = checked or check_once(cfg)
    report, fingerprint = checked.report, checked.fingerprint
    per = config.resolve_period(period, params.period_kind, checked.data_end)
    not_run = {nb: why for nb in params.notebooks if (why := unmet(nb, checked.shape))}
    profile_dir = root / profile
    final = profile_dir / per.label
    if final.exists() and not force:
        raise PackExists(f"pack {final} already exists; use --force to rebuild it (the old pack is kept aside)")
    what = f"pack {profile}/{per.label} not built"
    info = profile_dir / f".{per.label}.lock.json"
    for planted in (final, profile_dir / ".archive", info):  # refuse a planted symlink before any notebook runs
        fsafe.inside(root, planted)
    try:
        fsafe.makedirs(root, profile_dir)
        lock = fsafe.try_lock(root, profile_dir / f".{per.label}.lock")
    except OSError as e:
        raise fsafe.fault(e, what) from None
    if lock is None:
        holder = ""
        if info.is_file() and not info.is_symlink():
            holder = f" by {info.read_text(errors='replace').strip()[:200]}"
        raise LockHeld(f"pack {profile}/{per.label} is being built{holder}; try again when it finishes") from None
    try:
        fsafe.write_text(root, info, json.dumps({"pid": os.getpid(), "started": started}))
        _clean_stale(profile_dir)
        # a facts-only build runs its notebooks in worker processes: the caller's, else a pool of its own
        own = facts_only and zygotes is None
        with (facts_only_workers(cfg) if own else contextlib.nullcontext(zygotes)) as workers:
            return _build(cfg, per, source, mapping, report, fingerprint, final, force, started, t0, root, not_run,
                          workers if facts_only else None, index)
    except BaseException as e:
        # the message first (it reports the free space as the build left it), then the build goes
        fault = None
        if fsafe.is_environment_error(e):
            file = Path(e.filename) if e.filename else None
            in_pack = file is None or file.is_relative_to(profile_dir)
            fault = fsafe.fault(e, what, profile_dir if in_pack else file)
        shutil.rmtree(profile_dir / f".build-{per.label}-{os.getpid()}", ignore_errors=True)
        if fault is None:
            raise
        need = ""
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            need = f" (expected size of a pack of this profile: {expected_pack_bytes(profile_dir) / fsafe.MB:.0f} MB)"
        raise EnvironmentFault(f"{fault}{need}; nothing was published: the previous pack and the index "
                               f"are unchanged") from None
    finally:
        try:
            if info.is_file() and not info.is_symlink():
                info.unlink()
        except OSError:
            pass
        fsafe.unlock(lock)


@dataclass
class SourceCheck:
    """What the door found, once per source and profile: its report (errors raised already), the
    data's end, the source's fingerprint and shape (which tables and columns it has)."""
    report: object
    data_end: object
    fingerprint: str
    shape: object


def check_once(cfg: RunConfig) -> SourceCheck:
    """Check ``cfg``'s source against what its notebooks need; raise on errors (nothing written).

    Raises
    ------
    DataContractError
        The source breaks a contract a notebook of the profile needs.
    """
    params = cfg.params
    wh, report = check_source(_abs(params.source), mapping=_abs(params.mapping), notebooks=params.notebooks,
                              memory_limit=resolve_memory_limit(params.duckdb_memory_limit, 1))
    try:
        report.raise_for_errors()
        return SourceCheck(report, wh.data_end().date(), wh.fingerprint(), source_shape(wh))
    finally:
        wh.close()


def _build(cfg: RunConfig, per: Period, source: str, mapping: str | None, report, fingerprint: str,
           final: Path, force: bool, started: str, t0: float, root: Path,
           not_run: dict | None = None, zygotes=None, index: bool = True) -> PackResult:
    params = cfg.params
    build = final.parent / f".build-{per.label}-{os.getpid()}"
    fsafe.rmtree(root, build)
    fsafe.makedirs(root, build / "facts")
    log_handler = logging.FileHandler(build / "run.log")
    log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    pkg_logger = logging.getLogger("crm_lib")
    log_handler.setLevel(logging.INFO)
    pkg_logger.addHandler(log_handler)
    if pkg_logger.level == logging.NOTSET or pkg_logger.level > logging.INFO:
        pkg_logger.setLevel(logging.INFO)  # library use without the CLI: still fill run.log
    try:
        logger.info("pack %s/%s: source %s (fingerprint %s), %d notebook(s)", cfg.profile, per.label, source,
                    fingerprint, len(params.notebooks))
        door = door_summary(report)
        fsafe.write_text(root, build / "door.json", json.dumps(door, indent=2, default=str))
        resolved = {**cfg.as_dict(), "source": source, "mapping": mapping}
        fsafe.write_text(root, build / "parameters.yaml", yaml.safe_dump(resolved, sort_keys=False))
        # Resolve the pseudonymisation key once (a missing key warns here, in run.log, not in
        # every reviewer page) and hand it to the kernels through their environment.
        from crm_lib.data.privacy import KEY_ENV, pseudonym_key

        key_source = "environment" if os.environ.get(KEY_ENV) else "per-install key file (CRM_PSEUDONYM_KEY unset)"
        key = pseudonym_key()
        results = _execute_all(cfg, per, resolved, build, key, not_run or {}, zygotes)
        facts = []
        for r in results:
            facts.extend(load_facts(build / "facts" / f"{r.name}.json"))
            r.omitted = omitted_sections(load_facts(build / "facts" / f"{r.name}.json"))
        fsafe.write_text(root, build / "facts.json", json.dumps(facts, indent=2, default=str))
        status = STATUS_OK if all(r.status in (STATUS_OK, STATUS_NOT_RUN) for r in results) else STATUS_FAILED
        manifest = {
            "profile": cfg.profile, "period": per.label, "period_start": str(per.start), "period_end": str(per.end),
            "status": status, "built": BUILT_FULL if zygotes is None else BUILT_FACTS_ONLY,
            "started": started, "finished": _now(),
            "seconds": round(time.perf_counter() - t0, 2),
            "parameters": resolved, "parameter_sources": cfg.sources,
            "data": {"source": source, "fingerprint": fingerprint, "rows": door["rows"]},
            "code_version": _code_version(), "python": sys.version.split()[0], "kernel": params.kernel,
            "seed": params.seed, "host_cores": os.cpu_count(), "pseudonym_key": key_source,
            "host_memory_mb": round(machine_memory_mb()),
            "duckdb_memory_limit_per_kernel": _memory_env(cfg).get(MEMORY_ENV, "DuckDB's default (80% of memory)"),
            "notebooks": [r.__dict__ for r in results],
        }
        fsafe.write_text(root, build / "manifest.json", json.dumps(manifest, indent=2, default=str))
    except BaseException as e:
        pkg_logger.removeHandler(log_handler)
        log_handler.close()
        if not fsafe.is_environment_error(e):  # else run_pack measures the free space first, then removes it
            shutil.rmtree(build, ignore_errors=True)
        raise
    logger.info("pack %s/%s %s in %.1fs", cfg.profile, per.label, status, time.perf_counter() - t0)
    pkg_logger.removeHandler(log_handler)
    log_handler.close()
    try:
        archived = _publish(build, final, force, root)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    result = PackResult(cfg.profile, per.label, final, status, results, archived)
    if not index:
        return result
    from crm_lib.reporting.index import build_index

    try:
        build_index(root)
    except OSError as e:
        if not fsafe.is_environment_error(e):
            raise
        raise EnvironmentFault(f"{fsafe.fault(e, 'reports index not rebuilt')}; the pack itself was published "
                               f"at {final}") from None
    return result


def _publish(build: Path, final: Path, force: bool, root: Path) -> Path | None:
    """Move the finished build into place; an old pack goes to .archive/ (only with force)."""
    archived = None
    if final.exists() or final.is_symlink():
        if not force:
            shutil.rmtree(build, ignore_errors=True)
            raise PackExists(f"pack {final} appeared while building; nothing was overwritten")
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        archived = final.parent / ".archive" / f"{final.name}-{stamp}"
        fsafe.makedirs(root, archived.parent)
        fsafe.replace(root, final, archived)
        logger.info("kept the previous pack aside: %s", archived)
    fsafe.replace(root, build, final)
    return archived


def _execute_all(cfg: RunConfig, per: Period, resolved: dict, build: Path, key: str,
                 not_run: dict | None = None, zygotes=None) -> list[NotebookResult]:
    not_run = not_run or {}
    results = {n: NotebookResult(n, STATUS_NOT_RUN, 0.0, 0.0, 0.0, reason=not_run[n]) for n in not_run}
    for n, r in results.items():
        logger.info("%s not run: %s", n, r.reason)
    names = [n for n in cfg.params.notebooks if n not in not_run]
    total = len(names)
    done = []

    def one(name: str) -> NotebookResult:
        r = (_execute(name, cfg, per, resolved, build, key) if zygotes is None
             else _execute_facts_only(name, cfg, per, resolved, build, key, zygotes))
        done.append(r)
        logger.info("[%d/%d] %s %s in %.1fs%s%s", len(done), total, name, r.status, r.seconds,
                    f", peak memory {r.peak_memory_mb:,.0f} MB" if r.peak_memory_mb else "",
                    f": {r.error}" if r.error else "")
        return r

    # Review notebooks (90-99) read the others' facts, so they run after them. The rest start longest first.
    first = longest_first([n for n in names if not n.startswith("9")], build.parent)
    last = [n for n in names if n.startswith("9")]
    for batch in (first, last):
        if batch:
            with ThreadPoolExecutor(max_workers=min(cfg.params.parallel, len(batch))) as pool:
                results.update(zip(batch, pool.map(one, batch)))
    return [results[n] for n in cfg.params.notebooks]


# How long each notebook takes relative to the others, when no earlier pack of the profile has timings:
# execute seconds of the 1M-customer quarterly pack (benchmarks/results.json "pack_1m", 2026-12-03).
TYPICAL_SECONDS = {"20_churn": 438, "40_clv": 362, "10_segmentation": 132, "50_next_best_product": 119,
                   "00_data_overview": 114, "30_satisfaction": 32, "31_complaints_sla": 29}


def longest_first(names: list[str], profile_dir: Path) -> list[str]:
    """``names`` in the order to start them: longest first, so the pool's workers finish close together.

    Longest-processing-time-first list scheduling: with ``parallel`` workers the pack ends at most
    4/3 of the optimum (Graham 1969), where the profile's order can leave the longest notebook to
    start last. A notebook's length is its ``execute_seconds`` in the newest pack of the profile
    (``profile_dir``) that has timings, else ``TYPICAL_SECONDS``; one with neither is started first
    (it may be long). Ties keep the profile's order.
    """
    seconds = dict(TYPICAL_SECONDS)
    manifests = sorted((p / "manifest.json" for p in profile_dir.iterdir()
                        if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").is_file()),
                       key=lambda m: m.stat().st_mtime, reverse=True) if profile_dir.is_dir() else []
    for m in manifests:
        try:
            timed = {r["name"]: float(r["execute_seconds"]) for r in json.loads(m.read_text()).get("notebooks", [])
                     if r.get("status") == STATUS_OK and r.get("execute_seconds")}
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if timed:
            seconds = timed
            break
    return sorted(names, key=lambda n: -seconds.get(n, float("inf")))


def _notebook_parameters(name: str, cfg: RunConfig, per: Period, resolved: dict, build: Path) -> Path:
    """The parameters the runner injects into notebook ``name`` (a YAML file in the build folder)."""
    nb_params = {"source": resolved["source"], "period": per.label, "profile": cfg.profile,
                 "params": resolved, "facts_path": str(build / "facts" / f"{name}.json"),
                 "door_path": str(build / "door.json")}
    pfile = build / f".{name}.params.yaml"
    pfile.write_text(yaml.safe_dump(nb_params, sort_keys=False))
    return pfile


def facts_only_workers(cfg: RunConfig):
    """The worker processes of a facts-only build: ``parallel`` zygotes started with the run's seed
    (``PYTHONHASHSEED``, as the kernels of a full pack get it). Use as a context manager."""
    from crm_lib.reporting.factsonly import Zygotes

    return Zygotes(cfg.params.parallel, {**os.environ, "PYTHONHASHSEED": str(cfg.params.seed), **_memory_env(cfg)})


def _execute_facts_only(name: str, cfg: RunConfig, per: Period, resolved: dict, build: Path,
                        key: str, zygotes) -> NotebookResult:
    """Run notebook ``name``'s code cells in a process of their own (``crm_lib.reporting.factsonly``):
    the same cells, parameters, seed and key as ``_execute``, no kernel, notebook or page."""
    src = config.default_notebooks_dir() / f"{name}.ipynb"
    pfile = _notebook_parameters(name, cfg, per, resolved, build)
    logger.info("%s: executing (facts only)", name)
    t0 = time.perf_counter()
    from crm_lib.data.privacy import KEY_ENV

    try:
        proc = zygotes.run([str(src), str(pfile), str(cfg.params.notebook_timeout_s)],
                           build / f".{name}.stderr", {KEY_ENV: key})
    except ChildProcessError as e:   # the worker itself was killed
        proc = subprocess.CompletedProcess([], -signal.SIGKILL, "", str(e))
    finally:
        pfile.unlink(missing_ok=True)
        (build / f".{name}.stderr").unlink(missing_ok=True)
    status, error = STATUS_OK, ""
    if proc.returncode != 0:
        status, error = STATUS_FAILED, _papermill_error(proc.stderr)
        raise_if_machine_fault(error, build / "facts" / f"{name}.json")
        if proc.returncode < 0:
            error = f"killed (signal {-proc.returncode}); the machine may be out of memory"
        elif "MemoryError" in error:
            error += f"; {OUT_OF_MEMORY}"
        (build / f"{name}.stderr.txt").write_text(proc.stderr[-20000:])
    secs = round(time.perf_counter() - t0, 2)
    return NotebookResult(name, status, secs, secs, 0.0, error)


# glibc gives freed heap memory back to the machine once 64 KiB are free at the heap's top, instead of its default
# 128 KiB grown to 32 MiB by large frees (as Dask sets for its workers): a kernel that drops a frame of millions of
# rows then holds less for the next one (the 1M bank's segmentation: 1.96 against 1.55 GB held after
# analyse_period, peak 2.22 against 2.04 GB). A value already in the environment is kept.
MALLOC_TRIM_ENV, MALLOC_TRIM_BYTES = "MALLOC_TRIM_THRESHOLD_", "65536"


def _memory_env(cfg: RunConfig) -> dict:
    """The environment that gives each notebook kernel its DuckDB memory limit (``duckdb_memory_limit``) and glibc's
    trim threshold (``MALLOC_TRIM_ENV``)."""
    limit = resolve_memory_limit(cfg.params.duckdb_memory_limit, cfg.params.parallel)
    env = {MEMORY_ENV: limit} if limit else {}
    if MALLOC_TRIM_ENV not in os.environ:
        env[MALLOC_TRIM_ENV] = MALLOC_TRIM_BYTES
    return env


def _execute(name: str, cfg: RunConfig, per: Period, resolved: dict, build: Path, key: str) -> NotebookResult:
    src = config.default_notebooks_dir() / f"{name}.ipynb"
    out = build / f"{name}.ipynb"
    pfile = _notebook_parameters(name, cfg, per, resolved, build)
    cmd = [sys.executable, "-m", "papermill", str(src), str(out), "-f", str(pfile), "-k", cfg.params.kernel,
           "--cwd", str(config.default_notebooks_dir()), "--execution-timeout", str(cfg.params.notebook_timeout_s),
           "--no-progress-bar", "--log-level", "WARNING"]
    logger.info("%s: executing", name)
    t0 = time.perf_counter()
    from crm_lib.data.privacy import KEY_ENV

    for attempt in range(KERNEL_START_RETRIES + 1):
        proc = run_papermill(cmd, {**os.environ, "PYTHONHASHSEED": str(cfg.params.seed), KEY_ENV: key,
                                   **_memory_env(cfg)})
        if proc.returncode == 0 or not _kernel_did_not_start(proc.stderr) or attempt == KERNEL_START_RETRIES:
            break
        logger.warning("%s: the kernel did not start (%s); starting it again (%d of %d)", name,
                       _papermill_error(proc.stderr), attempt + 1, KERNEL_START_RETRIES)
        time.sleep(1.0 + attempt)
    t_exec = time.perf_counter() - t0
    pfile.unlink(missing_ok=True)
    error = ""
    status = STATUS_OK if proc.returncode == 0 else STATUS_FAILED
    if status == STATUS_FAILED:
        error = _papermill_error(proc.stderr)
        raise_if_machine_fault(error, out)
        if proc.returncode == PAPERMILL_DEAD_KERNEL or proc.returncode < 0:
            error = mark_dead_kernel(out, proc.returncode)
        elif "MemoryError" in error:
            error += f"; {OUT_OF_MEMORY}"
        (build / f"{name}.stderr.txt").write_text(proc.stderr[-20000:])
    t1 = time.perf_counter()
    if out.exists():
        try:
            render_html(out, build / f"{name}.html", failed=status == STATUS_FAILED)
        except OSError as e:
            if fsafe.is_environment_error(e):
                raise
            logger.error("%s: HTML render failed: %s", name, e)
            status, error = STATUS_FAILED, error or f"render failed: {e}"
        except Exception as e:  # a render failure must not hide the notebook's own result
            logger.error("%s: HTML render failed: %s", name, e)
            status, error = STATUS_FAILED, error or f"render failed: {e}"
    else:
        error = error or "papermill wrote no output notebook"
    return NotebookResult(name, status, round(time.perf_counter() - t0, 2), round(t_exec, 2),
                          round(time.perf_counter() - t1, 2), error,
                          peak_memory_mb=getattr(proc, "peak_memory_mb", None))


# Kernels launched side by side can lose a race for their ZMQ ports and die before answering
# (nteract/papermill#239, jupyter/jupyter_client#154). These messages come only from the start-up
# handshake, before any cell runs, so starting the notebook again is safe.
KERNEL_START_FAILURES = ("Kernel died before replying to kernel_info", "Kernel didn't respond in")
KERNEL_START_RETRIES = 2


def _kernel_did_not_start(stderr: str) -> bool:
    return any(m in stderr for m in KERNEL_START_FAILURES)


def _papermill_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "Exception" in ln:
            return ln[:300]
    return (lines[-1] if lines else "notebook failed")[:300]


def existing_pack(profile: str, period: str | None, overrides: list[str] | None = None) -> Path | None:
    """The published pack folder of ``profile``/``period`` (default: last closed), if it exists."""
    from crm_lib.data.store import open_source

    cfg = config.resolve(profile, overrides)
    with open_source(_abs(cfg.params.source), mapping=_abs(cfg.params.mapping)) as wh:
        per = config.resolve_period(period, cfg.params.period_kind, wh.data_end().date())
    path = reports_root(cfg) / profile / per.label
    return path if path.exists() else None


def due_periods(kind: str, since, data_end) -> list[Period]:
    """Closed periods of ``kind`` ending on or after ``since`` and on or before ``data_end``."""
    last = Period.last_closed(kind, data_end)
    out = []
    p = last
    while p.end >= since:
        out.append(p)
        p = p.previous()
    return sorted(out, key=lambda x: x.start)


def list_packs(reports_dir: Path) -> list[dict]:
    """Every published pack under ``reports_dir``: profile, period, status, timing."""
    out = []
    if not reports_dir.exists():
        return out
    for prof in sorted(p for p in reports_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for pack in sorted(p for p in prof.iterdir() if p.is_dir() and not p.name.startswith(".")):
            m = pack / "manifest.json"
            info = json.loads(m.read_text()) if m.exists() else {}
            out.append({"profile": prof.name, "period": pack.name, "status": info.get("status", "unknown"),
                        "finished": info.get("finished", ""), "seconds": info.get("seconds"),
                        "notebooks": len(info.get("notebooks", [])), "path": str(pack)})
    return out
