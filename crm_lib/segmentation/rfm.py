"""RFM: recency, frequency and monetary quantile scores and the named RFM segments.

Scores are quantile scores 1..bins computed within each customer type (a corporate's
turnover would otherwise put every corporate in the top monetary bin). Ties are
handled deterministically and fairly: customers with equal values get equal scores,
whatever the row order, because a score depends only on how many customers have a
strictly worse value (see ``quantile_score``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from crm_lib.errors import DataContractError
from crm_lib.segmentation import settings as S
from crm_lib.segmentation._validate import fail, require_columns, require_rows, unique_ids

logger = logging.getLogger(__name__)

RFM_INPUTS = ["customer_id", "recency_days", "frequency", "monetary"]


def quantile_score(values, bins: int = 5, higher_is_better: bool = True) -> np.ndarray:
    """Quantile score 1..bins; equal values get equal scores; missing values score 1.

    ``score = 1 + floor(bins * w)``, where ``w`` is the share of customers with a strictly
    worse value. Without ties this is ``pd.qcut(values.rank(), bins)``: the same bins as
    equal-frequency quintiles. With ties, a block of equal values gets the score of its
    worst member, so a value shared by 60% of customers scores 1 and the next value
    starts above it; scores may then skip a level, but never split identical customers.

    Parameters
    ----------
    values : array-like of float
    bins : int
        Number of scores (5 for the usual RFM quintiles).
    higher_is_better : bool
        False for recency in days (fewer days since the last transaction is better).

    Returns
    -------
    ndarray of int64, values in 1..bins.
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return np.zeros(0, dtype=np.int64)
    v = v if higher_is_better else -v
    v = np.where(np.isnan(v), -np.inf, v)
    below = rankdata(v, method="min") - 1          # customers with a strictly worse value
    return np.minimum(1 + np.floor(bins * below / v.size).astype(np.int64), bins)


def rfm_scores(features: pd.DataFrame, bins: int = 5, segment_map: pd.DataFrame | None = None,
               by: str | None = "customer_type", active_only: bool = True) -> pd.DataFrame:
    """R, F and M scores and the named segment of each customer.

    Parameters
    ----------
    features : DataFrame
        The feature table: ``customer_id``, ``recency_days`` (days since the last everyday
        transaction; null when none), ``frequency`` (transactions in the window),
        ``monetary`` (their total amount, currency), and ``customer_type``, ``is_active``.
    bins : int
        Number of quantile scores.
    segment_map : DataFrame, optional
        (R, F) cells to segment names (``settings.load_rfm_map``); default the project's
        ``parameters/rfm_segments.yaml``.
    by : str or None
        Score within groups of this column (default ``customer_type``); None pools everyone.
    active_only : bool
        Score only active customers (``is_active``).

    Returns
    -------
    DataFrame
        ``customer_id``, ``customer_type``, ``recency_days``, ``frequency``, ``monetary``,
        ``r_score``, ``f_score``, ``m_score`` (1..bins, 5 best), ``rfm_cell`` ('543'),
        ``segment``; sorted by ``customer_id``.

    Raises
    ------
    DataContractError
        Missing columns, no customers, a negative frequency or recency, or an empty
        window (no customer has a transaction in it).

    References
    ----------
    Hughes, A. M. (1994). Strategic Database Marketing. Probus. (RFM quintile scoring.)
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: using iso-value curves
    for customer base analysis. Journal of Marketing Research 42(4), 415-430.
    """
    require_columns(features, RFM_INPUTS, why="RFM")
    # the columns scored, not every column: the active customers' copy of a whole feature table is ~4 GB at 10M
    df = features[[c for c in dict.fromkeys([*RFM_INPUTS, "customer_type", "is_active"]) if c in features.columns]]
    if active_only and "is_active" in df:
        df = df.loc[df["is_active"].fillna(False).astype(bool)]
    require_rows(df, "no active customers to score")
    unique_ids(df)
    for col in ("frequency", "recency_days"):
        bad = (df[col] < 0).fillna(False).to_numpy()
        if bad.any():
            raise fail(col, "non-negative", df, bad)
    if not (df["frequency"].fillna(0) > 0).any():
        raise DataContractError(
            f"features.frequency: rule 'at least one transaction in the window' is broken: all {len(df):,} "
            "customers have frequency 0, so the RFM window is empty; check window_days and the transactions "
            "table's date range")
    cells = segment_map if segment_map is not None else S.load_rfm_map(bins=bins)
    if int(cells["r_score"].max()) != bins:
        raise DataContractError(f"rfm segment map is for {int(cells['r_score'].max())} bins, scores use {bins}")
    cols = ["customer_id"] + (["customer_type"] if "customer_type" in df else []) + \
        ["recency_days", "frequency", "monetary"]
    out = df[cols].reset_index(drop=True).copy()
    groups = [np.arange(len(out))] if by is None else \
        [np.flatnonzero((out[by] == g).to_numpy()) for g in pd.unique(out[by])]
    for name in ("r_score", "f_score", "m_score"):
        out[name] = 0
    for idx in groups:
        part = out.iloc[idx]
        out.loc[idx, "r_score"] = quantile_score(part["recency_days"], bins, higher_is_better=False)
        out.loc[idx, "f_score"] = quantile_score(part["frequency"], bins)
        out.loc[idx, "m_score"] = quantile_score(part["monetary"], bins)
    for name in ("r_score", "f_score", "m_score"):
        out[name] = out[name].astype("int64")
    out["rfm_cell"] = out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
    seg = cells.set_index(["r_score", "f_score"])["segment"]
    out["segment"] = seg.reindex(pd.MultiIndex.from_arrays([out["r_score"], out["f_score"]])).to_numpy()
    logger.info("RFM: %d customers scored in %d group(s)", len(out), len(groups))
    return out.sort_values("customer_id").reset_index(drop=True)


def segment_order(segment_map: pd.DataFrame | None = None) -> list[str]:
    """Segment names in display order (best first)."""
    cells = segment_map if segment_map is not None else S.load_rfm_map()
    return list(cells.sort_values("order")["segment"].drop_duplicates())


def rfm_summary(rfm: pd.DataFrame, segment_map: pd.DataFrame | None = None) -> pd.DataFrame:
    """Size and value of each RFM segment per customer type.

    Returns
    -------
    DataFrame
        ``customer_type``, ``segment``, ``customers``, ``share`` (of the type's customers,
        0-1), ``monetary`` (window transaction value, currency), ``value_share`` (of the
        type's window value, 0-1), ``median_recency_days``, ``median_frequency``; segments
        in map order, empty ones dropped.
    """
    require_columns(rfm, ["customer_type", "segment", "monetary", "recency_days", "frequency"], table="rfm")
    order = segment_order(segment_map)
    g = rfm.groupby(["customer_type", "segment"]).agg(
        customers=("segment", "size"), monetary=("monetary", "sum"),
        median_recency_days=("recency_days", "median"), median_frequency=("frequency", "median")).reset_index()
    tot = g.groupby("customer_type")[["customers", "monetary"]].transform("sum")
    g["share"] = g["customers"] / tot["customers"]
    g["value_share"] = np.where(tot["monetary"] > 0, g["monetary"] / tot["monetary"].where(tot["monetary"] > 0), np.nan)
    g["segment"] = pd.Categorical(g["segment"], categories=order, ordered=True)
    g["_corporate_last"] = g["customer_type"] != "individual"
    g = g.sort_values(["_corporate_last", "customer_type", "segment"])
    g["segment"] = g["segment"].astype(str)
    return g[["customer_type", "segment", "customers", "share", "monetary", "value_share",
              "median_recency_days", "median_frequency"]].reset_index(drop=True)


def rfm_grid(rfm: pd.DataFrame, customer_type: str | None = None) -> pd.DataFrame:
    """The R x F grid: customers and value share per cell (for the RFM heatmap).

    Returns
    -------
    DataFrame
        ``r_score``, ``f_score``, ``segment``, ``customers``, ``share`` (0-1),
        ``value_share`` (0-1 of window value), for one customer type or everyone.
    """
    require_columns(rfm, ["r_score", "f_score", "segment", "monetary"], table="rfm")
    d = rfm if customer_type is None else rfm[rfm["customer_type"] == customer_type]
    if not len(d):
        raise DataContractError(f"rfm: no customers of type {customer_type!r}")
    g = d.groupby(["r_score", "f_score"]).agg(segment=("segment", "first"), customers=("segment", "size"),
                                              monetary=("monetary", "sum")).reset_index()
    g["share"] = g["customers"] / g["customers"].sum()
    total = g["monetary"].sum()
    g["value_share"] = g["monetary"] / total if total > 0 else np.nan
    return g[["r_score", "f_score", "segment", "customers", "share", "value_share"]]
