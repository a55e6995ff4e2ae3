"""Migration between two as-of dates: transition matrices, up- and down-tiering, AUM moved.

A *pair* is one customer seen at the start date, the end date or both. Customers only at
the end are ``new`` (onboarded in between); customers at the start but not active at the
end are ``closed``. Shares and rates get bootstrap confidence intervals: resampling the
customers with replacement makes the cell counts multinomial with the observed cell
proportions, so the bootstrap is drawn exactly and cheaply as multinomial counts
(Efron & Tibshirani 1993, ch. 6). Where every draw is the same (a count of 0, or all of a
row), the bootstrap interval collapses to a point; there the Wilson score interval is
reported instead (Brown, Cai & DasGupta 2001), which for 0 of n reaches about 3.8/n.

References
----------
Efron, B. & Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman & Hall.
Brown, L. D., Cai, T. T. & DasGupta, A. (2001). Interval estimation for a binomial proportion.
Statistical Science 16(2), 101-133. doi:10.1214/ss/1009213286
Jarrow, R. A., Lando, D. & Turnbull, S. M. (1997). A Markov model for the term structure of
credit risk spreads. Review of Financial Studies 10(2), 481-523 (cohort transition matrices).
"""

from __future__ import annotations

import logging

import warnings

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from crm_lib.data.store import shared_text
from crm_lib.errors import DataContractError
from crm_lib.segmentation._validate import require_columns, unique_ids

logger = logging.getLogger(__name__)

NEW, CLOSED = "new", "closed"
DIRECTIONS = ("up", "same", "down", "closed")


def migration_pairs(start: pd.DataFrame, end: pd.DataFrame, state: str = "tier", rank: str | None = "tier_rank",
                    value: str | None = "aum_avg") -> pd.DataFrame:
    """Join the segment of each customer at two dates.

    Parameters
    ----------
    start, end : DataFrame
        ``customer_id``, ``customer_type``, the ``state`` column, and optionally ``rank``
        (order of states within a customer type, higher is better: ``tier_rank`` of
        ``value_tiers``) and ``value`` (e.g. ``aum_avg``, currency). Customers missing from
        ``end`` (not active there) count as closed.
    state, rank, value : str
        Column names; ``rank`` and ``value`` may be None.

    Returns
    -------
    DataFrame
        ``customer_id``, ``customer_type``, ``from_state`` ('new' when not at the start),
        ``to_state`` ('closed' when not at the end), ``direction`` ('up', 'down', 'same',
        'closed', 'new'; 'moved' for a change of state without ``rank``), ``value_start``,
        ``value_end`` (0 where absent).

    Raises
    ------
    DataContractError
        Missing columns or duplicate customers in either frame.
    """
    cols = ["customer_id", "customer_type", state] + ([rank] if rank else []) + ([value] if value else [])
    for name, df in (("start", start), ("end", end)):
        require_columns(df, cols, table=f"migration {name}")
        unique_ids(df, table=f"migration {name}")
    a = start[cols].rename(columns={state: "from_state", rank or "_": "from_rank", value or "_v": "value_start"})
    b = end[cols].rename(columns={state: "to_state", rank or "_": "to_rank", value or "_v": "value_end",
                                  "customer_type": "type_end"})
    p = a.merge(b, on="customer_id", how="outer")
    p["customer_type"] = p["customer_type"].fillna(p["type_end"])
    p["from_state"] = p["from_state"].fillna(NEW)
    p["to_state"] = p["to_state"].fillna(CLOSED)
    for c in ("value_start", "value_end"):
        p[c] = p[c].astype(float).fillna(0.0) if c in p else 0.0
    changed = p["from_state"] != p["to_state"]
    # each label one shared object, not one Python string per customer (~0.6 GB a column at 10M)
    up_, down_, moved_, same_, new_, closed_ = (shared_text(t) for t in ("up", "down", "moved", "same", NEW, CLOSED))
    if rank:
        up = p["to_rank"] > p["from_rank"]
        down = p["to_rank"] < p["from_rank"]
        direction = np.select([up, down], [up_, down_], np.where(changed, moved_, same_))
    else:
        direction = np.where(changed, moved_, same_)
    direction = np.where(p["from_state"] == NEW, new_, np.where(p["to_state"] == CLOSED, closed_, direction))
    p["direction"] = direction
    moved_type = p["type_end"].notna() & (p["type_end"] != p["customer_type"])
    if moved_type.any():
        logger.warning("%d customer(s) changed customer type between the dates: counted as 'moved'",
                       int(moved_type.sum()))
        p.loc[moved_type, "direction"] = "moved"
    out = p[["customer_id", "customer_type", "from_state", "to_state", "direction", "value_start", "value_end"]]
    return out.sort_values("customer_id").reset_index(drop=True)


def _percentiles(draws: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN columns: rows empty in every draw
        lo = np.nanpercentile(draws, 100 * alpha / 2, axis=0)
        hi = np.nanpercentile(draws, 100 * (1 - alpha / 2), axis=0)
    return lo, hi


def _interval(count, total, lo, hi, alpha: float):
    """Bootstrap bounds, replaced by Wilson's where the count is 0 or the whole total."""
    count, total = np.asarray(count, dtype=float), np.asarray(total, dtype=float)
    edge = (total > 0) & ((count == 0) | (count == total))
    if edge.any():
        wl, wh = proportion_confint(count[edge], total[edge], alpha=alpha, method="wilson")
        lo, hi = np.array(lo, dtype=float, copy=True), np.array(hi, dtype=float, copy=True)
        lo[edge], hi[edge] = wl, wh
    return lo, hi


def transition_matrix(pairs: pd.DataFrame, order: list[str] | None = None, alpha: float = 0.05,
                      n_boot: int = 2000, seed: int = 0, include_new: bool = True) -> pd.DataFrame:
    """Transition counts and row shares with bootstrap CIs, in long form.

    Parameters
    ----------
    pairs : DataFrame
        From ``migration_pairs`` (one customer type, or states that do not overlap).
    order : list of str, optional
        State order (rows and columns); default sorted states. ``new`` is the last row and
        ``closed`` the last column.
    alpha : float
        1 - confidence level of the percentile intervals.
    n_boot : int
        Bootstrap draws.
    seed : int
    include_new : bool
        Include the ``new`` row (where newly onboarded customers landed).

    Returns
    -------
    DataFrame
        ``from_state``, ``to_state``, ``count``, ``row_total`` (customers in the from
        state), ``row_share`` (count / row_total, 0-1), ``ci_lower``, ``ci_upper``
        (percentile bootstrap, 1 - alpha; Wilson where the count is 0 or the whole row),
        ``value_start``, ``value_end`` (sums, currency).
        Every row x column combination is listed, zero counts included.
    """
    require_columns(pairs, ["from_state", "to_state", "value_start", "value_end"], table="migration pairs")
    states = order or sorted(set(pairs["from_state"]) | set(pairs["to_state"]) - {NEW, CLOSED})
    rows = list(states) + ([NEW] if include_new else [])
    cols = [s for s in states] + [CLOSED]
    p = pairs if include_new else pairs[pairs["from_state"] != NEW]
    unknown = set(p["from_state"]) - set(rows) | (set(p["to_state"]) - set(cols))
    if unknown:
        raise DataContractError(f"migration pairs: state(s) {sorted(unknown)} are not in the order {rows}")
    if not len(p):
        raise DataContractError("migration pairs: no customers at either date")
    ri = pd.Categorical(p["from_state"], categories=rows).codes
    ci = pd.Categorical(p["to_state"], categories=cols).codes
    cell = ri * len(cols) + ci
    ncell = len(rows) * len(cols)
    counts = np.bincount(cell, minlength=ncell).astype(np.int64)
    vs = np.bincount(cell, weights=p["value_start"].to_numpy(float), minlength=ncell)
    ve = np.bincount(cell, weights=p["value_end"].to_numpy(float), minlength=ncell)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(counts.sum(), counts / counts.sum(), size=n_boot).reshape(n_boot, len(rows), len(cols))
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = draws / draws.sum(axis=2, keepdims=True)
    lo, hi = _percentiles(shares.reshape(n_boot, -1), alpha)
    c2 = counts.reshape(len(rows), len(cols))
    tot = c2.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(tot > 0, c2 / np.where(tot > 0, tot, 1), np.nan)
    lo, hi = _interval(counts, np.repeat(tot.ravel(), len(cols)), lo, hi, alpha)
    out = pd.DataFrame({"from_state": np.repeat(rows, len(cols)), "to_state": np.tile(cols, len(rows)),
                        "count": counts, "row_total": np.repeat(tot.ravel(), len(cols)),
                        "row_share": share.ravel(), "ci_lower": lo, "ci_upper": hi,
                        "value_start": vs, "value_end": ve})
    empty = out["row_total"] == 0
    out.loc[empty, ["ci_lower", "ci_upper"]] = np.nan
    return out


def migration_rates(pairs: pd.DataFrame, alpha: float = 0.05, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Up-, down-tiering and closure rates of the start-date customers, with bootstrap CIs.

    Returns
    -------
    DataFrame indexed by ``customer_type`` (plus ``all``): ``n_start`` (customers at the
    start), ``up``, ``same``, ``down``, ``closed`` (customers), ``up_rate``, ``down_rate``,
    ``net_up_rate`` (up_rate - down_rate), ``closed_rate`` (proportions of ``n_start``)
    each with ``_lower``/``_upper`` (percentile bootstrap, 1 - alpha; Wilson for a count of 0
    or of everyone; for the net rate without any movement, minus the down bound to the up
    bound), ``aum_moved_up``,
    ``aum_moved_down`` (average AUM at the end date of customers who moved up / down,
    currency), ``aum_closed`` (average AUM at the start of customers who closed),
    ``new`` (customers onboarded in between).

    Raises
    ------
    DataContractError
        No customer at the start date.
    """
    require_columns(pairs, ["customer_type", "direction", "value_start", "value_end"], table="migration pairs")
    rng = np.random.default_rng(seed)
    rows = {}
    groups = [(t, pairs[pairs["customer_type"] == t]) for t in sorted(pairs["customer_type"].dropna().unique(),
                                                                      key=lambda t: (t != "individual", t))]
    groups.append(("all", pairs))
    for name, g in groups:
        s = g[g["direction"] != NEW]
        if not len(s):
            if name == "all":
                raise DataContractError("migration pairs: no customer at the start date: nothing can migrate")
            continue
        d = s["direction"].where(s["direction"].isin(DIRECTIONS), "same")  # 'moved' (type change) counts as same
        counts = d.value_counts().reindex(list(DIRECTIONS), fill_value=0).to_numpy()
        n = int(counts.sum())
        draws = rng.multinomial(n, counts / n, size=n_boot) / n
        r = {"n_start": n, **{k: int(v) for k, v in zip(DIRECTIONS, counts)}}
        est = counts / n
        q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
        lo, hi = _interval(counts, np.full(len(counts), n), *np.percentile(draws, q, axis=0), alpha)
        for i, k in enumerate(DIRECTIONS):
            key = "closed_rate" if k == "closed" else f"{k}_rate"
            if k == "same":
                continue
            r[key] = est[i]
            r[f"{key}_lower"], r[f"{key}_upper"] = lo[i], hi[i]
        r["net_up_rate"] = est[0] - est[2]
        if counts[0] == 0 and counts[2] == 0:   # no movement: the bootstrap collapses; use the Wilson bounds
            r["net_up_rate_lower"], r["net_up_rate_upper"] = -hi[2], hi[0]
        else:
            r["net_up_rate_lower"], r["net_up_rate_upper"] = np.percentile(draws[:, 0] - draws[:, 2], q)
        r["aum_moved_up"] = float(s.loc[s["direction"] == "up", "value_end"].sum())
        r["aum_moved_down"] = float(s.loc[s["direction"] == "down", "value_end"].sum())
        r["aum_closed"] = float(s.loc[s["direction"] == "closed", "value_start"].sum())
        r["new"] = int((g["direction"] == NEW).sum())
        rows[name] = r
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "customer_type"
    return out
