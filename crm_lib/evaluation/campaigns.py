"""Randomised campaign evaluation: uplift, incremental revenue, ROI, power."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

from crm_lib.data.store import Warehouse
from crm_lib.fmt import _
from crm_lib.periods import Period


logger = logging.getLogger(__name__)

Z95 = stats.norm.ppf(0.975)


# --------------------------------------------------------------------------- campaigns

def campaign_data(wh: Warehouse, period: Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Campaigns starting in ``period`` and their contacts (no customer identifiers).

    A source without campaigns or their contacts has none to evaluate: both frames are empty.
    """
    if not (wh.has("campaigns") and wh.has("campaign_contacts")):
        from crm_lib.data.schema import SCHEMAS

        return (pd.DataFrame(columns=list(SCHEMAS["campaigns"].columns)),
                pd.DataFrame(columns=["campaign_id", "group", "responded", "revenue"]))
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
            # the note is shown on the review page, in the run's language
            row.update(evaluable=False, note=_("not evaluable: no control group") if len(k) == 0
                       else _("not evaluable: no treatment group"))
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
                   _("underpowered: could only detect uplifts of {mde} or more (planned {planned})").format(
                       mde=f"{mde:.3f}", planned=f"{planned:.3f}"))
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
