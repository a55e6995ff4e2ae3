"""What a notebook needs in one call: parameters, the checked warehouse, the period, facts.

The same call works in JupyterLab (empty parameters: defaults and the demo data) and
under the runner (parameters injected by Papermill).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from crm_lib import config
from crm_lib.config import Period
from crm_lib.data.door import check_source
from crm_lib.data.store import Warehouse
from crm_lib.reporting.facts import FactBook

logger = logging.getLogger(__name__)

SOURCE_ENV = "CRM_SOURCE"


@dataclass
class NotebookContext:
    """Everything a report notebook reads: ``wh``, ``period``, ``params``, ``facts``, ``door``."""

    notebook: str
    profile: str
    period: Period
    params: dict
    wh: Warehouse
    facts: FactBook
    door: dict
    facts_dir: Path | None = None      # this run's facts so far (None when interactive)
    reports_dir: Path | None = None    # published packs, for earlier periods

    def record(self, *args, **kwargs):
        """Record a fact (see ``FactBook.record``)."""
        return self.facts.record(*args, **kwargs)


def _resolve_source(source: str, params: dict) -> str:
    s = source or os.environ.get(SOURCE_ENV) or params["source"]
    p = Path(s)
    return str(p if p.is_absolute() else config.PROJECT_ROOT / p)


def open_context(notebook: str, source: str = "", period: str = "", profile: str = "quarterly",
                 params: dict | None = None, facts_path: str = "", door_path: str = "") -> NotebookContext:
    """Open the context of one notebook run.

    Parameters
    ----------
    notebook : str
        The notebook's name (facts are tagged with it).
    source : str
        Warehouse source; empty: ``$CRM_SOURCE``, else the parameters' ``source``.
    period : str
        ``2026-09``, ``2026Q3`` or ``2026``; empty: the data's last closed period.
    profile : str
        Parameter profile to resolve when ``params`` is empty.
    params : dict, optional
        Resolved parameters (the runner injects them); empty: resolve ``profile``.
    facts_path : str
        Where recorded facts are saved; empty keeps them in memory.
    door_path : str
        The runner's door report (JSON); empty: validate the source now.

    Raises
    ------
    DataContractError
        When the source breaks its contracts (validated here or by the runner).
    """
    params = dict(params) if params else config.resolve(profile).as_dict()
    src = _resolve_source(source, params)
    mapping = params.get("mapping")
    if mapping and not Path(mapping).is_absolute():
        mapping = str(config.PROJECT_ROOT / mapping)
    if door_path and Path(door_path).exists():
        from crm_lib.data.store import open_source

        wh = open_source(src, mapping=mapping)
        door = json.loads(Path(door_path).read_text())
    else:
        wh, report = check_source(src, mapping=mapping)
        report.raise_for_errors()
        door = door_summary(report)
    p = config.resolve_period(period or None, params["period_kind"], wh.data_end().date())
    facts = FactBook(notebook, p.label, facts_path or None)
    logger.info("%s: period %s, source %s", notebook, p.label, src)
    rdir = Path(params.get("reports_dir", "reports"))
    rdir = rdir if rdir.is_absolute() else config.PROJECT_ROOT / rdir
    return NotebookContext(notebook, profile, p, params, wh, facts, door,
                           Path(facts_path).parent if facts_path else None, rdir)


def door_summary(report) -> dict:
    """The door's verdict as JSON-ready data (stored in the pack as door.json)."""
    return {"source": report.source, "ok": report.ok, "rows": report.rows,
            "errors": len(report.errors), "warnings": len(report.warnings),
            # counts only: example rows may hold raw identifiers and never leave the door
            "problems": [{k: v for k, v in p.as_dict().items() if k != "examples"} for p in report.problems]}
