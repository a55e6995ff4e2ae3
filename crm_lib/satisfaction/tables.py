"""Reviewer tables: finished results formatted for reading (rounded, intervals as ranges, flags shown).

Values of rows flagged ``small n`` / ``no responses`` / ``no complaints`` are shown as a
dash, never as a number a reader might quote; counts and the status stay visible.
Nothing here computes a statistic.
"""

from __future__ import annotations

import pandas as pd

from crm_lib import fmt

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


def _ok(v) -> bool:
    return not fmt.missing(v)


def _ci(level: float) -> str:
    """``95% CI`` at confidence ``level`` (1 - alpha)."""
    return fmt.ci_label(fmt.alpha_of(level))


def _one(v, kind: str) -> str:
    if kind == "text":
        return "" if not _ok(v) else str(v).replace("_", " ")
    return _FORMATS[kind](float(v)) if _ok(v) else DASH


def _range(lo, hi, kind: str) -> str:
    if not (_ok(lo) and _ok(hi)):
        return DASH
    a, b = _one(lo, kind), _one(hi, kind)
    if kind.startswith("pct"):
        return f"{a.rstrip('%')}-{b}"
    return f"{a} to {b}"


def format_table(df: pd.DataFrame, spec: list[tuple], index: str | list[str] | None = None,
                 status: str = "status") -> pd.DataFrame:
    """Format ``df`` by ``spec``: (header, value column, lower or None, upper or None, kind[, status]).

    ``kind`` is one of int, pct, pct0, num0-num3, text. With ``lower``/``upper`` the cell is
    the interval. Rows whose status (the ``status`` column, or the spec's own status column;
    ``""`` never hides) is not ``ok`` show a dash for value columns.
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
        t.index = pd.MultiIndex.from_frame(df[names].astype(str).apply(lambda s: s.str.replace("_", " "))) \
            if len(names) > 1 else pd.Index(df[names[0]].astype(str).str.replace("_", " "), name=names[0])
    return t


def scores_view(t: pd.DataFrame, index: str | list[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """CSAT and NPS (from ``score_table``, ``score_trend`` or ``segment_scores``)."""
    ci = _ci(level)
    return format_table(t, [("responses", "n", None, None, "int"), ("CSAT satisfied", "csat_top2box", None, None, "pct"),
                            (f"CSAT {ci}", None, "csat_top2box_lower", "csat_top2box_upper", "pct"),
                            ("CSAT mean (1-5)", "csat_mean", None, None, "num2"),
                            ("NPS", "nps", None, None, "num1"), (f"NPS {ci}", None, "nps_lower", "nps_upper", "num1"),
                            ("promoters", "promoters", None, None, "pct0"),
                            ("detractors", "detractors", None, None, "pct0"), ("status", "status", None, None, "text")],
                        index=index)


def trend_view(trend: pd.DataFrame, index_trend: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Scores and the satisfaction index per period side by side."""
    s = scores_view(trend, index="period", level=level).drop(columns=["promoters", "detractors", "CSAT mean (1-5)"])
    i = format_table(index_trend, [("index (0-100)", "index", None, None, "num1"),
                                   (f"index {_ci(level)}", None, "ci_lower", "ci_upper", "num1")], index="period")
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
                                [f"{len(g)} segments below the threshold"]],
                               columns=out.columns, index=pd.MultiIndex.from_tuples([(d, "(not listed)")],
                                                                                   names=out.index.names))
            out = pd.concat([out, row])
    return out


def index_view(index: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    return format_table(index, [("responses", "n", None, None, "int"), ("index (0-100)", "index", None, None, "num1"),
                                (_ci(level), None, "ci_lower", "ci_upper", "num1"),
                                ("status", "status", None, None, "text")])


def drivers_view(kda, matrix: pd.DataFrame, weights: pd.Series | None = None, level: float = 0.95) -> pd.DataFrame:
    """Key-driver table: performance, standardised beta, LMG and relative-weight shares, quadrant."""
    imp = kda.importance_.join(matrix[["quadrant", "priority"]])
    if weights is not None:
        imp = imp.join(weights.rename("index_weight"))
    ci = _ci(level)
    spec = [("mean rating (1-5)", "mean", None, None, "num2"), ("performance (0-100)", "performance", None, None, "num1"),
            ("standardised beta", "beta_std", None, None, "num3"), (f"beta {ci}", None, "beta_std_lower",
                                                                   "beta_std_upper", "num3"),
            ("LMG share", "lmg_share", None, None, "pct"), (f"LMG {ci}", None, "lmg_share_lower", "lmg_share_upper", "pct"),
            ("relative weight", "rw_share", None, None, "pct"),
            (f"RW {ci}", None, "rw_share_lower", "rw_share_upper", "pct"), ("rank", "rank", None, None, "int")]
    if "quadrant" in imp.columns:
        spec += [("quadrant", "quadrant", None, None, "text"), ("priority", "priority", None, None, "int")]
    if "index_weight" in imp.columns:
        spec.append(("index weight", "index_weight", None, None, "num3"))
    out = format_table(imp.reset_index(), spec, index="driver")
    out.index = [str(i).replace("attr ", "") for i in out.index]
    out.index.name = "attribute"
    return out.sort_values("rank", key=lambda s: s.str.replace(",", "").astype(int))


def volumes_view(volumes: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """``complaint_breakdowns`` for reading."""
    ci = _ci(level)
    return format_table(volumes, [("complaints", "complaints", None, None, "int"),
                                  ("share", "share", None, None, "pct", ""),
                                  ("customers", "customers", None, None, "int"),
                                  ("per 1,000 customers", "rate_per_1000", None, None, "num2", "rate_status"),
                                  (f"rate {ci}", None, "rate_lower", "rate_upper", "num2", "rate_status"),
                                  ("escalated", "escalated", None, None, "int"),
                                  ("escalation rate", "escalation_rate", None, None, "pct"),
                                  (f"escalation {ci}", None, "escalation_lower", "escalation_upper", "pct"),
                                  ("status", "status", None, None, "text")], index=["dimension", "segment"])


def repeat_view(repeat: pd.Series, level: float = 0.95, min_n: int = 30) -> pd.DataFrame:
    """``repeat_complainants`` for reading (shares dashed below ``min_n`` complainants)."""
    ok = repeat["complainants"] >= min_n
    return pd.DataFrame({"value": [_one(repeat["complainants"], "int"), _one(repeat["repeat_complainants"], "int"),
                                   _one(repeat["repeat_share"], "pct") if ok else DASH,
                                   _range(repeat["ci_lower"], repeat["ci_upper"], "pct") if ok else DASH,
                                   _one(repeat["repeat_complaint_share"], "pct") if ok else DASH]},
                        index=pd.Index(["complainants in the period", "complained 2+ times",
                                        "share of complainants", f"share {_ci(level)}",
                                        "share of complaints made by them"], name="repeat complainants"))


def resolution_view(rt, level: float = 0.95) -> pd.DataFrame:
    """``ResolutionTime.summary_`` for reading."""
    ci = _ci(level)
    s = rt.summary_.reset_index()
    return format_table(s, [("complaints", "n", None, None, "int"), ("resolved", "resolved", None, None, "int"),
                            ("open (censored)", "open", None, None, "int"),
                            ("median days (KM)", "median_days", None, None, "num1"),
                            (f"median {ci}", None, "median_lower", "median_upper", "num1"),
                            ("median if open dropped", "naive_median_days", None, None, "num1"),
                            ("SLA days", "sla_days", None, None, "num0", ""),
                            ("resolved within SLA (KM)", "within_sla", None, None, "pct"),
                            (f"within-SLA {ci}", None, "within_sla_lower", "within_sla_upper", "pct"),
                            ("status", "status", None, None, "text")], index="group")


def sla_view(sla: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """``sla_compliance`` for reading."""
    s = sla.reset_index()
    return format_table(s, [("SLA days", "sla_days", None, None, "num0", ""), ("due in period", "due", None, None, "int"),
                            ("met", "met", None, None, "int"), ("breached", "breached", None, None, "int"),
                            ("still open", "still_open", None, None, "int"),
                            ("compliance", "compliance", None, None, "pct"),
                            (_ci(level), None, "ci_lower", "ci_upper", "pct"),
                            ("status", "status", None, None, "text")], index="severity")


def problems_view(problems: pd.DataFrame) -> pd.DataFrame:
    """The dropped / flagged rows table, or one line saying there were none."""
    if problems is None or not len(problems):
        return pd.DataFrame({"result": ["every row passed every rule: none dropped"]})
    return problems.reset_index(drop=True)


def headline_view(headline: pd.DataFrame, index: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """The period's CSAT and NPS (as answered, weighted) with the satisfaction index beside the first."""
    t = scores_view(headline, level=level).drop(columns=["CSAT mean (1-5)"])
    i = index.loc["all"]
    ok = i["status"] == "ok"
    t["index (0-100)"] = [_one(i["index"], "num1") if ok else DASH] + ["not weighted"] * (len(t) - 1)
    t[f"index {_ci(level)}"] = [_range(i["ci_lower"], i["ci_upper"], "num1") if ok else DASH] + [""] * (len(t) - 1)
    return t


def churn_view(churn: pd.Series, level: float = 0.95) -> pd.DataFrame:
    """``complainant_churn`` for reading."""
    rows = [("cohort start (t0)", str(churn["t0"])), ("customers followed", _one(churn["customers"], "int")),
            ("complainants (12 months before t0)", _one(churn["complainants"], "int")),
            ("others", _one(churn["others"], "int")),
            ("closed within 12 months: complainants", _one(churn["churn_complainants"], "pct")),
            ("closed within 12 months: others", _one(churn["churn_others"], "pct")),
            ("hazard ratio (complainants / others)", _one(churn["hazard_ratio"], "num2")),
            (f"hazard ratio {_ci(level)}", _range(churn["hr_lower"], churn["hr_upper"], "num2")),
            ("log-rank p-value", fmt.p_value(churn["p_value"]) if _ok(churn["p_value"]) else DASH)]
    return pd.DataFrame({"value": [v for _, v in rows]}, index=pd.Index([k for k, _ in rows], name="measure"))


def breaches_view(breaches: pd.DataFrame, limit: int = 25) -> pd.DataFrame:
    """The worst ``limit`` SLA breaches (complaint reference and customer pseudonym only)."""
    if not len(breaches):
        return pd.DataFrame({"result": ["no SLA breach in the period and no complaint open past its due date"]})
    t = breaches.head(limit).copy()
    t["escalated"] = t["escalated"].map({True: "yes", False: "no"})
    t["resolved"] = t["resolved"].astype(object).where(t["resolved"].notna(), "open")
    t.index = pd.RangeIndex(1, len(t) + 1, name="#")
    return t
