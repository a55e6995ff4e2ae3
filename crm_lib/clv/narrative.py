"""Sentences for the CLV notebook: every number with its interval, n and definition; data values escaped."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_lib.fmt import ci_label, esc, label, pct  # noqa: F401  (re-exported for clv.report)
from crm_lib.fmt import integer as n
from crm_lib.fmt import money as _amount


def money(x, currency: str = "") -> str:
    """``GBP 1.2m``: ``crm_lib.fmt.money`` with the currency (escaped) in front."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    return f"{esc(currency)} {_amount(x)}" if currency else _amount(x)


def money_ci(v, lo, hi, alpha: float, currency: str = "") -> str:
    return f"{money(v, currency)} ({ci_label(alpha)} {money(lo, currency)} to {money(hi, currency)})"


def ratio_ci(v, lo, hi, alpha: float, digits: int = 1) -> str:
    if not np.isfinite(v):
        return "n/a"
    return f"{v:,.{digits}f} ({ci_label(alpha)} {lo:,.{digits}f}-{hi:,.{digits}f})"


def assumptions_md(settings, model) -> str:
    s = settings
    return (f"**Definition.** Relationship CLV = expected monthly margin x probability the customer is still with "
            f"the bank x discount factor, summed month by month over **{s.horizon_years:g} years**, discounted at "
            f"**{100 * s.discount_rate_annual:g}% a year** ({esc(s.currency)}, as of the period end). Margin: the mean "
            f"balances of the last month-ends at the annual spreads and fees of {esc(_name(s.source))} (table "
            f"below), held at today's level. Survival: the Cox model of churn ({n(model.n_)} customers, "
            f"{n(model.n_events_)} churns; covariates {', '.join(esc(c) for c in model.covariates_)}) applied to each "
            "customer's covariates and tenure today.")


def _name(path: str) -> str:
    return str(path).replace("\\", "/").rsplit("/", 1)[-1] or "clv.yaml"


def headline_md(res, tx_total=None, alpha: float = 0.05) -> str:
    cur = res.settings.currency
    tot = res.aggregate("total").loc["all"]
    med = res.aggregate("median").loc["all"]
    lines = [
        f"- **Total relationship CLV** of the {n(tot['n'])} customers active on {res.as_of:%d %b %Y}: "
        f"**{money_ci(tot['value'], tot['lower'], tot['upper'], alpha, cur)}**; median per customer "
        f"**{money_ci(med['value'], med['lower'], med['upper'], alpha, cur)}** ({res.settings.describe()}).",
    ]
    r = res.aggregates
    new = r[(r["group_by"] == "new_customers") & (r["statistic"] == "clv_cac")]
    if len(new):
        x = new.iloc[0]
        lines.append(f"- **CLV:CAC** of the {n(x['n'])} customers onboarded in the last "
                     f"{res.settings.new_customer_months} months: **{ratio_ci(x['value'], x['lower'], x['upper'], alpha)}** "
                     "(sum of CLV / sum of acquisition cost; > 1: a customer is worth more than they cost to win).")
    g = res.aggregate("gini").loc["all"]
    t = res.aggregate("top10_share").loc["all"]
    lines.append(f"- **Concentration:** the top 10% of customers hold **{pct(t['value'])}** of the value "
                 f"({ci_label(alpha)} {pct(t['lower'])}-{pct(t['upper'])}); Gini "
                 f"{ratio_ci(g['value'], g['lower'], g['upper'], alpha, 3)}.")
    if tx_total is not None:
        lines.append(f"- **Card and payment fees** expected over the next {res.settings.transactional.get('horizon_weeks', 52)} "
                     f"weeks: **{money_ci(tx_total['value'], tx_total['lower'], tx_total['upper'], alpha, cur)}** "
                     f"(BG/NBD x Gamma-Gamma, n = {n(tx_total['n'])}).")
    lines.append(f"- **What the intervals leave out:** {res.not_covered()}")
    return "\n".join(lines)


def tier_md(res, group: str, alpha: float = 0.05) -> str:
    tot = res.aggregate("total", group).sort_values("value", ascending=False)
    all_ = res.aggregate("total").loc["all", "value"]
    top = tot.iloc[0]
    share = top["value"] / all_ if all_ else np.nan
    return (f"By {esc(group.replace('_', ' '))}: **{label(tot.index[0])}** ({n(top['n'])} customers) holds "
            f"{pct(share)} of the total relationship CLV, "
            f"{money_ci(top['value'], top['lower'], top['upper'], alpha, res.settings.currency)}.")


def clv_cac_md(res, channel_col: str = "acquisition_channel", alpha: float = 0.05) -> str:
    r = res.aggregate("clv_cac", channel_col).dropna(subset=["value"]).sort_values("value")
    if r.empty:
        return "No customer was onboarded in the window, so CLV:CAC by channel cannot be computed."
    lo, hi = r.iloc[0], r.iloc[-1]
    s = (f"Among customers onboarded in the last {res.settings.new_customer_months} months, **{label(hi.name)}** "
         f"returns the most value per unit of acquisition cost ({ratio_ci(hi['value'], hi['lower'], hi['upper'], alpha)}, "
         f"n = {n(hi['n'])}) and **{label(lo.name)}** the least ({ratio_ci(lo['value'], lo['lower'], lo['upper'], alpha)}, "
         f"n = {n(lo['n'])}). Intervals combine the Cox coefficients' uncertainty with a Poisson bootstrap of the "
         "customers (which customers a channel happened to win). The ratio uses the value still to come from "
         "customers active today: the margin already earned counts against nothing, and customers who left in their "
         "first months are not in it.")
    if (r["upper"] < 1).any():
        s += " **Below break-even:** " + ", ".join(label(g) for g in r.index[r["upper"] < 1]) + "."
    return s


def transactional_md(summary: pd.DataFrame, bg, pnbd, gg, check, alpha: float = 0.05) -> str:
    x = summary["frequency"]
    lines = [f"{n(len(summary))} customers open at the calibration end, {n((x > 0).sum())} with at least one "
             f"fee-bearing purchase ({n(x.sum())} purchase days). The clock starts at onboarding (or the first day of "
             "data), so customers who never bought count too.",
             f"BG/NBD log-likelihood {bg.log_likelihood_:,.1f} (AIC {2 * 4 - 2 * bg.log_likelihood_:,.1f}); Pareto/NBD "
             f"{pnbd.log_likelihood_:,.1f} (AIC {2 * 4 - 2 * pnbd.log_likelihood_:,.1f}): the lower AIC fits better.",
             f"Gamma-Gamma on the {n(gg.n_)} repeat buyers: expected spend per purchase "
             f"{gg.population_mean_:,.2f} for a new customer. Its independence assumption: correlation of purchase "
             f"count and mean spend {check['pearson']:.3f} ({ci_label(alpha)} {check['lower']:.3f} to "
             f"{check['upper']:.3f}, n = {n(check['n'])})"
             + (" -- weak, so the model applies." if abs(check["pearson"]) < 0.3 else
                " -- **not weak: expected spend is biased for frequent buyers**.")]
    return " ".join(lines)


def validation_md(err: pd.DataFrame, ce: pd.DataFrame, cal_end, end, alpha: float = 0.05) -> str:
    m, nv, d = err.loc["model"], err.loc["naive"], err.loc["difference"]
    return (f"Calibration to {pd.Timestamp(cal_end):%d %b %Y}, hold-out to {pd.Timestamp(end):%d %b %Y}: the "
            f"{n(m['n'])} customers made {n(m['total_actual'])} fee-bearing purchases in the hold-out; BG/NBD expected "
            f"{n(m['total_expected'])}, the naive rate carried forward {n(nv['total_expected'])}. Mean absolute error "
            f"per customer **{m['mae']:.3f}** ({ci_label(alpha)} {m['lower']:.3f}-{m['upper']:.3f}) against "
            f"{nv['mae']:.3f} ({nv['lower']:.3f}-{nv['upper']:.3f}) for the naive baseline: a difference of "
            f"{d['mae']:+.3f} ({d['lower']:+.3f} to {d['upper']:+.3f}; negative = the model is better). Intervals: "
            "paired bootstrap over customers.")
