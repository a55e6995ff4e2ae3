"""Facts of the CLV notebook (``40_clv``): each with its interval, n and definition (``FactBook.record``).

The results are the relationship book (``clv.value_book``) and the card and payment models; the
sentences and display tables are ``crm_lib.clv.narrative``'s.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


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
