"""Reviewer tables: finished results formatted for reading (rounded, intervals as ranges, flags shown).

Values of rows flagged ``small n`` / ``no responses`` / ``no complaints`` are shown as a
dash, never as a number a reader might quote; counts and the status stay visible.
Nothing here computes a statistic.
"""

from __future__ import annotations

import pandas as pd

from crm_lib import fmt
from crm_lib.fmt import N_, _
from crm_lib.satisfaction.drivers import QUADRANTS

DASH = "—"
_FORMATS = {
    "int": fmt.integer,
    "pct": fmt.pct,
    "pct0": lambda v: fmt.pct(v, 0),
    "num0": lambda v: fmt.number(v, 0),
    "num1": lambda v: fmt.number(v, 1),
    "num2": lambda v: fmt.number(v, 2),
    "num3": lambda v: fmt.number(v, 3),
}
# The library's own words that reach a cell or a row label (statuses of ``scores``/``complaints``,
# quadrants of ``drivers``, row labels of ``report``): shown through ``_``; anything else (data,
# parameters) is shown as it is.
_TERMS = frozenset((N_("ok"), N_("small n"), N_("no responses"), N_("no complaints"), N_("all"),
                    N_("as answered"), N_("weighted to customer base"), N_("open, overdue"), N_("resolved late"),
                    *QUADRANTS.values()))
# Index names (the value columns they come from) as reviewers read them.
_INDEX_NAMES = {"period": N_("period"), "dimension": N_("dimension"), "segment": N_("segment"),
                "group": N_("group"), "severity": N_("severity"), "estimate": N_("estimate")}
# ``complaints.sla_breaches``' columns as headers.
_BREACH_HEADERS = {"complaint_id": N_("complaint_id"), "customer_id": N_("customer_id"), "severity": N_("severity"),
                   "category": N_("category"), "channel": N_("channel"), "escalated": N_("escalated"),
                   "opened": N_("opened"), "due": N_("due"), "resolved": N_("resolved"), "status": N_("status"),
                   "days_over": N_("days_over")}


def _ok(v) -> bool:
    return not fmt.missing(v)


def _ci(level: float) -> str:
    """``95% CI`` at confidence ``level`` (1 - alpha)."""
    return fmt.ci_label(fmt.alpha_of(level))


def _term(v) -> str:
    """A text cell: the library's words in the run's language, other values with ``_`` as spaces."""
    s = str(v)
    return _(s) if s in _TERMS else s.replace("_", " ")


def _one(v, kind: str) -> str:
    if kind == "text":
        return "" if not _ok(v) else _term(v)
    return _FORMATS[kind](float(v)) if _ok(v) else DASH


def _range(lo, hi, kind: str) -> str:
    if not (_ok(lo) and _ok(hi)):
        return DASH
    a, b = _one(lo, kind), _one(hi, kind)
    if kind.startswith("pct"):
        return f"{a.rstrip('%')}-{b}"
    return f"{a} {_('to')} {b}"


def _index_value(name: str, v) -> str:
    """An index cell: dimension names (the library's) and its own row labels (``all``) translated,
    periods localised in other languages than English, values from data as they are (``_`` as spaces)."""
    s = str(v)
    if name == "dimension" or s in _TERMS:
        return _(s).replace("_", " ")
    if name == "period" and fmt.get_locale() != "en":
        return fmt.period(s)
    return s.replace("_", " ")


def _index_name(name):
    return _(_INDEX_NAMES[name]) if name in _INDEX_NAMES else name


def format_table(df: pd.DataFrame, spec: list[tuple], index: str | list[str] | None = None,
                 status: str = "status") -> pd.DataFrame:
    """Format ``df`` by ``spec``: (header, value column, lower or None, upper or None, kind[, status]).

    ``kind`` is one of int, pct, pct0, num0-num3, text. With ``lower``/``upper`` the cell is
    the interval. Rows whose status (the ``status`` column, or the spec's own status column;
    ``""`` never hides) is not ``ok`` show a dash for value columns. Headers are shown as given
    (callers pass them translated); the library's words in text cells and index labels are
    translated.
    """
    out = {}
    for item in spec:
        header, col, lo, hi, kind = item[:5]
        st = item[5] if len(item) > 5 else status
        hide = (df[st] != "ok").to_numpy() if st and st in df.columns else [False] * len(df)
        keep = kind in ("int", "text")
        if lo is not None:
            vals = [DASH if (h and not keep) else _range(a, b, kind) for h, a, b in zip(hide, df[lo], df[hi])]
        else:
            vals = [DASH if (h and not keep) else _one(v, kind) for h, v in zip(hide, df[col])]
        out[header] = vals
    t = pd.DataFrame(out, index=df.index)
    if index is not None:
        names = [index] if isinstance(index, str) else list(index)
        frame = pd.DataFrame({_index_name(c): [_index_value(c, v) for v in df[c].astype(str)] for c in names})
        t.index = pd.MultiIndex.from_frame(frame) if len(names) > 1 else pd.Index(frame.iloc[:, 0],
                                                                                   name=frame.columns[0])
    return t


def scores_view(t: pd.DataFrame, index: str | list[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """CSAT and NPS (from ``score_table``, ``score_trend`` or ``segment_scores``)."""
    ci = _ci(level)
    return format_table(t, [(_("responses"), "n", None, None, "int"),
                            (_("CSAT satisfied"), "csat_top2box", None, None, "pct"),
                            (_("CSAT {ci}").format(ci=ci), None, "csat_top2box_lower", "csat_top2box_upper", "pct"),
                            (_("CSAT mean (1-5)"), "csat_mean", None, None, "num2"),
                            ("NPS", "nps", None, None, "num1"),
                            (_("NPS {ci}").format(ci=ci), None, "nps_lower", "nps_upper", "num1"),
                            (_("promoters"), "promoters", None, None, "pct0"),
                            (_("detractors"), "detractors", None, None, "pct0"),
                            (_("status"), "status", None, None, "text")],
                        index=index)


def trend_view(trend: pd.DataFrame, index_trend: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Scores and the satisfaction index per period side by side."""
    s = scores_view(trend, index="period", level=level).drop(columns=[_("promoters"), _("detractors"),
                                                                      _("CSAT mean (1-5)")])
    i = format_table(index_trend, [(_("index (0-100)"), "index", None, None, "num1"),
                                   (_("index {ci}").format(ci=_ci(level)), None, "ci_lower", "ci_upper", "num1")],
                     index="period")
    return s.join(i)


def segments_view(segments: pd.DataFrame, hide_flagged: tuple = ("branch",), level: float = 0.95) -> pd.DataFrame:
    """``segment_scores`` for reading; flagged rows of the ``hide_flagged`` dimensions (many small
    segments, e.g. branches) are summarised in one line instead of listed."""
    keep = ~(segments["dimension"].isin(hide_flagged) & (segments["status"] != "ok"))
    t = segments[keep]
    out = scores_view(t, index=["dimension", "segment"], level=level)
    for d in hide_flagged:
        g = segments[(segments["dimension"] == d) & (segments["status"] != "ok")]
        if len(g):
            row = pd.DataFrame([[_one(g["n"].sum(), "int")] + [DASH] * (out.shape[1] - 2) +
                                [_("{count} segments below the threshold").format(count=len(g))]],
                               columns=out.columns,
                               index=pd.MultiIndex.from_tuples([(_index_value("dimension", d), _("(not listed)"))],
                                                               names=out.index.names))
            out = pd.concat([out, row])
    return out


def index_view(index: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    return format_table(index, [(_("responses"), "n", None, None, "int"),
                                (_("index (0-100)"), "index", None, None, "num1"),
                                (_ci(level), None, "ci_lower", "ci_upper", "num1"),
                                (_("status"), "status", None, None, "text")])


def drivers_view(kda, matrix: pd.DataFrame, weights: pd.Series | None = None, level: float = 0.95) -> pd.DataFrame:
    """Key-driver table: performance, standardised beta, LMG and relative-weight shares, quadrant."""
    imp = kda.importance_.join(matrix[["quadrant", "priority"]])
    if weights is not None:
        imp = imp.join(weights.rename("index_weight"))
    ci = _ci(level)
    spec = [(_("mean rating (1-5)"), "mean", None, None, "num2"),
            (_("performance (0-100)"), "performance", None, None, "num1"),
            (_("standardised beta"), "beta_std", None, None, "num3"),
            (_("beta {ci}").format(ci=ci), None, "beta_std_lower", "beta_std_upper", "num3"),
            (_("LMG share"), "lmg_share", None, None, "pct"),
            (_("LMG {ci}").format(ci=ci), None, "lmg_share_lower", "lmg_share_upper", "pct"),
            (_("relative weight"), "rw_share", None, None, "pct"),
            (_("RW {ci}").format(ci=ci), None, "rw_share_lower", "rw_share_upper", "pct"),
            (_("rank"), "rank", None, None, "int")]
    if "quadrant" in imp.columns:
        spec += [(_("quadrant"), "quadrant", None, None, "text"), (_("priority"), "priority", None, None, "int")]
    if "index_weight" in imp.columns:
        spec.append((_("index weight"), "index_weight", None, None, "num3"))
    out = format_table(imp.reset_index(), spec, index="driver")
    out.index = [str(i).replace("attr ", "") for i in out.index]
    out.index.name = _("attribute")
    return out.sort_values(_("rank"), key=lambda s: s.str.replace(r"\D", "", regex=True).astype(int))


def volumes_view(volumes: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """``complaint_breakdowns`` for reading."""
    ci = _ci(level)
    return format_table(volumes, [(_("complaints"), "complaints", None, None, "int"),
                                  (_("share"), "share", None, None, "pct", ""),
                                  (_("customers"), "customers", None, None, "int"),
                                  (_("per 1,000 customers"), "rate_per_1000", None, None, "num2", "rate_status"),
                                  (_("rate {ci}").format(ci=ci), None, "rate_lower", "rate_upper", "num2",
                                   "rate_status"),
                                  (_("escalated"), "escalated", None, None, "int"),
                                  (_("escalation rate"), "escalation_rate", None, None, "pct"),
                                  (_("escalation {ci}").format(ci=ci), None, "escalation_lower", "escalation_upper",
                                   "pct"),
                                  (_("status"), "status", None, None, "text")], index=["dimension", "segment"])


def repeat_view(repeat: pd.Series, level: float = 0.95, min_n: int = 30) -> pd.DataFrame:
    """``repeat_complainants`` for reading (shares dashed below ``min_n`` complainants)."""
    ok = repeat["complainants"] >= min_n
    return pd.DataFrame({_("value"): [_one(repeat["complainants"], "int"),
                                      _one(repeat["repeat_complainants"], "int"),
                                      _one(repeat["repeat_share"], "pct") if ok else DASH,
                                      _range(repeat["ci_lower"], repeat["ci_upper"], "pct") if ok else DASH,
                                      _one(repeat["repeat_complaint_share"], "pct") if ok else DASH]},
                        index=pd.Index([_("complainants in the period"), _("complained 2+ times"),
                                        _("share of complainants"), _("share {ci}").format(ci=_ci(level)),
                                        _("share of complaints made by them")], name=_("repeat complainants")))


def resolution_view(rt, level: float = 0.95) -> pd.DataFrame:
    """``ResolutionTime.summary_`` for reading."""
    ci = _ci(level)
    s = rt.summary_.reset_index()
    return format_table(s, [(_("complaints"), "n", None, None, "int"), (_("resolved"), "resolved", None, None, "int"),
                            (_("open (censored)"), "open", None, None, "int"),
                            (_("median days (KM)"), "median_days", None, None, "num1"),
                            (_("median {ci}").format(ci=ci), None, "median_lower", "median_upper", "num1"),
                            (_("median if open dropped"), "naive_median_days", None, None, "num1"),
                            (_("SLA days"), "sla_days", None, None, "num0", ""),
                            (_("resolved within SLA (KM)"), "within_sla", None, None, "pct"),
                            (_("within-SLA {ci}").format(ci=ci), None, "within_sla_lower", "within_sla_upper", "pct"),
                            (_("status"), "status", None, None, "text")], index="group")


def sla_view(sla: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """``sla_compliance`` for reading."""
    s = sla.reset_index()
    return format_table(s, [(_("SLA days"), "sla_days", None, None, "num0", ""),
                            (_("due in period"), "due", None, None, "int"),
                            (_("met"), "met", None, None, "int"), (_("breached"), "breached", None, None, "int"),
                            (_("still open"), "still_open", None, None, "int"),
                            (_("compliance"), "compliance", None, None, "pct"),
                            (_ci(level), None, "ci_lower", "ci_upper", "pct"),
                            (_("status"), "status", None, None, "text")], index="severity")


def problems_view(problems: pd.DataFrame) -> pd.DataFrame:
    """The dropped / flagged rows table, or one line saying there were none."""
    if problems is None or not len(problems):
        return pd.DataFrame({_("result"): [_("every row passed every rule: none dropped")]})
    return problems.reset_index(drop=True)


def headline_view(headline: pd.DataFrame, index: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """The period's CSAT and NPS (as answered, weighted) with the satisfaction index beside the first."""
    t = scores_view(headline, level=level).drop(columns=[_("CSAT mean (1-5)")])
    i = index.loc["all"]
    ok = i["status"] == "ok"
    t[_("index (0-100)")] = [_one(i["index"], "num1") if ok else DASH] + [_("not weighted")] * (len(t) - 1)
    t[_("index {ci}").format(ci=_ci(level))] = ([_range(i["ci_lower"], i["ci_upper"], "num1") if ok else DASH]
                                                + [""] * (len(t) - 1))
    t.index = pd.Index([_(x) if x in _TERMS else x for x in t.index],
                       name=_index_name(t.index.name) if t.index.name else t.index.name)
    return t


def churn_view(churn: pd.Series, level: float = 0.95) -> pd.DataFrame:
    """``complainant_churn`` for reading."""
    rows = [(_("cohort start (t0)"), fmt.date(churn["t0"])),
            (_("customers followed"), _one(churn["customers"], "int")),
            (_("complainants (12 months before t0)"), _one(churn["complainants"], "int")),
            (_("others"), _one(churn["others"], "int")),
            (_("closed within 12 months: complainants"), _one(churn["churn_complainants"], "pct")),
            (_("closed within 12 months: others"), _one(churn["churn_others"], "pct")),
            (_("hazard ratio (complainants / others)"), _one(churn["hazard_ratio"], "num2")),
            (_("hazard ratio {ci}").format(ci=_ci(level)), _range(churn["hr_lower"], churn["hr_upper"], "num2")),
            (_("log-rank p-value"), fmt.p_value(churn["p_value"]) if _ok(churn["p_value"]) else DASH)]
    return pd.DataFrame({_("value"): [v for _k, v in rows]},
                        index=pd.Index([k for k, _v in rows], name=_("measure")))


def breaches_view(breaches: pd.DataFrame, limit: int = 25) -> pd.DataFrame:
    """The worst ``limit`` SLA breaches (complaint reference and customer pseudonym only)."""
    if not len(breaches):
        return pd.DataFrame({_("result"): [_("no SLA breach in the period and no complaint open past its due date")]})
    t = breaches.head(limit).copy()
    t["escalated"] = t["escalated"].map({True: _("yes"), False: _("no")})
    t["resolved"] = t["resolved"].astype(object).where(t["resolved"].notna(), _("open"))
    if "status" in t.columns:
        t["status"] = [_term(v) if isinstance(v, str) else v for v in t["status"]]
    t.index = pd.RangeIndex(1, len(t) + 1, name="#")
    return t.rename(columns={c: _(h) for c, h in _BREACH_HEADERS.items()})
