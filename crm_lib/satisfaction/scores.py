"""CSAT, NPS and the satisfaction index, overall and by segment, each with its interval and n.

Definitions (the conventions of the industry, stated once):

- **CSAT top-2-box**: share of answered responses with CSAT 4 or 5 on the 1-5 scale
  (proportion 0-1), with a Wilson score interval (Newcombe 1998).
- **CSAT mean**: mean of the 1-5 answers, with a t interval.
- **NPS**: percentage of promoters (9-10 on the 0-10 recommend question) minus
  percentage of detractors (0-6), in points from -100 to +100 (Reichheld 2003). Its
  interval uses the multinomial variance ``(p + d - (p - d)^2) / n`` of the difference
  of two shares of one sample (Rocks 2016, "Wald"); ``nps_method="adjusted_wald"``
  adds 3/4 of a response to promoters and detractors and 3 to n first, which Rocks
  found to cover better in small samples.
- **Satisfaction index**: see ``crm_lib.satisfaction.index``.

Every table carries ``n`` and a ``status`` of ``ok``, ``small n`` (below ``min_n``: flag,
do not report) or ``no responses`` (a segment that exists but had none).

Survey weights (``weight=``) make every estimate a weighted mean with a
Taylor-linearisation variance; shares then use the Wilson interval on the effective
sample size ``p (1 - p) / var`` (Korn & Graubard 1998). ``poststrat_weights`` builds
such weights so that the response mix matches the customer base by tier and type.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from crm_lib.errors import DataContractError, NotEstimable
from crm_lib.satisfaction import _stats
from crm_lib.satisfaction._checks import clean_surveys, require_columns

logger = logging.getLogger(__name__)


def require_responses(surveys: pd.DataFrame, period_label: str) -> None:
    """Raise ``NotEstimable`` when no survey response is dated in the period.

    CSAT, NPS and the index are shares and means of the period's responses: with none
    there is nothing to estimate (a bank that does not survey yet, or a period without
    fieldwork).
    """
    if not len(surveys):
        raise NotEstimable(f"no survey responses are dated in {period_label}",
                           "CSAT, NPS and the satisfaction index are estimable once the surveys table holds "
                           "responses dated in the period")

TOP_BOX = 4          # CSAT 4-5 of 5 counts as satisfied
PROMOTER_MIN = 9     # NPS 9-10: promoters
DETRACTOR_MAX = 6    # NPS 0-6: detractors
STATUS_OK, STATUS_SMALL, STATUS_NONE = "ok", "small n", "no responses"


# --------------------------------------------------------------------------- helpers

def _by_list(by) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _prepare(surveys: pd.DataFrame, by, weight: str | None, need: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Validate (strict) and return the clean frame, the grouping keys and the weights."""
    keys = _by_list(by)
    require_columns(surveys, "surveys", ["response_id", *need, *keys, *([weight] if weight else [])])
    clean, _ = clean_surveys(surveys[[c for c in dict.fromkeys(["response_id", *need, *keys, *(
        [weight] if weight else [])])]], strict=True)
    if weight:
        w = pd.to_numeric(clean[weight], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            ex = clean.loc[bad, ["response_id", weight]].head(3).to_string(index=False)
            raise DataContractError(f"surveys.{weight}: {int(bad.sum())} row(s) break rule 'finite weight >= 0', "
                                    f"e.g.\n{ex}")
    else:
        w = np.ones(len(clean))
    key_frame = clean[keys] if keys else pd.DataFrame({"_all": np.full(len(clean), "all")}, index=clean.index)
    return clean, key_frame, w


def _full_index(index: pd.Index, keys: list[str], key_frame: pd.DataFrame,
                categories: Mapping | None) -> pd.Index:
    """The observed groups plus every declared category (so empty segments show as n = 0)."""
    if not keys:
        return pd.Index(["all"])
    levels = []
    for k in keys:
        declared = (categories or {}).get(k)
        if declared is None and isinstance(key_frame[k].dtype, pd.CategoricalDtype):
            declared = list(key_frame[k].cat.categories)
        observed = list(index.get_level_values(k).unique()) if len(index) else []
        levels.append(list(dict.fromkeys(list(declared or []) + observed)))
    if len(keys) == 1:
        return pd.Index(levels[0], name=keys[0])
    full = pd.MultiIndex.from_product(levels, names=keys)
    return full if categories else index  # multi-key tables show only observed combinations unless declared


def _status(n: pd.Series, min_n: int) -> pd.Series:
    return pd.Series(np.where(n == 0, STATUS_NONE, np.where(n < min_n, STATUS_SMALL, STATUS_OK)), index=n.index)


class _Groups:
    """Group codes of a key frame, computed once and reused for every moment."""

    def __init__(self, key_frame: pd.DataFrame):
        self.columns = list(key_frame.columns)
        if self.columns == ["_all"]:
            self.codes, self.labels = np.zeros(len(key_frame), dtype=np.int64), pd.Index(["all"])
        else:
            self.codes, self.labels = _stats.group_codes(key_frame)


def _moments(groups: "_Groups", y: np.ndarray, w: np.ndarray) -> pd.DataFrame:
    return _stats.group_moments(groups.codes, groups.labels, y, w)


# --------------------------------------------------------------------------- CSAT and NPS

def csat_top2box(surveys: pd.DataFrame, by: str | Sequence[str] | None = None, alpha: float = 0.05,
                 min_n: int = 30, weight: str | None = None, categories: Mapping | None = None) -> pd.DataFrame:
    """Share of responses with CSAT 4-5 per group, with a Wilson score interval.

    Parameters
    ----------
    surveys : DataFrame
        ``response_id``, ``csat`` (integer 1-5; null = not answered) and the ``by`` columns.
    by : str or list of str, optional
        Grouping column(s); ``None`` gives one row labelled ``all``.
    alpha : float
        1 - confidence level.
    min_n : int
        Groups with fewer answered responses are flagged ``small n``.
    weight : str, optional
        Column of survey weights (e.g. from ``poststrat_weights``).
    categories : dict, optional
        ``{column: levels}`` that must appear even with no responses (n = 0).

    Returns
    -------
    DataFrame
        Indexed by ``by``: ``n`` (answered responses), ``top2box``, ``ci_lower``, ``ci_upper``
        (proportions 0-1, coverage 1 - alpha), ``small_n`` (bool), ``status``.

    Raises
    ------
    DataContractError
        Missing columns, or a ``csat`` that is not an integer 1-5 (names the rows).

    References
    ----------
    Newcombe, R. G. (1998). Two-sided confidence intervals for the single proportion:
    comparison of seven methods. Statistics in Medicine 17, 857-872.
    """
    t = score_table(surveys, by=by, alpha=alpha, min_n=min_n, weight=weight, categories=categories,
                    metrics=("csat",))
    out = t[["n_csat", "csat_top2box", "csat_top2box_lower", "csat_top2box_upper", "small_n", "status"]]
    return out.set_axis(["n", "top2box", "ci_lower", "ci_upper", "small_n", "status"], axis=1)


def net_promoter_score(surveys: pd.DataFrame, by: str | Sequence[str] | None = None, alpha: float = 0.05,
                       min_n: int = 30, weight: str | None = None, categories: Mapping | None = None,
                       method: str = "wald") -> pd.DataFrame:
    """NPS per group (points, -100 to 100) with its multinomial-variance interval.

    Returns
    -------
    DataFrame
        Indexed by ``by``: ``n``, ``promoters``, ``passives``, ``detractors`` (shares 0-1),
        ``nps``, ``ci_lower``, ``ci_upper`` (points), ``small_n``, ``status``.

    References
    ----------
    Reichheld, F. F. (2003). The one number you need to grow. Harvard Business Review 81(12).
    Rocks, B. (2016). Interval estimation for the "net promoter score". The American
    Statistician 70(4), 365-372. doi:10.1080/00031305.2016.1158124
    """
    t = score_table(surveys, by=by, alpha=alpha, min_n=min_n, weight=weight, categories=categories,
                    metrics=("nps",), nps_method=method)
    out = t[["n_nps", "promoters", "passives", "detractors", "nps", "nps_lower", "nps_upper", "small_n", "status"]]
    return out.set_axis(["n", "promoters", "passives", "detractors", "nps", "ci_lower", "ci_upper", "small_n",
                         "status"], axis=1)


def score_table(surveys: pd.DataFrame, by: str | Sequence[str] | None = None, alpha: float = 0.05,
                min_n: int = 30, weight: str | None = None, categories: Mapping | None = None,
                metrics: Sequence[str] = ("csat", "nps"), nps_method: str = "wald") -> pd.DataFrame:
    """CSAT (top-2-box and mean) and NPS per group, each with interval and n, in one pass.

    Parameters
    ----------
    surveys, by, alpha, min_n, weight, categories
        As for ``csat_top2box``.
    metrics : sequence of {"csat", "nps"}
        Which scores to compute (their columns must exist).
    nps_method : {"wald", "adjusted_wald"}
        NPS interval (see the module docstring); weighted data always use ``wald``.

    Returns
    -------
    DataFrame
        Indexed by ``by``: ``n`` (responses in the group), and per metric
        ``n_csat``, ``csat_top2box`` with ``csat_top2box_lower``/``_upper`` (0-1, Wilson),
        ``csat_mean`` with ``csat_mean_lower``/``_upper`` (1-5 scale, t interval);
        ``n_nps``, ``promoters``, ``passives``, ``detractors`` (0-1), ``nps`` with
        ``nps_lower``/``_upper`` (points -100 to 100); then ``small_n`` (the smallest
        metric n is below ``min_n``) and ``status``.
    """
    if nps_method not in ("wald", "adjusted_wald"):
        raise ValueError(f"nps_method={nps_method!r}: use 'wald' or 'adjusted_wald'")
    metrics = list(metrics)
    clean, key_frame, w = _prepare(surveys, by, weight, metrics)
    keys = _by_list(by)
    weighted = weight is not None
    z = _stats.z_value(alpha)
    groups = _Groups(key_frame)
    base = _moments(groups, np.ones(len(clean)), w)
    out = pd.DataFrame(index=base.index)
    out["n"] = base["n"]
    n_cols = []
    if "csat" in metrics:
        c = clean["csat"].to_numpy(dtype=float)
        top = _moments(groups, np.where(np.isnan(c), np.nan, (c >= TOP_BOX).astype(float)), w)
        mean = _moments(groups, c, w)
        out["n_csat"] = top["n"]
        p = top["mean"]
        n_eff = _n_effective(p, top["var_mean"], top["kish_n"]) if weighted else top["n"].astype(float)
        out["csat_top2box"] = p
        out["csat_top2box_lower"], out["csat_top2box_upper"] = _stats.wilson(p * n_eff, n_eff, alpha)
        out["csat_mean"] = mean["mean"]
        if weighted:
            half = z * np.sqrt(mean["var_mean"])
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                n = mean["n"].astype(float)
                half = stats.t.ppf(1 - alpha / 2, np.maximum(n - 1, 1)) * np.sqrt(mean["ssd"] / (n * (n - 1)))
        out["csat_mean_lower"] = (mean["mean"] - half).clip(lower=1)
        out["csat_mean_upper"] = (mean["mean"] + half).clip(upper=5)
        n_cols.append("n_csat")
    if "nps" in metrics:
        v = clean["nps"].to_numpy(dtype=float)
        cls = np.where(np.isnan(v), np.nan, (v >= PROMOTER_MIN).astype(float) - (v <= DETRACTOR_MAX).astype(float))
        net = _moments(groups, cls, w)
        pro = _moments(groups, np.where(np.isnan(v), np.nan, (v >= PROMOTER_MIN).astype(float)), w)
        det = _moments(groups, np.where(np.isnan(v), np.nan, (v <= DETRACTOR_MAX).astype(float)), w)
        out["n_nps"] = net["n"]
        out["promoters"], out["detractors"] = pro["mean"], det["mean"]
        out["passives"] = 1 - pro["mean"] - det["mean"]
        out["nps"] = 100 * net["mean"]
        if nps_method == "adjusted_wald" and not weighted:
            n = net["n"].astype(float)
            pt = (pro["mean"] * n + 0.75) / (n + 3)
            dt = (det["mean"] * n + 0.75) / (n + 3)
            centre, var = pt - dt, (pt + dt - (pt - dt) ** 2) / (n + 3)
        else:
            centre, var = net["mean"], net["var_mean"]
        half = z * np.sqrt(var)
        out["nps_lower"] = (100 * (centre - half)).clip(lower=-100)
        out["nps_upper"] = (100 * (centre + half)).clip(upper=100)
        n_cols.append("n_nps")
    full = _full_index(out.index, keys, key_frame, categories)
    out = out.reindex(full)
    for c in ["n", *n_cols]:
        out[c] = out[c].fillna(0).astype("int64")
    smallest = out[n_cols].min(axis=1) if n_cols else out["n"]
    out["small_n"] = smallest < min_n
    out["status"] = _status(smallest, min_n)
    if keys and len(full) > len(base):
        logger.info("score_table: %d group(s) with no responses", int((out["n"] == 0).sum()))
    return out


def _n_effective(p: pd.Series, var: pd.Series, kish: pd.Series) -> pd.Series:
    """Effective n of a weighted share: p(1-p)/var, or Kish's n where p is 0 or 1."""
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = p * (1 - p) / var
    return n_eff.where((var > 0) & np.isfinite(n_eff), kish)


def score_trend(surveys: pd.DataFrame, freq: str = "Q", date: str = "survey_date", alpha: float = 0.05,
                min_n: int = 30, weight: str | None = None, nps_method: str = "wald") -> pd.DataFrame:
    """``score_table`` per calendar period of ``date`` (``freq``: "M", "Q" or "Y").

    Returns
    -------
    DataFrame
        One row per period in order: ``period`` (label, e.g. ``2026Q3``), ``period_end``
        (date) and the columns of ``score_table``. Periods between the first and last
        response with no responses appear with n = 0.
    """
    require_columns(surveys, "surveys", [date])
    per = pd.to_datetime(surveys[date]).dt.to_period(freq)
    if per.isna().all():
        raise DataContractError(f"surveys.{date}: no dated responses (rule 'not null')")
    levels = pd.period_range(per.min(), per.max(), freq=freq)
    frame = surveys.assign(_period=pd.Categorical(per, categories=levels))
    t = score_table(frame, by="_period", alpha=alpha, min_n=min_n, weight=weight, nps_method=nps_method)
    t.index = pd.Index([str(p) for p in t.index], name="period")
    t.insert(0, "period_end", [p.end_time.date() for p in levels])
    return t.reset_index()


def score_change(trend: pd.DataFrame, alpha: float = 0.05, current: int = -1, previous: int = -2) -> pd.DataFrame:
    """Change of CSAT top-2-box and NPS between two rows of ``score_trend`` (default: last vs previous).

    Returns
    -------
    DataFrame
        Indexed by metric (``csat_top2box``, ``nps``): ``previous_period``, ``period``,
        ``previous``, ``current``, ``change`` (current - previous; proportion or NPS
        points) with ``ci_lower``/``ci_upper``, and ``p_value``. CSAT uses Newcombe's
        hybrid score interval (method 10) and a two-sample z test; NPS the normal interval
        of a difference of independent multinomial estimates (Rocks 2016).

    Raises
    ------
    NotEstimable
        When ``trend`` has fewer than two periods.
    """
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    if len(trend) < 2:
        raise NotEstimable(f"the survey history holds {len(trend)} period(s) with responses: a change needs two",
                           "it is estimable once an earlier period has survey responses")
    a, b = trend.iloc[previous], trend.iloc[current]
    z = _stats.z_value(alpha)
    rows = {}
    x1, n1 = round(b["csat_top2box"] * b["n_csat"]), int(b["n_csat"])
    x0, n0 = round(a["csat_top2box"] * a["n_csat"]), int(a["n_csat"])
    if n0 and n1:
        lo, hi = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", alpha=alpha)
        pv = test_proportions_2indep(x1, n1, x0, n0, method="score").pvalue
    else:
        lo = hi = pv = np.nan
    rows["csat_top2box"] = (b["csat_top2box"] - a["csat_top2box"], lo, hi, pv, a["csat_top2box"], b["csat_top2box"])
    var = [((r["promoters"] + r["detractors"] - (r["promoters"] - r["detractors"]) ** 2) / r["n_nps"]
            if r["n_nps"] else np.nan) for r in (a, b)]
    d = b["nps"] - a["nps"]
    se = 100 * np.sqrt(var[0] + var[1])
    pv = 2 * stats.norm.sf(abs(d) / se) if se > 0 else np.nan
    rows["nps"] = (d, d - z * se, d + z * se, pv, a["nps"], b["nps"])
    out = pd.DataFrame.from_dict(rows, orient="index",
                                 columns=["change", "ci_lower", "ci_upper", "p_value", "previous", "current"])
    out.insert(0, "period", b.get("period"))
    out.insert(0, "previous_period", a.get("period"))
    return out[["previous_period", "period", "previous", "current", "change", "ci_lower", "ci_upper", "p_value"]]


# --------------------------------------------------------------------------- weighting

def poststrat_weights(surveys: pd.DataFrame, population: pd.DataFrame,
                      cells: Sequence[str] = ("customer_type", "tier")) -> tuple[pd.Series, pd.DataFrame]:
    """Post-stratification weights that make the response mix match the customer base.

    The weight of a response in cell h is ``(N_h / N) / (n_h / n)``: the cell's share of
    customers over its share of responses (Holt & Smith 1979), normalised to mean 1 over
    the weighted responses. Cells with customers but no responses cannot be
    represented: they are reported, and the other cells' shares are renormalised.
    Responses whose cell is unknown or absent from the population get a NaN weight
    (left out of weighted estimates) and are reported too.

    Parameters
    ----------
    surveys : DataFrame
        Responses with the ``cells`` columns.
    population : DataFrame
        One row per customer of the base to weight to (e.g. active customers of the
        feature table) with the ``cells`` columns.

    Returns
    -------
    weights : Series
        Aligned with ``surveys.index``.
    cells : DataFrame
        Per cell: ``customers``, ``customer_share``, ``responses``, ``response_share``,
        ``weight``, ``status`` (``ok``, ``no responses``, ``not in population``).

    References
    ----------
    Holt, D. & Smith, T. M. F. (1979). Post stratification. JRSS A 142(1), 33-46.
    """
    cells = list(cells)
    require_columns(surveys, "surveys", cells)
    require_columns(population, "population", cells)
    if not len(population):
        raise DataContractError("population: no customers to weight to (rule 'at least one row')")
    pop = population.groupby(cells, observed=True, dropna=False).size().rename("customers")
    smp = surveys.groupby(cells, observed=True, dropna=False).size().rename("responses")
    t = pd.concat([pop, smp], axis=1).fillna(0).astype("int64")
    covered = (t["customers"] > 0) & (t["responses"] > 0)
    t["customer_share"] = t["customers"] / t["customers"].sum()
    t["response_share"] = t["responses"] / max(t["responses"].sum(), 1)
    n_cov, pop_cov = t.loc[covered, "responses"].sum(), t.loc[covered, "customers"].sum()
    if n_cov == 0:
        raise DataContractError(f"surveys: no response falls in a population cell of {cells} "
                                "(rule 'responses and customers share cells')")
    t["weight"] = np.where(covered, (t["customers"] / pop_cov) / (t["responses"] / n_cov), np.nan)
    t["status"] = np.where(covered, STATUS_OK, np.where(t["responses"] == 0, STATUS_NONE, "not in population"))
    key = pd.MultiIndex.from_frame(surveys[cells]) if len(cells) > 1 else pd.Index(surveys[cells[0]])
    w = pd.Series(t["weight"].reindex(key).to_numpy(), index=surveys.index, name="weight")
    for r in t[~covered].reset_index().itertuples(index=False):
        logger.warning("post-stratification cell %s: %s", tuple(r[:len(cells)]), r.status)
    return w, t.reset_index()


def for_display(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """A reviewer's copy: estimates of ``small n`` / ``no responses`` rows blanked, numbers rounded.

    Counts (``n*``), ``small_n`` and ``status`` are kept so the reader sees why a value is missing.
    """
    out = table.copy()
    hide = out["status"] != STATUS_OK if "status" in out.columns else pd.Series(False, index=out.index)
    value_cols = [c for c in out.columns if c not in ("status", "small_n", "period", "period_end")
                  and c != "n" and not str(c).startswith("n_") and pd.api.types.is_numeric_dtype(out[c])]
    out[value_cols] = out[value_cols].astype(float).mask(hide.to_numpy()[:, None].repeat(len(value_cols), 1))
    return out.drop(columns=["small_n"], errors="ignore").round(digits)
