"""Sentences a reviewer reads, built from computed results (numbers with n and uncertainty).

Numbers, intervals and values from data are written by ``crm_lib.fmt``; ``n``, ``pct``,
``money`` and ``pct_ci`` stay here as aliases because many notebooks and modules call them.
"""

from __future__ import annotations

import pandas as pd

from crm_lib import fmt
from crm_lib.fmt import esc, money, pct  # noqa: F401  (re-exported: prose.money, prose.pct)

n = fmt.integer


def pct_ci(x, lo, hi, level: float = 0.95, digits: int = 1) -> str:
    """``2.1% (95% CI 1.9%-2.3%)`` at confidence ``level`` (``fmt.pct_ci`` takes alpha)."""
    return fmt.pct_ci(x, lo, hi, fmt.alpha_of(level), digits)


def header(ctx, title: str) -> str:
    p = ctx.period
    return (f"# {title}: {p.label}\n\n"
            f"Period **{p.label}** ({p.start:%d %b %Y} to {p.end:%d %b %Y}), profile *{esc(ctx.profile)}*. "
            f"Data checked at the door: {n(sum(ctx.door['rows'].values()))} rows in {len(ctx.door['rows'])} tables, "
            f"{ctx.door['errors']} error(s), {ctx.door['warnings']} warning(s).")


def door(door: dict) -> str:
    if door["errors"] == 0 and door["warnings"] == 0:
        return ("**Every contract held.** All tables passed the column rules (types, ranges, allowed codes, "
                "nulls) and the relational rules (unique keys, foreign keys, date order, no future dates).")
    return (f"The door found **{door['errors']} error(s)** and **{door['warnings']} warning(s)**; "
            "errors stop a run, warnings are listed below and the analyses they affect say so.")


def door_table(door: dict) -> pd.DataFrame:
    cols = ["severity", "table", "column", "rule", "count"]
    return pd.DataFrame([{k: p[k] for k in cols} for p in door["problems"]], columns=cols)


def movement(mv: pd.Series, period, level: float = 0.95) -> str:
    """The customer-base paragraph of the overview."""
    return (
        f"At the start of {period.label}, **{n(mv['active_start'])}** customers were active; "
        f"**{n(mv['new'])}** joined and **{n(mv['closed'])}** left during the period, leaving "
        f"**{n(mv['active_end'])}** active at its end (net growth {pct(mv['net_growth_rate'], 2)}). "
        f"Of the customers active at the start, {n(mv['closed_of_start'])} closed: a period churn rate of "
        f"**{pct_ci(mv['churn_rate'], mv['churn_ci_lower'], mv['churn_ci_upper'], level, 2)}** "
        f"(Wilson interval, n = {n(mv['active_start'])}). Counts are a census of the warehouse, "
        "so they carry no sampling error; the churn interval expresses the rate as an estimate of the "
        "underlying propensity to leave.")


def tiers(t: pd.DataFrame) -> str:
    ind = t[t["customer_type"] == "individual"]
    top = ind.iloc[-1] if len(ind) else None
    corp = t[t["customer_type"] == "corporate"]
    s = (f"{n(t['customers'].sum())} active customers hold {money(t['aum'].sum())} of AUM "
         "(deposits + investments, average of the last month-ends). ")
    if top is not None:
        s += (f"The top individual tier, *{fmt.label(top['tier'])}*, is {pct(top['share'])} of customers but "
              f"{pct(top['aum_share'])} of AUM. ")
    if len(corp):
        s += f"Corporates are {pct(corp['share'].sum())} of customers and {pct(corp['aum_share'].sum())} of AUM."
    return s


# --------------------------------------------------------------------------- effectiveness review

STATUS_COLOURS = {"met": "#d5f5e3", "near": "#fcf3cf", "missed": "#fadbd8", "no target": "#f2f3f4"}


def _by_unit(value, unit) -> str:
    return fmt.by_unit(value, unit, missing_text="")


def scorecard_table(card: pd.DataFrame, alpha: float = 0.05, levels: pd.Series | None = None):
    """The scorecard as a styled table: values in their units, CI, status colours, significance marks.

    The interval column is headed with the run's level (``alpha``); ``levels`` (KPI name →
    the recorded ``ci_level``, e.g. the pack's facts) marks an interval recorded at another
    level, such as one fixed by design, in its cell. Cells are HTML-escaped (KPI names and
    statuses come from parameters).
    """
    rows = []
    head = fmt.ci_label(alpha)
    for name, r in card.iterrows():
        u = r["unit"]
        ci = (f"{_by_unit(r['ci_lower'], u)} – {_by_unit(r['ci_upper'], u)}" if not pd.isna(r["ci_lower"])
              else "census")
        lv = levels.get(name) if levels is not None else None
        if not pd.isna(r["ci_lower"]) and not fmt.missing(lv) and abs(float(lv) - fmt.level(alpha)) > 1e-9:
            ci += f" ({fmt.ci_label(fmt.alpha_of(lv))}, fixed level)"

        def chg(tag):
            if pd.isna(r[f"change_{tag}"]):
                return "no history"
            c = r[f"change_{tag}"]
            s = fmt.pp(c) if u == "proportion" else ("+" if c >= 0 else "−") + _by_unit(abs(c), u)
            p = r[f"p_{tag}"]
            return s + ("" if pd.isna(p) else f" ({fmt.p_text(p)}{' *' if r[f'sig_{tag}'] else ''})")

        rows.append({"KPI": str(name).replace("_", " "), "value": _by_unit(r["value"], u), head: ci,
                     "n": "" if pd.isna(r["n"]) else fmt.integer(r["n"]),
                     "target": _by_unit(r["target"], u), "status": r["status"],
                     "vs previous": chg("prev"), "vs year ago": chg("yoy"),
                     "better": r["better"]})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    return fmt.escape_styler(df.style.hide(axis="index")
                             .map(lambda v: f"background-color: {STATUS_COLOURS.get(v, '')}", subset=["status"]))
