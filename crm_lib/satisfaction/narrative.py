"""Sentences for the satisfaction and complaints notebooks, built from finished results.

Every number comes with its interval and n; figures flagged ``small n`` are named as
such instead of being quoted. Nothing here computes a statistic.
"""

from __future__ import annotations

import re

import pandas as pd

from crm_lib import fmt
from crm_lib.fmt import N_, _, esc, pct
from crm_lib.fmt import integer as n
from crm_lib.fmt import number as _num
from crm_lib.fmt import p_text as _p
from crm_lib.fmt import signed as _signed

_label = fmt.label           # codes from data and parameters as words, escaped for Markdown

# What the notebooks pass in (``data_note``'s ``what`` and ``checks``, ``control_chart``'s ``what``):
# shown through ``_`` so a Chinese run reads them in Chinese; any other value is shown as given.
_PASSED_IN = (N_("score ranges, duplicates, dates"),
              N_("dates, resolution after opening, duplicates, severity"), N_("the complaint rate"),
              N_("SLA compliance"))
# ``data_note``'s first sentence per ``what`` the notebooks pass (a whole sentence each), and for any other
_READ = {"survey responses": N_("{rows} survey responses were read for {period} and the windows this report "
                                "compares it with."),
         "complaints": N_("{rows} complaints were read for {period} and the windows this report compares it with.")}
_READ_ANY = N_("{rows} {what} were read for {period} and the windows this report compares it with.")
# ``charts.control_limits``' signals
_SIGNALS = {"beyond limits": N_("beyond limits")}
_RUN = re.compile(r"run of (\d+) (above|below)")


def _zh() -> bool:
    return fmt.get_locale().lower().startswith("zh")


def _join_sentences(parts) -> str:
    """Sentences one after another: a space between them in English, none in Chinese."""
    return ("" if _zh() else " ").join(p for p in parts if p)


def _clauses(parts) -> str:
    """Clauses of one sentence: ``; `` in English, ``；`` in Chinese."""
    return ("；" if _zh() else "; ").join(parts)


def _items(parts) -> str:
    """A list inside a sentence: ``, `` in English, ``、`` in Chinese."""
    return ("、" if _zh() else ", ").join(parts)


def _and(parts) -> str:
    """``a and b and c``."""
    out = ""
    for i, x in enumerate(parts):
        out = x if i == 0 else _("{first} and {second}").format(first=out, second=x)
    return out


def _period(label) -> str:
    """A reporting period for a sentence: as given in English, ``2026年第3季度`` in Chinese (escaped)."""
    return fmt.period(label)


def _ok(v) -> bool:
    return not fmt.missing(v)


def _range(lo, hi, digits: int = 1) -> str:
    return fmt.interval(lo, hi, fmt.number, sep=" " + _("to") + " ", digits=digits)


def _ci(level: float) -> str:
    """``95% CI`` at confidence ``level`` (1 - alpha)."""
    return fmt.ci_label(fmt.alpha_of(level))


def pct_ci(x, lo, hi, level: float = 0.95, digits: int = 1) -> str:
    return fmt.pct_ci(x, lo, hi, fmt.alpha_of(level), digits)


def data_note(what: str, rows: int, problems: pd.DataFrame, period_label: str,
              checks: str = "score ranges, duplicates, dates") -> str:
    """What was read and what was dropped (nothing is dropped silently)."""
    s = _(_READ.get(what, _READ_ANY)).format(rows=n(rows), what=_(what), period=_period(period_label))
    if problems is None or not len(problems):
        return _join_sentences([s, _("Every row passed the checks ({checks}): **none was dropped**.").format(
            checks=_(checks))])
    dropped = int(problems.loc[problems["action"] == "dropped", "rows"].sum())
    kept = int(problems.loc[problems["action"] != "dropped", "rows"].sum())
    if dropped and kept:
        t = _("**{dropped} row(s) broke a rule and were dropped**; {kept} row(s) were kept with a caveat; the table "
              "lists each rule, the count and example rows.")
    elif dropped:
        t = _("**{dropped} row(s) broke a rule and were dropped**; the table lists each rule, the count and example "
              "rows.")
    elif kept:
        t = _("No row was dropped; {kept} row(s) were kept with a caveat; the table lists each rule, the count and "
              "example rows.")
    else:
        t = _("No row was dropped; the table lists each rule, the count and example rows.")
    return _join_sentences([s, t.format(dropped=n(dropped), kept=n(kept))])


def satisfaction_headline(headline: pd.DataFrame, index: pd.DataFrame, period_label: str, min_n: int,
                          level: float = 0.95) -> str:
    """The opening paragraph: CSAT, NPS and the index with intervals and n, raw and weighted.

    Below ``min_n`` responses the figures are named as flagged and not quoted.
    """
    h = headline.loc["as answered"]
    period = _period(period_label)
    if h["n"] == 0:
        return _("**No survey responses are dated in {period}**: CSAT, NPS and the index cannot be reported.").format(
            period=period)
    if h["status"] != "ok":
        return _("**Only {count} survey responses are dated in {period}, below the reporting threshold of {min_n}:** "
                 "CSAT, NPS and the satisfaction index are flagged and not reported for this period. The trend below "
                 "shows each period's n; segment and driver results use what data there is and are flagged the same "
                 "way.").format(count=n(h["n"]), period=period, min_n=min_n)
    lvl = _ci(level)
    parts = [_("In {period}, **{responses} survey responses** gave a CSAT of **{csat} satisfied** (share answering 4 "
               "or 5 of 5; {ci} {csat_lower}-{csat_upper}; mean {mean} of 5, {mean_interval}) and a **Net Promoter "
               "Score of {nps}** ({ci} {nps_interval}; {promoters} promoters, {detractors} detractors).").format(
        period=period, responses=n(h["n"]), csat=pct(h["csat_top2box"]), ci=lvl,
        csat_lower=pct(h["csat_top2box_lower"]), csat_upper=pct(h["csat_top2box_upper"]),
        mean=_num(h["csat_mean"], 2), mean_interval=_range(h["csat_mean_lower"], h["csat_mean_upper"], 2),
        nps=_num(h["nps"], 0), nps_interval=_range(h["nps_lower"], h["nps_upper"], 0),
        promoters=pct(h["promoters"], 0), detractors=pct(h["detractors"], 0))]
    if "weighted to customer base" in headline.index:
        w = headline.loc["weighted to customer base"]
        barely = abs(w["nps"] - h["nps"]) < (h["nps_upper"] - h["nps_lower"]) / 4
        t = (_("Weighted to the customer base by customer type and value tier, CSAT is {csat} ({csat_lower}-"
               "{csat_upper}) and NPS {nps} ({nps_interval}), so the mix of who answered barely moves the headline.")
             if barely else
             _("Weighted to the customer base by customer type and value tier, CSAT is {csat} ({csat_lower}-"
               "{csat_upper}) and NPS {nps} ({nps_interval}), so the mix of who answered moves the headline."))
        parts.append(t.format(csat=pct(w["csat_top2box"]), csat_lower=pct(w["csat_top2box_lower"]),
                              csat_upper=pct(w["csat_top2box_upper"]), nps=_num(w["nps"], 0),
                              nps_interval=_range(w["nps_lower"], w["nps_upper"], 0)))
    i = index.loc["all"]
    parts.append(_("The **satisfaction index is {index} of 100** ({ci} {interval}; n = {count} responses rating every "
                   "attribute).").format(index=_num(i["index"]), ci=lvl, interval=_range(i["ci_lower"], i["ci_upper"]),
                                         count=n(i["n"])))
    return _join_sentences(parts)


def score_change(change: pd.DataFrame, level: float = 0.95) -> str:
    """Period-over-period change of CSAT and NPS, with intervals and p-values."""
    if change is None or not len(change):
        return ""
    c, p = change.loc["csat_top2box"], change.loc["nps"]
    sig = [name for name, row in (("CSAT", c), ("NPS", p)) if _ok(row["p_value"]) and row["p_value"] < fmt.alpha_of(level)]
    values = {"previous": _period(c["previous_period"]), "ci": _ci(level), "csat_change": _signed(100 * c["change"]),
              "csat_interval": _range(100 * c["ci_lower"], 100 * c["ci_upper"]), "csat_p": _p(c["p_value"]),
              "nps_change": _signed(p["change"]), "nps_interval": _range(p["ci_lower"], p["ci_upper"]),
              "nps_p": _p(p["p_value"])}
    if not sig:
        return _("Against {previous}, CSAT moved by {csat_change} percentage points ({ci} {csat_interval}, {csat_p}) "
                 "and NPS by {nps_change} points ({ci} {nps_interval}, {nps_p}): neither change is distinguishable "
                 "from sampling noise.").format(**values)
    return _("Against {previous}, CSAT moved by {csat_change} percentage points ({ci} {csat_interval}, {csat_p}) and "
             "NPS by {nps_change} points ({ci} {nps_interval}, {nps_p}): the change in {scores} is larger than "
             "sampling noise would explain.").format(scores=_and(sig), **values)


def segment_summary(segments: pd.DataFrame, metric: str = "nps", min_n: int = 30) -> str:
    """Highest and lowest reportable segment per dimension; how many are flagged."""
    parts = []
    show = (lambda v: _num(v, 0)) if metric == "nps" else pct
    name = "NPS" if metric == "nps" else "CSAT"
    for dim, g in segments.groupby("dimension", sort=False):
        ok = g[g["status"] == "ok"].sort_values(metric)
        flagged = int((g["status"] != "ok").sum())
        d = esc(_(str(dim)))                 # the library's dimension names (report.DIMENSION_LABELS)
        if len(ok) >= 2:
            lo, hi = ok.iloc[0], ok.iloc[-1]
            s = _("by {dimension}, {score} ranges from {low} (*{low_segment}*, n = {low_n}) to {high} "
                  "(*{high_segment}*, n = {high_n})").format(
                dimension=d, score=name, low=show(lo[metric]), low_segment=_label(lo["segment"]), low_n=n(lo["n"]),
                high=show(hi[metric]), high_segment=_label(hi["segment"]), high_n=n(hi["n"]))
        elif len(ok) == 1:
            s = _("by {dimension}, only *{segment}* has enough responses").format(
                dimension=d, segment=_label(ok.iloc[0]["segment"]))
        else:
            s = _("by {dimension}, no segment reaches {min_n} responses").format(dimension=d, min_n=min_n)
        if flagged:
            s = _("{clause} ({count} segment(s) below {min_n} responses flagged)").format(clause=s, count=flagged,
                                                                                          min_n=min_n)
        parts.append(s)
    return _("Across segments, {clauses}. Overlapping intervals in the chart mean the difference may be "
             "noise.").format(clauses=_clauses(parts)) if parts else ""


def drivers(kda, matrix: pd.DataFrame, start, end, level: float = 0.95) -> str:
    """What moves satisfaction and where to act first."""
    imp = kda.importance_.sort_values("rw_share", ascending=False)
    top = imp.iloc[0]
    others = _items(f"{_label(a).replace('attr ', '')} {pct(r['rw_share'], 0)}" for a, r in imp.iloc[1:].iterrows())
    first = matrix[matrix["quadrant"] == "concentrate here"]
    s = _("Over the responses from {start} to {end} (n = {n}), the {count} attribute ratings explain **R² = {r2}** "
          "({ci} {r2_interval}) of {outcome}. **{top}** is the strongest driver: {share} of the explained variance "
          "({ci} {share_lower}-{share_upper}, Johnson's relative weights; LMG {lmg}), then {others}.").format(
        start=fmt.date(start), end=fmt.date(end), n=n(kda.n_), count=len(imp), r2=_num(kda.r2_, 2), ci=_ci(level),
        r2_interval=_range(kda.r2_lower_, kda.r2_upper_, 2), outcome=esc(str(kda.outcome_).upper()),
        top=_label(imp.index[0]).replace("attr ", "").capitalize(), share=pct(top["rw_share"], 0),
        share_lower=pct(top["rw_share_lower"], 0), share_upper=pct(top["rw_share_upper"], 0),
        lmg=pct(top["lmg_share"], 0), others=others)
    if len(first):
        names = _and([f"**{_label(a).replace('attr ', '')}**" for a in first.index])
        t = _("The driver matrix puts {attributes} in *concentrate here*: more important than average and rated below "
              "the other attributes, so improving it buys the most satisfaction.").format(attributes=names)
    else:
        t = _("No attribute is both above-average in importance and below-average in rating; the largest gain left "
              "is in **{attribute}**.").format(attribute=_label(matrix.index[0]).replace("attr ", ""))
    return _join_sentences([s, t])


def complaints_headline(volumes: pd.DataFrame, repeat: pd.Series, sla: pd.DataFrame, rt, breaches: pd.DataFrame,
                        period_label: str, min_n: int = 30, level: float = 0.95) -> str:
    """The opening paragraph of the complaints report (figures below ``min_n`` are flagged, not quoted)."""
    a = volumes[volumes["dimension"] == "all"].iloc[0]
    al, s_all = sla.loc["all"], rt.summary_.loc["all"]
    lvl = _ci(level)
    parts = [_("In {period}, **{complaints} complaints** were opened: **{rate} per 1,000 customers** ({ci} "
               "{interval}; {customers} customers on book).").format(
        period=_period(period_label), complaints=n(a["complaints"]), rate=_num(a["rate_per_1000"]), ci=lvl,
        interval=_range(a["rate_lower"], a["rate_upper"]), customers=n(a["customers"]))]
    if a["status"] == "ok":
        parts.append(_("{escalated} were escalated, a rate of {rate}, and {repeat} of {complainants} complainants "
                       "complained more than once.").format(
            escalated=n(a["escalated"]),
            rate=pct_ci(a["escalation_rate"], a["escalation_lower"], a["escalation_upper"], level),
            repeat=n(repeat["repeat_complainants"]), complainants=n(repeat["complainants"])))
    else:
        parts.append(_("The escalation rate and the share of repeat complainants are flagged, not reported "
                       "(n = {count}, below the threshold of {min_n}).").format(count=n(a["complaints"]), min_n=min_n))
    if al["due"] == 0:
        parts.append(_("No complaint fell due in the period, so SLA compliance cannot be measured."))
    elif al["status"] == "ok":
        parts.append(_("Of the {due} complaints that fell due in the period, **{compliance} met their SLA** ({ci} "
                       "{lower}-{upper}); {breaches} breach(es) are listed below.").format(
            due=n(al["due"]), compliance=pct(al["compliance"]), ci=lvl, lower=pct(al["ci_lower"]),
            upper=pct(al["ci_upper"]), breaches=n(len(breaches))))
    else:
        parts.append(_("SLA compliance is flagged, not reported (n = {due}, below the threshold of {min_n}): {met} of "
                       "{due} complaints due met their SLA; {breaches} breach(es) are listed below.").format(
            due=n(al["due"]), min_n=min_n, met=n(al["met"]), breaches=n(len(breaches))))
    if s_all["status"] != "ok":
        parts.append(_("The median time to resolution is flagged, not reported (n = {count}, below the threshold of "
                       "{min_n}).").format(count=n(s_all["n"]), min_n=min_n))
    elif _ok(s_all["median_days"]):
        parts.append(_("The **median time to resolution is {median} days** ({ci} {interval}; Kaplan-Meier over {count} "
                       "complaints, {open} still open at the period end counted as censored, not dropped).").format(
            median=_num(s_all["median_days"]), ci=lvl, interval=_range(s_all["median_lower"], s_all["median_upper"]),
            count=n(s_all["n"]), open=n(s_all["open"])))
    else:
        parts.append(_("Fewer than half of the {count} complaints were resolved by the period end, so the median time "
                       "to resolution is not yet estimable.").format(count=n(s_all["n"])))
    return _join_sentences(parts)


def _group(g) -> str:
    """A resolution-time group: the library's ``all``, else a severity from data or parameters."""
    return esc(_("all")) if str(g) == "all" else _label(g)


def resolution(rt, min_n: int = 30, level: float = 0.95) -> str:
    """Medians by severity against the SLA, and what dropping open complaints would have done."""
    s = rt.summary_
    parts = []
    ci = _ci(level)
    for g, r in s.drop(index="all", errors="ignore").iterrows():
        if r["status"] != "ok":
            parts.append(_("*{group}* flagged, not reported (n = {count}, below the threshold of {min_n})").format(
                group=_group(g), count=n(r["n"]), min_n=min_n))
            continue
        med, sla = _ok(r["median_days"]), _ok(r["within_sla"])
        if med and sla:
            t = _("*{group}* median {median} days ({ci} {interval}); {within} resolved within the {sla_days}-day SLA "
                  "({ci} {within_interval}%) (n = {count}, {open} open)")
        elif med:
            t = _("*{group}* median {median} days ({ci} {interval}) (n = {count}, {open} open)")
        elif sla:
            t = _("*{group}* median not yet reached; {within} resolved within the {sla_days}-day SLA ({ci} "
                  "{within_interval}%) (n = {count}, {open} open)")
        else:
            t = _("*{group}* median not yet reached (n = {count}, {open} open)")
        parts.append(t.format(
            group=_group(g), ci=ci, count=n(r["n"]), open=n(r["open"]),
            median=_num(r["median_days"]) if med else "",
            interval=_range(r["median_lower"], r["median_upper"]) if med else "",
            within=pct(r["within_sla"], 0) if sla else "", sla_days=_num(r["sla_days"], 0) if sla else "",
            within_interval=_range(100 * r["within_sla_lower"], 100 * r["within_sla_upper"], 0) if sla else ""))
    a = s.loc["all"]
    out = [_("By severity: {groups}.").format(groups=_clauses(parts))]
    if a["status"] == "ok" and a["open"] and _ok(a["naive_median_days"]) and _ok(a["median_days"]):
        out.append(_("Dropping the {open} open complaints instead of censoring them would have given a median of "
                     "{naive} days instead of {median}: open complaints are the slow ones, so dropping them flatters "
                     "the figure.").format(open=n(a["open"]), naive=_num(a["naive_median_days"]),
                                           median=_num(a["median_days"])))
    return _join_sentences(out)


def _signal(text) -> str:
    """A control-chart signal of ``charts.control_limits`` in the run's language, escaped."""
    t = str(text)
    if t in _SIGNALS:
        return esc(_(_SIGNALS[t]))
    m = _RUN.fullmatch(t)
    if m:
        msg = _("run of {count} above") if m[2] == "above" else _("run of {count} below")
        return esc(msg.format(count=m[1]))
    return esc(t)


def control_chart(chart: pd.DataFrame, what: str, unit: str = "") -> str:
    """Which months signal a real shift on a p- or u-chart."""
    sig = chart[chart["signal"] != ""]
    first, last = _period(chart["month"].iloc[0]), _period(chart["month"].iloc[-1])
    centre = chart["center"].iloc[0]
    if unit == "share":
        c = pct(centre)
    elif unit == " per 1,000":
        c = _("{value} per 1,000").format(value=_num(centre))
    else:
        c = f"{_num(centre)}{unit}"
    if not len(sig):
        return _("From {start} to {end}, {what} stayed within its 3-sigma control limits (centre line {centre}) with "
                 "no run of 8 on one side: month-to-month movement is consistent with noise.").format(
            start=first, end=last, what=_(what), centre=c)
    listed = _clauses(_("{month}: {signal}").format(month=_period(m), signal=_signal(t))
                      for m, t in zip(sig["month"].astype(str), sig["signal"]))
    return _("From {start} to {end} (centre line {centre}), {what} signals a shift in {count} month(s) ({months}). A "
             "point beyond the limits or a run of 8 on one side is unlikely under stable conditions (about 0.3% and "
             "0.8% per point): look for a cause.").format(start=first, end=last, centre=c, what=_(what),
                                                          count=len(sig), months=listed)


def churn_link(churn: pd.Series, level: float = 0.95) -> str:
    """Complainants' churn hazard vs the others."""
    if not _ok(churn.get("hazard_ratio")):
        return _("Too few complainants or closures in the cohort to compare complainants' churn with the others'.")
    sig = _ok(churn["p_value"]) and churn["p_value"] < fmt.alpha_of(level)
    s = _("Customers who complained in the 12 months to {t0} (n = {complainants}) closed their relationship in the "
          "following 12 months at **{hazard_ratio} times the rate** of the other {others} customers (hazard ratio, "
          "{ci} {interval}; log-rank {p}): {churn_complainants} vs {churn_others} closed.").format(
        t0=fmt.date(churn["t0"]), complainants=n(churn["complainants"]), hazard_ratio=_num(churn["hazard_ratio"], 2),
        others=n(churn["others"]), ci=_ci(level), interval=_range(churn["hr_lower"], churn["hr_upper"], 2),
        p=_p(churn["p_value"]), churn_complainants=pct(churn["churn_complainants"]),
        churn_others=pct(churn["churn_others"]))
    t = (_("Complaints mark customers at risk: a prompt, good resolution is also a retention lever.")
         if sig and churn["hazard_ratio"] > 1 else
         _("The difference is not distinguishable from chance at this sample size."))
    return _join_sentences([s, t])
