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


# --------------------------------------------------------------------------- the facts a notebook recorded

# How a fact's uncertainty was stated, for the methods recorded as fixed text (facts.json keeps the English;
# the facts table shows it in the run's language). A method with numbers in it stays as recorded.
UNCERTAINTY_WORDS = (
    N_("census count: no sampling error"), N_("census total: no sampling error"), N_("census ratio: no sampling error"),
    N_("census measure of the source: no sampling error"), N_("census count"), N_("count of columns"),
    N_("count of scorecard rows"), N_("count of rules breached"),
    N_("census total under the margin assumptions: no sampling error; not covered: the rates themselves"),
    N_("DeLong interval"), N_("Wilson score interval"), N_("Wilson score interval (binomial)"), N_("percentile bootstrap"),
    N_("percentile bootstrap over customers"), N_("percentile bootstrap (weights re-estimated)"),
    N_("t interval"), N_("t interval over customers"), N_("t interval over new customers"),
    N_("log-log Greenwood interval"), N_("infinitesimal jackknife"), N_("Newey-West (HAC) segmented regression"),
    N_("exact Poisson interval"), N_("exact Poisson interval, quasi-Poisson dispersion"),
    N_("Brookmeyer-Crowley interval from the log-log band"), N_("Wald interval (Cox)"),
    N_("normal interval with the multinomial variance (Rocks 2016)"),
    N_("Wilson interval on the effective sample size (linearisation)"), N_("normal interval, linearisation variance"),
    N_("Kaplan-Meier median CI (Brookmeyer-Crowley, log-log bands)"), N_("Cox model CI; p-value from the log-rank test"),
    N_("Newcombe hybrid score interval"), N_("Welch interval of revenue uplift, cost fixed"),
    N_("log-log Kaplan-Meier interval"), N_("not estimable: section omitted"),
    N_("range of the realised value if the propensities are right (normal approximation to a Poisson-binomial)"),
)
_FACT_HEADS = (N_("fact"), N_("value"), N_("unit"), N_("interval"), N_("n"), N_("p-value"), N_("uncertainty"),
               N_("headline"), N_("definition"))


def _fact_value(x, unit: str) -> str:
    """A fact's value in its unit; a recorded word (an omitted section's ``not estimable``) in the run's language."""
    if isinstance(x, str):
        return _(x)
    return fmt.by_unit(x, unit, missing_text="")


def _fact_interval(f) -> str:
    """``lo to hi (80% CI)``; a level fixed by design says so."""
    if f.ci_lower is None or isinstance(f.ci_lower, str):
        return ""
    lv = fmt.ci_label(fmt.alpha_of(f.ci_level)) if f.ci_level else _("level not recorded")
    if f.tags.get("ci_level_fixed"):
        lv = _("{level}, fixed by design").format(level=lv)
    return _("{lower} to {upper} ({level})").format(lower=_fact_value(f.ci_lower, f.unit),
                                                    upper=_fact_value(f.ci_upper, f.unit), level=lv)


def _fact_definition(f) -> str:
    """A KPI's definition from the registry in the run's language; another fact's as recorded (English
    unless the catalogue holds that exact text)."""
    from crm_lib import kpis

    if i18n.current() != i18n.SOURCE_LOCALE and f.name in kpis.REGISTRY:
        return i18n.kpi_definition(f.name)
    return _(f.definition) if f.definition else ""


def facts_table(facts):
    """The facts a notebook recorded, as a reviewer reads them (a pandas Styler, so definitions are not cut
    short): values in their units, intervals with their level, n, p-value, how uncertain and the definition.
    Cells are HTML-escaped (tier names and definitions come from parameters). Headers, units, interval words,
    fixed uncertainty texts and KPI definitions follow the run's language; facts.json keeps them in English."""
    h = {k: _(k) for k in _FACT_HEADS}
    rows = []
    for f in facts.facts.values():
        rows.append({h["fact"]: f.name, h["value"]: _fact_value(f.value, f.unit),
                     h["unit"]: _(f.unit) if f.unit else "", h["interval"]: _fact_interval(f),
                     h["n"]: fmt.integer(f.n) if isinstance(f.n, (int, float)) else "",
                     h["p-value"]: fmt.p_value(f.p_value) if isinstance(f.p_value, (int, float)) else "",
                     h["uncertainty"]: _(f.uncertainty) if f.uncertainty else "",
                     h["headline"]: _("yes") if f.headline else "", h["definition"]: _fact_definition(f)})
    t = pd.DataFrame(rows, columns=list(h.values())).set_index(h["fact"])
    return fmt.escape_styler(t.style.set_properties(subset=[h["uncertainty"], h["definition"]],
                                                    **{"text-align": "left"}))
