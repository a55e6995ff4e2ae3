"""Discrimination and calibration of churn predictions on right-censored outcomes, vectorised.

All functions take ``time`` (years since the prediction was made), ``event`` (0/1 churn)
and a risk score or predicted churn probability, one per customer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def _later_counts(v: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each i: sum of ``w_j`` over j > i with v_j < v_i, and with v_j <= v_i (``w`` = 1 by default).

    Bottom-up merge sort: at each level the right half-runs are already sorted, so one
    vectorised ``searchsorted`` on their cumulative weights covers every pair split at that
    level; a stable argsort of two sorted runs (timsort) merges them. O(n log n), no Python
    loop over rows. ``v`` holds non-negative integers (ranks).
    """
    n = len(v)
    lt = np.zeros(n)
    le = np.zeros(n)
    if n < 2:
        return lt, le
    big = np.int64(v.max() + 1)
    vals, idx, pos = v.astype(np.int64).copy(), np.arange(n), np.arange(n)
    wts = np.ones(n) if w is None else np.asarray(w, float).copy()
    s = 1
    while s < n:
        blk = pos // s
        left = (blk & 1) == 0
        pair = (blk >> 1).astype(np.int64)
        rk = pair[~left] * big + vals[~left]
        cw = np.r_[0.0, np.cumsum(wts[~left])]
        pl = pair[left] * big
        q = pl + vals[left]
        base = cw[np.searchsorted(rk, pl, "left")]
        il = idx[left]
        lt[il] += cw[np.searchsorted(rk, q, "left")] - base
        le[il] += cw[np.searchsorted(rk, q, "right")] - base
        o = np.argsort(pair * big + vals, kind="stable")
        vals, idx, wts = vals[o], idx[o], wts[o]
        s *= 2
    return lt, le


def concordance(time, event, risk, influence: bool = False):
    """Harrell's C: the share of comparable pairs in which the customer with the higher risk churned first.

    A pair is comparable when the earlier time is a churn (a censored time tied with a
    churn counts as later; two churns at the same time are not comparable); tied risks
    count one half. Equal to ``lifelines.utils.concordance_index(time, -risk, event)``.

    Parameters
    ----------
    influence : bool
        Also return each customer's influence dC/dw_i, whose sum of squares is the
        infinitesimal-jackknife variance of C (as R ``survival::concordance``).

    Returns
    -------
    float, or (float, ndarray)

    References
    ----------
    Harrell, F.E. et al. (1982). Evaluating the yield of medical tests. *JAMA* 247, 2543-2546.
    Therneau, T. & Watson, E. (2017). The concordance statistic and the Cox model. Mayo Clinic
    technical report 85 (infinitesimal jackknife variance).
    """
    T = np.asarray(time, float)
    E = np.asarray(event).astype(bool)
    r = np.asarray(risk, float)
    n = len(T)
    order = np.lexsort((~E, T))                       # time ascending; churns before censorings at a tie
    T, E, r = T[order], E[order], r[order]
    rr = np.unique(r, return_inverse=True)[1].astype(np.int64)
    gid = np.cumsum(np.r_[True, (T[1:] != T[:-1]) | (E[1:] != E[:-1])]) - 1
    gsize = np.bincount(gid)
    ties = bool((E & (gsize[gid] > 1)).any())         # churn-churn ties: pairs to exclude
    zero = (np.zeros(n), np.zeros(n))

    def _counts(v, g, w=None):                        # all pairs, and pairs within the same tie group
        a = _later_counts(v, w)
        if not ties:
            return a, zero
        key = np.unique(g * (v.max() + 1) + v, return_inverse=True)[1].astype(np.int64)
        return a, _later_counts(key, w)

    (lt, le), (lt_w, le_w) = _counts(rr, gid)
    later_w = np.cumsum(gsize)[gid] - 1 - np.arange(n)
    comp1 = np.where(E, (n - 1 - np.arange(n)) - later_w, 0)
    conc1 = np.where(E, (lt - lt_w) + 0.5 * ((le - lt) - (le_w - lt_w)), 0.0)
    Q = comp1.sum()
    if Q == 0:
        raise ValueError("concordance: no comparable pair (no churn before another customer's exit)")
    C = conc1.sum() / Q
    if not influence:
        return float(C)
    # second role: j is the later member of a pair with an earlier churner i (concordant if r_i > r_j)
    rev = slice(None, None, -1)
    (lt2, le2), (lt2w, le2w) = _counts((rr.max() - rr)[rev], (gid.max() - gid)[rev], E[rev].astype(float))
    lt2, le2, lt2w, le2w = lt2[rev], le2[rev], lt2w[rev], le2w[rev]
    c = np.cumsum(E)
    first = np.r_[0, np.flatnonzero(np.diff(gid)) + 1][gid]
    ev_before_w = c - E - np.where(first > 0, c[np.maximum(first - 1, 0)], 0)
    comp2 = (c - E) - ev_before_w
    conc2 = (lt2 - lt2w) + 0.5 * ((le2 - lt2) - (le2w - lt2w))
    infl = np.empty(n)
    infl[order] = ((conc1 + conc2) - C * (comp1 + comp2)) / Q
    return float(C), infl


def km_steps(time, event) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival at each distinct event time (no delayed entry): (times, S)."""
    T = np.asarray(time, float)
    E = np.asarray(event).astype(bool)
    times, inv = np.unique(T, return_inverse=True)
    d = np.bincount(inv, weights=E, minlength=len(times))
    at_risk = len(T) - np.r_[0, np.cumsum(np.bincount(inv, minlength=len(times)))[:-1]]
    keep = d > 0
    S = np.cumprod(1 - d[keep] / at_risk[keep])
    return times[keep], S


def _step_at(times, S, t, left: bool = False):
    if len(times) == 0:
        return np.ones(np.shape(t))
    i = np.searchsorted(times, np.asarray(t, float), side="left" if left else "right") - 1
    return np.where(i >= 0, S[np.clip(i, 0, None)], 1.0)


def censoring_survival(time, event):
    """Kaplan-Meier of the censoring time, G; returns a function ``G(t, left=False)``."""
    times, S = km_steps(time, 1 - np.asarray(event).astype(int))
    return lambda t, left=False: _step_at(times, S, t, left)


def _cases_controls(time, event, p, t, G):
    """Arrays, the censoring survival G, and the cases (churned by ``t``) and controls at ``t``."""
    T = np.asarray(time, float)
    E = np.asarray(event).astype(bool)
    G = G or censoring_survival(T, E)
    case = (T <= t) & E
    ctrl = ~case & (T >= t)            # still a customer at t (censored exactly at t included)
    return T, np.asarray(p, float), G, case, ctrl


def td_auc(time, event, p, t, G=None) -> float:
    """Cumulative/dynamic AUC at horizon ``t`` with inverse-probability-of-censoring weights.

    Cases churned by ``t`` (weight 1 / G(T-)), controls still customers after ``t``; the AUC
    is the weighted share of case-control pairs in which the case has the higher ``p``.

    References
    ----------
    Uno, H. et al. (2007). Evaluating prediction rules for t-year survivors with censored
    regression models. *JASA* 102, 527-537. Hung, H. & Chiang, C.T. (2010). *Scand. J. Stat.* 37, 2010.
    """
    T, p, G, case, ctrl = _cases_controls(time, event, p, t, G)
    if not case.any() or not ctrl.any():
        return float("nan")
    w = 1 / np.clip(G(T[case], left=True), 1e-12, None)
    c = np.sort(p[ctrl])
    lo = np.searchsorted(c, p[case], "left")
    hi = np.searchsorted(c, p[case], "right")
    return float((w * (lo + 0.5 * (hi - lo))).sum() / (w.sum() * ctrl.sum()))


def brier(time, event, p, t, G=None) -> float:
    """IPCW Brier score at ``t`` of predicted churn probabilities ``p`` (0 best, 0.25 a coin).

    References
    ----------
    Graf, E. et al. (1999). Assessment and comparison of prognostic classification schemes for
    survival data. *Statistics in Medicine* 18, 2529-2545.
    """
    T, p, G, case, ctrl = _cases_controls(time, event, p, t, G)
    s = np.zeros(len(T))
    s[case] = (1 - p[case]) ** 2 / np.clip(G(T[case], left=True), 1e-12, None)
    # a customer is seen to survive t when not censored before t: weight 1 / G(t-)
    s[ctrl] = p[ctrl] ** 2 / max(float(G(t, left=True)), 1e-12)
    return float(s.mean())


def brier_curve(time, event, P: np.ndarray, grid, G=None) -> np.ndarray:
    """IPCW Brier score at every ``grid`` time at once; ``P[:, k]`` predicts churn by ``grid[k]``."""
    T = np.asarray(time, float)
    E = np.asarray(event).astype(bool)
    g = np.asarray(grid, float)
    G = G or censoring_survival(T, E)
    case = (T[:, None] <= g[None, :]) & E[:, None]
    ctrl = ~case & (T[:, None] >= g[None, :])
    wc = 1 / np.clip(G(T, left=True), 1e-12, None)
    wt = 1 / np.clip(G(g, left=True), 1e-12, None)
    s = np.where(case, (1 - P) ** 2 * wc[:, None], 0.0) + np.where(ctrl, P ** 2 * wt[None, :], 0.0)
    return s.mean(axis=0)


def integrated_brier(time, event, P: np.ndarray, grid, G=None) -> float:
    """Brier score averaged over ``grid`` (trapezoid rule); ``P[:, k]`` predicts churn by ``grid[k]``."""
    b = brier_curve(time, event, P, grid, G)
    g = np.asarray(grid, float)
    if len(g) == 1:
        return float(b[0])
    return float(np.trapezoid(b, g) / (g[-1] - g[0]))


def observed_churn(time, event, t, alpha: float = 0.05) -> tuple[float, float, float]:
    """1 - Kaplan-Meier at ``t`` with its log-log (exponential Greenwood) CI: observed churn by ``t`` (0-1).

    The interval is lifelines' default for ``KaplanMeierFitter`` (Kalbfleisch & Prentice 2002, 1.4).
    """
    T = np.asarray(time, float)
    E = np.asarray(event).astype(bool)
    if len(T) == 0:
        return float("nan"), float("nan"), float("nan")
    times, inv = np.unique(T, return_inverse=True)
    d = np.bincount(inv, weights=E, minlength=len(times))
    n = len(T) - np.r_[0, np.cumsum(np.bincount(inv, minlength=len(times)))[:-1]]
    m = (times <= t) & (d > 0)
    d, n = d[m], n[m]
    S = float(np.prod(1 - d / n))
    if S <= 0 or S >= 1:
        return 1 - S, 1 - S, 1 - S
    with np.errstate(divide="ignore", invalid="ignore"):
        v = float(np.sum(d / (n * (n - d))))
    z = stats.norm.ppf(1 - alpha / 2)
    se = np.sqrt(v) / abs(np.log(S))
    lo, hi = S ** np.exp(z * se), S ** np.exp(-z * se)
    return 1 - S, float(1 - hi), float(1 - lo)


def calibration_table(time, event, p, t, bins: int = 10, alpha: float = 0.05) -> pd.DataFrame:
    """Predicted against observed churn by ``t`` in groups of predicted probability (deciles).

    Returns
    -------
    DataFrame with ``bin`` (1 = lowest predicted), ``n``, ``predicted`` (mean predicted
    probability, 0-1), ``observed`` (1 - Kaplan-Meier at ``t`` in the bin) with ``lower`` /
    ``upper`` (log-log CI), ``events`` (churns by ``t``).
    """
    T = np.asarray(time, float)
    E = np.asarray(event).astype(int)
    p = np.asarray(p, float)
    ranks = pd.Series(p).rank(method="first").to_numpy()
    b = np.ceil(ranks * bins / len(p)).astype(int).clip(1, bins)
    rows = []
    for k in range(1, bins + 1):
        m = b == k
        if not m.any():
            continue
        o, lo, hi = observed_churn(T[m], E[m], t, alpha)
        rows.append({"bin": k, "n": int(m.sum()), "predicted": float(p[m].mean()), "observed": o, "lower": lo,
                     "upper": hi, "events": int(((T[m] <= t) & (E[m] == 1)).sum())})
    return pd.DataFrame(rows)


def precision_at(time, event, p, t, top_share: float, alpha: float = 0.05) -> dict:
    """How a list of the ``top_share`` highest predicted customers would have done by ``t``.

    Returns
    -------
    dict with ``top_share``, ``n_flagged``, ``precision`` (observed churn by ``t`` among the
    flagged: 1 - Kaplan-Meier, log-log CI ``precision_lower``/``_upper``), ``base_rate`` (same
    among everyone), ``lift`` (precision / base rate), ``recall`` (share of all churns by ``t``
    that were on the list).
    """
    T = np.asarray(time, float)
    E = np.asarray(event).astype(int)
    p = np.asarray(p, float)
    k = max(1, int(np.ceil(top_share * len(p))))
    flag = np.zeros(len(p), bool)
    flag[np.argsort(-p, kind="stable")[:k]] = True
    prec, lo, hi = observed_churn(T[flag], E[flag], t, alpha)
    base, _, _ = observed_churn(T, E, t, alpha)
    churned = (T <= t) & (E == 1)
    return {"top_share": top_share, "n_flagged": k, "precision": prec, "precision_lower": lo, "precision_upper": hi,
            "base_rate": base, "lift": prec / base if base > 0 else float("nan"),
            "recall": float(churned[flag].sum() / churned.sum()) if churned.any() else float("nan")}


def gains_table(time, event, p, t, bins: int = 20) -> pd.DataFrame:
    """Cumulative gains and lift by predicted-risk band (highest first).

    Returns
    -------
    DataFrame with ``band``, ``share_targeted`` (cumulative share of customers, 0-1),
    ``share_of_churners`` (cumulative share of the churns by ``t`` captured), ``churn_rate``
    (churns by ``t`` / customers in the band), ``predicted`` (mean in the band), ``lift``
    (band churn rate / overall rate).
    """
    T = np.asarray(time, float)
    E = np.asarray(event).astype(int)
    p = np.asarray(p, float)
    o = np.argsort(-p, kind="stable")
    churned = ((T <= t) & (E == 1))[o]
    band = np.minimum((np.arange(len(p)) * bins) // len(p), bins - 1)
    n = np.bincount(band, minlength=bins)
    c = np.bincount(band, weights=churned, minlength=bins)
    pr = np.bincount(band, weights=p[o], minlength=bins)
    overall = churned.mean()
    return pd.DataFrame({"band": np.arange(1, bins + 1), "share_targeted": np.cumsum(n) / len(p),
                         "share_of_churners": np.cumsum(c) / max(c.sum(), 1), "churn_rate": c / np.maximum(n, 1),
                         "predicted": pr / np.maximum(n, 1),
                         "lift": (c / np.maximum(n, 1)) / overall if overall > 0 else np.nan})
