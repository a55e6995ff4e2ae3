"""``crm-workbench run``, ``run-due``, ``backfill``, ``list`` and ``doctor``: the scheduler's commands."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from crm_lib import config
from crm_lib.errors import ConfigError

logger = logging.getLogger(__name__)

EXIT_NOTEBOOK = 4
EXIT_ENVIRONMENT = 6


def _print_result(r) -> None:
    print(f"{r.profile}/{r.period}: {r.status} -> {r.path}")
    for nb in r.notebooks:
        print(f"  {nb.name:<28} {nb.status:<7} {nb.seconds:>6.1f}s  {nb.error}")
        for o in getattr(nb, "omitted", []):
            print(f"    not estimable: {o['section']}: {o['reason']}")
    if r.archived:
        print(f"  previous pack kept at {r.archived}")


def cmd_run(args) -> int:
    from crm_lib.reporting.runner import _abs, pack_engine

    overrides = list(args.set or [])
    if args.source:
        overrides.append(f"source={args.source}")
    with pack_engine(_abs(config.resolve(args.profile, overrides).params.source)):
        return _run(args, overrides)


def _run(args, overrides) -> int:
    from crm_lib.reporting.runner import run_pack

    if args.if_missing and not args.force:
        from crm_lib.reporting.runner import existing_pack

        found = existing_pack(args.profile, args.period, overrides)
        if found:
            print(f"{found} already built (use --force to rebuild; the old pack is kept aside)")
            print(f"open {found.parent.parent / 'index.html'}")
            return 0
    r = run_pack(args.profile, args.period, overrides, force=args.force, facts_only=args.facts_only)
    _print_result(r)
    index = r.path.parent.parent / "index.html"
    if args.facts_only:
        print(f"facts only (no pages): {r.path / 'facts.json'}; the index {index} shows its trend points")
    else:
        print(f"open {r.path / (r.notebooks[0].name + '.html')} or the index {index}")
    return 0 if r.ok else EXIT_NOTEBOOK


def cmd_run_due(args) -> int:
    from crm_lib.reporting.runner import _abs, pack_engine

    profiles = args.profiles or sorted(p.stem for p in (config.default_parameters_dir() / "profiles").glob("*.yaml"))
    overrides = list(args.set or [])
    if args.source:
        overrides.append(f"source={args.source}")
    worst = 0
    built = 0
    for profile in profiles:
        cfg = config.resolve(profile, overrides)
        with pack_engine(_abs(cfg.params.source)):
            n, failed = _run_due(profile, cfg, overrides)
        built += n
        worst = EXIT_NOTEBOOK if failed else worst
    print(f"run-due: {built} pack(s) built")
    return worst


def _run_due(profile: str, cfg, overrides: list[str]) -> tuple[int, bool]:
    """Build ``profile``'s due packs: (how many were built, whether a notebook failed)."""
    from crm_lib.data.store import open_source
    from crm_lib.reporting.runner import _abs, due_periods, reports_root, run_pack

    with open_source(_abs(cfg.params.source)) as wh:
        end = wh.data_end().date()
    root = reports_root(cfg) / profile
    due = [p for p in due_periods(cfg.params.period_kind, cfg.params.schedule.since, end)
           if not (root / p.label).exists()]
    if not due:
        print(f"{profile}: nothing due")
    failed = False
    for i, p in enumerate(due, 1):
        print(f"{profile}: building {p.label} ({i}/{len(due)})", flush=True)
        r = run_pack(profile, p.label, overrides)
        _print_result(r)
        failed = failed or not r.ok
    return len(due), failed


def backfill_periods(kind: str, until, count: int, data_start=None) -> list:
    """The ``count`` periods of ``kind`` before ``until`` (a ``Period``), oldest first; periods that
    start before ``data_start`` are left out (the data cannot build them)."""
    out, p = [], until
    for _ in range(count):
        p = p.previous()
        if data_start is not None and p.start < data_start:
            break
        out.append(p)
    return out[::-1]


def cmd_backfill(args) -> int:
    from crm_lib.reporting.runner import _abs, pack_engine

    overrides = list(args.set or [])
    if args.source:
        overrides.append(f"source={args.source}")
    cfg = config.resolve(args.profile, overrides)
    if args.notebooks:   # a subset of the profile's notebooks, in the profile's order
        want = [n.strip() for n in args.notebooks.split(",") if n.strip()]
        unknown = [n for n in want if not (config.default_notebooks_dir() / f"{n}.ipynb").is_file()]
        if unknown:
            raise ConfigError(f"backfill --notebooks: no notebook {', '.join(unknown)} in "
                              f"{config.default_notebooks_dir()}")
        keep = [n for n in cfg.params.notebooks if n in want]   # the others are not in this profile
        if not keep:
            raise ConfigError(f"backfill --notebooks: none of {', '.join(want)} is in profile {args.profile} "
                              f"({', '.join(cfg.params.notebooks)})")
        overrides.append("notebooks=[" + ", ".join(keep) + "]")
        cfg = config.resolve(args.profile, overrides)
    with pack_engine(_abs(cfg.params.source)):
        return _backfill(args, cfg, overrides)


def _backfill(args, cfg, overrides: list[str]) -> int:
    from crm_lib.data.store import open_source
    from crm_lib.reporting.index import build_index
    from crm_lib.reporting.runner import _abs, check_once, facts_only_workers, reports_root, run_pack

    with open_source(_abs(cfg.params.source)) as wh:
        end, start = wh.data_end().date(), wh.data_start()
    until = config.resolve_period(args.until, cfg.params.period_kind, end)
    root = reports_root(cfg) / args.profile
    todo = [p for p in backfill_periods(cfg.params.period_kind, until, args.periods, start)
            if not (root / p.label).exists()]
    print(f"backfill {args.profile}: {len(todo)} period(s) before {until.label} to build, facts only"
          + (f" ({', '.join(p.label for p in todo)})" if todo else ""), flush=True)
    worst = 0
    checked = check_once(cfg) if todo else None   # one source, one door check for every period
    with facts_only_workers(cfg) as workers:   # one pool of workers for every period
        for i, p in enumerate(todo, 1):   # oldest first: each period's review and list evaluation read the one before
            print(f"{args.profile}: building {p.label}, facts only ({i}/{len(todo)})", flush=True)
            r = run_pack(args.profile, p.label, overrides, facts_only=True, zygotes=workers, index=False,
                         checked=checked)
            _print_result(r)
            if not r.ok:
                worst = EXIT_NOTEBOOK
    if todo:
        build_index(reports_root(cfg))
    print(f"backfill: {len(todo)} period(s) built (facts only)")
    return worst


def cmd_list(args) -> int:
    from crm_lib.reporting.runner import list_packs

    cfg = config.resolve(args.profile or "quarterly", list(args.set or []))
    root = Path(cfg.params.reports_dir)
    root = root if root.is_absolute() else config.PROJECT_ROOT / root
    packs = list_packs(root)
    if not packs:
        print(f"no packs under {root}")
    for p in packs:
        secs = "" if p["seconds"] is None else f"{p['seconds']:.0f}s"
        print(f"{p['profile']:<10} {p['period']:<8} {p['status']:<8} {p['notebooks']} notebook(s) {secs:>6}  "
              f"{p['finished'][:19]}  {p['path']}")
    return 0


def _check_kernel(name: str) -> tuple[str, str]:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return "FAIL", (f"kernel {name!r} is not registered with Jupyter: run `make env` (or `.venv/bin/python -m "
                        f"ipykernel install --sys-prefix --name {name}`)")
    exe = spec.argv[0] if spec.argv else ""
    if exe and not shutil.which(exe):
        return "FAIL", f"kernel {name!r} ({spec.resource_dir}) starts {exe}, which does not exist: re-register it"
    return "ok", f"kernel {name!r} registered ({spec.resource_dir}), runs {exe}"


def _check_source(source: str, mapping: str | None) -> tuple[str, str]:
    from crm_lib.data.store import open_source
    from crm_lib.errors import WorkbenchError

    try:
        with open_source(source, mapping=mapping) as wh:
            end = wh.data_end().date()
    except (WorkbenchError, OSError) as e:
        return "FAIL", f"source {source} is not readable: {str(e).splitlines()[0]}"
    except Exception as e:  # noqa: BLE001 - a broken file shows as the engine's error, on one line
        return "FAIL", f"source {source} is not readable: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return "ok", f"source {source} readable, data to {end}"


def _check_reports(root: Path, profile: str) -> tuple[str, str]:
    from crm_lib.errors import EnvironmentFault
    from crm_lib.reporting import fsafe
    from crm_lib.reporting.runner import check_reports_folder, expected_pack_bytes

    try:
        free = check_reports_folder(root, root / profile)
    except EnvironmentFault as e:
        return "FAIL", str(e)
    need = expected_pack_bytes(root / profile)
    return "ok", (f"{root / profile} writable, {free / fsafe.MB:,.0f} MB free "
                  f"(a pack needs about {need / fsafe.MB:.0f} MB)")


def _check_key() -> tuple[str, str]:
    import os

    from crm_lib.data.privacy import KEY_ENV, check_key_file, key_file
    from crm_lib.errors import EnvironmentFault

    if os.environ.get(KEY_ENV):
        return "ok", f"{KEY_ENV} is set"
    path = key_file()
    try:
        check_key_file(path)
    except EnvironmentFault as e:
        return "FAIL", str(e)
    state = "in use" if path.exists() else "to be created on the first run"
    return "warn", (f"{KEY_ENV} is not set: the per-install key {path} is {state}; pseudonyms will differ on other "
                    f"machines (set {KEY_ENV} from your secrets manager)")


def _check_fonts() -> tuple[str, str]:
    from matplotlib import font_manager, rcParams

    family = rcParams["font.sans-serif"][0] if rcParams["font.family"] == ["sans-serif"] else rcParams["font.family"][0]
    try:
        path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    except ValueError:
        return "FAIL", f"figures: font {family!r} not found; install it (Debian: fonts-dejavu-core)"
    return "ok", f"figures: font {family!r} at {path}"


def _check_chromium() -> tuple[str, str]:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    # No profile renders with a browser: HTML pages come from nbconvert. Only the browser tests need it.
    return "ok", (f"chromium: no profile needs it (browser tests only); "
                  f"{'found at ' + found if found else 'not installed (`make browser` for the tests)'}")


def doctor_checks(profiles: list[str], overrides: list[str] | None = None) -> list[tuple[str, str, str]]:
    """``(status, check, detail)`` per check of what a scheduled run depends on; status ok, warn or FAIL."""
    from crm_lib.errors import ConfigError
    from crm_lib.reporting.runner import _abs, reports_root

    rows: list[tuple[str, str, str]] = []
    seen: set = set()

    def add(check: str, key, fn, *a) -> None:
        if (check, key) in seen:  # profiles sharing a kernel or source are checked once
            return
        seen.add((check, key))
        try:
            status, detail = fn(*a)
        except Exception as e:  # noqa: BLE001 - a check that cannot run is a failed check, on its line
            status, detail = "FAIL", f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
        rows.append((status, check, detail))

    for profile in profiles:
        try:
            cfg = config.resolve(profile, overrides)
        except ConfigError as e:
            rows.append(("FAIL", "parameters", f"{profile}: {' '.join(str(e).split())[:300]}"))
            continue
        p = cfg.params
        rows.append(("ok", "parameters", f"{profile}: {len(p.notebooks)} notebook(s), one pack per {p.period_kind}"))
        add("kernel", p.kernel, _check_kernel, p.kernel)
        add("source", (p.source, p.mapping), _check_source, _abs(p.source), _abs(p.mapping))
        add("reports", (p.reports_dir, profile), _check_reports, reports_root(cfg), profile)
    add("key", None, _check_key)
    add("fonts", None, _check_fonts)
    add("chromium", None, _check_chromium)
    return rows


def cmd_doctor(args) -> int:
    profiles = args.profiles or sorted(p.stem for p in (config.default_parameters_dir() / "profiles").glob("*.yaml"))
    rows = doctor_checks(profiles, list(args.set or []))
    for status, check, detail in rows:
        print(f"{status:<5} {check:<10} {detail}")
    failed = sum(s == "FAIL" for s, _, _ in rows)
    print(f"doctor: {len(rows)} check(s), {failed} failed")
    return EXIT_ENVIRONMENT if failed else 0


def add_commands(sub) -> None:
    r = sub.add_parser("run", help="build one report pack (profile and period)")
    r.add_argument("profile", help="monthly, quarterly or annual (parameters/profiles/)")
    r.add_argument("--period", help="2026-09, 2026Q3 or 2026 (default: the data's last closed period)")
    r.add_argument("--source", help="warehouse source (overrides the parameters' source)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (repeatable)")
    r.add_argument("--force", action="store_true", help="rebuild an existing pack; the old one is kept aside")
    r.add_argument("--if-missing", action="store_true", help="exit 0 without building when the pack already exists")
    r.add_argument("--facts-only", action="store_true",
                   help="record the period's facts without pages (as backfill does); the manifest says so")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("run-due", help="build every closed period that has no pack yet (cron-friendly)")
    d.add_argument("profiles", nargs="*", help="profiles to consider (default: all)")
    d.add_argument("--source", help="warehouse source (overrides the parameters' source)")
    d.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (repeatable)")
    d.set_defaults(func=cmd_run_due)

    b = sub.add_parser("backfill", help="build the facts (no pages) of the periods before one, so its pack has "
                                         "history: trends, the previous period and the same period a year ago")
    b.add_argument("profile", help="monthly, quarterly or annual (parameters/profiles/)")
    b.add_argument("--periods", type=int, default=8, help="how many periods before --until (default 8)")
    b.add_argument("--until", help="the period whose history is built, itself not built (default: the data's "
                                   "last closed period)")
    b.add_argument("--notebooks", help="comma-separated notebooks to run, of those in the profile (default: all of "
                                       "them); the manifest records which ran")
    b.add_argument("--source", help="warehouse source (overrides the parameters' source)")
    b.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (repeatable)")
    b.set_defaults(func=cmd_backfill)

    ls = sub.add_parser("list", help="list report packs and their status")
    ls.add_argument("--profile", help="profile whose parameters locate the reports folder")
    ls.add_argument("--set", action="append", metavar="KEY=VALUE")
    ls.set_defaults(func=cmd_list)

    dr = sub.add_parser("doctor", help="check what a scheduled run needs: kernel, source, reports folder, key, fonts")
    dr.add_argument("profiles", nargs="*", help="profiles to check (default: all)")
    dr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (repeatable)")
    dr.set_defaults(func=cmd_doctor)
