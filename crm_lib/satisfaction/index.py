"""The 0-100 satisfaction index: weighted attribute ratings, weights given or estimated.

``100 * sum_a w_a (mean rating_a - 1) / 4`` over the attribute ratings, weights summing to
1: 0 means every attribute rated 1, 100 every attribute rated 5, in the manner of the
American Customer Satisfaction Index (Fornell et al. 1996).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from crm_lib.errors import DataContractError, NotEstimable
from crm_lib.satisfaction import _stats
from crm_lib.satisfaction._checks import attribute_columns
from crm_lib.satisfaction.scores import _by_list, _full_index, _Groups, _moments, _prepare, _status

def index_weights(surveys: pd.DataFrame, outcome: str = "csat", attributes: Sequence[str] | None = None) -> pd.Series:
    """Attribute weights for the satisfaction index, estimated from the data.

    The weights are the OLS coefficients of ``outcome`` on the attribute ratings,
    negatives set to 0, normalised to sum to 1. When the outcome is any monotone function
    of a linear index of the ratings plus noise, these coefficients are proportional to
    the index's weights (Brillinger 1983; Li & Duan 1989), so normalising recovers them.

    Returns
    -------
    Series
        Indexed by attribute, non-negative, summing to 1.
    """
    attrs = list(attributes) if attributes is not None else attribute_columns(surveys)
    clean, _, _ = _prepare(surveys, None, None, [outcome, *attrs])
    z = clean[[outcome, *attrs]].dropna().to_numpy(dtype=float)
    if len(z) < len(attrs) + 2:
        raise NotEstimable(f"surveys: {len(z)} complete response(s) for {len(attrs)} attributes "
                           "(rule 'more complete responses than attributes + 1')",
                           f"estimating the index weights needs at least {len(attrs) + 2} responses with the outcome "
                           "and every attribute rated, or weights given as satisfaction_weights")
    vals, counts = _stats.patterns(z)
    return pd.Series(_weights_from_patterns(vals, counts), index=attrs, name="weight")


def _weights_from_patterns(vals: np.ndarray, counts: np.ndarray) -> np.ndarray:
    _, s = _stats.weighted_cov(vals, counts)
    sxx, sxy = s[1:, 1:], s[1:, 0]
    try:
        b = np.linalg.solve(sxx, sxy)
    except np.linalg.LinAlgError:
        b = np.linalg.lstsq(sxx, sxy, rcond=None)[0]
    b = np.clip(b, 0, None)
    total = b.sum()
    return b / total if total > 0 else np.full(len(b), np.nan)


def satisfaction_index(surveys: pd.DataFrame, weights: Mapping[str, float] | pd.Series | None = None,
                       by: str | Sequence[str] | None = None, outcome: str = "csat", alpha: float = 0.05,
                       min_n: int = 30, n_boot: int = 400, random_state: int | None = None,
                       scale: tuple[int, int] = (1, 5), categories: Mapping | None = None,
                       weights_from: pd.DataFrame | None = None) -> pd.DataFrame:
    """The 0-100 satisfaction index per group, with its interval.

    Parameters
    ----------
    surveys : DataFrame
        ``response_id``, the attribute ratings named in ``weights`` (or every ``attr_*``),
        ``outcome`` when weights are estimated, and the ``by`` columns.
    weights : mapping or Series, optional
        Attribute weights (normalised to sum 1). ``None``: estimated with
        ``index_weights`` and the interval is then a percentile bootstrap that
        re-estimates the weights in every replicate.
    scale : (low, high)
        Rating scale, mapped to 0 and 100.
    n_boot, random_state
        Bootstrap replicates and seed (only when weights are estimated).
    weights_from : DataFrame, optional
        Estimate the weights on these responses (e.g. a longer window, so periods share
        one set of weights) instead of ``surveys``; each bootstrap replicate then resamples
        both frames, independently.

    Returns
    -------
    DataFrame
        Indexed by ``by``: ``n`` (responses with every rating), ``index`` (0-100),
        ``ci_lower``, ``ci_upper``, ``small_n``, ``status``. With given weights the
        interval is a t interval of the per-response index (exact weights, no
        estimation error).

    References
    ----------
    Fornell, C., Johnson, M. D., Anderson, E. W., Cha, J. & Bryant, B. E. (1996). The
    American Customer Satisfaction Index: nature, purpose, and findings. Journal of
    Marketing 60(4), 7-18.
    """
    keys = _by_list(by)
    if weights is not None:
        w = pd.Series(weights, dtype=float)
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise DataContractError(f"index weights {w.round(4).to_dict()}: must be finite, >= 0 and not all 0")
        attrs = list(w.index)
        need = attrs
    else:
        attrs = attribute_columns(surveys)
        need = [outcome, *attrs]
    if not attrs:
        raise DataContractError("surveys: no attribute rating columns (attr_*) for the satisfaction index")
    clean, key_frame, _ = _prepare(surveys, by, None, need)
    lo, hi = scale
    complete = clean[need].notna().all(axis=1).to_numpy()
    clean, key_frame = clean[complete], key_frame[complete]
    if weights is not None:
        wv = (w / w.sum()).to_numpy()
        score = 100 * ((clean[attrs].to_numpy(dtype=float) - lo) / (hi - lo)) @ wv
        m = _moments(_Groups(key_frame), score, np.ones(len(score)))
        out = pd.DataFrame({"n": m["n"], "index": m["mean"]})
        n = m["n"].astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            half = stats.t.ppf(1 - alpha / 2, np.maximum(n - 1, 1)) * np.sqrt(m["ssd"] / (n * (n - 1)))
        out["ci_lower"], out["ci_upper"] = out["index"] - half, out["index"] + half
    else:
        source = None
        if weights_from is not None:
            wsrc, _, _ = _prepare(weights_from, None, None, need)
            source = wsrc[need].dropna().to_numpy(dtype=float)
        out = _bootstrap_index(clean, key_frame, outcome, attrs, lo, hi, alpha, n_boot, random_state, source)
    out = out.reindex(_full_index(out.index, keys, key_frame, categories))
    out["n"] = out["n"].fillna(0).astype("int64")
    out[["ci_lower", "ci_upper"]] = out[["ci_lower", "ci_upper"]].clip(0, 100)
    out["small_n"] = out["n"] < min_n
    out["status"] = _status(out["n"], min_n)
    return out


def _bootstrap_index(clean, key_frame, outcome, attrs, lo, hi, alpha, n_boot, random_state,
                     source: np.ndarray | None = None) -> pd.DataFrame:
    codes, groups = pd.factorize(pd.MultiIndex.from_frame(key_frame) if key_frame.shape[1] > 1
                                 else key_frame.iloc[:, 0], sort=True)
    z = np.column_stack([clean[[outcome, *attrs]].to_numpy(dtype=float), codes])
    vals, counts = _stats.patterns(z)
    g = vals[:, -1].astype(int)
    r = (vals[:, 1:-1] - lo) / (hi - lo) * 100
    k = len(groups)

    if source is not None:
        s_vals, s_counts = _stats.patterns(source)
    else:
        s_vals, s_counts = vals[:, :-1], counts

    def estimate(c, sc):
        wts = _weights_from_patterns(s_vals, sc if source is not None else c)
        n_g = np.bincount(g, weights=c, minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.bincount(g, weights=c * (r @ wts), minlength=k) / n_g, n_g

    point, n_g = estimate(counts, s_counts)
    rng = np.random.default_rng(random_state)
    n, p = counts.sum(), counts / counts.sum()
    sn, sp = s_counts.sum(), s_counts / s_counts.sum()
    reps = np.array([estimate(rng.multinomial(n, p), rng.multinomial(sn, sp) if source is not None else None)[0]
                     for _ in range(n_boot)])
    lo_ci, hi_ci = _stats.percentile_ci(reps, alpha)
    idx = groups if isinstance(groups, pd.MultiIndex) else pd.Index(groups, name=key_frame.columns[0])
    if list(key_frame.columns) == ["_all"]:
        idx = pd.Index(["all"])
    return pd.DataFrame({"n": n_g.astype("int64"), "index": point, "ci_lower": lo_ci, "ci_upper": hi_ci}, index=idx)


