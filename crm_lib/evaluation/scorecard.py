"""KPI facts across periods, the scorecard against targets and earlier periods, and alerts."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import test_proportions_2indep

from crm_lib import kpis
from crm_lib.errors import DataContractError
from crm_lib.factfile import load_facts
from crm_lib.fmt import N_, _
from crm_lib.periods import Period


logger = logging.getLogger(__name__)

Z95 = stats.norm.ppf(0.975)


# --------------------------------------------------------------------------- facts and history

def facts_frame(facts: list[dict]) -> pd.DataFrame:
    """Facts (as stored in facts.json) as a frame indexed by name."""
    cols = ["name", "value", "unit", "ci_lower", "ci_upper", "ci_level", "n", "p_value", "uncertainty",
            "definition", "notebook", "period", "headline"]
    df = pd.DataFrame(facts, columns=cols)
    df = df[pd.to_numeric(df["value"], errors="coerce").notna()].copy()
    df["value"] = df["value"].astype(float)
    return df.drop_duplicates("name", keep="last").set_index("name")


def period_facts(reports_dir: str | Path, profile: str, period: Period) -> pd.DataFrame | None:
    """Facts of a published pack, or None when that pack does not exist."""
    path = Path(reports_dir) / profile / period.label / "facts.json"
    return facts_frame(load_facts(path)) if path.exists() else None


def current_facts(facts_dir: str | Path, exclude: str = "") -> pd.DataFrame:
    """Facts recorded so far in this run (each notebook's facts/<name>.json)."""
    out = []
    for p in sorted(Path(facts_dir).glob("*.json")):
        if p.stem != exclude:
            out.extend(load_facts(p))
    return facts_frame(out)


def history(reports_dir: str | Path, profile: str, period: Period, n: int = 8,
            current: pd.DataFrame | None = None) -> pd.DataFrame:
    """KPI values over the last ``n`` periods (long format: period, name, value, ci_lower, ci_upper)."""
    rows = []
    for k in range(n - 1, -1, -1):
        p = period.shift(-k)
        f = current if (k == 0 and current is not None) else period_facts(reports_dir, profile, p)
        if f is None:
            continue
        g = f[["value", "ci_lower", "ci_upper", "unit"]].reset_index()
        g.insert(0, "period", p.label)
        rows.append(g)
    if not rows:
        return pd.DataFrame(columns=["period", "name", "value", "ci_lower", "ci_upper", "unit"])
    return pd.concat(rows, ignore_index=True)

# --------------------------------------------------------------------------- scorecard

def _se(row) -> float | None:
    """Standard error from a recorded interval (normal approximation), None when exact or absent."""
    lo, hi, level = row.get("ci_lower"), row.get("ci_upper"), row.get("ci_level") or 0.95
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return None
    return (float(hi) - float(lo)) / (2 * stats.norm.ppf(0.5 + float(level) / 2))


def compare(now: pd.Series, before: pd.Series | None) -> dict:
    """Change of one KPI between two periods and whether it is statistically significant.

    Binomial proportions (Wilson intervals) use a two-proportion score test; other KPIs with
    a recorded interval use a z-test on the difference with standard errors taken from the
    intervals (treating the periods as independent samples, which is conservative when the
    same customers appear in both); census quantities (no interval) change exactly and are
    not tested.
    """
    if before is None:
        return {"change": np.nan, "p_value": np.nan, "test": "no earlier value"}
    change = float(now["value"]) - float(before["value"])
    s1, s0 = _se(now), _se(before)
    if s1 is None or s0 is None:
        return {"change": change, "p_value": np.nan, "test": "census: exact change, no sampling error"}
    unit = now.get("unit")
    n1, n0 = now.get("n"), before.get("n")
    binomial = "wilson" in str(now.get("uncertainty", "")).lower() or "binomial" in str(now.get("uncertainty", "")).lower()
    if unit == "proportion" and binomial and n1 and n0 and not pd.isna(n1) and not pd.isna(n0):
        c1, c0 = round(now["value"] * n1), round(before["value"] * n0)
        if 0 < c1 + c0 < n1 + n0:
            _, p = test_proportions_2indep(c1, int(n1), c0, int(n0), method="score")
            return {"change": change, "p_value": float(p), "test": "two-proportion score test"}
    s1, s0 = _se(now), _se(before)
    if s1 is not None and s0 is not None and (s1 > 0 or s0 > 0):
        z = change / math.sqrt(s1 ** 2 + s0 ** 2)
        return {"change": change, "p_value": float(2 * stats.norm.sf(abs(z))), "test": "z-test from recorded CIs"}
    return {"change": change, "p_value": np.nan, "test": "census: exact change, no sampling error"}


NOT_MEASURED = "not measured"
# The scorecard's words (``status``, ``history``): English codes in the frame and in facts,
# marked here for the catalogue; a page shows them with ``_(word)`` (``status_words``).
STATUS_WORDS = (N_("met"), N_("near"), N_("missed"), N_("no target"), N_("not measured"))
HISTORY_WORDS = (N_("no previous period"), N_("no year-ago period"), N_("not measured this period"))


def status_words(text) -> str:
    """A scorecard ``status`` or ``history`` cell in the run's language (``"no previous period; no
    year-ago period"`` part by part); anything else unchanged."""
    if not isinstance(text, str) or not text:
        return text
    return "; ".join(_(p) if p in STATUS_WORDS or p in HISTORY_WORDS else p for p in text.split("; "))


def status(value: float, target: float, near_band: float, higher_is_better: bool) -> str:
    """``met`` / ``near`` / ``missed`` against a target; ``near`` is within ``near_band`` short of it."""
    gap = (value - target) if higher_is_better else (target - value)
    if gap >= 0:
        return "met"
    return "near" if -gap <= near_band else "missed"


def scorecard(current: pd.DataFrame, previous: pd.DataFrame | None, year_ago: pd.DataFrame | None,
              targets: dict, alpha: float = 0.05, kpi_names: list[str] | None = None) -> pd.DataFrame:
    """One row per KPI: value, CI, target and status, change vs previous period and year ago.

    Parameters
    ----------
    current, previous, year_ago : DataFrame
        Facts indexed by name (``facts_frame``); ``previous``/``year_ago`` may be None.
    targets : dict
        ``{kpi: {"target": t, "near_band": b}}`` from parameters/targets.yaml.
    alpha : float
        A change is called significant when its p-value is below ``alpha``.
    kpi_names : list of str, optional
        KPIs to include; default every registered KPI recorded this period, or in the previous
        or year-ago period.

    Returns
    -------
    DataFrame indexed by ``kpi`` with ``value``, ``ci_lower``, ``ci_upper``, ``n``, ``unit``,
    ``target``, ``status`` (met/near/missed/no target), ``prev_value``, ``change_prev``,
    ``p_prev``, ``sig_prev`` (bool), ``yoy_value``, ``change_yoy``, ``p_yoy``, ``sig_yoy``,
    ``better`` ('higher'/'lower'), ``history`` (text when a comparison is missing).

    A KPI recorded in an earlier period (or named in ``kpi_names``) but not this period, e.g.
    complaint KPIs in a quarter without complaints or survey KPIs of a bank that does not
    survey, is a row with no value, status ``not measured`` and history ``not measured this
    period``: never a crash, never a comparison.
    """
    earlier = set().union(*(f.index for f in (previous, year_ago) if f is not None))
    names = kpi_names or [k for k in kpis.REGISTRY if k in current.index or k in earlier]
    rows = []
    for name in names:
        if name not in current.index:
            k = kpis.REGISTRY.get(name)
            t = targets.get(name)
            before = previous.loc[name] if previous is not None and name in previous.index else None
            rows.append({"kpi": name, "value": np.nan, "unit": k.unit if k else None,
                         "target": t["target"] if t else np.nan, "status": NOT_MEASURED,
                         "prev_value": before["value"] if before is not None else np.nan,
                         "sig_prev": False, "sig_yoy": False,
                         "better": "higher" if (k is None or k.higher_is_better) else "lower",
                         "history": "not measured this period"})
            continue
        k = kpis.REGISTRY.get(name)
        now = current.loc[name]
        row = {"kpi": name, "value": now["value"], "ci_lower": now.get("ci_lower"), "ci_upper": now.get("ci_upper"),
               "n": now.get("n"), "unit": now.get("unit"),
               "better": "higher" if (k is None or k.higher_is_better) else "lower"}
        t = targets.get(name)
        if t:
            row["target"] = t["target"]
            row["status"] = status(now["value"], t["target"], t["near_band"], k.higher_is_better if k else True)
        else:
            row["target"], row["status"] = np.nan, "no target"
        notes = []
        for tag, frame in (("prev", previous), ("yoy", year_ago)):
            before = frame.loc[name] if frame is not None and name in frame.index else None
            c = compare(now, before)
            row[f"{tag}_value"] = before["value"] if before is not None else np.nan
            row[f"change_{tag}"] = c["change"]
            row[f"p_{tag}"] = c["p_value"]
            row[f"sig_{tag}"] = bool(c["p_value"] < alpha) if not pd.isna(c["p_value"]) else False
            if before is None:
                notes.append("no previous period" if tag == "prev" else "no year-ago period")
        row["history"] = "; ".join(notes)
        rows.append(row)
    cols = ["kpi", "value", "ci_lower", "ci_upper", "n", "unit", "target", "status", "prev_value", "change_prev",
            "p_prev", "sig_prev", "yoy_value", "change_yoy", "p_yoy", "sig_yoy", "better", "history"]
    return pd.DataFrame(rows, columns=cols).set_index("kpi")

# --------------------------------------------------------------------------- alerts

def alerts(card: pd.DataFrame, hist: pd.DataFrame, rules: list[dict]) -> pd.DataFrame:
    """KPI alerts from ``rules`` (parameters/alerts.yaml).

    A rule is ``{kpi, when: above|below|below_target|above_target, value (for above/below),
    periods: consecutive periods required (default 1)}``. ``hist`` is ``history()``.

    Returns
    -------
    DataFrame with ``kpi``, ``rule`` (in words), ``value``, ``periods`` (the breaching run).
    """
    out = []
    for r in rules:
        name, when, need = r["kpi"], r["when"], int(r.get("periods", 1))
        if name not in card.index or card.get("status", pd.Series(dtype=str)).get(name) == NOT_MEASURED:
            continue  # no value this period: nothing to breach (earlier periods are not re-alerted)
        target = card.loc[name, "target"]
        series = hist[hist["name"] == name].sort_values("period")
        vals = list(zip(series["period"], series["value"]))[-need:]
        if len(vals) < need:
            continue

        def breach(v):
            if when == "above":
                return v > r["value"]
            if when == "below":
                return v < r["value"]
            if when == "below_target":
                return not pd.isna(target) and v < target
            if when == "above_target":
                return not pd.isna(target) and v > target
            raise DataContractError(f"alerts.yaml: rule for {name}: unknown 'when' {when!r}")

        if all(breach(v) for _, v in vals):
            bound = r.get("value", target)
            words = {"above": "above", "below": "below", "below_target": "below target", "above_target": "above target"}
            # English in the frame (the review's fact ``kpi_alerts`` stores it); ``rule_words`` shows it
            out.append({"kpi": name, "rule": f"{words[when]} {bound:g}" + (f" for {need} consecutive periods" if need > 1 else ""),
                        "value": vals[-1][1], "periods": ", ".join(p for p, _ in vals)})
    return pd.DataFrame(out, columns=["kpi", "rule", "value", "periods"])


_RULE = re.compile(r"^(above|below|below target|above target) (\S+)(?: for (\d+) consecutive periods)?$")


def rule_words(rule: str) -> str:
    """An alert's ``rule`` (``alerts``: "above 0.05 for 2 consecutive periods") in the run's language;
    a text in another shape is returned unchanged."""
    m = _RULE.match(str(rule))
    if not m:
        return rule
    when, bound, need = m.group(1), m.group(2), m.group(3)
    if need:
        text = {"above": _("above {bound} for {periods} consecutive periods"),
                "below": _("below {bound} for {periods} consecutive periods"),
                "below target": _("below target {bound} for {periods} consecutive periods"),
                "above target": _("above target {bound} for {periods} consecutive periods")}[when]
    else:
        text = {"above": _("above {bound}"), "below": _("below {bound}"),
                "below target": _("below target {bound}"), "above target": _("above target {bound}")}[when]
    return text.format(bound=bound, periods=need)
