"""Sentences a reviewer reads, built from computed results (numbers with n and uncertainty).

Numbers, intervals and values from data are written by ``crm_lib.fmt``; ``n``, ``pct``,
``money`` and ``pct_ci`` stay here as aliases because many notebooks and modules call them.
"""

from __future__ import annotations

import pandas as pd

from crm_lib import fmt, i18n
from crm_lib.fmt import esc, money, pct  # noqa: F401  (re-exported: prose.money, prose.pct)
from crm_lib.i18n import N_, _

n = fmt.integer


def pct_ci(x, lo, hi, level: float = 0.95, digits: int = 1) -> str:
    """``2.1% (95% CI 1.9%-2.3%)`` at confidence ``level`` (``fmt.pct_ci`` takes alpha)."""
    return fmt.pct_ci(x, lo, hi, fmt.alpha_of(level), digits)


# Titles the notebooks pass to ``header`` (translated where shown; a title not listed stays as passed).
PAGE_TITLES = (N_("Data overview"), N_("Segmentation and tiering"), N_("Survival-based churn"),
               N_("Churn early-warning list"), N_("Customer satisfaction"), N_("Complaints and service levels"),
               N_("Customer lifetime value"), N_("Next-best product and target lists"), N_("Effectiveness review"))


def _zh() -> bool:
    return fmt.get_locale() != "en"


def _day(d) -> str:
    """A period's first or last day: ``01 Jul 2026`` in English, the locale's date otherwise."""
    return f"{d:%d %b %Y}" if not _zh() else fmt.date(d)


def _sep() -> str:
    """Between two sentences: a space in English, nothing in Chinese."""
    return "" if _zh() else " "


def header(ctx, title: str) -> str:
    p = ctx.period
    label = fmt.period(p.label)
    return (_("# {title}: {period}").format(title=_(title), period=label) + "\n\n" +
            _("Period **{period}** ({start} to {end}), profile *{profile}*. Data checked at the door: {rows} rows "
              "in {tables} tables, {errors} error(s), {warnings} warning(s).").format(
                period=label, start=_day(p.start), end=_day(p.end), profile=esc(ctx.profile),
                rows=n(sum(ctx.door['rows'].values())), tables=len(ctx.door['rows']),
                errors=ctx.door['errors'], warnings=ctx.door['warnings']))


def door(door: dict) -> str:
    if door["errors"] == 0 and door["warnings"] == 0:
        return _("**Every contract held.** All tables passed the column rules (types, ranges, allowed codes, "
                 "nulls) and the relational rules (unique keys, foreign keys, date order, no future dates).")
    return _("The door found **{errors} error(s)** and **{warnings} warning(s)**; errors stop a run, warnings "
             "are listed below and the analyses they affect say so.").format(errors=door['errors'],
                                                                             warnings=door['warnings'])


# the door table's headers and severities (the door's words; table and column names are the contract's)
DOOR_COLUMNS = {"severity": N_("severity"), "table": N_("table"), "column": N_("column"), "rule": N_("rule"),
                "count": N_("count")}
SEVERITIES = (N_("error"), N_("warning"))


def door_table(door: dict) -> pd.DataFrame:
    """The door's problems, one row each, headed and worded in the run's language (rules the
    catalogue holds are translated; table and column names stay as the contract spells them)."""
    cols = ["severity", "table", "column", "rule", "count"]
    rows = [{k: p[k] for k in cols} for p in door["problems"]]
    for r in rows:
        r["severity"], r["rule"] = _word(r["severity"]), _word(r["rule"])
    return pd.DataFrame(rows, columns=cols).rename(columns={k: _(v) for k, v in DOOR_COLUMNS.items()})


def movement(mv: pd.Series, period, level: float = 0.95) -> str:
    """The customer-base paragraph of the overview."""
    return _(
        "At the start of {period}, **{active_start}** customers were active; **{new}** joined and **{closed}** "
        "left during the period, leaving **{active_end}** active at its end (net growth {net_growth}). Of the "
        "customers active at the start, {closed_of_start} closed: a period churn rate of **{churn}** (Wilson "
        "interval, n = {active_start}). Counts are a census of the warehouse, so they carry no sampling error; "
        "the churn interval expresses the rate as an estimate of the underlying propensity to leave.").format(
        period=fmt.period(period.label), active_start=n(mv['active_start']), new=n(mv['new']),
        closed=n(mv['closed']), active_end=n(mv['active_end']), net_growth=pct(mv['net_growth_rate'], 2),
        closed_of_start=n(mv['closed_of_start']),
        churn=pct_ci(mv['churn_rate'], mv['churn_ci_lower'], mv['churn_ci_upper'], level, 2))


def tiers(t: pd.DataFrame) -> str:
    ind = t[t["customer_type"] == "individual"]
    top = ind.iloc[-1] if len(ind) else None
    corp = t[t["customer_type"] == "corporate"]
    s = _("{customers} active customers hold {aum} of AUM (deposits + investments, average of the last "
          "month-ends).").format(customers=n(t['customers'].sum()), aum=money(t['aum'].sum())) + _sep()
    if top is not None:
        s += _("The top individual tier, *{tier}*, is {share} of customers but {aum_share} of AUM.").format(
            tier=fmt.label(top['tier']), share=pct(top['share']), aum_share=pct(top['aum_share'])) + _sep()
    if len(corp):
        s += _("Corporates are {share} of customers and {aum_share} of AUM.").format(
            share=pct(corp['share'].sum()), aum_share=pct(corp['aum_share'].sum()))
    return s


# --------------------------------------------------------------------------- effectiveness review

STATUS_COLOURS = {"met": "#d5f5e3", "near": "#fcf3cf", "missed": "#fadbd8", "no target": "#f2f3f4"}


def _by_unit(value, unit) -> str:
    return fmt.by_unit(value, unit, missing_text="")


# the scorecard table's headers and words (statuses and directions are crm_lib.evaluation.scorecard's)
SCORECARD_COLUMNS = {"KPI": N_("KPI"), "value": N_("value"), "n": "n", "target": N_("target"),   # n: a symbol
                     "status": N_("status"), "vs previous": N_("vs previous"), "vs year ago": N_("vs year ago"),
                     "better": N_("better")}
BETTER_WORDS = (N_("higher"), N_("lower"))


def scorecard_table(card: pd.DataFrame, alpha: float = 0.05, levels: pd.Series | None = None):
    """The scorecard as a styled table: values in their units, CI, status colours, significance marks.

    The interval column is headed with the run's level (``alpha``); ``levels`` (KPI name →
    the recorded ``ci_level``, e.g. the pack's facts) marks an interval recorded at another
    level, such as one fixed by design, in its cell. Cells are HTML-escaped (KPI names and
    statuses come from parameters). Headers, KPI names, statuses and the other words are in the
    run's language.
    """
    rows = []
    head = fmt.ci_label(alpha)
    col = {k: _(v) for k, v in SCORECARD_COLUMNS.items()}
    for name, r in card.iterrows():
        u = r["unit"]
        ci = (f"{_by_unit(r['ci_lower'], u)} – {_by_unit(r['ci_upper'], u)}" if not pd.isna(r["ci_lower"])
              else _("census"))
        lv = levels.get(name) if levels is not None else None
        if not pd.isna(r["ci_lower"]) and not fmt.missing(lv) and abs(float(lv) - fmt.level(alpha)) > 1e-9:
            ci += _sep() + _("({ci_label}, fixed level)").format(ci_label=fmt.ci_label(fmt.alpha_of(lv)))

        def chg(tag):
            if pd.isna(r[f"change_{tag}"]):
                return _("no history")
            c = r[f"change_{tag}"]
            s = fmt.pp(c) if u == "proportion" else ("+" if c >= 0 else "−") + _by_unit(abs(c), u)
            p = r[f"p_{tag}"]
            return s + ("" if pd.isna(p) else f" ({fmt.p_text(p)}{' *' if r[f'sig_{tag}'] else ''})")

        rows.append({col["KPI"]: i18n.kpi_label(name), col["value"]: _by_unit(r["value"], u), head: ci,
                     col["n"]: "" if pd.isna(r["n"]) else fmt.integer(r["n"]),
                     col["target"]: _by_unit(r["target"], u), col["status"]: _word(r["status"]),
                     col["vs previous"]: chg("prev"), col["vs year ago"]: chg("yoy"),
                     col["better"]: _word(r["better"])})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    colours = {_(k): v for k, v in STATUS_COLOURS.items()}
    return fmt.escape_styler(df.style.hide(axis="index")
                             .map(lambda v: f"background-color: {colours.get(v, '')}", subset=[col["status"]]))


def _word(value) -> str:
    """A word of the library's vocabulary (a status, a direction) in the run's language; other values as they are."""
    return _(value) if isinstance(value, str) and value else value
