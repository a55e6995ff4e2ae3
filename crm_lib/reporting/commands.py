"""``crm-workbench run``, ``run-due`` and ``list``: the scheduler's commands."""

from __future__ import annotations

import logging
from pathlib import Path

from crm_lib import config

logger = logging.getLogger(__name__)

EXIT_NOTEBOOK = 4


def _print_result(r) -> None:
    print(f"{r.profile}/{r.period}: {r.status} -> {r.path}")
    for nb in r.notebooks:
        print(f"  {nb.name:<28} {nb.status:<7} {nb.seconds:>6.1f}s  {nb.error}")
    if r.archived:
        print(f"  previous pack kept at {r.archived}")


def cmd_run(args) -> int:
    from crm_lib.reporting.runner import run_pack

    overrides = list(args.set or [])
    if args.source:
        overrides.append(f"source={args.source}")
    if args.if_missing and not args.force:
        from crm_lib.reporting.runner import existing_pack

        found = existing_pack(args.profile, args.period, overrides)
        if found:
            print(f"{found} already built (use --force to rebuild; the old pack is kept aside)")
            print(f"open {found.parent.parent / 'index.html'}")
            return 0
    r = run_pack(args.profile, args.period, overrides, force=args.force)
    _print_result(r)
    index = r.path.parent.parent / "index.html"
    print(f"open {r.path / (r.notebooks[0].name + '.html')} or the index {index}")
    return 0 if r.ok else EXIT_NOTEBOOK


def cmd_run_due(args) -> int:
    from crm_lib.data.store import open_source
    from crm_lib.reporting.runner import due_periods, reports_root, run_pack

    profiles = args.profiles or sorted(p.stem for p in (config.default_parameters_dir() / "profiles").glob("*.yaml"))
    overrides = list(args.set or [])
    if args.source:
        overrides.append(f"source={args.source}")
    worst = 0
    built = 0
    for profile in profiles:
        cfg = config.resolve(profile, overrides)
        src = cfg.params.source if Path(cfg.params.source).is_absolute() else str(config.PROJECT_ROOT / cfg.params.source)
        with open_source(src) as wh:
            end = wh.data_end().date()
        root = reports_root(cfg) / profile
        due = [p for p in due_periods(cfg.params.period_kind, cfg.params.schedule.since, end)
               if not (root / p.label).exists()]
        if not due:
            print(f"{profile}: nothing due")
        for i, p in enumerate(due, 1):
            print(f"{profile}: building {p.label} ({i}/{len(due)})", flush=True)
            r = run_pack(profile, p.label, overrides)
            _print_result(r)
            built += 1
            if not r.ok:
                worst = EXIT_NOTEBOOK
    print(f"run-due: {built} pack(s) built")
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


def add_commands(sub) -> None:
    r = sub.add_parser("run", help="build one report pack (profile and period)")
    r.add_argument("profile", help="monthly, quarterly or annual (parameters/profiles/)")
    r.add_argument("--period", help="2026-09, 2026Q3 or 2026 (default: the data's last closed period)")
    r.add_argument("--source", help="warehouse source (overrides the parameters' source)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (repeatable)")
    r.add_argument("--force", action="store_true", help="rebuild an existing pack; the old one is kept aside")
    r.add_argument("--if-missing", action="store_true", help="exit 0 without building when the pack already exists")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("run-due", help="build every closed period that has no pack yet (cron-friendly)")
    d.add_argument("profiles", nargs="*", help="profiles to consider (default: all)")
    d.add_argument("--source", help="warehouse source (overrides the parameters' source)")
    d.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (repeatable)")
    d.set_defaults(func=cmd_run_due)

    ls = sub.add_parser("list", help="list report packs and their status")
    ls.add_argument("--profile", help="profile whose parameters locate the reports folder")
    ls.add_argument("--set", action="append", metavar="KEY=VALUE")
    ls.set_defaults(func=cmd_list)
