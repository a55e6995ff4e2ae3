"""The ``crm-workbench`` command: demo data, validation, report runs.

Exit codes (for schedulers): 0 success; 2 bad parameters; 3 bad data or source;
4 a notebook failed; 5 a run of the same pack is already in progress; 6 a fault of the
machine (reports folder not writable or full, a planted symlink, an exposed key file;
``crm-workbench doctor`` checks these); 1 anything else.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from crm_lib.errors import WorkbenchError

logger = logging.getLogger("crm_lib")

EXIT_OK, EXIT_ERROR, EXIT_CONFIG, EXIT_DATA, EXIT_NOTEBOOK, EXIT_LOCKED, EXIT_ENVIRONMENT = 0, 1, 2, 3, 4, 5, 6


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    handler.setLevel(level)
    root = logging.getLogger("crm_lib")
    root.handlers[:] = [handler]
    root.setLevel(min(level, logging.INFO))  # run.log records INFO whatever the console shows


def cmd_demo_data(args) -> int:
    from crm_lib.data.synthetic import generate

    meta = generate(args.out, args.customers or args.size, seed=args.seed, end_date=args.end_date, force=args.force)
    out = Path(args.out)
    print(f"synthetic bank: {meta['n_customers']:,} customers, {meta['history_start']} to {meta['end_date']}, "
          f"seed {meta['seed']}, {meta['seconds']}s")
    print(f"warehouse: {out / 'warehouse.duckdb'}")
    print(f"ground truth: {out / 'ground_truth.json'}")
    return EXIT_OK


def cmd_validate(args) -> int:
    from crm_lib import config
    from crm_lib.data.door import check_source

    cfg = config.resolve(args.profile)   # the source is checked against what its notebooks need
    wh, report = check_source(args.source, mapping=args.mapping, notebooks=cfg.params.notebooks)
    print(report.text())
    try:
        if report.ok:  # what each notebook of the profile will do with this source
            from crm_lib.data.door import notebook_verdicts, verdicts_text

            per = config.Period.last_closed(cfg.params.period_kind, wh.data_end().date())
            print(verdicts_text(notebook_verdicts(wh, report, cfg.params.notebooks, cfg.as_dict(), per),
                                args.profile, per.label))
    finally:
        wh.close()
    return EXIT_OK if report.ok else EXIT_DATA


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crm-workbench", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="count", default=1, help="more log output (-vv for debug)")
    p.add_argument("-q", "--quiet", action="store_const", const=0, dest="verbose", help="warnings and errors only")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo-data", help="generate the synthetic bank (warehouse + planted truth)")
    d.add_argument("--size", default="small", help="tiny (~2k), small (~50k, default), large (1M)")
    d.add_argument("--customers", type=int, help="exact number of customers (overrides --size)")
    d.add_argument("--out", default="data/demo", help="output folder (default data/demo)")
    d.add_argument("--seed", type=int, default=20261)
    d.add_argument("--end-date", help="last day of data (default: end of the last closed quarter)")
    d.add_argument("--force", action="store_true", help="replace an existing folder")
    d.set_defaults(func=cmd_demo_data)

    v = sub.add_parser("validate", help="check a source against the canonical contracts")
    v.add_argument("source", help="DuckDB file, or a folder of Parquet or CSV tables")
    v.add_argument("--mapping", help="column mapping YAML (parameters/mappings/...)")
    v.add_argument("--profile", default="quarterly",
                   help="the pack whose notebooks are checked against the source (default quarterly)")
    v.set_defaults(func=cmd_validate)

    from crm_lib.data.propose import add_map_command  # crm-workbench map SOURCE [--out FILE]

    add_map_command(sub)

    try:
        from crm_lib.reporting.commands import add_commands
    except ImportError:  # pragma: no cover - reporting not installed
        return p
    add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except WorkbenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # no space, read-only, no permission: one line, not a traceback
        from crm_lib.reporting.fsafe import fault, is_environment_error

        if not is_environment_error(e):
            raise
        print(f"error: {fault(e, f'crm-workbench {args.command}', verb='read or write')}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
