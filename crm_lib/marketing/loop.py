"""Closing the loop: did an earlier period's target list work? Treatment against its held-out control.

A list written for period P (``targeting.write_lists``) keeps both arms in
``next_best_product_<P>_assignment.parquet`` and its as-of date in the manifest. In a later
period the outcome is observable in the warehouse: did the customer open the offered
product after the as-of date? Because the control was drawn at random from the same
selection and never contacted, the difference in adoption rates estimates the effect of
the offer.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

from crm_lib.data.privacy import pseudonym_key, pseudonym_sql
from crm_lib.data.store import Warehouse
from crm_lib.errors import NotEstimable

logger = logging.getLogger(__name__)

FREQ = {"month": "M", "quarter": "Q", "year": "Y"}


def previous_list(reports_dir: str | Path, profile: str, period, stem: str = "next_best_product") -> tuple[pd.DataFrame, dict]:
    """The assignment and manifest written by the pack of the period before ``period``.

    Raises
    ------
    NotEstimable
        When that pack holds no list (the first period, or the notebook did not run then).
    """
    prev = str(pd.Period(period.start, freq=FREQ[period.kind]) - 1)
    folder = Path(reports_dir) / profile / prev
    a, m = folder / f"{stem}_{prev}_assignment.parquet", folder / f"{stem}_{prev}_manifest.json"
    if not (a.exists() and m.exists()):
        raise NotEstimable(f"no target list from the previous period {prev} in {folder}",
                           "the first list is evaluated one period after it is written")
    return pd.read_parquet(a), json.loads(m.read_text())


def evaluate_list(wh: Warehouse, assignment: pd.DataFrame, as_of, until, alpha: float = 0.05,
                  key: str | None = None) -> pd.DataFrame:
    """Adoption of the offered product in ``(as_of, until]``, treatment vs control, per product and overall.

    Returns indexed by product and ``all``: ``n_treatment``, ``n_control``, ``rate_treatment``,
    ``rate_control`` (proportions), ``uplift`` (difference) with ``uplift_ci_lower``/``uplift_ci_upper``
    (Newcombe hybrid score interval, ``1 - alpha``) and ``p_value`` (score test).

    References
    ----------
    Newcombe, R. G. (1998). Interval estimation for the difference between independent proportions.
    Statistics in Medicine 17, 873-890.
    """
    d0, d1 = pd.Timestamp(as_of).date(), pd.Timestamp(until).date()
    if d1 <= d0:
        raise NotEstimable(f"the list was drawn on {d0}; no outcome window has passed by {d1}",
                           "evaluate it in a later period")
    pid = pseudonym_sql("customer_id", key or pseudonym_key())
    opened = wh.sql(f"""SELECT DISTINCT {pid} AS customer_id, product FROM accounts
                        WHERE open_date > DATE '{d0}' AND open_date <= DATE '{d1}'""")
    hit = set(zip(opened["customer_id"], opened["product"]))
    a = assignment.assign(adopted=[(c, p) in hit for c, p in zip(assignment["customer_id"], assignment["product"])])
    rows = {}
    for name, g in list(a.groupby("product")) + [("all", a)]:
        t, c = g[g["group"] == "treatment"], g[g["group"] == "control"]
        x1, n1, x0, n0 = int(t["adopted"].sum()), len(t), int(c["adopted"].sum()), len(c)
        row = {"n_treatment": n1, "n_control": n0, "rate_treatment": x1 / n1 if n1 else np.nan,
               "rate_control": x0 / n0 if n0 else np.nan}
        if n1 and n0:
            lo, hi = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", alpha=alpha)
            p = test_proportions_2indep(x1, n1, x0, n0, method="score")[1] if 0 < x1 + x0 < n1 + n0 else np.nan
            row.update(uplift=x1 / n1 - x0 / n0, uplift_ci_lower=lo, uplift_ci_upper=hi, p_value=p)
        rows[name] = row
    cols = ["n_treatment", "n_control", "rate_treatment", "rate_control", "uplift", "uplift_ci_lower",
            "uplift_ci_upper", "p_value"]
    logger.info("evaluated list drawn %s over %s..%s: %d customers", d0, d0, d1, len(a))
    return pd.DataFrame.from_dict(rows, orient="index").reindex(columns=cols)
