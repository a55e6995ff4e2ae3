"""Profiles of segments (tiers, RFM segments, clusters, lifecycle stages): who is in each.

Every function takes the feature table and a segment assignment (``customer_id`` plus a
segment column) and returns one row per segment; nothing is mutated.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from crm_lib.errors import DataContractError
from crm_lib.segmentation._validate import require_columns
from crm_lib.segmentation.derived import DERIVED, cluster_features, feature_columns

logger = logging.getLogger(__name__)

MEDIANS = {"median_age": "age", "median_income": "income", "median_revenue": "revenue", "median_aum": "aum_avg",
           "median_tenure_years": "tenure_years", "median_products": "n_products", "median_frequency": "frequency",
           "median_avg_ticket": "avg_ticket", "median_digital_share": "digital_share"}
HEATMAP_FEATURES = ["age", "log_income", "log_revenue", "log_aum", "log_avg_ticket", "log_frequency", "n_products",
                    "digital_share", "tenure_years"]


def _join(features: pd.DataFrame, segments: pd.DataFrame, by: str, reads) -> pd.DataFrame:
    """The segmented customers' rows of the feature columns ``reads(column)`` holds for, with ``by`` joined: only
    what the caller reads is copied (a whole feature table is ~5 GB at 10M customers, and each profile copied it
    twice)."""
    require_columns(segments, ["customer_id", by], table="segments")
    require_columns(features, ["customer_id"])
    seg = segments[["customer_id", by]].dropna(subset=[by])
    cols = ["customer_id"] + [c for c in features.columns if c not in ("customer_id", by) and reads(c)]
    d = features[cols].merge(seg, on="customer_id", how="inner", validate="one_to_one")
    if not len(d):
        raise DataContractError(f"segments.customer_id: no customer of the segment table is in the feature table "
                                f"({len(seg):,} segment rows); were both built with the same pseudonym key and date?")
    return d


def profile(features: pd.DataFrame, segments: pd.DataFrame, by: str) -> pd.DataFrame:
    """Size, value and typical customer of each segment.

    Parameters
    ----------
    features : DataFrame
        The feature table.
    segments : DataFrame
        ``customer_id`` and the segment column ``by`` (e.g. from ``value_tiers``,
        ``rfm_scores``, ``cluster_customers``, ``lifecycle_stages``).
    by : str
        The segment column.

    Returns
    -------
    DataFrame indexed by ``by``: ``customers``, ``share`` (of profiled customers, 0-1),
    ``aum`` (sum of average AUM, currency), ``aum_share`` (0-1), medians ``median_age``
    (years), ``median_income``, ``median_revenue`` (currency per year),
    ``median_aum``, ``aum_q1``, ``aum_q3`` (median and quartiles of average AUM, currency),
    ``median_tenure_years``, ``median_products``,
    ``median_frequency`` (transactions in the window), ``median_avg_ticket`` (currency),
    ``median_digital_share`` (0-1); ``csat_mean`` (1-5, over customers surveyed in the
    window), ``complaints_per_100`` (complaints in the window per 100 customers).
    Segments with a single customer are profiled too; there is no minimum size here.
    """
    reads = {"aum_avg", "tenure_days", "monetary", "frequency", "csat_mean", "complaints_window", *MEDIANS.values()}
    d = _join(features, segments, by, reads.__contains__)
    d = d.assign(tenure_years=d["tenure_days"] / 365.25 if "tenure_days" in d else np.nan,
                 avg_ticket=d["monetary"] / d["frequency"].where(d["frequency"] > 0)
                 if {"monetary", "frequency"} <= set(d.columns) else np.nan)
    g = d.groupby(by, observed=True, sort=True)
    out = pd.DataFrame({"customers": g.size()})
    out["share"] = out["customers"] / out["customers"].sum()
    if "aum_avg" in d:
        out["aum"] = g["aum_avg"].sum()
        out["aum_share"] = out["aum"] / out["aum"].sum() if out["aum"].sum() > 0 else np.nan
    for name, col in MEDIANS.items():
        if col in d and d[col].notna().any():
            out[name] = g[col].median()
            if name == "median_aum":
                out["aum_q1"], out["aum_q3"] = g[col].quantile(0.25), g[col].quantile(0.75)
    if "csat_mean" in d:
        out["csat_mean"] = g["csat_mean"].mean()
    if "complaints_window" in d:
        out["complaints_per_100"] = 100 * g["complaints_window"].mean()
    return out


def penetration(features: pd.DataFrame, segments: pd.DataFrame, by: str) -> pd.DataFrame:
    """Product penetration and channel mix per segment.

    Returns
    -------
    DataFrame indexed by ``by``: one column per product (``has_<product>`` renamed to the
    product) with the share of customers holding it (0-1), and ``channel_<channel>`` with
    the segment's share of window transactions on that channel (0-1, transaction-weighted).
    Products nobody in the profiled customers holds are dropped.
    """
    d = _join(features, segments, by, lambda c: c.startswith(("has_", "share_")) or c == "frequency")
    has = [c for c in d.columns if c.startswith("has_")]
    g = d.groupby(by, observed=True, sort=True)
    out = g[has].mean().rename(columns=lambda c: c[4:]) if has else pd.DataFrame(index=g.size().index)
    out = out.loc[:, out.sum() > 0] if len(out.columns) else out
    shares = [c for c in d.columns if c.startswith("share_")]
    if shares and "frequency" in d:
        w = d["frequency"].astype(float)
        tx = d[shares].fillna(0).mul(w, axis=0).groupby(d[by], observed=True, sort=True).sum()
        tot = w.groupby(d[by], observed=True, sort=True).sum()
        mix = tx.div(tot.where(tot > 0), axis=0)
        out = out.join(mix.rename(columns=lambda c: "channel_" + c[6:]))
    return out


def standardised_means(features: pd.DataFrame, segments: pd.DataFrame, by: str,
                       columns: list[str] | None = None) -> pd.DataFrame:
    """Segment means of profile features in standard deviations from the overall mean.

    Features are those of ``cluster_features`` (logs of money amounts); each is
    standardised over the profiled customers, so 0 is the average customer and +1 is one
    standard deviation above. Features missing for everyone are dropped.

    Returns
    -------
    DataFrame indexed by ``by`` with one column per feature (z units).
    """
    wanted = columns or HEATMAP_FEATURES
    d = _join(features, segments, by, set(feature_columns(wanted)).__contains__)
    cols = [c for c in wanted
            if all(s in d.columns for s in (DERIVED[c].columns if c in DERIVED else [c]))]
    X = cluster_features(d, cols)
    X = X.loc[:, X.notna().any()]
    sd = X.std(ddof=0).replace(0, np.nan)
    z = (X - X.mean()) / sd
    return z.groupby(d[by].to_numpy()).mean().rename_axis(by)


def cluster_descriptions(model, features: pd.DataFrame, profiled: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per cluster of a fitted ``CustomerClusters``: label, name, size and a sentence.

    ``profiled``: ``profile(features, <the model's labels>, "cluster")`` when the caller has it already (its
    join of every customer is the costly part: ~45 s at 10M customers); built here otherwise.

    Returns
    -------
    DataFrame indexed by ``cluster``: ``name``, ``customers``, ``share`` (0-1),
    ``description`` ('8,954 customers (27%); median age 42, income 55k, AUM 41k, ...').
    """
    from crm_lib.fmt import integer as n, money, pct

    if profiled is None:
        profiled = profile(features, pd.DataFrame({"customer_id": model.labels_.index,
                                                   "cluster": model.labels_.to_numpy()}), "cluster")
    p = profiled.reindex(model.names_.index)
    rows = []
    for lbl, r in p.iterrows():
        bits = []
        if "median_age" in r and pd.notna(r["median_age"]):
            bits.append(f"median age {r['median_age']:.0f}")
        for col, word in (("median_income", "income"), ("median_revenue", "revenue"), ("median_aum", "AUM"),
                          ("median_avg_ticket", "average transaction")):
            if col in r and pd.notna(r[col]):
                bits.append(f"{word} {money(r[col])}")
        if "median_digital_share" in r and pd.notna(r["median_digital_share"]):
            bits.append(f"{pct(r['median_digital_share'], 0)} digital")
        rows.append({"cluster": lbl, "name": model.names_[lbl], "customers": int(r["customers"]),
                     "share": r["share"],
                     "description": f"{n(r['customers'])} customers ({pct(r['share'], 0)}); " + ", ".join(bits)})
    return pd.DataFrame(rows).set_index("cluster")
