"""The effectiveness-evaluation cycle: KPI scorecard, alerts, campaigns and improvement actions.

- ``scorecard``: each recorded KPI against its target, the previous period and the same
  period a year earlier, with a significance test of each change so a reviewer does not
  chase noise;
- ``alerts``: rules from ``parameters/alerts.yaml`` over the scorecard and history;
- ``evaluate_campaigns``: randomised treatment/control uplift, incremental revenue, ROI,
  minimum detectable effect and power;
- ``interrupted_time_series`` / ``evaluate_actions``: segmented regression with
  autocorrelation-robust (Newey-West) errors around each improvement action's date;
- ``narrative``: the executive summary, every number traceable to a scorecard row or fact.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize, test_proportions_2indep

from crm_lib import kpis
from crm_lib.config import Period
from crm_lib.data.store import Warehouse
from crm_lib.errors import DataContractError
from crm_lib.reporting.facts import load_facts

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
        KPIs to include; default every registered KPI that was recorded.

    Returns
    -------
    DataFrame indexed by ``kpi`` with ``value``, ``ci_lower``, ``ci_upper``, ``n``, ``unit``,
    ``target``, ``status`` (met/near/missed/no target), ``prev_value``, ``change_prev``,
    ``p_prev``, ``sig_prev`` (bool), ``yoy_value``, ``change_yoy``, ``p_yoy``, ``sig_yoy``,
    ``better`` ('higher'/'lower'), ``history`` (text when a comparison is missing).
    """
    names = kpi_names or [k for k in kpis.REGISTRY if k in current.index]
    rows = []
    for name in names:
        if name not in current.index:
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
        if name not in card.index:
            continue
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
            out.append({"kpi": name, "rule": f"{words[when]} {bound:g}" + (f" for {need} consecutive periods" if need > 1 else ""),
                        "value": vals[-1][1], "periods": ", ".join(p for p, _ in vals)})
    return pd.DataFrame(out, columns=["kpi", "rule", "value", "periods"])


# --------------------------------------------------------------------------- campaigns

def campaign_data(wh: Warehouse, period: Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Campaigns starting in ``period`` and their contacts (no customer identifiers)."""
    camp = wh.sql(f"""SELECT * FROM campaigns WHERE start_date >= DATE '{period.start}'
                      AND start_date <= DATE '{period.end}' ORDER BY start_date, campaign_id""")
    contacts = wh.sql(f"""SELECT cc.campaign_id, cc."group", cc.responded, cc.revenue
                          FROM campaign_contacts cc JOIN campaigns c USING (campaign_id)
                          WHERE c.start_date >= DATE '{period.start}' AND c.start_date <= DATE '{period.end}'""")
    return camp, contacts


def evaluate_campaigns(campaigns: pd.DataFrame, contacts: pd.DataFrame, planned_uplift: dict | None = None,
                       alpha: float = 0.05, power: float = 0.8) -> pd.DataFrame:
    """Uplift, incremental revenue, ROI and power of randomised campaigns.

    Parameters
    ----------
    campaigns : DataFrame
        ``campaign_id``, ``kind``, ``cost`` (currency).
    contacts : DataFrame
        ``campaign_id``, ``group`` (treatment/control), ``responded`` (bool), ``revenue`` (currency).
    planned_uplift : dict
        ``{kind: uplift}`` the campaign was designed to detect (absolute, proportion).

    Returns
    -------
    DataFrame indexed by ``campaign_id`` with ``kind``, ``n_treatment``, ``n_control``,
    ``rate_treatment``, ``rate_control`` (proportions), ``uplift`` with ``uplift_ci_lower``/
    ``uplift_ci_upper`` (Newcombe hybrid score interval) and ``uplift_p`` (score test);
    ``revenue_uplift`` per contact with Welch CI; ``incremental_revenue`` (revenue uplift x
    treated contacts) with CI; ``cost``; ``roi`` ((incremental revenue - cost) / cost) with CI;
    ``mde`` (smallest uplift detectable with ``power`` at ``alpha`` given the arm sizes);
    ``planned_uplift``, ``powered`` (mde <= planned); ``evaluable`` and ``note``.

    References
    ----------
    Newcombe, R. G. (1998). Interval estimation for the difference between independent
    proportions. Statistics in Medicine 17, 873-890.
    """
    planned_uplift = planned_uplift or {}
    rows = []
    for c in campaigns.itertuples():
        g = contacts[contacts["campaign_id"] == c.campaign_id]
        t, k = g[g["group"] == "treatment"], g[g["group"] == "control"]
        row = {"campaign_id": c.campaign_id, "kind": c.kind, "n_treatment": len(t), "n_control": len(k),
               "cost": float(c.cost), "planned_uplift": planned_uplift.get(c.kind, np.nan)}
        if len(t) == 0 or len(k) == 0:
            row.update(evaluable=False, note="not evaluable: no " + ("control" if len(k) == 0 else "treatment") + " group")
            rows.append(row)
            continue
        x1, x0 = int(t["responded"].sum()), int(k["responded"].sum())
        p1, p0 = x1 / len(t), x0 / len(k)
        lo, hi = confint_proportions_2indep(x1, len(t), x0, len(k), method="newcomb", alpha=alpha)
        pval = test_proportions_2indep(x1, len(t), x0, len(k), method="score")[1] if 0 < x1 + x0 < len(g) else np.nan
        r1, r0 = t["revenue"].astype(float), k["revenue"].astype(float)
        d = r1.mean() - r0.mean()
        se = math.sqrt(r1.var(ddof=1) / len(r1) + r0.var(ddof=1) / len(r0)) if len(r1) > 1 and len(r0) > 1 else np.nan
        dof = _welch_df(r1, r0)
        q = stats.t.ppf(1 - alpha / 2, dof) if not pd.isna(dof) else Z95
        inc, inc_lo, inc_hi = d * len(t), (d - q * se) * len(t), (d + q * se) * len(t)
        cost = float(c.cost)
        roi = (inc - cost) / cost if cost > 0 else np.nan
        mde = _mde(p0, len(t), len(k), alpha, power)
        planned = row["planned_uplift"]
        row.update(rate_treatment=p1, rate_control=p0, uplift=p1 - p0, uplift_ci_lower=lo, uplift_ci_upper=hi,
                   uplift_p=pval, revenue_uplift=d, revenue_uplift_ci_lower=d - q * se, revenue_uplift_ci_upper=d + q * se,
                   incremental_revenue=inc, incremental_revenue_ci_lower=inc_lo, incremental_revenue_ci_upper=inc_hi,
                   roi=roi, roi_ci_lower=(inc_lo - cost) / cost if cost > 0 else np.nan,
                   roi_ci_upper=(inc_hi - cost) / cost if cost > 0 else np.nan, mde=mde,
                   powered=bool(mde <= planned) if not pd.isna(planned) else np.nan, evaluable=True,
                   note="" if pd.isna(planned) or mde <= planned else
                   f"underpowered: could only detect uplifts of {mde:.3f} or more (planned {planned:.3f})")
        rows.append(row)
    cols = ["campaign_id", "kind", "n_treatment", "n_control", "rate_treatment", "rate_control", "uplift",
            "uplift_ci_lower", "uplift_ci_upper", "uplift_p", "revenue_uplift", "revenue_uplift_ci_lower",
            "revenue_uplift_ci_upper", "incremental_revenue", "incremental_revenue_ci_lower",
            "incremental_revenue_ci_upper", "cost", "roi", "roi_ci_lower", "roi_ci_upper", "mde", "planned_uplift",
            "powered", "evaluable", "note"]
    return pd.DataFrame(rows, columns=cols).set_index("campaign_id")


def _welch_df(a: pd.Series, b: pd.Series) -> float:
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    den = va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1) if len(a) > 1 and len(b) > 1 else 0
    return (va + vb) ** 2 / den if den > 0 else np.nan


def _mde(p0: float, n1: int, n0: int, alpha: float, power: float) -> float:
    """Smallest absolute uplift over ``p0`` detectable with the given arms (two-sided z-test)."""
    if n1 == 0 or n0 == 0:
        return np.nan
    es = NormalIndPower().solve_power(effect_size=None, nobs1=n1, alpha=alpha, power=power, ratio=n0 / n1)
    # invert Cohen's h: h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0))
    p1 = math.sin(math.asin(math.sqrt(min(max(p0, 1e-9), 1 - 1e-9))) + es / 2) ** 2
    return p1 - p0


# --------------------------------------------------------------------------- improvement actions

def monthly_kpi(wh: Warehouse, kpi: str, end) -> pd.DataFrame:
    """A monthly series for action evaluation, computed in the warehouse.

    ``median_resolution_days``: Kaplan-Meier median days to resolve complaints opened in the
    month (open complaints censored at the data end); ``csat_mean``: mean CSAT of the month's
    survey responses. Returns ``month`` (month start), ``value``, ``n``.
    """
    end = pd.Timestamp(end)
    if kpi == "median_resolution_days":
        from lifelines import KaplanMeierFitter

        df = wh.sql(f"""SELECT date_trunc('month', opened_at) AS month,
                   date_diff('second', opened_at, coalesce(resolved_at, TIMESTAMP '{(end + pd.Timedelta(days=1)).date()}')) / 86400.0 AS days,
                   resolved_at IS NOT NULL AS resolved
                   FROM complaints WHERE opened_at < TIMESTAMP '{(end + pd.Timedelta(days=1)).date()}'""")
        rows = []
        for m, g in df.groupby("month"):
            km = KaplanMeierFitter().fit(g["days"], g["resolved"])
            rows.append({"month": m, "value": float(km.median_survival_time_), "n": len(g)})
        out = pd.DataFrame(rows)
        return out[np.isfinite(out["value"])].reset_index(drop=True)
    if kpi == "csat_mean":
        return wh.sql(f"""SELECT date_trunc('month', survey_date) AS month, avg(csat) AS value, count(csat) AS n
                          FROM surveys WHERE survey_date <= DATE '{end.date()}' AND csat IS NOT NULL
                          GROUP BY 1 ORDER BY 1""")
    raise DataContractError(f"monthly_kpi: no monthly series defined for KPI {kpi!r} "
                            "(available: median_resolution_days, csat_mean)")


def interrupted_time_series(series: pd.DataFrame, start, log: bool = False, maxlags: int = 3,
                            alpha: float = 0.05) -> dict:
    """Segmented regression around ``start`` with Newey-West (HAC) standard errors.

    y_t = b0 + b1 t + b2 post_t + b3 (t - t0) post_t + e_t, t in months. ``b2`` is the level
    change at the action date (on the log scale when ``log``: then ``exp(b2) - 1`` is the
    relative change).

    Returns
    -------
    dict with ``level_change``, ``ci_lower``, ``ci_upper``, ``p_value``, ``slope_change``,
    ``slope_p``, ``relative`` (bool), ``n_before``, ``n_after`` (months), ``fit`` (statsmodels results).

    References
    ----------
    Wagner, A. K., Soumerai, S. B., Zhang, F., Ross-Degnan, D. (2002). Segmented regression
    analysis of interrupted time series studies in medication use research. J Clin Pharm Ther 27, 299-309.
    """
    s = series.sort_values("month").reset_index(drop=True)
    start = pd.Timestamp(start)
    post = (s["month"] >= start).astype(float)
    n_before, n_after = int((post == 0).sum()), int((post == 1).sum())
    if n_before < 6 or n_after < 6:
        raise DataContractError(f"interrupted time series: need at least 6 months on each side of {start.date()}, "
                                f"have {n_before} before and {n_after} after")
    t = np.arange(len(s), dtype=float)
    t0 = t[post.to_numpy() == 1][0]
    X = sm.add_constant(pd.DataFrame({"t": t, "post": post, "t_post": (t - t0) * post}))
    y = np.log(s["value"].astype(float)) if log else s["value"].astype(float)
    fit = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": maxlags})
    lo, hi = fit.conf_int(alpha).loc["post"]
    b = fit.params["post"]
    return {"level_change": b, "ci_lower": lo, "ci_upper": hi, "p_value": fit.pvalues["post"],
            "slope_change": fit.params["t_post"], "slope_p": fit.pvalues["t_post"], "relative": log,
            "n_before": n_before, "n_after": n_after, "fit": fit}


def detect_change_month(series: pd.DataFrame, margin: int = 6, log: bool = False) -> pd.Timestamp:
    """The month at which a level shift best explains the series (least squares over candidates)."""
    s = series.sort_values("month").reset_index(drop=True)
    y = np.log(s["value"].astype(float)) if log else s["value"].astype(float)
    t = np.arange(len(s), dtype=float)
    best, when = np.inf, None
    for i in range(margin, len(s) - margin):
        post = (t >= i).astype(float)
        X = np.column_stack([np.ones_like(t), t, post, (t - i) * post])
        resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        ssr = float(resid @ resid)
        if ssr < best:
            best, when = ssr, s["month"][i]
    return pd.Timestamp(when)


def evaluate_actions(wh: Warehouse, actions: list[dict], data_end, alpha: float = 0.05) -> pd.DataFrame:
    """Interrupted-time-series evaluation of each action in the register.

    Returns
    -------
    DataFrame indexed by action ``id`` with ``name``, ``kpi``, ``start_date``, ``estimate``
    (relative change when the action states ``effect_scale: relative``, else in the KPI's
    unit), ``ci_lower``, ``ci_upper``, ``p_value``, ``expected_effect``, ``consistent``
    (expected effect inside the CI), ``detected_month`` (best single change point),
    ``method`` and ``note`` ('not evaluable: ...' when it cannot be estimated).
    """
    rows = []
    series_kpi = {"median_resolution_days": "median_resolution_days", "csat_mean": "csat_mean"}
    for a in actions:
        relative = a.get("effect_scale", "absolute") == "relative"
        row = {"id": a["id"], "name": a["name"], "kpi": a["kpi"], "start_date": a["start_date"],
               "expected_effect": a["expected_effect"], "scale": "relative" if relative else "absolute",
               "method": "", "note": ""}
        if pd.Timestamp(a["start_date"]) > pd.Timestamp(data_end):
            row["note"] = f"not evaluable: starts {a['start_date']}, after the data ends ({pd.Timestamp(data_end).date()})"
            rows.append(row)
            continue
        if a["kpi"] not in series_kpi:
            row["note"] = f"not evaluable: no monthly series for KPI {a['kpi']}"
            rows.append(row)
            continue
        s = monthly_kpi(wh, series_kpi[a["kpi"]], data_end)
        try:
            r = interrupted_time_series(s, a["start_date"], log=relative, alpha=alpha)
        except DataContractError as e:
            row["note"] = f"not evaluable: {e}"
            rows.append(row)
            continue
        tr = (lambda v: math.exp(v) - 1) if relative else (lambda v: v)
        est, lo, hi = tr(r["level_change"]), tr(r["ci_lower"]), tr(r["ci_upper"])
        row.update(estimate=est, ci_lower=lo, ci_upper=hi, p_value=r["p_value"],
                   consistent=bool(lo <= a["expected_effect"] <= hi),
                   detected_month=detect_change_month(s, log=relative).date(),
                   method=f"interrupted time series, {r['n_before']}+{r['n_after']} months, Newey-West SE"
                          + (", log scale" if relative else ""),
                   note="no untouched comparison group: difference-in-differences not evaluable")
        rows.append(row)
    cols = ["id", "name", "kpi", "start_date", "scale", "estimate", "ci_lower", "ci_upper", "p_value",
            "expected_effect", "consistent", "detected_month", "method", "note"]
    return pd.DataFrame(rows, columns=cols).set_index("id")


# --------------------------------------------------------------------------- narrative

def _fmt(value, unit) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    if unit == "proportion":
        return f"{100 * value:.1f}%"
    if unit == "currency":
        return f"{value / 1e6:,.1f}m" if abs(value) >= 1e6 else f"{value:,.0f}"
    if unit in ("customers", "problems", "count"):
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _fmt_change(change, unit) -> str:
    if unit == "proportion":
        return f"{100 * change:+.2f} percentage points"
    return ("+" if change >= 0 else "-") + _fmt(abs(change), unit)


def narrative(card: pd.DataFrame, alert_rows: pd.DataFrame, camps: pd.DataFrame, acts: pd.DataFrame,
              period: Period, alpha: float = 0.05) -> str:
    """The executive summary (Markdown): what moved, what is significant, what worked."""
    lines = [f"**Executive summary, {period.label}.**"]
    if len(alert_rows):
        lines.append("**Alerts:** " + "; ".join(f"{r.kpi} {r.rule} ({_fmt(r.value, card.loc[r.kpi, 'unit'])})"
                                              for r in alert_rows.itertuples()) + ".")
    met = card[card["status"] == "met"].index.tolist()
    missed = card[card["status"] == "missed"].index.tolist()
    near = card[card["status"] == "near"].index.tolist()
    if len(card[card["status"] != "no target"]):
        lines.append(f"Targets: {len(met)} met, {len(near)} near, {len(missed)} missed"
                     + (f" (missed: {', '.join(missed)})" if missed else "") + ".")
    sig = card[card["sig_prev"]]
    for name, r in sig.iterrows():
        good = (r["change_prev"] > 0) == (r["better"] == "higher")
        lines.append(f"{name.replace('_', ' ').capitalize()} {'improved' if good else 'worsened'} to "
                     f"{_fmt(r['value'], r['unit'])} ({_fmt_change(r['change_prev'], r['unit'])} vs {period.previous().label}, "
                     f"p = {r['p_prev']:.3g}).")
    tested = card[card["p_prev"].notna()]
    quiet = tested[~tested["sig_prev"]].index.tolist()
    if quiet:
        lines.append(f"No significant change vs {period.previous().label} (p ≥ {alpha:g}) in: "
                     f"{', '.join(q.replace('_', ' ') for q in quiet)} — differences there are within noise.")
    if card["history"].str.contains("no previous period").any():
        lines.append(f"{int(card['history'].str.contains('no previous period').sum())} KPI(s) have no previous period to compare with.")
    ev = camps[camps["evaluable"] == True] if len(camps) else camps  # noqa: E712
    for cid, r in ev.iterrows():
        verdict = "lifted response" if r["uplift_ci_lower"] > 0 else "showed no significant response uplift"
        lines.append(f"Campaign {cid} ({r['kind'].replace('_', '-')}) {verdict}: {100 * r['uplift']:+.2f} pp "
                     f"(95% CI {100 * r['uplift_ci_lower']:+.2f} to {100 * r['uplift_ci_upper']:+.2f}; "
                     f"n = {r['n_treatment']:,} vs {r['n_control']:,}), ROI {r['roi']:+.0%} "
                     f"(CI {r['roi_ci_lower']:+.0%} to {r['roi_ci_upper']:+.0%}).")
    for cid, r in (camps[camps["evaluable"] == False].iterrows() if len(camps) else []):  # noqa: E712
        lines.append(f"Campaign {cid}: {r['note']}.")
    for aid, r in acts.iterrows():
        if r["note"].startswith("not evaluable"):
            lines.append(f"Action {aid} ({r['name']}): {r['note']}.")
            continue
        rel = "%" if r["scale"] == "relative" else ""
        est = f"{100 * r['estimate']:+.1f}%" if rel else f"{r['estimate']:+.2f}"
        ci = f"{100 * r['ci_lower']:+.1f}% to {100 * r['ci_upper']:+.1f}%" if rel else f"{r['ci_lower']:+.2f} to {r['ci_upper']:+.2f}"
        worked = "worked" if r["p_value"] < alpha else "has no detectable effect yet"
        lines.append(f"Action {aid} ({r['name']}) {worked}: {r['kpi'].replace('_', ' ')} changed by {est} at its start "
                     f"(95% CI {ci}, p = {r['p_value']:.2g}); expected {100 * r['expected_effect'] if rel else r['expected_effect']:+.1f}{rel}"
                     f" — {'consistent' if r['consistent'] else 'not consistent'} with the estimate.")
    return "\n\n".join(lines)


# --------------------------------------------------------------------------- the review

def review_inputs(ctx) -> dict:
    """This period's facts, the previous and year-ago packs' facts, and the KPI history.

    Under the runner, this period's facts are the ones the other notebooks of the same run
    recorded; interactively, the published pack of the period (when there is one).
    """
    profile, per = ctx.profile, ctx.period
    if ctx.facts_dir is not None:
        current = current_facts(ctx.facts_dir, exclude=ctx.notebook)
        source = "this run"
    else:
        current = period_facts(ctx.reports_dir, profile, per)
        source = "published pack" if current is not None else "none"
        current = current if current is not None else facts_frame([])
    prev = period_facts(ctx.reports_dir, profile, per.previous())
    yoy = period_facts(ctx.reports_dir, profile, per.year_ago())
    hist = history(ctx.reports_dir, profile, per, ctx.params.get("history_periods", 8), current=current)
    return {"current": current, "previous": prev, "year_ago": yoy, "history": hist, "source": source}


def record_facts(facts, card: pd.DataFrame, alert_rows: pd.DataFrame, camps: pd.DataFrame,
                 acts: pd.DataFrame, alpha: float = 0.05) -> None:
    """Record the review's own facts: scorecard counts, alerts, campaign uplifts, action effects."""
    counts = card["status"].value_counts()
    facts.record("kpis_met", int(counts.get("met", 0)), "KPIs", "KPIs at or beyond their target",
                 n=int((card["status"] != "no target").sum()), uncertainty="count of scorecard rows",
                 missed=int(counts.get("missed", 0)), near=int(counts.get("near", 0)))
    facts.record("kpi_alerts", len(alert_rows), "alerts", "alert rules (parameters/alerts.yaml) breached this period",
                 n=len(card), uncertainty="count of rules breached",
                 breached="; ".join(f"{r.kpi}: {r.rule}" for r in alert_rows.itertuples()))
    for cid, r in camps.iterrows():
        if not r["evaluable"]:
            continue
        facts.record(f"campaign_uplift_{cid}", r["uplift"], "proportion",
                     f"response rate treatment - control, campaign {cid} ({r['kind']})",
                     n=int(r["n_treatment"] + r["n_control"]), ci=(r["uplift_ci_lower"], r["uplift_ci_upper"]),
                     ci_level=1 - alpha, p_value=r["uplift_p"], uncertainty="Newcombe hybrid score interval")
        facts.record(f"campaign_roi_{cid}", r["roi"], "ratio", f"(incremental revenue - cost) / cost, campaign {cid}",
                     n=int(r["n_treatment"] + r["n_control"]), ci=(r["roi_ci_lower"], r["roi_ci_upper"]),
                     ci_level=1 - alpha, uncertainty="Welch interval of revenue uplift, cost fixed")
    for aid, r in acts.iterrows():
        if pd.isna(r.get("estimate")):
            continue
        facts.record(f"action_effect_{aid}", r["estimate"], "relative change" if r["scale"] == "relative" else
                     kpis.REGISTRY[r["kpi"]].unit, f"ITS level change of {r['kpi']} at {r['start_date']}",
                     ci=(r["ci_lower"], r["ci_upper"]), ci_level=1 - alpha, p_value=r["p_value"],
                     uncertainty="Newey-West (HAC) segmented regression", expected=r["expected_effect"])


def its_curve(series: pd.DataFrame, result: dict) -> pd.DataFrame:
    """Observed, fitted and counterfactual (no action) values of an ITS fit, for plotting.

    Returns ``month``, ``value``, ``fitted``, ``counterfactual`` (on the original scale).
    """
    s = series.sort_values("month").reset_index(drop=True)
    fit = result["fit"]
    X = fit.model.exog
    names = fit.model.exog_names
    cf = X.copy()
    cf[:, names.index("post")] = 0
    cf[:, names.index("t_post")] = 0
    back = np.exp if result["relative"] else (lambda v: v)
    return pd.DataFrame({"month": s["month"], "value": s["value"].astype(float),
                         "fitted": back(X @ fit.params.to_numpy()), "counterfactual": back(cf @ fit.params.to_numpy())})


def action_curves(wh: Warehouse, actions: list[dict], data_end) -> dict:
    """``{action id: its_curve frame}`` for every evaluable action (for the review's plots)."""
    out = {}
    for a in actions:
        if pd.Timestamp(a["start_date"]) > pd.Timestamp(data_end) or a["kpi"] not in ("median_resolution_days", "csat_mean"):
            continue
        s = monthly_kpi(wh, a["kpi"], data_end)
        try:
            r = interrupted_time_series(s, a["start_date"], log=a.get("effect_scale") == "relative")
        except DataContractError:
            continue
        out[a["id"]] = its_curve(s, r)
    return out
