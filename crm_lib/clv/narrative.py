"""Sentences and display tables for the CLV notebook: every number with its interval, n and definition; data values escaped.

Sentences, table headers and the library's own vocabulary (customer types, lifecycle stages,
grouping names) follow the run's language (``crm_lib.fmt._``); tier names, channels and
other values from data or parameters are shown as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from crm_lib import fmt
from crm_lib.errors import DataContractError
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


def headline_md(res, tx_total=None, alpha: float = 0.05, settings=None) -> str:
    """The page's headline bullets: relationship CLV (``res``, a value book) and the card and payment fees.

    Either may be None where its section was not estimable (``settings``, the ``ClvSettings``, then
    names the currency and horizon); with neither, ``NotEstimable``.
    """
    if res is None:
        return _fees_only_md(tx_total, alpha, settings)
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


def _fees_only_md(tx_total, alpha: float, settings) -> str:
    from crm_lib.errors import NotEstimable

    if tx_total is None or settings is None:
        raise NotEstimable(fmt.tr("neither the relationship CLV nor the card and payment fees could be estimated"),
                           fmt.tr("their sections below say why"))
    return "\n".join([
        "- " + _("**Card and payment fees** expected over the next {weeks} weeks: **{value}** (BG/NBD x "
                 "Gamma-Gamma, n = {n}).").format(
            weeks=settings.transactional.get("horizon_weeks", 52),
            value=money_ci(tx_total["value"], tx_total["lower"], tx_total["upper"], alpha, settings.currency),
            n=n(tx_total["n"])),
        "- " + _("**Relationship CLV** is not estimable on this source; its section says why."),
        "- " + _("**What the interval leaves out:** it is drawn over both models' parameters; the fee rate (a "
                 "parameter of parameters/clv.yaml) is taken as exact.")])


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
    first = summary.attrs.get("origin") == "first_purchase"   # clv.summary.clock_origin
    lines = [(_("{customers} customers open at the calibration end, {buyers} with at least one repeat purchase "
                "({days} repeat purchase days). The source onboards customers at their first purchase, so each "
                "customer's clock starts there and that purchase is not counted.") if first else
              _("{customers} customers open at the calibration end, {buyers} with at least one fee-bearing purchase "
                "({days} purchase days). The clock starts at onboarding (or the first day of data), so customers who "
                "never bought count too.")).format(customers=n(len(summary)), buyers=n((x > 0).sum()), days=n(x.sum())),
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


def _idx(values, group: str):
    return pd.Index([label(group_value(group, v)) for v in values], name=group_name(group))


def _range(v, lo, hi, cur) -> str:
    return _("{value} ({lower} to {upper})").format(value=money(v, cur), lower=money(lo, cur), upper=money(hi, cur))


def assumptions_display(settings) -> pd.DataFrame:
    """The margin table: annual rates by segment, monthly cost to serve; and the monthly product fees."""
    rows = []
    for seg, r in settings.rates.items():
        sl = label(customer_type_label(seg))
        rows.append((sl, _("deposit spread"), _("{rate}% of deposits a year").format(rate=f"{100 * r['deposit_spread']:g}")))
        rows.append((sl, _("loan spread"), _("{rate}% of loans a year").format(rate=f"{100 * r['loan_spread']:g}")))
        rows.append((sl, _("investment fee"),
                     _("{rate}% of investments a year").format(rate=f"{100 * r['investment_fee']:g}")))
        rows.append((sl, _("cost to serve"), _("{amount} a month").format(
            amount=money(settings.cost_to_serve_monthly.get(seg, np.nan), settings.currency))))
    for p, v in settings.product_fees_monthly.items():
        rows.append((_("every segment"), _("fee: {product}").format(product=label(p)),
                     _("{amount} a month per account").format(amount=money(v, settings.currency))))
    cols = [_("segment"), _("item"), _("assumption")]
    return pd.DataFrame(rows, columns=cols).set_index(cols[:2])


def group_display(res, group: str, alpha: float = 0.05) -> pd.DataFrame:
    """Customers, total, mean and median CLV with intervals, by ``group``."""
    cur = res.settings.currency
    t, m, md = (res.aggregate(s, group) for s in ("total", "mean", "median"))
    t = t.sort_values("value", ascending=False)
    ci = ci_label(alpha)
    return pd.DataFrame({
        _("customers"): [n(v) for v in t["n"]],
        _("total CLV ({ci})").format(ci=ci): [_range(v, lo, hi, cur)
                                             for v, lo, hi in t[["value", "lower", "upper"]].to_numpy()],
        _("share of total"): [pct(v / t["value"].sum()) for v in t["value"]],
        _("mean CLV ({ci})").format(ci=ci): [_range(v, lo, hi, cur)
                                            for v, lo, hi in m.loc[t.index, ["value", "lower", "upper"]].to_numpy()],
        _("median CLV ({ci})").format(ci=ci): [_range(v, lo, hi, cur) for v, lo, hi in
                                              md.loc[t.index, ["value", "lower", "upper"]].to_numpy()],
    }, index=_idx(t.index, group))


def ratio_display(res, group: str, alpha: float = 0.05) -> pd.DataFrame:
    """CLV:CAC with its interval and the customers behind it, by ``group``; payback months by channel when known."""
    r = res.aggregate("clv_cac", group)
    out = pd.DataFrame({_("customers"): [n(v) for v in r["n"]],
                        _("CLV:CAC ({ci})").format(ci=ci_label(alpha)): [ratio_ci(v, lo, hi, alpha) for v, lo, hi in
                                                                        r[["value", "lower", "upper"]].to_numpy()]},
                       index=_idx(r.index, group))
    if res.payback is not None and group == res.payback.index.name:
        p = res.payback.reindex(r.index)
        out[_("mean CAC")] = [money(v, res.settings.currency) for v in p["mean_cac"]]
        out[_("mean margin a month")] = [money(v, res.settings.currency) for v in p["mean_margin"]]
        out[_("payback months ({ci})").format(ci=ci_label(alpha))] = [
            _months(v, lo, hi) for v, lo, hi in p[["payback_months", "lower", "upper"]].to_numpy()]
    return out


def _months(v, lo, hi) -> str:
    f = lambda x: _("not within the horizon") if not np.isfinite(x) else f"{x:.0f}"   # noqa: E731
    return f"{f(v)} ({f(lo)}-{f(hi)})"


def params_display(models: dict, alpha: float = 0.05) -> pd.DataFrame:
    """Parameter tables of fitted models side by side: estimate, SE (Hessian), interval."""
    rows = []
    for name, m in models.items():
        for p, r in m.summary_.iterrows():
            rows.append((name, p, f"{r['estimate']:.4g}", f"{r['se']:.3g}", f"{r['lower']:.4g}-{r['upper']:.4g}"))
        rows.append((name, _("log-likelihood"), f"{m.log_likelihood_:,.2f}", "", f"n = {m.n_:,}"))
    cols = [_("model"), _("parameter"), _("estimate"), _("SE"), ci_label(alpha)]
    return pd.DataFrame(rows, columns=cols).set_index(cols[:2])


def expectations_display(ce: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({_("customers"): [n(v) for v in ce["n"]], _("actual (mean)"): ce["actual"].round(3).to_numpy(),
                         _("expected (mean)"): ce["expected"].round(3).to_numpy(),
                         _("actual (total)"): [n(v) for v in ce["actual_total"]],
                         _("expected (total)"): [n(v) for v in ce["expected_total"]]},
                        index=pd.Index(ce.index, name=_("purchases in calibration")))


def cohort_fits(counts: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """sBG fitted to each yearly cohort: alpha, beta (CIs), projected 5-year retention; or why it could not be."""
    from crm_lib.clv.sbg import ShiftedBetaGeometric

    rows = []
    c_cohort, c_status, c_proj = _("cohort"), _("status"), _("projected retained after 5 years")
    for cohort, r in counts.iterrows():
        a = r.dropna().to_numpy(float)
        base = {c_cohort: esc(cohort), _("customers"): n(a[0]), _("years observed"): len(a) - 1,
                _("retained (observed)"): pct(a[-1] / a[0])}
        try:
            m = ShiftedBetaGeometric(alpha=alpha).fit(a, table=f"cohort {cohort}")
            degenerate = m.degenerate_
        except DataContractError as e:
            if "positive definite" not in str(e):
                rows.append({**base, c_status: esc(str(e).splitlines()[0])})
                continue
            degenerate = True
        if degenerate:
            # one churn probability for everyone: the geometric MLE, lost / customer-periods at risk
            lost, exposure = a[0] - a[-1], a[:-1].sum()
            p = lost / exposure
            z = stats.norm.ppf(1 - alpha / 2)
            half = z * np.sqrt(p * (1 - p) / exposure)
            rows.append({**base, c_proj: pct((1 - p) ** 5),
                         c_status: _("no heterogeneity: retention does not rise with tenure, so the sBG mixture "
                                     "collapses to one yearly churn probability, {rate} ({ci} {lower}-{upper})").format(
                             rate=pct(p), ci=ci_label(alpha), lower=pct(max(p - half, 0)), upper=pct(p + half))})
            continue
        s = m.summary_
        rows.append({**base, f"alpha ({ci_label(alpha)})": f"{s.loc['alpha', 'estimate']:.3g} ({s.loc['alpha', 'lower']:.3g}-"
                                           f"{s.loc['alpha', 'upper']:.3g})",
                     f"beta ({ci_label(alpha)})": f"{s.loc['beta', 'estimate']:.3g} ({s.loc['beta', 'lower']:.3g}-"
                                  f"{s.loc['beta', 'upper']:.3g})",
                     c_proj: pct(float(m.survival(5))), c_status: _("fitted")})
    return pd.DataFrame(rows).set_index(c_cohort)
