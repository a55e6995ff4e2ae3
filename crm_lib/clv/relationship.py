"""Relationship CLV: each customer's expected discounted margin over a horizon, with survival from the Cox model.

``CLV_i = sum_{m=1..M} margin_i x S_i(a_i + m/12) / S_i(a_i) x (1 + d)^(-m/12)``: the expected
monthly margin (``crm_lib.margin``, held at today's level), times the probability the
customer is still with the bank m months on given their tenure ``a_i`` today, from the churn
module's fitted Cox model (``S(t | x) = exp(-H0(t) exp(x'beta))``), discounted monthly at the
annual rate ``d``, summed over the horizon of M months.

Uncertainty. The Cox coefficients are drawn from their fitted (multivariate normal)
sampling distribution. A customer's CLV is monotone in their log hazard, which under the
draws is normal with variance ``x' V x``: the per-customer interval is CLV at the log-hazard
quantiles (exact for that model, no Monte Carlo). Aggregates (total, median, by tier or
segment, CLV:CAC, concentration) are recomputed for every draw and reported as percentile
intervals; CLV:CAC also resamples customers (Poisson bootstrap) because it generalises to
future acquisitions. Not covered: the margin rates (assumptions, see ``parameters/clv.yaml``),
future changes in balances, the Breslow baseline hazard's own sampling error, exits other
than churn as defined (bank-initiated closures), and the model's form (proportional hazards,
the hazard beyond the longest observed tenure held at its recent mean).

Speed: the value per unit margin is tabulated once on a grid of (tenure month, log hazard)
(``crm_lib.churn.value``) and read by linear interpolation, so each draw costs O(n); 1M customers x 200 draws in about
a minute (see ``benchmarks/results.json``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from crm_lib.fmt import _, integer
from crm_lib.churn import covariates as cv
# the survival-value machinery lives in churn.value (the early-warning list reads it too); re-exported here
from crm_lib.churn.value import BaselineHazard, _monthly_margin, _value_lookup, point_clv, value_table  # noqa: F401
from crm_lib.errors import DataContractError
from crm_lib.margin import ClvSettings

logger = logging.getLogger(__name__)

_DRAW_BLOCK = 8         # draws evaluated together (memory: n x block doubles)


# --------------------------------------------------------------------------- result

@dataclass
class RelationshipCLV:
    """Per-customer relationship CLV and its aggregates, with what the intervals cover.

    ``customers`` columns: ``customer_id`` (pseudonym), the grouping columns, ``tenure_years``,
    ``acquisition_cost`` (currency), ``new_customer`` (onboarded within ``new_customer_months``),
    ``margin`` (currency per month), ``log_hazard`` (vs the average customer) and ``log_hazard_se``
    (its standard error under the coefficient covariance), ``survival_horizon``
    (P(still a customer at the horizon), 0-1), ``value_months`` (expected discounted months:
    CLV per unit of monthly margin), ``clv``, ``clv_lower``, ``clv_upper`` (currency).
    ``aggregates``: one row per (``group_by``, ``group``, ``statistic``) with ``value``,
    ``lower``, ``upper``, ``n``. ``draws``: the per-draw values behind every aggregate.
    """

    customers: pd.DataFrame
    aggregates: pd.DataFrame
    settings: ClvSettings
    alpha: float
    as_of: pd.Timestamp
    n_draws: int
    baseline: BaselineHazard
    notes: list = field(default_factory=list)
    payback: pd.DataFrame | None = None
    draws: dict = field(default_factory=dict)
    model: object = None                     # the fitted ChurnCox the survival came from (set by value_book)
    timings: dict = field(default_factory=dict)

    def aggregate(self, statistic: str, group_by: str = "all") -> pd.DataFrame:
        """The rows of ``aggregates`` for one statistic and grouping, indexed by group."""
        a = self.aggregates
        out = a[(a["statistic"] == statistic) & (a["group_by"] == group_by)].set_index("group")
        return out[["value", "lower", "upper", "n"]]

    def not_covered(self) -> str:
        """What the intervals do not cover, in one sentence."""
        return ("Intervals cover the Cox coefficients' sampling error only (and, for CLV:CAC, which customers were "
                "acquired); not the margin rates (assumptions), future changes in balances, the baseline hazard's own "
                "sampling error, exits other than churn (bank-initiated closures), or the model's form "
                f"(proportional hazards; beyond {self.baseline.t_last:.1f} years of tenure the hazard is held at its "
                f"mean over the last years observed, {100 * self.baseline.h_tail:.1f}% a year at the average customer).")


def relationship_clv(snap: pd.DataFrame, margin: pd.DataFrame, model, settings: ClvSettings, as_of,
                     alpha: float = 0.05, seed: int = 0, by=("tier", "customer_type"),
                     channel_col: str = "acquisition_channel") -> RelationshipCLV:
    """Relationship CLV of every customer in ``snap`` (the churn scoring frame as of ``as_of``).

    Parameters
    ----------
    snap : DataFrame from ``crm_lib.churn.snapshot``: ``customer_id``, ``entry`` (tenure in years),
        the model's covariates, and the grouping columns (``by``, ``acquisition_channel``,
        ``onboard_date``, ``acquisition_cost``).
    margin : DataFrame from ``crm_lib.clv.margin.warehouse_margin`` (``customer_id``, ``margin``).
        Customers of ``snap`` without a margin row have no balances: margin = -cost to serve.
    model : a fitted, unstratified ``ChurnCox`` (its covariates must be in ``snap``).
    by : grouping columns for the aggregates (``all`` is always added).

    Returns
    -------
    RelationshipCLV

    Raises
    ------
    DataContractError
        No customers, or the model cannot score ``snap`` (missing covariates).
    """
    if len(snap) == 0:
        raise DataContractError("snapshot: no active customer to value (rule 'at least one customer')")
    as_of = pd.Timestamp(as_of).normalize()
    rng = np.random.default_rng(seed)
    z = stats.norm.ppf(1 - alpha / 2)
    X = (cv.design_matrix(snap, model.covariates_, model.window_days, "snapshot") - model.means_).to_numpy()
    beta = model.params_.to_numpy()
    V = model.cov_.to_numpy()
    lp = X @ beta
    sd = np.sqrt(np.einsum("ij,jk,ik->i", X, V, X).clip(0))
    base = BaselineHazard.from_model(model, settings.tail_years)
    pad = max(5 * sd.max(), 1e-3)
    kvals, kbin, look = _value_lookup(base, snap, float(lp.min() - pad - 0.5), float(lp.max() + pad + 0.5), settings)
    mg = _monthly_margin(snap, margin, settings)
    vm = look(kbin, lp)
    v_hi_lp, v_lo_lp = look(kbin, lp + z * sd), look(kbin, lp - z * sd)     # value falls as hazard rises
    clv = mg * vm
    ends = np.stack([mg * v_hi_lp, mg * v_lo_lp])
    H = settings.horizon_months / 12.0
    a = kvals[kbin] / 12.0
    surv_h = np.exp(-(base(a + H) - base(a)) * np.exp(lp))
    new_from = as_of - pd.DateOffset(months=int(settings.new_customer_months))
    onboard = pd.to_datetime(snap["onboard_date"]) if "onboard_date" in snap else pd.Series(pd.NaT, index=snap.index)
    cust = pd.DataFrame({"customer_id": snap["customer_id"].to_numpy()})
    for c in dict.fromkeys([*by, channel_col, "customer_type"]):
        if c in snap.columns:
            cust[c] = snap[c].astype(str).fillna("unknown").to_numpy()
    cust["cohort"] = onboard.dt.year.astype("Int64").astype(str).to_numpy()
    cust["tenure_years"] = snap["entry"].to_numpy(float)
    cac = pd.to_numeric(snap["acquisition_cost"], errors="coerce") if "acquisition_cost" in snap else \
        pd.Series(np.nan, index=snap.index)
    cust["acquisition_cost"] = cac.to_numpy(float)
    cust["new_customer"] = (onboard > new_from).to_numpy()
    cust["margin"] = mg
    cust["log_hazard"] = lp
    cust["log_hazard_se"] = sd
    cust["survival_horizon"] = surv_h
    cust["value_months"] = vm
    cust["clv"] = clv
    cust["clv_lower"] = ends.min(0)
    cust["clv_upper"] = ends.max(0)

    # ---- draws of the coefficients: every aggregate per draw
    D = int(settings.n_draws)
    L = np.linalg.cholesky(V + 1e-12 * np.eye(len(V)))
    B = beta[:, None] + L @ rng.standard_normal((len(beta), D))
    groups = {"all": (np.zeros(len(cust), np.int64), np.array(["all"]))}
    for g in by:
        if g in cust.columns:
            codes, labels = pd.factorize(cust[g], sort=True)
            groups[g] = (codes, np.asarray(labels))
    specs = _ratio_specs(cust, channel_col)
    stats_d = {g: {"total": np.empty((D, len(lab))), "mean": np.empty((D, len(lab))), "median": np.empty((D, len(lab)))}
               for g, (_, lab) in groups.items()}
    ratio_d = {k: np.empty((D, len(lab))) for k, (_, _, lab) in specs.items()}
    conc_d = {"gini": np.empty(D), "top10_share": np.empty(D)}
    order = {g: np.argsort(codes, kind="stable") for g, (codes, _) in groups.items()}
    bounds = {g: np.searchsorted(codes[order[g]], np.arange(len(lab) + 1)) for g, (codes, lab) in groups.items()}
    cac_arr = cac.to_numpy(float)
    spec_cac = {k: cac_arr[mask] for k, (_, mask, _) in specs.items()}
    spec_idx = {k: np.flatnonzero(mask) for k, (_, mask, _) in specs.items()}
    for s in range(0, D, _DRAW_BLOCK):
        LP = _matmul(X, B[:, s:s + _DRAW_BLOCK])
        for j in range(LP.shape[1]):
            d = s + j
            v = mg * look(kbin, LP[:, j])
            _group_stats(v, groups, order, bounds, stats_d, d)
            for k, (codes, mask, lab) in specs.items():
                w = rng.poisson(1.0, len(spec_idx[k])).astype(float)
                num = np.bincount(codes, weights=v[spec_idx[k]] * w, minlength=len(lab))
                den = np.bincount(codes, weights=spec_cac[k] * w, minlength=len(lab))
                with np.errstate(invalid="ignore", divide="ignore"):
                    ratio_d[k][d] = num / den
            conc_d["gini"][d], conc_d["top10_share"][d] = _concentration(v)
    point = {}
    _group_stats(clv, groups, order, bounds, point, None)
    rows = []
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    for g, (codes, lab) in groups.items():
        n_g = np.bincount(codes, minlength=len(lab))
        for st in ("total", "mean", "median"):
            lo_, hi_ = np.nanpercentile(stats_d[g][st], q, axis=0)
            for i, name in enumerate(lab):
                rows.append((g, name, st, point[g][st][i], lo_[i], hi_[i], int(n_g[i])))
    for k, (codes, mask, lab) in specs.items():
        cm = cac.to_numpy(float)[mask]
        num = np.bincount(codes, weights=clv[mask], minlength=len(lab))
        den = np.bincount(codes, weights=cm, minlength=len(lab))
        n_g = np.bincount(codes, minlength=len(lab))
        lo_, hi_ = np.nanpercentile(ratio_d[k], q, axis=0)
        for i, name in enumerate(lab):
            rows.append((k, name, "clv_cac", num[i] / den[i] if den[i] > 0 else np.nan, lo_[i], hi_[i], int(n_g[i])))
    g0, t0 = _concentration(clv)
    for st, val in (("gini", g0), ("top10_share", t0)):
        lo_, hi_ = np.percentile(conc_d[st], q)
        rows.append(("all", "all", st, val, lo_, hi_, len(cust)))
    aggs = pd.DataFrame(rows, columns=["group_by", "group", "statistic", "value", "lower", "upper", "n"])
    payback = _payback(cust, kbin, kvals, base, settings, X, B, beta, channel_col, alpha)
    notes = []
    if (mg < 0).any():
        notes.append(_("{count} customers have a negative monthly margin (cost to serve above income): their CLV "
                       "is negative and counts as 0 in the concentration figures").format(count=integer(int((mg < 0).sum()))))
    logger.info("relationship CLV as of %s: %d customers, total %.0f, %d draws", as_of.date(), len(cust),
                float(clv.sum()), D)
    return RelationshipCLV(cust, aggs, settings, alpha, as_of, D, base, notes, payback,
                           {"stats": stats_d, "ratios": ratio_d, "concentration": conc_d})


def _matvec(X, b):
    """X @ b as a sum of columns: no BLAS call, so no thread contention on a shared machine (p is small)."""
    out = np.zeros(X.shape[0])
    for k in range(X.shape[1]):
        out += X[:, k] * b[k]
    return out


def _matmul(X, B):
    """X @ B for a handful of columns (see ``_matvec``)."""
    out = np.zeros((X.shape[0], B.shape[1]))
    for k in range(X.shape[1]):
        out += X[:, k:k + 1] * B[k]
    return out


def _ratio_specs(cust: pd.DataFrame, channel_col: str) -> dict:
    """CLV:CAC groupings: new customers (all, and by channel); every active customer by onboarding cohort
    (residual CLV: the value still to come, against what they cost to acquire)."""
    out = {}
    has_cac = np.isfinite(cust["acquisition_cost"].to_numpy(float))
    m = cust["new_customer"].to_numpy() & has_cac
    if m.any():
        out["new_customers"] = (np.zeros(int(m.sum()), np.int64), m, np.array(["all"]))
        if channel_col in cust.columns:
            codes, lab = pd.factorize(cust.loc[m, channel_col], sort=True)
            out[channel_col] = (codes, m, np.asarray(lab))
    m = has_cac & (cust["cohort"] != "<NA>").to_numpy()
    if m.any():
        codes, lab = pd.factorize(cust.loc[m, "cohort"], sort=True)
        out["cohort"] = (codes, m, np.asarray(lab))
    return out


def _group_stats(v, groups, order, bounds, out, d):
    for g, (codes, lab) in groups.items():
        vs = v[order[g]]
        b = bounds[g]
        tot = np.add.reduceat(vs, b[:-1]) if len(vs) else np.zeros(len(lab))
        cnt = np.diff(b)
        tot = np.where(cnt > 0, tot, 0.0)
        med = np.array([np.median(vs[b[i]:b[i + 1]]) if cnt[i] else np.nan for i in range(len(lab))])
        if d is None:
            out[g] = {"total": tot, "mean": tot / np.maximum(cnt, 1), "median": med}
        else:
            out[g]["total"][d], out[g]["mean"][d], out[g]["median"][d] = tot, tot / np.maximum(cnt, 1), med


def _concentration(v) -> tuple[float, float]:
    """Gini coefficient and the share of value held by the top 10% (negative values count as 0)."""
    x = np.sort(np.clip(v, 0, None))
    n = len(x)
    tot = x.sum()
    if n == 0 or tot <= 0:
        return np.nan, np.nan
    gini = float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * tot))
    k = max(1, int(np.ceil(0.1 * n)))
    return gini, float(x[-k:].sum() / tot)


def lorenz(res: RelationshipCLV, points: int = 101) -> pd.DataFrame:
    """Lorenz curve of CLV (point estimates; negatives as 0): ``customer_share`` (poorest first) and ``value_share``."""
    x = np.sort(np.clip(res.customers["clv"].to_numpy(float), 0, None))
    cum = np.r_[0.0, np.cumsum(x)] / max(x.sum(), 1e-300)
    p = np.linspace(0, 1, points)
    return pd.DataFrame({"customer_share": p, "value_share": np.interp(p * len(x), np.arange(len(x) + 1), cum)})


def _payback(cust, kbin, kvals, base, settings, X, B, beta, channel_col, alpha) -> pd.DataFrame | None:
    """Months until the mean new customer's cumulative discounted expected margin covers the mean CAC, by channel.

    Point estimate at the fitted coefficients; interval over the coefficient draws (at most 50).
    ``inf`` when it is not reached within the horizon.
    """
    if channel_col not in cust.columns:
        return None
    m = cust["new_customer"].to_numpy() & np.isfinite(cust["acquisition_cost"].to_numpy(float))
    if not m.any():
        return None
    disc = settings.discount_factors()
    M = len(disc)
    a = kvals[kbin[m]] / 12.0
    dH = base(a[:, None] + np.arange(1, M + 1)[None, :] / 12.0) - base(a)[:, None]
    mg = cust["margin"].to_numpy(float)[m]
    cac = cust["acquisition_cost"].to_numpy(float)[m]
    ch = cust.loc[m, channel_col].to_numpy()
    Xm = X[m]

    chans, code = np.unique(ch, return_inverse=True)
    o = np.argsort(code, kind="stable")                               # rows grouped by channel
    Xm, dH, mg, code, cac = Xm[o], dH[o], mg[o], code[o], cac[o]
    cnt = np.bincount(code, minlength=len(chans)).astype(float)
    starts = np.searchsorted(code, np.arange(len(chans)))
    mean_cac = np.bincount(code, weights=cac, minlength=len(chans)) / cnt

    def months(b):
        r = np.exp(_matvec(Xm, b))
        # the mean customer's cumulative margin = cumulative sum of the monthly means (channels x M)
        monthly = np.add.reduceat(mg[:, None] * np.exp(-dH * r[:, None]), starts, axis=0) / cnt[:, None]
        curve = np.cumsum(monthly * disc, axis=1)
        out = {}
        for i, c in enumerate(chans):
            hit = np.flatnonzero(curve[i] >= mean_cac[i])
            out[c] = float(hit[0] + 1) if len(hit) else np.inf
        return out

    pt = months(beta)
    nd = min(B.shape[1], 50)
    dr = [months(B[:, j]) for j in range(nd)]
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    rows = []
    for c, v in pt.items():
        vals = np.array([d[c] for d in dr])
        lo_, hi_ = np.percentile(vals, q)
        k = ch == c
        rows.append((c, v, lo_, hi_, int(k.sum()), float(cac[k].mean()), float(mg[k].mean())))
    return pd.DataFrame(rows, columns=[channel_col, "payback_months", "lower", "upper", "n", "mean_cac",
                                       "mean_margin"]).set_index(channel_col)
