"""Discrimination and calibration of churn predictions on right-censored outcomes, vectorised.

All functions take ``time`` (years since the prediction was made), ``event`` (0/1 churn)
and a risk score or predicted churn probability, one per customer.

Conventions of the inverse-probability-of-censoring-weighted (IPCW) metrics, shared by
``td_auc``, ``brier``, ``brier_curve``, ``integrated_brier`` and ``uno_c``:

- **Censoring survival** G is the Kaplan-Meier estimate of the censoring time on the data
  given (in validation: the test window), with the standard tie order: at a time where
  churns and censorings are tied, the churns happen first, so the censoring hazard there
  is c / (n - d) (c censorings, d churns, n at risk). One implementation, ``CensoringKM``,
  also serves the weighted bootstrap of ``crm_lib.churn.validation``. Equal to
  scikit-survival's ``CensoringDistributionEstimator`` (tested).
- **Cases** at horizon t churned at T <= t and weigh 1 / G(T-), the chance of not being
  censored before churning (Gerds & Schumacher 2006; R ``pec``, ``riskRegression``, ``timeROC``).
- **Controls** at t are still customers at t: T > t, or censored exactly at t (they were
  seen to survive to t). They weigh 1 / G(t-). scikit-survival instead drops a customer
  censored exactly at t and weighs controls 1 / G(t); on continuous times the two agree
  exactly, on tied times (whole days, months) evaluated at a tied horizon they differ.
- Times and horizons are compared exactly, so compute both with the same arithmetic (the
  validation converts whole days to years by one division for both).
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


def _concordance(T, E, r, vs=(None,), influence: bool = False) -> list:
    """Concordance for each pair-weight vector in ``vs``: weight ``v_i`` of the earlier churner i (``None``: 1, Harrell).

    C = sum_i v_i conc_i / sum_i v_i comp_i, where comp_i counts the customers comparable with
    churner i (later, or censored at the same time) and conc_i those of them with a lower risk
    (ties one half). With ``influence`` also dC/dw_k at w = 1 for case weights w_k (the weights
    ``v`` held fixed). The pair counts (the costly part) are shared by every ``v``; one list
    entry per ``v``.
    """
    T = np.asarray(T, float)
    E = np.asarray(E).astype(bool)
    r = np.asarray(r, float)
    n = len(T)
    order = np.lexsort((~E, T))                       # time ascending; churns before censorings at a tie
    T, E, r = T[order], E[order], r[order]
    rr = np.unique(r, return_inverse=True)[1].astype(np.int64)
    gid = np.cumsum(np.r_[True, (T[1:] != T[:-1]) | (E[1:] != E[:-1])]) - 1
    gsize = np.bincount(gid)
    ties = bool((E & (gsize[gid] > 1)).any())         # churn-churn ties: pairs to exclude
    zero = (np.zeros(n), np.zeros(n))

    def _counts(x, g, w=None):                        # all pairs, and pairs within the same tie group
        a = _later_counts(x, w)
        if not ties:
            return a, zero
        key = np.unique(g * (x.max() + 1) + x, return_inverse=True)[1].astype(np.int64)
        return a, _later_counts(key, w)

    (lt, le), (lt_w, le_w) = _counts(rr, gid)
    later_w = np.cumsum(gsize)[gid] - 1 - np.arange(n)
    comp1 = np.where(E, (n - 1 - np.arange(n)) - later_w, 0)
    conc1 = np.where(E, (lt - lt_w) + 0.5 * ((le - lt) - (le_w - lt_w)), 0.0)
    if not (comp1 > 0).any():
        raise ValueError("concordance: no comparable pair (no churn before another customer's exit)")
    first = np.r_[0, np.flatnonzero(np.diff(gid)) + 1][gid]
    rev = slice(None, None, -1)
    out = []
    for v in vs:
        ev = E.astype(float) if v is None else np.where(E, np.asarray(v, float)[order], 0.0)
        Q = float((ev * comp1).sum())
        if Q <= 0:
            raise ValueError("concordance: every comparable pair has weight 0 (no churn before the truncation time)")
        C = float((ev * conc1).sum() / Q)
        if not influence:
            out.append(C)
            continue
        # second role: j is the later member of a pair with an earlier churner i (concordant if r_i > r_j)
        (lt2, le2), (lt2w, le2w) = _counts((rr.max() - rr)[rev], (gid.max() - gid)[rev], ev[rev])
        lt2, le2, lt2w, le2w = lt2[rev], le2[rev], lt2w[rev], le2w[rev]
        c = np.cumsum(ev)
        comp2 = np.where(first > 0, c[np.maximum(first - 1, 0)], 0.0)  # churner weight before k's tie group
        conc2 = (lt2 - lt2w) + 0.5 * ((le2 - lt2) - (le2w - lt2w))
        infl = np.empty(n)
        infl[order] = ((ev * conc1 + conc2) - C * (ev * comp1 + comp2)) / Q
        out.append((C, infl))
    return out


def concordance(time, event, risk, influence: bool = False):
    """Harrell's C: the share of comparable pairs in which the customer with the higher risk churned first.

    A pair is comparable when the earlier time is a churn (a censored time tied with a
    churn counts as later; two churns at the same time are not comparable); tied risks
    count one half. Equal to ``lifelines.utils.concordance_index(time, -risk, event)`` and
    to scikit-survival's ``concordance_index_censored``. Its expectation depends on the
    censoring pattern; ``uno_c`` does not.

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
    return _concordance(time, event, risk, (None,), influence)[0]


def uno_c(time, event, risk, tau: float | None = None, G=None, influence: bool = False):
    """Uno's C: concordance weighted by the inverse squared censoring survival, truncated at ``tau``.

    C_tau = sum_ij D_i G(T_i-)^-2 I(T_i < T_j, T_i < tau) [I(r_i > r_j) + I(r_i = r_j) / 2]
    / sum_ij D_i G(T_i-)^-2 I(T_i < T_j, T_i < tau): a consistent estimate of
    P(r_i > r_j | T_i < T_j, T_i < tau), which (unlike Harrell's C) does not depend on the
    censoring distribution. Comparable pairs and tied risks as in ``concordance``.

    Parameters
    ----------
    time, event, risk : array-like
        Follow-up time, churn indicator (0/1) and risk score (higher = churns sooner).
    tau : float, optional
        Truncation time: only churns strictly before ``tau`` start a pair (default: all). Choose
        it where the censoring survival is still well above 0 (e.g. the longest horizon).
    G : callable, optional
        Censoring survival ``G(t, left=False)``; default ``censoring_survival(time, event)``
        (churns before censorings at tied times, so G(T_i-) is the chance of still being
        observed when churner i leaves).
    influence : bool
        Also return dC/dw_i (the censoring weights held fixed); the square root of its sum
        of squares is an infinitesimal-jackknife standard error that ignores the estimation
        of G.

    Returns
    -------
    float, or (float, ndarray)

    Raises
    ------
    ValueError
        When no churn before ``tau`` is followed by another customer's exit.

    Notes
    -----
    Equal to scikit-survival's ``concordance_index_ipcw(y, y, risk, tau)`` (G estimated on the
    same data) on continuous times; with censorings tied with churns scikit-survival weighs
    by 1 / G(T_i)^2 (censorings at T_i counted before the churn), which the tie order here avoids.

    References
    ----------
    Uno, H., Cai, T., Pencina, M.J., D'Agostino, R.B. & Wei, L.J. (2011). On the C-statistics
    for evaluating overall adequacy of risk prediction procedures with censored survival data.
    *Statistics in Medicine* 30, 1105-1117. doi:10.1002/sim.4154
    """
    return _concordance(time, event, risk, (_uno_weights(time, event, tau, G),), influence)[0]


def harrell_and_uno(time, event, risk, tau: float | None = None, G=None, influence: bool = False) -> tuple:
    """(``concordance(...)``, ``uno_c(...)``) sharing the pair counts (about 3/4 of the cost of both apart)."""
    return tuple(_concordance(time, event, risk, (None, _uno_weights(time, event, tau, G)), influence))


def _uno_weights(time, event, tau, G) -> np.ndarray:
    """1 / G(T_i-)^2 for churns before ``tau``, else 0."""
    T = np.asarray(time, float)
    E = np.asarray(event).astype(bool)
    G = G or censoring_survival(T, E)
    lim = np.inf if tau is None else float(tau)
    v = np.zeros(len(T))
    m = E & (T < lim)
    v[m] = 1 / np.clip(G(T[m], left=True), 1e-12, None) ** 2
    return v


def km_steps(time, event) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier churn survival at each distinct churn time (no delayed entry): (times, S).

    Customers censored at a churn time are still at risk there (churns first).
    """
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


class CensoringKM:
    """Kaplan-Meier of the censoring time, churns before censorings at a tied time, for any case weights.

    Built once per data set (the sort); ``survival(w)`` then costs a few ``bincount`` /
    ``cumsum`` passes, so the validation bootstrap recomputes G for each replicate's draw
    counts without sorting again.

    Parameters
    ----------
    time, event : array-like
        Follow-up time and churn indicator (0/1); event 0 is a censoring.

    Notes
    -----
    At a distinct time s with (weighted) c censorings, d churns and n customers at risk
    (time >= s), the censoring hazard is c / (n - d): churns tied with censorings leave
    first (Kalbfleisch & Prentice 2002, 1.3; scikit-survival ``kaplan_meier_estimator(...,
    reverse=True)``). Counting them in the censoring risk set (c / n) biases G upwards and
    IPCW Brier scores downwards on tied (e.g. monthly) times.
    """

    def __init__(self, time, event):
        T = np.asarray(time, float)
        self.times, self.inv = np.unique(T, return_inverse=True)
        self.event = np.asarray(event).astype(bool).astype(float)
        self.n = len(T)

    def survival(self, w=None) -> np.ndarray:
        """G at each of ``self.times`` (right-continuous), with case weights ``w`` (default 1)."""
        w = np.ones(self.n) if w is None else np.asarray(w, float)
        m = len(self.times)
        tot = np.bincount(self.inv, weights=w, minlength=m)
        d = np.bincount(self.inv, weights=w * self.event, minlength=m)
        c = tot - d
        after = np.r_[np.cumsum(tot[::-1])[::-1][1:], 0.0]       # weight with time > s
        den = c + after                                           # at risk at s once the churns at s left
        h = np.divide(c, den, out=np.zeros(m), where=den > 0)
        return np.cumprod(1 - h)

    def index(self, t, left: bool = False) -> np.ndarray:
        """Position in ``self.times`` of the step in force at ``t`` (at ``t-`` with ``left``); -1 before the first."""
        return np.searchsorted(self.times, np.asarray(t, float), side="left" if left else "right") - 1

    @staticmethod
    def at(S: np.ndarray, idx) -> np.ndarray:
        """``S`` read at positions from ``index`` (1 before the first time)."""
        idx = np.asarray(idx)
        if len(S) == 0:
            return np.ones(idx.shape)
        return np.where(idx >= 0, S[np.clip(idx, 0, None)], 1.0)


def censoring_survival(time, event, w=None):
    """Censoring survival G (``CensoringKM``, churns before censorings at ties); a function ``G(t, left=False)``.

    ``G(t)`` is P(censoring time > t); ``G(t, left=True)`` is G(t-) = P(censoring time >= t).
    """
    km = CensoringKM(time, event)
    S = km.survival(w)
    return lambda t, left=False: km.at(S, km.index(t, left))


def _cases_controls(time, event, p, t, G):
    """Arrays, the censoring survival G, and the cases (churned by ``t``) and controls at ``t``.

    Cases: churned at T <= t. Controls: T >= t and not a case (censored exactly at t is a control).
    """
    T = np.asarray(time, float)
    E = np.asarray(event).astype(bool)
    G = G or censoring_survival(T, E)
    case = (T <= t) & E
    ctrl = ~case & (T >= t)            # still a customer at t (censored exactly at t included)
    return T, np.asarray(p, float), G, case, ctrl


def td_auc(time, event, p, t, G=None) -> float:
    """Cumulative/dynamic AUC at horizon ``t`` with inverse-probability-of-censoring weights.

    Cases churned by ``t`` (T <= t, weight 1 / G(T-)); controls still customers at ``t``
    (T > t, or censored exactly at t; their common weight 1 / G(t-) cancels). The AUC is the
    weighted share of case-control pairs in which the case has the higher ``p`` (ties one
    half). ``G`` defaults to ``censoring_survival(time, event)`` (module docstring). Equal to
    scikit-survival's ``cumulative_dynamic_auc`` on continuous times (tested); at a horizon
    tied with censorings it keeps the customers censored at ``t`` as controls.

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

    Mean over all customers of (1 - p)^2 / G(T-) for the cases (churned at T <= t), p^2 / G(t-)
    for the controls (T > t, or censored exactly at t) and 0 for those censored before t.
    ``G`` defaults to ``censoring_survival(time, event)`` (churns before censorings at tied
    times). Equal to scikit-survival's ``brier_score`` on continuous times (tested).

    References
    ----------
    Graf, E. et al. (1999). Assessment and comparison of prognostic classification schemes for
    survival data. *Statistics in Medicine* 18, 2529-2545.
    Gerds, T.A. & Schumacher, M. (2006). Consistent estimation of the expected Brier score in
    general survival models with right-censored event times. *Biometrical Journal* 48, 1029-1040.
    """
    T, p, G, case, ctrl = _cases_controls(time, event, p, t, G)
    s = np.zeros(len(T))
    s[case] = (1 - p[case]) ** 2 / np.clip(G(T[case], left=True), 1e-12, None)
    # a customer is seen to survive t when not censored before t: weight 1 / G(t-)
    s[ctrl] = p[ctrl] ** 2 / max(float(G(t, left=True)), 1e-12)
    return float(s.mean())


def brier_curve(time, event, P: np.ndarray, grid, G=None) -> np.ndarray:
    """IPCW Brier score at every ``grid`` time at once; ``P[:, k]`` predicts churn by ``grid[k]`` (as ``brier``)."""
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
    """Brier score averaged over ``grid`` (trapezoid rule); ``P[:, k]`` predicts churn by ``grid[k]``.

    IBS = integral of ``brier_curve`` from grid[0] to grid[-1] / (grid[-1] - grid[0]); a
    one-point grid gives the Brier score there. Equal to scikit-survival's
    ``integrated_brier_score`` on continuous times (tested).
    """
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
