"""Sentences for the CLV notebook: every number with its interval, n and definition; data values escaped.

Sentences, table headers and the library's own vocabulary (customer types, lifecycle stages,
grouping names) follow the run's language (``crm_lib.fmt._``); tier names, channels and
other values from data or parameters are shown as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_lib import fmt
from crm_lib.fmt import N_, _, ci_label, esc, label, pct  # noqa: F401  (re-exported for clv.report)
from crm_lib.fmt import integer as n
from crm_lib.fmt import money as _amount
from crm_lib.segmentation.lifecycle import stage_label
from crm_lib.segmentation.narrative import customer_type_label

#: the groupings the CLV tables and sentences use, as words (the English is the code as words)
GROUP_NAMES = {"tier": N_("tier"), "customer_type": N_("customer type"), "lifecycle": N_("lifecycle"),
               "acquisition_channel": N_("acquisition channel"), "cohort": N_("cohort")}


def group_name(group: str) -> str:
    """A grouping column as words in the run's language (``customer_type`` -> ``customer type``)."""
    return _(GROUP_NAMES[group]) if group in GROUP_NAMES else str(group).replace("_", " ")


def group_value(group: str, value) -> str:
    """A group's value as plain text: customer types and lifecycle stages translated, data values as they are."""
    if group == "customer_type":
        return customer_type_label(value)
    if group in ("lifecycle", "stage"):
        return stage_label(value)
    return value


def _day(d) -> str:
    """``30 Sep 2026`` in English (as always), the locale's long date otherwise."""
    return f"{pd.Timestamp(d):%d %b %Y}" if fmt.get_locale() == "en" else fmt.date(d)


def money(x, currency: str = "") -> str:
    """``GBP 1.2m``: ``crm_lib.fmt.money`` with the currency (escaped) in front."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return _("n/a")
    return f"{esc(currency)} {_amount(x)}" if currency else _amount(x)


def money_ci(v, lo, hi, alpha: float, currency: str = "") -> str:
    return _("{value} ({ci} {lower} to {upper})").format(value=money(v, currency), ci=ci_label(alpha),
                                                         lower=money(lo, currency), upper=money(hi, currency))


def ratio_ci(v, lo, hi, alpha: float, digits: int = 1) -> str:
    if not np.isfinite(v):
        return _("n/a")
    return f"{v:,.{digits}f} ({ci_label(alpha)} {lo:,.{digits}f}-{hi:,.{digits}f})"


def assumptions_md(settings, model) -> str:
    s = settings
    return _("**Definition.** Relationship CLV = expected monthly margin x probability the customer is still with the "
             "bank x discount factor, summed month by month over **{years} years**, discounted at **{rate}% a year** "
             "({currency}, as of the period end). Margin: the mean balances of the last month-ends at the annual "
             "spreads and fees of {source} (table below), held at today's level. Survival: the Cox model of churn "
             "({customers} customers, {churns} churns; covariates {covariates}) applied to each customer's covariates "
             "and tenure today.").format(
        years=f"{s.horizon_years:g}", rate=f"{100 * s.discount_rate_annual:g}", currency=esc(s.currency),
        source=esc(_name(s.source)), customers=n(model.n_), churns=n(model.n_events_),
        covariates=", ".join(esc(c) for c in model.covariates_))


def _name(path: str) -> str:
    return str(path).replace("\\", "/").rsplit("/", 1)[-1] or "clv.yaml"


def headline_md(res, tx_total=None, alpha: float = 0.05) -> str:
    cur = res.settings.currency
    tot = res.aggregate("total").loc["all"]
    med = res.aggregate("median").loc["all"]
    lines = [
        "- " + _("**Total relationship CLV** of the {n} customers active on {date}: **{total}**; median per customer "
                 "**{median}** ({assumptions}).").format(
            n=n(tot["n"]), date=_day(res.as_of), total=money_ci(tot["value"], tot["lower"], tot["upper"], alpha, cur),
            median=money_ci(med["value"], med["lower"], med["upper"], alpha, cur),
            assumptions=res.settings.describe()),
    ]
    r = res.aggregates
    new = r[(r["group_by"] == "new_customers") & (r["statistic"] == "clv_cac")]
    if len(new):
        x = new.iloc[0]
        lines.append("- " + _("**CLV:CAC** of the {n} customers onboarded in the last {months} months: **{ratio}** "
                              "(sum of CLV / sum of acquisition cost; > 1: a customer is worth more than they cost to "
                              "win).").format(n=n(x["n"]), months=res.settings.new_customer_months,
                                              ratio=ratio_ci(x["value"], x["lower"], x["upper"], alpha)))
    g = res.aggregate("gini").loc["all"]
    t = res.aggregate("top10_share").loc["all"]
    lines.append("- " + _("**Concentration:** the top 10% of customers hold **{share}** of the value ({ci} "
                          "{lower}-{upper}); Gini {gini}.").format(
        share=pct(t["value"]), ci=ci_label(alpha), lower=pct(t["lower"]), upper=pct(t["upper"]),
        gini=ratio_ci(g["value"], g["lower"], g["upper"], alpha, 3)))
    if tx_total is not None:
        lines.append("- " + _("**Card and payment fees** expected over the next {weeks} weeks: **{value}** (BG/NBD x "
                              "Gamma-Gamma, n = {n}).").format(
            weeks=res.settings.transactional.get("horizon_weeks", 52),
            value=money_ci(tx_total["value"], tx_total["lower"], tx_total["upper"], alpha, cur), n=n(tx_total["n"])))
    lines.append("- " + _("**What the intervals leave out:** {not_covered}").format(not_covered=res.not_covered()))
    return "\n".join(lines)


def tier_md(res, group: str, alpha: float = 0.05) -> str:
    tot = res.aggregate("total", group).sort_values("value", ascending=False)
    all_ = res.aggregate("total").loc["all", "value"]
    top = tot.iloc[0]
    share = top["value"] / all_ if all_ else np.nan
    return _("By {group}: **{top}** ({n} customers) holds {share} of the total relationship CLV, {value}.").format(
        group=esc(group_name(group)), top=label(group_value(group, tot.index[0])), n=n(top["n"]), share=pct(share),
        value=money_ci(top["value"], top["lower"], top["upper"], alpha, res.settings.currency))


def clv_cac_md(res, channel_col: str = "acquisition_channel", alpha: float = 0.05) -> str:
    r = res.aggregate("clv_cac", channel_col).dropna(subset=["value"]).sort_values("value")
    if r.empty:
        return _("No customer was onboarded in the window, so CLV:CAC by channel cannot be computed.")
    lo, hi = r.iloc[0], r.iloc[-1]
    s = _("Among customers onboarded in the last {months} months, **{best}** returns the most value per unit of "
          "acquisition cost ({best_ratio}, n = {best_n}) and **{worst}** the least ({worst_ratio}, n = {worst_n}). "
          "Intervals combine the Cox coefficients' uncertainty with a Poisson bootstrap of the customers (which "
          "customers a channel happened to win). The ratio uses the value still to come from customers active today: "
          "the margin already earned counts against nothing, and customers who left in their first months are not "
          "in it.").format(
        months=res.settings.new_customer_months, best=label(hi.name),
        best_ratio=ratio_ci(hi["value"], hi["lower"], hi["upper"], alpha), best_n=n(hi["n"]), worst=label(lo.name),
        worst_ratio=ratio_ci(lo["value"], lo["lower"], lo["upper"], alpha), worst_n=n(lo["n"]))
    if (r["upper"] < 1).any():
        s += (" " if fmt.get_locale() == "en" else "") + _("**Below break-even:** {channels}.").format(
            channels=", ".join(label(g) for g in r.index[r["upper"] < 1]))
    return s


def transactional_md(summary: pd.DataFrame, bg, pnbd, gg, check, alpha: float = 0.05) -> str:
    x = summary["frequency"]
    independence = dict(n=n(gg.n_), mean=f"{gg.population_mean_:,.2f}", pearson=f"{check['pearson']:.3f}",
                        ci=ci_label(alpha), lower=f"{check['lower']:.3f}", upper=f"{check['upper']:.3f}",
                        n_check=n(check["n"]))
    lines = [_("{customers} customers open at the calibration end, {buyers} with at least one fee-bearing purchase "
               "({days} purchase days). The clock starts at onboarding (or the first day of data), so customers who "
               "never bought count too.").format(customers=n(len(summary)), buyers=n((x > 0).sum()), days=n(x.sum())),
             _("BG/NBD log-likelihood {bg_ll} (AIC {bg_aic}); Pareto/NBD {pnbd_ll} (AIC {pnbd_aic}): the lower AIC "
               "fits better.").format(bg_ll=f"{bg.log_likelihood_:,.1f}", bg_aic=f"{2 * 4 - 2 * bg.log_likelihood_:,.1f}",
                                      pnbd_ll=f"{pnbd.log_likelihood_:,.1f}",
                                      pnbd_aic=f"{2 * 4 - 2 * pnbd.log_likelihood_:,.1f}"),
             (_("Gamma-Gamma on the {n} repeat buyers: expected spend per purchase {mean} for a new customer. Its "
                "independence assumption: correlation of purchase count and mean spend {pearson} ({ci} {lower} to "
                "{upper}, n = {n_check}) -- weak, so the model applies.") if abs(check["pearson"]) < 0.3 else
              _("Gamma-Gamma on the {n} repeat buyers: expected spend per purchase {mean} for a new customer. Its "
                "independence assumption: correlation of purchase count and mean spend {pearson} ({ci} {lower} to "
                "{upper}, n = {n_check}) -- **not weak: expected spend is biased for frequent buyers**."))
             .format(**independence)]
    return ("" if fmt.get_locale().lower().startswith("zh") else " ").join(lines)


def validation_md(err: pd.DataFrame, ce: pd.DataFrame, cal_end, end, alpha: float = 0.05) -> str:
    m, nv, d = err.loc["model"], err.loc["naive"], err.loc["difference"]
    return _("Calibration to {calibration_end}, hold-out to {end}: the {n} customers made {actual} fee-bearing "
             "purchases in the hold-out; BG/NBD expected {expected}, the naive rate carried forward {naive}. Mean "
             "absolute error per customer **{mae}** ({ci} {lower}-{upper}) against {naive_mae} ({naive_lower}-"
             "{naive_upper}) for the naive baseline: a difference of {difference} ({difference_lower} to "
             "{difference_upper}; negative = the model is better). Intervals: paired bootstrap over "
             "customers.").format(
        calibration_end=_day(cal_end), end=_day(end), n=n(m["n"]), actual=n(m["total_actual"]),
        expected=n(m["total_expected"]), naive=n(nv["total_expected"]), mae=f"{m['mae']:.3f}", ci=ci_label(alpha),
        lower=f"{m['lower']:.3f}", upper=f"{m['upper']:.3f}", naive_mae=f"{nv['mae']:.3f}",
        naive_lower=f"{nv['lower']:.3f}", naive_upper=f"{nv['upper']:.3f}", difference=f"{d['mae']:+.3f}",
        difference_lower=f"{d['lower']:+.3f}", difference_upper=f"{d['upper']:+.3f}")
