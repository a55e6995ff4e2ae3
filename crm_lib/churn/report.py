"""Results and facts of the churn notebooks (``20_churn``, ``21_early_warning``).

The notebooks compute with ``crm_lib.churn``'s functions; this module derives what the pages and
the facts share (the list's expected precision, the value at risk and its prediction interval),
writes the early-warning list into the pack and records the facts. The sentences and display
tables are ``crm_lib.churn.narrative``'s, built from the same numbers.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

logger = logging.getLogger(__name__)


def expected_precision(val, horizon_months: int) -> pd.Series:
    """The validation's precision of the Cox ranking at the list cut-off and horizon."""
    p = val.precision
    return p[(p["horizon_months"] == horizon_months) & (p["model"] == "cox")].iloc[0]


AT_RISK_DRAWS = 2000     # simulated churn outcomes behind the value-at-risk prediction intervals


def at_risk(t: pd.DataFrame, col: str, alpha: float, draws: int = AT_RISK_DRAWS,
             seed: int = 0) -> tuple[float, float, float]:
    """Sum of ``col`` x probability over the list and its prediction interval at ``alpha``.

    Each listed customer churns (Bernoulli, their predicted probability) independently; the value
    lost is the sum of ``col`` (CLV or AUM) over those who churn. Its distribution is skewed by a few
    large relationships, so the interval is the percentile interval of ``draws`` simulated outcomes
    (seeded: the same list gives the same interval), not a normal approximation. CLV can be negative
    (an unprofitable customer), so the bounds can be too.
    """
    p = t["churn_probability"].to_numpy(float)
    v = np.nan_to_num(t[col].to_numpy(float))
    tot = float((p * v).sum())
    if not len(p):
        return tot, tot, tot
    rng = np.random.default_rng(seed)
    block = max(1, min(draws, 2_000_000 // len(p)))          # at most ~2M Bernoulli draws in memory at once
    lost = np.concatenate([(rng.random((min(block, draws - i), len(p))) < p) @ v for i in range(0, draws, block)])
    lo, hi = np.quantile(lost, [alpha / 2, 1 - alpha / 2])
    return tot, float(lo), float(hi)


def clv_available(wl) -> bool:
    """Whether the list carries relationship CLV (no ``clv_note`` and a finite CLV for every listed customer)."""
    t = wl.table
    return not getattr(wl, "clv_note", "") and "clv" in t and bool(len(t)) and bool(np.isfinite(t["clv"]).all())


def export_list(wl, ctx) -> list[Path]:
    """Write the list as CSV and Parquet into the report pack (or a temp folder when interactive)."""
    from crm_lib.churn.warning import export_warning_list

    folder = Path(ctx.facts_dir).parent if getattr(ctx, "facts_dir", None) else \
        Path(tempfile.gettempdir()) / "crm-workbench"
    stem = f"early_warning_{ctx.period.label}"
    return [export_warning_list(wl.table, folder / f"{stem}.{ext}") for ext in ("csv", "parquet")]


# --------------------------------------------------------------------------- facts

def record_churn_facts(facts, pc: pd.Series, ret: pd.DataFrame, val, camp: pd.Series | None, settings) -> None:
    """Record 20_churn's headline numbers (name, value, unit, definition, n, CI or p)."""
    a = settings.alpha
    d = settings.definition.describe().replace("**", "")
    facts.record("defined_churn_rate", pc["churn_rate"], "proportion",
                 f"customers at risk at the period start who churned by its end / customers at risk. {d}",
                 n=int(pc["at_risk_start"]), ci=(pc["churn_rate_lower"], pc["churn_rate_upper"]), ci_level=1 - a,
                 uncertainty="Wilson score interval", headline=True)
    facts.record("churn_hazard_per_year", pc["hazard_per_year"], "churns per customer-year",
                 f"churns in the period / customer-years at risk in the period (newcomers included). {d}",
                 n=int(pc["churned"]), ci=(pc["hazard_lower"], pc["hazard_upper"]), ci_level=1 - a,
                 uncertainty="exact Poisson interval")
    r = ret.iloc[0]
    for m in settings.retention_months:
        facts.record(f"retention_{m}m", r[f"retention_{m}m"], "proportion",
                     f"share of customers still with the bank {m} months after onboarding (Kaplan-Meier, delayed entry)",
                     n=int(r["n"]), ci=(r[f"retention_{m}m_lower"], r[f"retention_{m}m_upper"]), ci_level=1 - a,
                     uncertainty="log-log Greenwood interval", headline=m == 12)
    if np.isfinite(r["median_years"]):
        facts.record("median_tenure_years", r["median_years"], "years", "Kaplan-Meier median tenure (delayed entry)",
                     n=int(r["n"]), ci=(r["median_lower"], r["median_upper"]), ci_level=1 - a,
                     uncertainty="Brookmeyer-Crowley interval from the log-log band")
    else:
        facts.record("median_tenure_years", None, "years", "Kaplan-Meier median tenure (delayed entry)", n=int(r["n"]),
                     uncertainty=f"not reached: survival stays above 50% over the observed tenures; lower bound "
                                 f"{r['median_lower']:.1f} years")
    if val is not None:
        c = val.metrics.set_index(["metric", "horizon_months", "model"])
        H = val.horizons_months[-1]
        for key, name, unit, what in (("cox", "c_index", "index", "dynamic Cox model"),
                                      ("baseline", "c_index_baseline", "index", "Kaplan-Meier baseline")):
            v = c.loc[("c_index", H, key)]
            facts.record(name, v["value"], unit, f"Harrell's C of the {what}, out of time: customers at risk on "
                         f"{val.test_start.date()} followed {H} months", n=val.n_test, ci=(v["lower"], v["upper"]),
                         ci_level=1 - a, uncertainty="infinitesimal jackknife", headline=key == "cox")
        for key, suffix in (("cox", ""), ("baseline", "_baseline")):
            v = c.loc[("ibs", H, key)]
            facts.record(f"churn_ibs{suffix}", v["value"], "score (lower is better)",
                         f"integrated Brier score over 1-{H} months, out of time "
                         f"({'Cox' if key == 'cox' else 'KM baseline'})",
                         n=val.n_test, ci=(v["lower"], v["upper"]), ci_level=1 - a,
                         uncertainty=f"percentile bootstrap ({val.n_boot})", headline=key == "cox")
        for h in val.horizons_months:
            v = c.loc[("td_auc", h, "cox")]
            facts.record(f"churn_td_auc_{h}m", v["value"], "index",
                         f"cumulative/dynamic AUC (IPCW) of churn within {h} months, out of time", n=val.n_test,
                         ci=(v["lower"], v["upper"]), ci_level=1 - a, uncertainty=f"percentile bootstrap ({val.n_boot})")
    if camp is not None and camp.get("status") == "ok":
        facts.record("retention_campaign_hr", camp["hr"], "hazard ratio",
                     f"churn hazard of treated vs randomised control in {camp['campaign_id']}, from contact",
                     n=int(camp["n_treated"] + camp["n_control"]), ci=(camp["hr_lower"], camp["hr_upper"]),
                     ci_level=1 - a, p_value=camp["p"], uncertainty="Wald interval (Cox)")


@dataclass(frozen=True)
class WarningResults:
    """What the early-warning page and its facts both state, computed once (``warning_results``).

    ``expected_churners``, ``clv_at_risk`` and ``aum_at_risk`` are ``(value, lower, upper)`` at ``alpha``
    (prediction intervals: which listed customers churn, independent customers, calibrated model);
    ``clv_at_risk`` is None when the list carries no CLV, with the reason in ``clv_missing``.
    """

    alpha: float
    n_listed: int
    precision: pd.Series                      # the out-of-time precision row at the list's horizon
    expected_churners: tuple[float, float, float]
    aum_at_risk: tuple[float, float, float]
    clv_at_risk: tuple[float, float, float] | None
    clv_missing: str
    n_negative_clv: int


def warning_results(wl, val, alpha: float = 0.05) -> WarningResults:
    """The early-warning list's expected precision, expected churners and value and assets at risk."""
    t = wl.table
    z = stats.norm.ppf(1 - alpha / 2)
    e = float(t["churn_probability"].sum())
    sd = float(np.sqrt((t["churn_probability"] * (1 - t["churn_probability"])).sum()))
    has = clv_available(wl)
    why = "" if has else (getattr(wl, "clv_note", "") or "the list carries no CLV").removeprefix("CLV not computed: ")
    return WarningResults(alpha=alpha, n_listed=len(t), precision=expected_precision(val, wl.horizon_months),
                          expected_churners=(e, max(0.0, e - z * sd), e + z * sd),
                          aum_at_risk=at_risk(t, "aum", alpha), clv_at_risk=at_risk(t, "clv", alpha) if has else None,
                          clv_missing=why, n_negative_clv=int((t["clv"] < 0).sum()) if has else 0)


def record_warning_facts(facts, wl, val, alpha: float = 0.05, res: WarningResults | None = None) -> None:
    """Record 21_early_warning's headline numbers (from ``res``, or ``warning_results(wl, val, alpha)``)."""
    res = res or warning_results(wl, val, alpha)
    t = wl.table
    ep = res.precision
    facts.record("warning_list_size", len(t), "customers",
                 f"active customers listed: top {wl.top_share:.0%} by "
                 f"{'CLV x ' if getattr(wl, 'rank_by', 'churn_probability') != 'churn_probability' else ''}"
                 "predicted churn"
                 f" within {wl.horizon_months} months",
                 n=wl.n_scored, uncertainty="census count: no sampling error", headline=True)
    facts.record("early_warning_precision", ep["precision"], "proportion",
                 f"share of listed customers who churned within {wl.horizon_months} months when the ranking was "
                 f"applied out of time (customers at risk on {val.test_start.date()})", n=int(ep["n_flagged"]),
                 ci=(ep["precision_lower"], ep["precision_upper"]), ci_level=1 - alpha,
                 uncertainty="log-log Kaplan-Meier interval", headline=True)
    pi = (f"prediction interval over which listed customers churn ({AT_RISK_DRAWS:,} simulated outcomes): "
          "independent customers, calibrated model")
    what = f"within {wl.horizon_months} months"
    if res.clv_at_risk is not None:
        v, lo, hi = res.clv_at_risk
        facts.record("warning_value_at_risk", v, "currency",
                     f"sum over listed customers of relationship CLV x predicted probability of churning {what}; "
                     f"CLV: {wl.clv_assumptions or 'parameters/clv.yaml'}", n=len(t), ci=(lo, hi), ci_level=1 - alpha,
                     uncertainty=f"{pi}; not covered: the CLV's own uncertainty (survival coefficients, margin "
                                 "rates, future balances)", headline=True)
    else:
        facts.record("warning_value_at_risk", None, "currency",
                     f"sum over listed customers of relationship CLV x predicted probability of churning {what}",
                     n=len(t), uncertainty=f"not estimable: {res.clv_missing}")
    a, a_lo, a_hi = res.aum_at_risk
    facts.record("warning_aum_at_risk", a, "currency",
                 f"sum over listed customers of AUM x predicted probability of churning {what}", n=len(t),
                 ci=(a_lo, a_hi), ci_level=1 - alpha, uncertainty=pi, headline=res.clv_at_risk is None)
    e, e_lo, e_hi = res.expected_churners
    facts.record("warning_expected_churners", e, "customers",
                 f"expected churners on the list within {wl.horizon_months} months (sum of probabilities)", n=len(t),
                 ci=(e_lo, e_hi), ci_level=1 - alpha,
                 uncertainty="prediction interval: independent customers, calibrated model")
