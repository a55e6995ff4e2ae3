"""What a notebook needs in one call: parameters, the checked warehouse, the period, facts.

The same call works in JupyterLab (empty parameters: defaults and the demo data) and
under the runner (parameters injected by Papermill).
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from crm_lib import config, fmt
from crm_lib.config import Period
from crm_lib.data.door import check_source
from crm_lib.data.needs import source_shape, unmet
from crm_lib.data.store import Warehouse
from crm_lib.errors import DataContractError, NotEstimable
from crm_lib.i18n import N_, _
from crm_lib.reporting.facts import FactBook

logger = logging.getLogger(__name__)

SOURCE_ENV = "CRM_SOURCE"

# The sections the notebooks name in ``ctx.section(...)``/``ctx.require(...)``, marked for the
# catalogue: the not-estimable box shows a section's name in the run's language (one not listed
# here stays as the notebook spells it; tests/test_i18n_rep.py checks the list against the notebooks).
# Facts keep the English name: they do not depend on the language.
SECTIONS = (
    N_("Value tiers"), N_("Value tiers (figure)"), N_("Base movement"), N_("Engagement"),
    N_("Value tier profiles"), N_("Lifecycle stages"), N_("Lifecycle stages (figure)"), N_("Tier migration"),
    N_("Closures by value tier"),
    N_("Profitability by value tier"), N_("Profitability by segment"),
    N_("Out-of-time validation"), N_("Log-rank test by value tier"), N_("Retention by value tier"),
    N_("Log-rank test by segment"), N_("Retention by segment"), N_("Log-rank test by acquisition channel"),
    N_("Retention by acquisition channel"), N_("Log-rank test by cohort"), N_("Retention by onboarding year"),
    N_("Models' cohort"), N_("Cox model"), N_("Hazard-ratio forest"), N_("Proportional-hazards checks"),
    N_("Proportional-hazards residuals"), N_("Stratified Cox model"), N_("Parametric (AFT) models"),
    N_("Cumulative incidence by exit cause"), N_("Cause-specific hazard ratios"),
    N_("Retention after the campaign contact"), N_("Validation metrics"), N_("Validation metrics by horizon"),
    N_("Calibration"), N_("Precision and gains"),
    N_("Satisfaction scores and index"), N_("Score trend"), N_("Change from the previous period"),
    N_("Score trend table"), N_("NPS by segment"), N_("CSAT by segment"), N_("NPS by branch"),
    N_("Scores by segment"), N_("Key drivers of CSAT"), N_("Driver matrix"), N_("Driver table"),
    N_("Key drivers of NPS"), N_("Satisfaction facts"),
    N_("Time to resolution"), N_("Resolution time table"),
    N_("Relationship CLV"), N_("Card and payment value"), N_("Headlines"), N_("Assumptions"),
    N_("CLV by value tier"), N_("CLV by value tier (figure)"), N_("CLV by segment"), N_("CLV by lifecycle stage"),
    N_("Value concentration"), N_("CLV:CAC by acquisition channel"), N_("CLV:CAC by acquisition channel (figure)"),
    N_("CLV:CAC by cohort"), N_("Card and payment models"), N_("Hold-out validation"),
    N_("Hold-out validation (figure)"), N_("Tracking plot"), N_("Cohort retention (sBG)"),
    N_("Next-best products"), N_("Model quality"), N_("Lift and calibration"), N_("Drivers of adoption"),
    N_("The list"), N_("Expected value of the list"), N_("Exclusions"), N_("Control group"),
    N_("Previous period's list"), N_("Export"),
    N_("Precision-marketing lists"),
)


def section_title(name: str) -> str:
    """A section's name as pages show it: the catalogue's translation (``SECTIONS``), else as spelt."""
    return _(name) if name else name


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
    omitted: dict = field(default_factory=dict)  # section -> NotEstimable that omitted it

    def record(self, *args, **kwargs):
        """Record a fact (see ``FactBook.record``)."""
        return self.facts.record(*args, **kwargs)

    @contextmanager
    def section(self, name: str):
        """Run one section of the page; when its precondition fails, omit it and go on.

        Use as ``with ctx.section("Log-rank test by value tier"):`` around a code cell.
        A ``NotEstimable`` raised inside is caught: the page shows a short box
        "Not estimable: <reason>. <remedy>" in place of the section's output, a fact
        ``omitted.<section>`` (tag ``kind="omitted"``) records it for the review, the
        index and the manifest, and the notebook goes on. Any other exception is a real
        failure and propagates.
        """
        try:
            yield self
        except NotEstimable as e:
            self.omit(name, e)

    def require(self, *sections: str) -> None:
        """Raise ``NotEstimable`` when a section this one builds on was omitted."""
        gone = [s for s in sections if s in self.omitted]
        if gone:
            root = getattr(self.omitted[gone[0]], "builds_on", gone[0])  # name the first section omitted
            first = self.omitted.get(root, self.omitted[gone[0]])  # a root in another notebook: its reason travelled
            e = NotEstimable(fmt.tr("it builds on '{section}', which was not estimable ({reason})",
                                    section=fmt.Text(section_title(root), root), reason=first.reason), first.remedy)
            e.builds_on = root
            raise e

    def omit(self, name: str, e: NotEstimable) -> None:
        """Show the not-estimable box for section ``name`` and record it as a fact."""
        self.omitted[name] = e
        logger.info("%s: section %r omitted: %s", self.notebook, name, e.reason)
        text = _("<strong>Not estimable: {section}.</strong> {reason}").format(
            section=html.escape(section_title(name)), reason=html.escape(_sentence(e.reason)))
        if e.remedy:
            text += ("" if fmt.get_locale() != "en" else " ") + html.escape(_sentence(e.remedy))
        try:
            from IPython.display import HTML, display

            display(HTML(f'<div class="not-estimable" style="border-left:4px solid #b8860b;'
                         f'background:#fdf6e3;padding:0.5em 1em;margin:0.5em 0">{text}</div>'))
        except ImportError:  # pragma: no cover - IPython is part of the environment
            pass
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        reason, remedy = fmt.source(e.reason), fmt.source(e.remedy)    # facts keep the English (``fmt.tr``)
        self.facts.record(f"omitted.{slug}", "not estimable", "section", f"Section '{name}' omitted: {reason}",
                          uncertainty="not estimable: section omitted", kind="omitted", section=name,
                          reason=reason, remedy=remedy, builds_on=getattr(e, "builds_on", ""))


def _resolve_source(source: str, params: dict) -> str:
    s = source or os.environ.get(SOURCE_ENV) or params["source"]
    if str(s).startswith(("spark:", "sc://", "duckdb:///")):   # a source URL, not a path
        return str(s)
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
        When the source breaks its contracts (validated here or by the runner), or lacks
        a table or column this notebook needs (``crm_lib.data.needs``).
    """
    params = dict(params) if params else config.resolve(profile).as_dict()
    from crm_lib import i18n

    i18n.use_params(params)  # the pack's language and currency: fmt, catalogues, figure fonts
    src = _resolve_source(source, params)
    mapping = params.get("mapping")
    if mapping and not Path(mapping).is_absolute():
        mapping = str(config.PROJECT_ROOT / mapping)
    if door_path and Path(door_path).exists():
        from crm_lib.data.store import open_source

        wh = open_source(src, mapping=mapping)
        door = json.loads(Path(door_path).read_text())
    else:   # checked against what this notebook needs (crm_lib.data.needs), not every canonical table
        wh, report = check_source(src, mapping=mapping, notebooks=[notebook])
        try:
            report.raise_for_errors()
            why = unmet(notebook, source_shape(wh))
            if why:
                raise DataContractError(f"{notebook} {why} (source {src}); the runner lists it as not run")
        except BaseException:
            wh.close()
            raise
        door = door_summary(report)
    p = config.resolve_period(period or None, params["period_kind"], wh.data_end().date())
    facts = FactBook(notebook, p.label, facts_path or None, alpha=float(params.get("alpha", 0.05)))
    logger.info("%s: period %s, source %s", notebook, p.label, src)
    rdir = Path(params.get("reports_dir", "reports"))
    rdir = rdir if rdir.is_absolute() else config.PROJECT_ROOT / rdir
    return NotebookContext(notebook, profile, p, params, wh, facts, door,
                           Path(facts_path).parent if facts_path else None, rdir)


def omitted_sections(facts: list[dict]) -> list[dict]:
    """The sections a notebook omitted as not estimable, from its recorded facts (``facts.json`` rows).

    Returns
    -------
    list of dict
        ``section``, ``reason``, ``remedy`` per omitted section, in page order; ``builds_on``
        names the omitted section it depends on ('' when omitted for its own reason).
    """
    return [{k: (f.get("tags") or {}).get(k, "") for k in ("section", "reason", "remedy", "builds_on")}
            for f in facts if (f.get("tags") or {}).get("kind") == "omitted"]


def _sentence(text: str) -> str:
    """``text`` as a sentence: capitalised, with a full stop (Chinese: 。) unless it ends with one."""
    text = str(text).strip()
    text = text[:1].upper() + text[1:]
    if not text or text[-1] in ".!?。！？":
        return text
    return text + ("。" if fmt.get_locale() != "en" else ".")


def door_summary(report) -> dict:
    """The door's verdict as JSON-ready data (stored in the pack as door.json)."""
    return {"source": report.source, "ok": report.ok, "rows": report.rows,
            "errors": len(report.errors), "warnings": len(report.warnings),
            # rows beyond each key's first, per table whose key the door checked (the quality card reuses them)
            "duplicate_rows": dict(getattr(report, "duplicate_rows", {}) or {}),
            # rows breaking each cross-table rule the door checked, 0 included (the card reuses the foreign keys')
            "rule_counts": dict(getattr(report, "rule_counts", {}) or {}),
            # counts only: example rows may hold raw identifiers and never leave the door
            "problems": [{k: v for k, v in p.as_dict().items() if k != "examples"} for p in report.problems]}
