"""Sentences for the satisfaction and complaints notebooks, built from finished results.

Every number comes with its interval and n; figures flagged ``small n`` are named as
such instead of being quoted. Nothing here computes a statistic.
"""

from __future__ import annotations

import pandas as pd

from crm_lib import fmt
from crm_lib.fmt import esc, pct
from crm_lib.fmt import integer as n
from crm_lib.fmt import number as _num
from crm_lib.fmt import p_text as _p
from crm_lib.fmt import signed as _signed

_label = fmt.label           # codes from data and parameters as words, escaped for Markdown


def _ok(v) -> bool:
    return not fmt.missing(v)


def _range(lo, hi, digits: int = 1) -> str:
    return fmt.interval(lo, hi, fmt.number, sep=" to ", digits=digits)


def _ci(level: float) -> str:
    """``95% CI`` at confidence ``level`` (1 - alpha)."""
    return fmt.ci_label(fmt.alpha_of(level))


def pct_ci(x, lo, hi, level: float = 0.95, digits: int = 1) -> str:
    return fmt.pct_ci(x, lo, hi, fmt.alpha_of(level), digits)


def data_note(what: str, rows: int, problems: pd.DataFrame, period_label: str,
              checks: str = "score ranges, duplicates, dates") -> str:
    """What was read and what was dropped (nothing is dropped silently)."""
    s = f"{n(rows)} {what} were read for {period_label} and the windows this report compares it with. "
    if problems is None or not len(problems):
        return s + f"Every row passed the checks ({checks}): **none was dropped**."
    dropped = int(problems.loc[problems["action"] == "dropped", "rows"].sum())
    kept = int(problems.loc[problems["action"] != "dropped", "rows"].sum())
    s += f"**{n(dropped)} row(s) broke a rule and were dropped**" if dropped else "No row was dropped"
    if kept:
        s += f"; {n(kept)} row(s) were kept with a caveat"
    return s + "; the table lists each rule, the count and example rows."


def satisfaction_headline(headline: pd.DataFrame, index: pd.DataFrame, period_label: str, min_n: int,
                          level: float = 0.95) -> str:
    """The opening paragraph: CSAT, NPS and the index with intervals and n, raw and weighted.

    Below ``min_n`` responses the figures are named as flagged and not quoted.
    """
    h = headline.loc["as answered"]
    if h["n"] == 0:
        return f"**No survey responses are dated in {period_label}**: CSAT, NPS and the index cannot be reported."
    if h["status"] != "ok":
        return (f"**Only {n(h['n'])} survey responses are dated in {period_label}, below the reporting threshold of "
                f"{min_n}:** CSAT, NPS and the satisfaction index are flagged and not reported for this period. "
                "The trend below shows each period's n; segment and driver results use what data there is and are "
                "flagged the same way.")
    lvl = _ci(level)
    s = (f"In {period_label}, **{n(h['n'])} survey responses** gave a CSAT of "
         f"**{pct(h['csat_top2box'])} satisfied** (share answering 4 or 5 of 5; "
         f"{lvl} {pct(h['csat_top2box_lower'])}-{pct(h['csat_top2box_upper'])}; mean {_num(h['csat_mean'], 2)} of 5, "
         f"{_range(h['csat_mean_lower'], h['csat_mean_upper'], 2)}) and a **Net Promoter Score of "
         f"{_num(h['nps'], 0)}** ({lvl} {_range(h['nps_lower'], h['nps_upper'], 0)}; {pct(h['promoters'], 0)} "
         f"promoters, {pct(h['detractors'], 0)} detractors). ")
    if "weighted to customer base" in headline.index:
        w = headline.loc["weighted to customer base"]
        s += (f"Weighted to the customer base by customer type and value tier, CSAT is {pct(w['csat_top2box'])} "
              f"({pct(w['csat_top2box_lower'])}-{pct(w['csat_top2box_upper'])}) and NPS {_num(w['nps'], 0)} "
              f"({_range(w['nps_lower'], w['nps_upper'], 0)}), so the mix of who answered "
              f"{'barely moves' if abs(w['nps'] - h['nps']) < (h['nps_upper'] - h['nps_lower']) / 4 else 'moves'} "
              "the headline. ")
    i = index.loc["all"]
    s += (f"The **satisfaction index is {_num(i['index'])} of 100** ({lvl} {_range(i['ci_lower'], i['ci_upper'])}; "
          f"n = {n(i['n'])} responses rating every attribute).")
    return s


def score_change(change: pd.DataFrame, level: float = 0.95) -> str:
    """Period-over-period change of CSAT and NPS, with intervals and p-values."""
    if change is None or not len(change):
        return ""
    c, p = change.loc["csat_top2box"], change.loc["nps"]
    sig = [name for name, row in (("CSAT", c), ("NPS", p)) if _ok(row["p_value"]) and row["p_value"] < fmt.alpha_of(level)]
    verdict = (["neither change is distinguishable from sampling noise"] if not sig else
               [f"the change in {' and '.join(sig)} is larger than sampling noise would explain"])
    return (f"Against {esc(c['previous_period'])}, CSAT moved by {_signed(100 * c['change'])} percentage points "
            f"({_ci(level)} {_range(100 * c['ci_lower'], 100 * c['ci_upper'])}, {_p(c['p_value'])}) and NPS by "
            f"{_signed(p['change'])} points ({_ci(level)} {_range(p['ci_lower'], p['ci_upper'])}, {_p(p['p_value'])}): "
            f"{verdict[0]}.")


def segment_summary(segments: pd.DataFrame, metric: str = "nps", min_n: int = 30) -> str:
    """Highest and lowest reportable segment per dimension; how many are flagged."""
    parts = []
    show = (lambda v: _num(v, 0)) if metric == "nps" else pct
    name = "NPS" if metric == "nps" else "CSAT"
    for dim, g in segments.groupby("dimension", sort=False):
        ok = g[g["status"] == "ok"].sort_values(metric)
        flagged = int((g["status"] != "ok").sum())
        if len(ok) >= 2:
            lo, hi = ok.iloc[0], ok.iloc[-1]
            s = (f"by {esc(dim)}, {name} ranges from {show(lo[metric])} (*{_label(lo['segment'])}*, n = {n(lo['n'])}) "
                 f"to {show(hi[metric])} (*{_label(hi['segment'])}*, n = {n(hi['n'])})")
        elif len(ok) == 1:
            s = f"by {esc(dim)}, only *{_label(ok.iloc[0]['segment'])}* has enough responses"
        else:
            s = f"by {esc(dim)}, no segment reaches {min_n} responses"
        if flagged:
            s += f" ({flagged} segment(s) below {min_n} responses flagged)"
        parts.append(s)
    return ("Across segments, " + "; ".join(parts) + ". Overlapping intervals in the chart mean the difference "
            "may be noise.") if parts else ""


def drivers(kda, matrix: pd.DataFrame, start, end, level: float = 0.95) -> str:
    """What moves satisfaction and where to act first."""
    imp = kda.importance_.sort_values("rw_share", ascending=False)
    top = imp.iloc[0]
    others = ", ".join(f"{_label(a).replace('attr ', '')} {pct(r['rw_share'], 0)}" for a, r in imp.iloc[1:].iterrows())
    first = matrix[matrix["quadrant"] == "concentrate here"]
    s = (f"Over the responses from {start} to {end} (n = {n(kda.n_)}), the {len(imp)} attribute ratings explain "
         f"**R² = {_num(kda.r2_, 2)}** ({_ci(level)} {_range(kda.r2_lower_, kda.r2_upper_, 2)}) of {esc(str(kda.outcome_).upper())}. "
         f"**{_label(imp.index[0]).replace('attr ', '').capitalize()}** is the strongest driver: "
         f"{pct(top['rw_share'], 0)} of the explained variance ({_ci(level)} {pct(top['rw_share_lower'], 0)}-"
         f"{pct(top['rw_share_upper'], 0)}, Johnson's relative weights; LMG {pct(top['lmg_share'], 0)}), then "
         f"{others}. ")
    if len(first):
        names = " and ".join(f"**{_label(a).replace('attr ', '')}**" for a in first.index)
        s += (f"The driver matrix puts {names} in *concentrate here*: more important than average and rated "
              "below the other attributes, so improving it buys the most satisfaction.")
    else:
        p1 = matrix.index[0]
        s += (f"No attribute is both above-average in importance and below-average in rating; the largest gain left "
              f"is in **{_label(p1).replace('attr ', '')}**.")
    return s


def _flagged(count, min_n: int) -> str:
    return f"flagged, not reported (n = {n(count)}, below the threshold of {min_n})"


def complaints_headline(volumes: pd.DataFrame, repeat: pd.Series, sla: pd.DataFrame, rt, breaches: pd.DataFrame,
                        period_label: str, min_n: int = 30, level: float = 0.95) -> str:
    """The opening paragraph of the complaints report (figures below ``min_n`` are flagged, not quoted)."""
    a = volumes[volumes["dimension"] == "all"].iloc[0]
    al, s_all = sla.loc["all"], rt.summary_.loc["all"]
    lvl = _ci(level)
    s = (f"In {period_label}, **{n(a['complaints'])} complaints** were opened: **{_num(a['rate_per_1000'])} per 1,000 "
         f"customers** ({lvl} {_range(a['rate_lower'], a['rate_upper'])}; {n(a['customers'])} customers on book). ")
    if a["status"] == "ok":
        s += (f"{n(a['escalated'])} were escalated, a rate of "
              f"{pct_ci(a['escalation_rate'], a['escalation_lower'], a['escalation_upper'], level)}, and "
              f"{n(repeat['repeat_complainants'])} of {n(repeat['complainants'])} complainants complained more than "
              "once. ")
    else:
        s += f"The escalation rate and the share of repeat complainants are {_flagged(a['complaints'], min_n)}. "
    if al["due"] == 0:
        s += "No complaint fell due in the period, so SLA compliance cannot be measured. "
    elif al["status"] == "ok":
        s += (f"Of the {n(al['due'])} complaints that fell due in the period, **{pct(al['compliance'])} met their SLA** "
              f"({lvl} {pct(al['ci_lower'])}-{pct(al['ci_upper'])}); {n(len(breaches))} breach(es) are listed below. ")
    else:
        s += (f"SLA compliance is {_flagged(al['due'], min_n)}: {n(al['met'])} of {n(al['due'])} complaints due met "
              f"their SLA; {n(len(breaches))} breach(es) are listed below. ")
    if s_all["status"] != "ok":
        s += f"The median time to resolution is {_flagged(s_all['n'], min_n)}."
    elif _ok(s_all["median_days"]):
        s += (f"The **median time to resolution is {_num(s_all['median_days'])} days** ({lvl} "
              f"{_range(s_all['median_lower'], s_all['median_upper'])}; Kaplan-Meier over {n(s_all['n'])} complaints, "
              f"{n(s_all['open'])} still open at the period end counted as censored, not dropped).")
    else:
        s += (f"Fewer than half of the {n(s_all['n'])} complaints were resolved by the period end, so the median "
              "time to resolution is not yet estimable.")
    return s


def resolution(rt, min_n: int = 30, level: float = 0.95) -> str:
    """Medians by severity against the SLA, and what dropping open complaints would have done."""
    s = rt.summary_
    parts = []
    for g, r in s.drop(index="all", errors="ignore").iterrows():
        if r["status"] != "ok":
            parts.append(f"*{_label(g)}* {_flagged(r['n'], min_n)}")
            continue
        med = (f"median {_num(r['median_days'])} days ({_ci(level)} {_range(r['median_lower'], r['median_upper'])})"
               if _ok(r["median_days"]) else "median not yet reached")
        sla = (f"; {pct(r['within_sla'], 0)} resolved within the {_num(r['sla_days'], 0)}-day SLA "
               f"({_ci(level)} {_range(100 * r['within_sla_lower'], 100 * r['within_sla_upper'], 0)}%)"
               if _ok(r["within_sla"]) else "")
        parts.append(f"*{_label(g)}* {med}{sla} (n = {n(r['n'])}, {n(r['open'])} open)")
    a = s.loc["all"]
    bias = ""
    if a["status"] == "ok" and a["open"] and _ok(a["naive_median_days"]) and _ok(a["median_days"]):
        bias = (f" Dropping the {n(a['open'])} open complaints instead of censoring them would have given a median "
                f"of {_num(a['naive_median_days'])} days instead of {_num(a['median_days'])}: open complaints are "
                "the slow ones, so dropping them flatters the figure.")
    return "By severity: " + "; ".join(parts) + "." + bias


def control_chart(chart: pd.DataFrame, what: str, unit: str = "") -> str:
    """Which months signal a real shift on a p- or u-chart."""
    sig = chart[chart["signal"] != ""]
    span = f"{chart['month'].iloc[0]} to {chart['month'].iloc[-1]}"
    centre = chart["center"].iloc[0]
    c = pct(centre) if unit == "share" else f"{_num(centre)}{unit}"
    if not len(sig):
        return (f"From {span}, {what} stayed within its 3-sigma control limits (centre line {c}) with no run of 8 "
                "on one side: month-to-month movement is consistent with noise.")
    listed = "; ".join(f"{esc(m)}: {esc(t)}" for m, t in zip(sig["month"].astype(str), sig["signal"]))
    return (f"From {span} (centre line {c}), {what} signals a shift in {len(sig)} month(s) ({listed}). "
            "A point beyond the limits or a run of 8 on one side is unlikely under stable conditions (about 0.3% and "
            "0.8% per point): look for a cause.")


def churn_link(churn: pd.Series, level: float = 0.95) -> str:
    """Complainants' churn hazard vs the others."""
    if not _ok(churn.get("hazard_ratio")):
        return ("Too few complainants or closures in the cohort to compare complainants' churn with the others'.")
    sig = _ok(churn["p_value"]) and churn["p_value"] < fmt.alpha_of(level)
    return (f"Customers who complained in the 12 months to {churn['t0']} (n = {n(churn['complainants'])}) closed their "
            f"relationship in the following 12 months at **{_num(churn['hazard_ratio'], 2)} times the rate** of the "
            f"other {n(churn['others'])} customers (hazard ratio, {_ci(level)} "
            f"{_range(churn['hr_lower'], churn['hr_upper'], 2)}; log-rank {_p(churn['p_value'])}): "
            f"{pct(churn['churn_complainants'])} vs {pct(churn['churn_others'])} closed. "
            + ("Complaints mark customers at risk: a prompt, good resolution is also a retention lever."
               if sig and churn["hazard_ratio"] > 1 else
               "The difference is not distinguishable from chance at this sample size."))
