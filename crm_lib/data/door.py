"""The door: open a source and check it before any analysis runs."""

from __future__ import annotations

import pandas as pd

from crm_lib.data import needs as _needs
from crm_lib.data.schema import NEEDED_COLUMN, NEEDED_TABLE, ValidationReport, validate
from crm_lib.data.sqlsafe import lits
from crm_lib.data.store import Warehouse, open_source
from crm_lib.errors import ConfigError


def check_source(source, mapping=None, today: pd.Timestamp | None = None,
                 notebooks=None, memory_limit: str | None = None) -> tuple[Warehouse, ValidationReport]:
    """Open ``source`` (with an optional mapping) and validate every table.

    Parameters
    ----------
    source : str or Path
        DuckDB file, or a folder of Parquet or CSV tables.
    mapping : str, Path or Mapping, optional
        Column mapping YAML (or a loaded ``Mapping``).
    today : Timestamp, optional
        Dates after this day are 'future dates'; default the current date.
    notebooks : list of str, optional
        The notebooks to be run (a profile's). Given, the source must hold only what they
        need (``crm_lib.data.needs``): a table or required column that some of them need
        and the source lacks is a warning naming them (they are not run, see
        ``notebook_verdicts``), one that none needs is only noted. Without it, every
        required table and column of the contract must be present. Tables present are
        checked in full either way.

    Returns
    -------
    (Warehouse, ValidationReport)
        The open warehouse and the report; call ``report.raise_for_errors()`` to stop
        on bad data.

    Raises
    ------
    SourceError
        The source cannot be opened or read.
    ConfigError
        The mapping file is missing or malformed, names a missing table or column, or
        does not cover a source value (a code with no translation, a date that does not
        match its ``format``). Nothing is validated until the mapping covers the source.
    """
    wh = open_source(source, mapping=mapping, memory_limit=memory_limit)
    try:
        if wh.mapping is not None:
            unmapped = wh.mapping.check_codes(wh) + wh.mapping.check_formats(wh)
            if unmapped:
                raise ConfigError(f"{wh.mapping.path}: the mapping does not cover every value in source "
                                  f"{wh.source}; add these values to the mapping:\n"
                                  + "\n".join(p.message() for p in unmapped))
        if notebooks is None:
            report = validate(wh, today=today)
        else:
            notebooks = list(notebooks)
            report = validate(wh, today=today, needs=_needs.union(notebooks))
            for p in report.problems:   # name the notebooks that are not run for want of it
                if p.rule in (NEEDED_TABLE, NEEDED_COLUMN):
                    names = ", ".join(_needs.needed_by(notebooks, p.table, p.column))
                    what = "table" if p.rule == NEEDED_TABLE else "required column"
                    p.rule = f"{what} present (needed by {names}: not run)"
    except BaseException:
        wh.close()
        raise
    return wh, report


def open_checked(source, mapping=None, today: pd.Timestamp | None = None, notebooks=None) -> Warehouse:
    """Open ``source`` and raise ``DataContractError`` listing every broken rule (see ``check_source``)."""
    wh, report = check_source(source, mapping, today, notebooks)
    try:
        report.raise_for_errors()
    except BaseException:
        wh.close()
        raise
    return wh


# --------------------------------------------------------------------------- what each notebook will do
# Sections a notebook shows as 'not estimable' when its precondition fails (names as in the
# notebooks' ``ctx.section(...)``; sections that build on them are omitted with them).
CHURN_EVENT_SECTIONS = ("Out-of-time validation", "Log-rank test by value tier", "Log-rank test by segment",
                        "Log-rank test by acquisition channel", "Log-rank test by cohort", "Cox model",
                        "Parametric (AFT) models")
CHURN_EXIT_SECTIONS = ("Cumulative incidence by exit cause", "Cause-specific hazard ratios")
SURVEY_SECTIONS = ("Satisfaction scores and index",)
COMPLAINT_SECTIONS = ("Time to resolution",)
WILL_RUN, OMITTING, CANNOT_RUN = "will run", "will run with sections omitted", "cannot run"
# notebooks whose sections ``_omissions`` predicts from the source's counts
PRECONDITION_NOTEBOOKS = ("00_data_overview", "10_segmentation", "20_churn", "21_early_warning", "30_satisfaction",
                          "31_complaints_sla", "40_clv")


def notebook_verdicts(wh: Warehouse, report: ValidationReport, notebooks, params: dict, period=None) -> list[dict]:
    """What each notebook of a profile will do with this source: run, run with sections omitted, or not run.

    The door's own errors stop every notebook. A notebook whose needs (``crm_lib.data.needs``:
    tables, and columns) the source cannot meet cannot run, and says what it lacks: "needs
    table balances, which the source does not have". Otherwise the preconditions that a valid
    source can still fail are checked in SQL: the length of history (the churn models'
    behaviour window and validation horizons: 20_churn, 21_early_warning and 40_clv cannot
    run without it), churn events and exits up to the period end and in the models' cohort
    (churn models, log-rank tests, competing risks), customer types and acquisition channels
    with at least ``min_n`` customers (the log-rank tests between them), survey responses in
    and before the period (satisfaction scores; their change) and complaints opened in the
    period (resolution time). It is a prediction from counts, checked against the pages on
    degenerate banks by ``tests/test_degenerate_banks.py``.

    Parameters
    ----------
    wh : Warehouse
    report : ValidationReport
        The door's verdict on ``wh``.
    notebooks : list of str
        The profile's notebooks.
    params : dict
        Resolved parameters (``min_n``, ``churn``).
    period : Period, optional
        The period the pack reports; required when the report is ok.

    Returns
    -------
    list of dict
        ``notebook``, ``verdict`` (``will run``, ``will run with sections omitted`` or
        ``cannot run``), ``sections`` (list of ``{"section", "reason"}``, the sections
        predicted 'not estimable', each naming its reason; sections that build on them go
        with them), ``reason`` (why it cannot run, else empty).
    """
    if not report.ok:
        why = f"the door found {len(report.errors)} error(s) in the source"
        return [{"notebook": nb, "verdict": CANNOT_RUN, "sections": [], "reason": why} for nb in notebooks]
    shape = _needs.source_shape(wh)
    lacking = {nb: _needs.unmet(nb, shape) for nb in notebooks}
    # the preconditions read what the notebooks that check them need: only asked when one of them can run
    pre = (_preconditions(wh, params, period)
           if any(not lacking[nb] and nb in PRECONDITION_NOTEBOOKS for nb in notebooks) else None)
    out = []
    for nb in notebooks:
        if lacking[nb]:
            out.append({"notebook": nb, "verdict": CANNOT_RUN, "sections": [], "reason": lacking[nb]})
            continue
        sections, cannot = _omissions(nb, pre, params) if pre is not None else ([], "")
        verdict = CANNOT_RUN if cannot else OMITTING if sections else WILL_RUN
        out.append({"notebook": nb, "verdict": verdict, "sections": sections, "reason": cannot})
    return out


def verdicts_text(verdicts: list[dict], profile: str, period_label: str) -> str:
    """``notebook_verdicts`` as the lines ``crm-workbench validate`` prints."""
    lines = [f"notebooks of the {profile} pack for {period_label}:"]
    for v in verdicts:
        if v["verdict"] == CANNOT_RUN:
            lines.append(f"  {v['notebook']:<26} {CANNOT_RUN}: {v['reason']}")
        elif v["sections"]:
            by_reason: dict[str, list[str]] = {}
            for s in v["sections"]:
                by_reason.setdefault(s["reason"], []).append(s["section"])
            lines.append(f"  {v['notebook']:<26} {OMITTING}: "
                         + "; ".join(f"{', '.join(names)} ({why})" for why, names in by_reason.items()))
        else:
            lines.append(f"  {v['notebook']:<26} {WILL_RUN}")
    return "\n".join(lines)


def _count(wh: Warehouse, sql: str) -> int:
    return int(wh.con.execute(sql).fetchall()[0][0] or 0)


def _preconditions(wh: Warehouse, params: dict, period) -> dict:
    end = pd.Timestamp(period.end).date() if period is not None else None
    start = pd.Timestamp(period.start).date() if period is not None else None
    churn = dict(params.get("churn") or {})
    reasons = churn.get("event_reasons", ["voluntary"])
    closed = f"closed_date IS NOT NULL AND CAST(closed_date AS DATE) <= DATE '{end}'"
    cols = wh.columns("customers")   # an optional column the source lacks reads as NULL, as in the notebooks
    if reasons is not None and "closed_reason" in cols:
        event = f"{closed} AND closed_reason IN ({lits(reasons)})"
    else:
        event = closed
    pre = {"kind": churn.get("kind", "closure"),
           "events": _count(wh, f"SELECT count(*) FROM customers WHERE {event}"),
           "exits": _count(wh, f"SELECT count(*) FROM customers WHERE {closed}"),
           "types": wh.con.execute("SELECT customer_type, count(*) FROM customers GROUP BY 1 ORDER BY 2 DESC").fetchall(),
           "period": period.label if period is not None else ""}
    first = wh.con.execute("SELECT min(month) FROM balances").fetchall()[0][0] if wh.has("balances") else None
    pre["balances"], pre["accounts"] = wh.has("balances"), wh.has("accounts")
    pre["closures"] = "closed_date" in wh.held("customers")   # the source records when relationships closed
    # the overview's engagement measures: cross-sell (accounts), digital share (channels), CAC
    pre["engagement"] = (wh.has("accounts") or "acquisition_cost" in wh.held("customers")
                         or (wh.has("transactions") and "channel" in wh.held("transactions")))
    pre["history_start"] = pd.Timestamp(first).to_period("M").start_time if first is not None else None
    pre["end"] = pd.Timestamp(end) if end is not None else None
    if pre["history_start"] is not None and end is not None:
        # the churn models' cohort: customers at risk at the observation start (churn.observation_start),
        # followed to the period end
        obs = (pre["history_start"] + pd.Timedelta(days=int(params.get("window_days", 365)))
               + pd.offsets.MonthEnd(0)).date()
        since = f"CAST(closed_date AS DATE) > DATE '{obs}' AND CAST(onboard_date AS DATE) <= DATE '{obs}'"
        pre["cohort_events"] = _count(wh, f"SELECT count(*) FROM customers WHERE {event} AND {since}")
        reason = "closed_reason" if "closed_reason" in cols else "'unknown'"
        pre["cohort_exits"] = [n for (n,) in wh.con.execute(
            f"SELECT count(*) FROM customers WHERE {closed} AND {since} GROUP BY {reason}").fetchall()]
    # onboarding years of the customers followed from onboarding (churn's log-rank test by cohort)
    pre["cohorts"] = (wh.con.execute(
        "SELECT year(CAST(onboard_date AS DATE)), count(*) FROM customers WHERE CAST(onboard_date AS DATE) >= ? "
        "AND CAST(onboard_date AS DATE) <= ? GROUP BY 1", [pre["history_start"].date(), end]).fetchall()
        if pre["history_start"] is not None and end is not None else [])
    pre["channels"] = (wh.con.execute("SELECT acquisition_channel, count(*) FROM customers WHERE acquisition_channel "
                                      "IS NOT NULL GROUP BY 1 ORDER BY 2 DESC").fetchall()
                       if "acquisition_channel" in cols else [])
    pre["surveys"] = (_count(wh, f"SELECT count(*) FROM surveys WHERE CAST(survey_date AS DATE) BETWEEN DATE '{start}' "
                                 f"AND DATE '{end}'") if wh.has("surveys") else 0)
    pre["earlier_surveys"] = (_count(wh, f"SELECT count(*) FROM surveys WHERE CAST(survey_date AS DATE) < "
                                         f"DATE '{start}'") if wh.has("surveys") else 0)
    pre["complaints"] = (_count(wh, f"SELECT count(*) FROM complaints WHERE CAST(opened_at AS DATE) BETWEEN "
                                    f"DATE '{start}' AND DATE '{end}'") if wh.has("complaints") else 0)
    return pre


def _omissions(notebook: str, pre: dict, params: dict) -> tuple[list[dict], str]:
    """(sections predicted not estimable with their reasons, why the notebook cannot run or '')."""
    min_n = int(params.get("min_n", 30))
    out = []
    short = cohort_gone = ""
    if pre["history_start"] is not None and pre["end"] is not None:
        window = int(params.get("window_days", 365))
        churn = dict(params.get("churn") or {})
        h = max(churn.get("horizons_months") or [12])
        need = pre["history_start"] + pd.Timedelta(days=window)
        if need > pre["end"] - pd.DateOffset(months=2 * h):
            short = (f"the history from {pre['history_start'].date()} is shorter than the {window}-day behaviour "
                     f"window plus two {h}-month horizons before {pre['end'].date()}")
        if need + pd.offsets.MonthEnd(0) >= pre["end"]:
            cohort_gone = (f"the first date with a {window}-day behaviour window of history, "
                           f"{(need + pd.offsets.MonthEnd(0)).date()}, is not before the period end {pre['end'].date()}")
    if short and notebook in ("21_early_warning", "40_clv"):
        return [], short
    if notebook == "20_churn" and short:
        out.append({"section": "Out-of-time validation", "reason": short})
        if cohort_gone:
            out.append({"section": "Models' cohort", "reason": cohort_gone})
    if notebook == "20_churn" and pre["kind"] == "closure":
        if not pre["events"]:
            why = f"no churn events (closures for a churn reason) up to {pre['period']}"
            out += [{"section": s, "reason": why} for s in CHURN_EVENT_SECTIONS]
        if not pre["exits"]:
            why = f"no closures of any reason up to {pre['period']}"
            out += [{"section": s, "reason": why} for s in CHURN_EXIT_SECTIONS]
        elif max(pre.get("cohort_exits") or [0]) < 10:   # competing.cause_specific_hazards(min_events=10)
            out.append({"section": "Cause-specific hazard ratios",
                        "reason": "no exit cause with at least 10 exits in the models' cohort"})
        if pre["events"] and not pre.get("cohort_events", 1):
            why = "no churn events in the models' cohort (customers at risk at the observation start)"
            out += [{"section": s, "reason": why} for s in ("Cox model", "Parametric (AFT) models")]
        channels = [c for c, n in pre["channels"] if n >= min_n]
        if pre["events"] and len(channels) < 2:
            found = ", ".join(f"{c}: {n:,}" for c, n in pre["channels"]) or "none recorded"
            out.append({"section": "Log-rank test by acquisition channel",
                        "reason": f"fewer than two acquisition channels with at least {min_n} customers ({found})"})
        cohorts = [y for y, n in pre.get("cohorts", []) if n >= min_n]
        if pre["events"] and len(cohorts) < 2:
            out.append({"section": "Log-rank test by cohort",
                        "reason": f"fewer than two onboarding years with at least {min_n} customers followed from "
                                  "onboarding"})
        big = [t for t, n in pre["types"] if n >= min_n]
        if pre["events"] and len(big) < 2:
            found = ", ".join(f"{t}: {n:,}" for t, n in pre["types"]) or "none"
            out.append({"section": "Log-rank test by segment",
                        "reason": f"fewer than two customer types with at least {min_n} customers ({found})"})
    if notebook == "20_churn":
        if cohort_gone:   # the cohort models build on the models' cohort: omitted with it, not for their own reason
            out = [o for o in out if o["section"] not in ("Cox model", "Parametric (AFT) models",
                                                          "Cause-specific hazard ratios")]
        seen: set = set()
        out = [o for o in out if not (o["section"] in seen or seen.add(o["section"]))]
    if notebook == "21_early_warning" and pre["kind"] == "closure" and not pre["events"]:
        return [], f"no churn events up to {pre['period']} to fit the early-warning model on"
    if not pre.get("balances", True):   # a source of customers and transactions (issue #15)
        why = "the source has no balances table to compute the monthly margins from"
        tiers = "the source has no balances table to compute the value tiers from"
        out += [{"section": s, "reason": r} for s, r in {
            "00_data_overview": (("Value tiers", tiers), ("Profitability by value tier", why)),
            "10_segmentation": (("Value tiers", tiers), ("Profitability by segment", why),
                                ("Lifecycle stages", "the source has no balances table (the stages' rules read the "
                                                     "change in AUM)")),
            "40_clv": (("Relationship CLV", why),
                       ("Cohort retention (sBG)", "the source has no balances table (the cohorts start with it)")),
        }.get(notebook, ())]
    elif not pre.get("accounts", True):   # balances without accounts: the margins price product fees too
        why = "the source has no accounts table to price the product fees of the monthly margins from"
        out += [{"section": s, "reason": why} for s in {"00_data_overview": ("Profitability by value tier",),
                                                        "10_segmentation": ("Profitability by segment",),
                                                        "40_clv": ("Relationship CLV",)}.get(notebook, ())]
    if notebook == "00_data_overview" and not pre.get("closures", True):
        out.append({"section": "Base movement",
                    "reason": "the source has no customers.closed_date to tell closed relationships from open ones"})
    if notebook == "00_data_overview" and not pre.get("engagement", True):
        out.append({"section": "Engagement", "reason": "the source has no accounts, transactions.channel or "
                                                       "customers.acquisition_cost to measure engagement from"})
    margins = pre.get("balances", True) and pre.get("accounts", True)
    if notebook == "40_clv" and margins and pre["kind"] == "closure" and not pre.get("cohort_events", pre["events"]):
        # the relationship CLV and everything built on it are omitted; the card and payment models still run
        out.append({"section": "Relationship CLV",
                    "reason": "no churn events in the models' cohort to fit the lifetime model's survival curve on"})
    if notebook == "30_satisfaction" and not pre["surveys"]:
        out += [{"section": s, "reason": f"no survey responses dated in {pre['period']}"} for s in SURVEY_SECTIONS]
    elif notebook == "30_satisfaction" and not pre["earlier_surveys"]:
        out.append({"section": "Change from the previous period",
                    "reason": f"no survey responses dated before {pre['period']}"})
    if notebook == "31_complaints_sla" and not pre["complaints"]:
        out += [{"section": s, "reason": f"no complaints opened in {pre['period']}"} for s in COMPLAINT_SECTIONS]
    return out, ""
