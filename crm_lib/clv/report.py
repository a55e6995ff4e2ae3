"""Display tables and facts for the CLV notebook (``40_clv``).

Tables are rounded, intervals written as text at the run's alpha, labels from data escaped;
facts carry their interval, n and definition (``FactBook.record``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from crm_lib.clv.narrative import group_name, group_value, ci_label, esc, label, money, n, pct, ratio_ci
from crm_lib.fmt import _
from crm_lib.segmentation.narrative import customer_type_label
from crm_lib.errors import DataContractError

logger = logging.getLogger(__name__)


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


def record_facts(facts, res, tx_total=None, err=None, alpha: float = 0.05, settings=None) -> None:
    """Record 40_clv's headline numbers: total and median CLV, CLV:CAC, concentration, fees, validation.

    ``res`` is None when the relationship CLV was not estimable (its section says why); the
    transactional facts are then recorded with ``settings`` (the run's ``ClvSettings``).
    """
    s = res.settings if res is not None else settings
    if res is not None:
        _record_relationship(facts, res, alpha)
    if tx_total is not None:
        facts.record("transactional_fee_value", tx_total["value"], "currency",
                     f"expected card and payment fee income over the next {s.transactional.get('horizon_weeks', 52)} "
                     f"weeks (BG/NBD x Gamma-Gamma x fee rate {s.transactional.get('fee_rate')})", n=int(tx_total["n"]),
                     ci=(tx_total["lower"], tx_total["upper"]), ci_level=1 - alpha,
                     uncertainty="percentile interval over draws of both models' parameters; not the fee rate")
    if err is not None:
        m = err.loc["model"]
        facts.record("bgnbd_holdout_mae", m["mae"], "transactions per customer",
                     "mean absolute error of BG/NBD hold-out predictions (naive baseline: "
                     f"{err.loc['naive', 'mae']:.3f})", n=int(m["n"]), ci=(m["lower"], m["upper"]), ci_level=1 - alpha,
                     uncertainty="percentile bootstrap over customers")


def _record_relationship(facts, res, alpha: float) -> None:
    s = res.settings
    how = (f"relationship CLV as of {res.as_of.date()}: monthly margin x Cox survival x discount, "
           f"{s.describe()}")
    unc = f"percentile interval over {res.n_draws} draws of the Cox coefficients; {res.not_covered()}"
    tot = res.aggregate("total").loc["all"]
    facts.record("total_clv", tot["value"], "currency", f"sum over active customers of {how}", n=int(tot["n"]),
                 ci=(tot["lower"], tot["upper"]), ci_level=1 - alpha, uncertainty=unc, headline=True)
    med = res.aggregate("median").loc["all"]
    facts.record("median_clv", med["value"], "currency", f"median over active customers of {how}", n=int(med["n"]),
                 ci=(med["lower"], med["upper"]), ci_level=1 - alpha, uncertainty=unc, headline=True)
    r = res.aggregates
    new = r[(r["group_by"] == "new_customers") & (r["statistic"] == "clv_cac")]
    if len(new):
        x = new.iloc[0]
        facts.record("clv_cac_ratio", x["value"], "ratio",
                     f"sum of CLV / sum of acquisition cost over customers onboarded in the last "
                     f"{s.new_customer_months} months and active at the period end ({how})", n=int(x["n"]),
                     ci=(x["lower"], x["upper"]), ci_level=1 - alpha,
                     uncertainty=f"{unc}; customers resampled (Poisson bootstrap)", headline=True)
    for stat, name, what in (("gini", "clv_gini", "Gini coefficient of CLV (negative values as 0)"),
                             ("top10_share", "clv_top10_share", "share of total CLV held by the top 10% of customers")):
        g = res.aggregate(stat).loc["all"]
        facts.record(name, g["value"], "proportion" if stat == "top10_share" else "index", what, n=int(g["n"]),
                     ci=(g["lower"], g["upper"]), ci_level=1 - alpha, uncertainty=unc)
