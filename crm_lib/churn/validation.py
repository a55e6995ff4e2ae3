"""Out-of-time validation of the dynamic (landmark) churn model against a Kaplan-Meier baseline.

Train on landmarks whose follow-up ends before the test window starts; test on the cohort
at risk at ``as_of - H`` (H = the longest horizon), followed to ``as_of``. Nothing from the
test window is used to fit. Each metric is reported for the Cox model, for the baseline
(Kaplan-Meier on tenure from the training landmarks: no covariates, but each customer's
current tenure), and for their difference, with intervals.

Metric conventions (``crm_lib.churn.metrics``): follow-up time is counted in whole days from
the cohort date and horizons are whole-day calendar months, both converted to years by the
same division, so a customer censored on a horizon date is exactly at the horizon and counts
as a control there. The censoring distribution is the Kaplan-Meier of the test window
(churns before censorings at tied days); cases weigh 1 / G(T-), controls 1 / G(t-).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from crm_lib.churn import covariates as cv
from crm_lib.churn import metrics as M
from crm_lib.churn.cox import ChurnCox
from crm_lib.churn.frame import (SCORE_CHUNK, YEAR_DAYS, add_months, cohort_frame, history_start, landmark_dates,
                                 landmark_frame, score_parts)
from crm_lib.churn.settings import ChurnSettings
from crm_lib.data.privacy import pseudonym_key
from crm_lib.data.store import Warehouse
from crm_lib.errors import NotEstimable

logger = logging.getLogger(__name__)

MODELS = ("cox", "baseline", "difference")


def usable_landmarks(wh: Warehouse, last, settings: ChurnSettings) -> list[pd.Timestamp]:
    """Landmarks ending at ``last``, keeping those with a full behaviour window of data before them.

    Raises
    ------
    NotEstimable
        When not one landmark has ``window_days`` of history before it (a ``DataContractError``).
    """
    first_ok = history_start(wh) + pd.Timedelta(days=int(settings.window_days))
    lms = landmark_dates(last, settings.landmark_every_months, settings.n_landmarks)
    keep = [lm for lm in lms if lm >= first_ok]
    if not keep:
        raise NotEstimable(
            f"balances.month: data start {history_start(wh).date()} leaves no landmark with a full "
            f"{settings.window_days}-day behaviour window before {pd.Timestamp(last).date()} (rule 'history of at "
            "least window + 2 horizons')",
            "a longer history of balances and transactions, or shorter horizons or window, makes it estimable")
    if len(keep) < len(lms):
        logger.info("%d of %d landmarks dropped: less than %d days of history before them",
                    len(lms) - len(keep), len(lms), settings.window_days)
    return keep


def fit_landmark_model(wh: Warehouse, last_landmark, horizon_months: int, settings: ChurnSettings,
                       covariates=cv.DYNAMIC, key: str | None = None) -> tuple[ChurnCox, pd.DataFrame]:
    """Cox model on stacked landmarks up to ``last_landmark``, each followed ``horizon_months``.

    Cluster-robust (Lin-Wei) standard errors by customer, because a customer appears at
    several landmarks. Returns the fitted model and its training frame.
    """
    lms = usable_landmarks(wh, last_landmark, settings)
    frame = landmark_frame(wh, lms, horizon_months, definition=settings.definition, key=key,
                           window_days=settings.window_days, aum_months=settings.aum_months, tiers=settings.tiers,
                           sample=settings.model_sample)
    model = ChurnCox(covariates=covariates, penalizer=settings.penalizer, l1_ratio=settings.l1_ratio,
                     cluster_col="customer_id", alpha=settings.alpha, window_days=settings.window_days)
    return model.fit(frame, table="landmark frame"), frame


TRAIN_KEPT = ["customer_id", "landmark", "entry", "duration", "event"]   # of the training frame, after the fit


def km_baseline(train: pd.DataFrame):
    """Kaplan-Meier on tenure (delayed entry) from ``train``: a function (tenure, horizon) -> churn probability."""
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter().fit(train["duration"], train["event"], entry=train["entry"])
    sf = km.survival_function_.iloc[:, 0]
    t, s = sf.index.to_numpy(float), sf.to_numpy(float)

    def predict(tenure, h):
        s0 = np.clip(M._step_at(t, s, tenure), 1e-12, None)
        return 1 - M._step_at(t, s, np.asarray(tenure) + h) / s0
    return predict


@dataclass
class Validation:
    """Results of ``out_of_time_validation`` (every table has intervals at 1 - alpha)."""

    model: ChurnCox
    metrics: pd.DataFrame
    calibration: pd.DataFrame
    precision: pd.DataFrame
    gains: pd.DataFrame
    train_landmarks: list
    test_start: pd.Timestamp
    as_of: pd.Timestamp
    n_train_rows: int
    n_train_customers: int
    n_test: int
    test_events: int
    horizons_months: tuple
    top_share: float
    n_boot: int
    notes: list = field(default_factory=list)
    alpha: float = 0.05


def follow_up_years(exit_date, start, months) -> tuple[np.ndarray, np.ndarray]:
    """Follow-up from the cohort date ``start`` and the monthly horizon grid, both from whole days.

    Parameters
    ----------
    exit_date : array-like of dates
        End of each customer's follow-up (churn, competing exit, censoring or the as-of date).
    start : date-like
        The cohort date, where every customer's follow-up starts; horizons are
        ``add_months(start, m)`` for ``m`` in ``months``.
    months : sequence of int

    Returns
    -------
    (time, grid) : ndarrays, years (whole days / 365.25)
        ``time`` per customer, ``grid`` per horizon. A customer whose follow-up ends on a horizon
        date gets exactly that horizon's value, as both are one division of the same integer
        number of days. (``duration - entry``, two tenures since onboarding subtracted, lands one
        rounding step off it for most such customers: below for 41% of those censored on the
        as-of date in the small demo bank, who then stopped counting as controls, and above for
        some who churned on a horizon date, who then counted as controls instead of cases.)
    """
    start = pd.Timestamp(start).normalize()
    days = (pd.to_datetime(pd.Series(np.asarray(exit_date))).dt.normalize() - start).dt.days.to_numpy(float)
    g_days = np.array([(add_months(start, int(m)) - start).days for m in months], float)
    return days / YEAR_DAYS, g_days / YEAR_DAYS


class _WeightedBlock:
    """td-AUC and Brier at ``hidx`` and the IBS of both predictors, for bootstrap resamples given as case weights.

    Resampling rows ``i`` and computing the metrics equals computing them with weights
    ``w = bincount(i)`` (a customer drawn twice is two identical rows). Everything that does
    not depend on the weights -- sort orders, which times each customer's censoring
    weight is read at, case and control masks, squared errors -- is computed once here,
    so a replicate is a few ``bincount``/``cumsum`` passes and matrix products: no
    sorting. ``many`` takes a batch of replicates at once: the controls' squared errors
    (n x horizons, both models) are read once per batch in one matrix product instead of once per
    replicate, and the cases' only over the churners (every other row of them is zero).
    """

    BATCH = 16

    def __init__(self, u, E, Pm, Pb, grid, hidx):
        T = np.asarray(u, float)
        E = np.asarray(E).astype(bool)
        g = np.asarray(grid, float)
        self.n, self.grid, self.hidx = len(T), g, list(hidx)
        # the censoring Kaplan-Meier shared with metrics.censoring_survival (churns before censorings
        # at a tie); G(x-) is read at the last distinct time strictly before x
        self.km = M.CensoringKM(T, E)
        self.ig = self.km.index(g, left=True)
        case = (T[:, None] <= g[None, :]) & E[:, None]
        ctrl = ~case & (T[:, None] >= g[None, :])
        self.ev = np.flatnonzero(case.any(axis=1))          # the rows that are a case at some horizon
        self.iT = self.km.index(T[self.ev], left=True)
        self.models, ctrls = [], []
        for P in (Pm, Pb):
            P = np.asarray(P, float)
            auc = []
            for k in self.hidx:
                ci, ki = np.flatnonzero(case[:, k]), np.flatnonzero(ctrl[:, k])
                order = ki[np.argsort(P[ki, k], kind="stable")]
                c = P[order, k]
                auc.append((np.searchsorted(self.ev, ci), order, np.searchsorted(c, P[ci, k], "left"),
                            np.searchsorted(c, P[ci, k], "right")))
            self.models.append((np.where(case, (1 - P) ** 2, 0.0)[self.ev], auc))
            ctrls.append(np.where(ctrl, P ** 2, 0.0))
        self.ctrl = np.hstack(ctrls)                        # (n, 2 x horizons): both models' control errors

    def __call__(self, w=None) -> np.ndarray:
        w = np.ones(self.n) if w is None else np.asarray(w, float)
        return self.many(w[None, :])[0]

    def many(self, W) -> np.ndarray:
        """The metrics for each row of ``W`` (replicates x customers, case weights): (replicates, metrics)."""
        W = np.asarray(W, float)
        h = len(self.grid)
        WB = W @ self.ctrl                                  # (replicates, 2h)
        rows = []
        for j, w in enumerate(W):
            tot = w.sum()
            S = self.km.survival(w)
            wc = w[self.ev] / np.clip(self.km.at(S, self.iT), 1e-12, None)
            wt = 1 / np.clip(self.km.at(S, self.ig), 1e-12, None)
            out = []
            for m, (A, auc) in enumerate(self.models):
                b = (wc @ A + WB[j, m * h:(m + 1) * h] * wt) / tot
                for ci, order, lo, hi in auc:
                    a = wc[ci]
                    cw = np.empty(len(order) + 1)
                    cw[0] = 0.0
                    np.cumsum(w[order], out=cw[1:])
                    den = a.sum() * cw[-1]
                    out.append(float((a * (cw[lo] + 0.5 * (cw[hi] - cw[lo]))).sum() / den) if den > 0
                               else float("nan"))
                out += [b[k] for k in self.hidx]
                out.append(float(np.trapezoid(b, self.grid) / (self.grid[-1] - self.grid[0])) if len(self.grid) > 1
                           else float(b[0]))
            rows.append(out)
        return np.array(rows)

    def bootstrap(self, rng, n_boot: int) -> np.ndarray:
        """``n_boot`` resamples of the customers (``rng``'s draws in the order one at a time would take them)."""
        out = []
        for s in range(0, int(n_boot), self.BATCH):
            W = np.stack([np.bincount(rng.integers(0, self.n, self.n), minlength=self.n)
                          for _ in range(min(self.BATCH, int(n_boot) - s))])
            out.append(self.many(W))
        return np.vstack(out) if out else np.empty((0, len(self())))


def _test_window(wh, model, test_start, as_of, H, settings, key, chunk_customers=SCORE_CHUNK):
    """Follow-up (whole days, years), churn, tenure on the cohort date and the model's churn probability at each
    month to ``H`` of every customer at risk on ``test_start``: the customers in pseudonym order, their frames
    built and scored part by part (``crm_lib.data.sample.pseudonym_parts``) when there are more than
    ``chunk_customers`` of them, so the driver holds one part's features at a time; the warehouse computes
    each table once for everyone and the parts are read from it (``Warehouse.kept_results``). One part is
    the whole cohort in one query; parts give the same rows in the same order."""
    key = key or pseudonym_key()
    parts = score_parts(wh, test_start, chunk_customers)
    out = []
    with wh.kept_results():     # parts read one query per table (one part, None, is queried as it is)
        for part in parts:
            out.append(_score_part(wh, model, test_start, as_of, H, settings, key, part))
    if len(parts) > 1:
        logger.info("test window %s: %d customers scored in %d parts", test_start.date(), sum(len(o[0]) for o in out),
                    len(parts))
    return (*(np.concatenate([o[i] for o in out]) for i in range(4)), out[0][4])


def _score_part(wh, model, test_start, as_of, H, settings, key, part):
    """``_test_window``'s arrays for the customers of one part (``None``: everyone), and the horizon grid."""
    test = cohort_frame(wh, test_start, end=as_of, definition=settings.definition, key=key,
                        window_days=settings.window_days, aum_months=settings.aum_months, tiers=settings.tiers,
                        part=part)
    # whole days since the cohort date, and horizons in whole calendar months of days (12 months = 365 days
    # here, not 1.0 year): a customer censored on a horizon date is exactly at it (see follow_up_years)
    u, grid = follow_up_years(test["exit_date"], test_start, range(1, H + 1))
    # every horizon in one call: the design matrix is built once per part, not once per month
    P = (model.predict_churn_probability(test, grid).to_numpy() if len(test) else np.empty((0, len(grid))))
    return u, test["event"].to_numpy(), test["entry"].to_numpy(), P, grid


def out_of_time_validation(wh: Warehouse, as_of, settings: ChurnSettings, horizons_months=None,
                           covariates=cv.DYNAMIC, key: str | None = None,
                           chunk_customers: int = SCORE_CHUNK) -> Validation:
    """Train on earlier landmarks, test on the latest complete window, compare with Kaplan-Meier.

    Parameters
    ----------
    as_of : date-like
        End of the test window (usually the period end).
    settings : ChurnSettings
        Definition, landmarks, penalty, alpha, bootstrap size and seed, top share.
    horizons_months : sequence of int, optional
        Default ``settings.horizons_months``; the test window is the longest.
    chunk_customers : int
        The test window's customers are built and scored in parts of about this many (``SCORE_CHUNK``), so
        the driver's memory does not grow with the bank; the result does not depend on it.

    Returns
    -------
    Validation
        ``metrics``: ``metric`` (c_index = Harrell's C, uno_c = Uno's C truncated at the
        longest horizon, td_auc, brier, ibs), ``horizon_months``, ``model`` (cox, baseline,
        difference = cox - baseline), ``value``, ``lower``, ``upper``, ``ci_method``; higher is
        better for c_index, uno_c and td_auc, lower for brier and ibs.
        ``calibration``: ``horizon_months``, ``model``, then ``metrics.calibration_table``
        columns. ``precision``: ``horizon_months``, ``model``, then
        ``metrics.precision_at`` keys. ``gains``: ``horizon_months`` + ``metrics.gains_table``.

    Notes
    -----
    Time is counted in whole days from the cohort date (``follow_up_years``), so customers
    still there on a horizon date (censored exactly at it) are controls at that horizon.
    IPCW metrics estimate the censoring distribution on the test window (Kaplan-Meier,
    churns before censorings at tied days); cases weigh 1 / G(T-), controls 1 / G(t-)
    (``crm_lib.churn.metrics``). Both C-indices rank by the predicted churn probability at
    the longest horizon; Uno's C counts churns before it (tau = that horizon).

    Intervals: the C-indices by their infinitesimal-jackknife standard error (normal
    approximation; for Uno's C with the censoring weights held fixed); time-dependent AUC,
    Brier score and IBS by a paired percentile
    bootstrap of the test customers (``settings.n_boot`` replicates, ``settings.seed``),
    conditional on the fitted model. Observed churn in calibration and precision tables is
    1 - Kaplan-Meier within the group, with log-log intervals.
    """
    as_of = pd.Timestamp(as_of).normalize()
    hs = tuple(sorted(int(h) for h in (horizons_months or settings.horizons_months)))
    H = hs[-1]
    test_start = add_months(as_of, -H)
    model, train = fit_landmark_model(wh, add_months(test_start, -H), H, settings, covariates, key)
    train = train[TRAIN_KEPT]   # what the baseline and the counts read: the wide frame is freed before the test
    u, E, a, Pm, grid = _test_window(wh, model, test_start, as_of, H, settings, key, chunk_customers)
    if E.sum() == 0:
        raise NotEstimable(f"test window {test_start.date()}..{as_of.date()}: no churn events among {len(u):,} "
                           "customers (rule 'at least one event'), so the model cannot be validated",
                           "a test window with at least one churn makes it estimable")
    hidx = [h - 1 for h in hs]
    base = km_baseline(train)
    Pb = np.column_stack([base(a, g) for g in grid])
    z = stats.norm.ppf(1 - settings.alpha / 2)
    rows = []
    G = M.censoring_survival(u, E)
    (hm, um), (hb, ub) = (M.harrell_and_uno(u, E, P[:, -1], tau=grid[-1], G=G, influence=True) for P in (Pm, Pb))
    c_m, c_b = hm[0], hb[0]
    for metric, method, (vm, im), (vb, ib) in (("c_index", "infinitesimal jackknife", hm, hb),
                                               ("uno_c", "infinitesimal jackknife (censoring weights fixed)", um, ub)):
        for name, v, infl in (("cox", vm, im), ("baseline", vb, ib), ("difference", vm - vb, im - ib)):
            se = float(np.sqrt((infl ** 2).sum()))
            rows.append({"metric": metric, "horizon_months": H, "model": name, "value": v, "lower": v - z * se,
                         "upper": v + z * se, "ci_method": method})
    block = _WeightedBlock(u, E, Pm, Pb, grid, hidx)
    full = block()
    rng = np.random.default_rng(settings.seed)
    B = block.bootstrap(rng, settings.n_boot)
    names = [("td_auc", h) for h in hs] + [("brier", h) for h in hs] + [("ibs", H)]
    q = [100 * settings.alpha / 2, 100 * (1 - settings.alpha / 2)]
    for j, (metric, h) in enumerate(names):
        jb = j + len(names)
        for name, v, dist in (("cox", full[j], B[:, j]), ("baseline", full[jb], B[:, jb]),
                              ("difference", full[j] - full[jb], B[:, j] - B[:, jb])):
            lo, hi = np.nanpercentile(dist, q)
            rows.append({"metric": metric, "horizon_months": h, "model": name, "value": v, "lower": lo, "upper": hi,
                         "ci_method": f"percentile bootstrap ({settings.n_boot})"})
    cal, prec, gains = [], [], []
    for h in hs:
        t = grid[h - 1]
        for name, P in (("cox", Pm), ("baseline", Pb)):
            p = P[:, h - 1]
            cal.append(M.calibration_table(u, E, p, t, alpha=settings.alpha).assign(horizon_months=h, model=name))
            prec.append({"horizon_months": h, "model": name,
                         **M.precision_at(u, E, p, t, settings.warning_top_share, settings.alpha)})
        gains.append(M.gains_table(u, E, Pm[:, h - 1], t).assign(horizon_months=h))
    first = ["horizon_months", "model"]
    calibration = pd.concat(cal, ignore_index=True)
    calibration = calibration[first + [c for c in calibration.columns if c not in first]]
    gains_df = pd.concat(gains, ignore_index=True)
    gains_df = gains_df[["horizon_months"] + [c for c in gains_df.columns if c != "horizon_months"]]
    notes = list(model.notes_)
    logger.info("validation %s..%s: C %.3f vs baseline %.3f (n=%d)", test_start.date(), as_of.date(), c_m, c_b, len(u))
    return Validation(model=model, metrics=pd.DataFrame(rows), calibration=calibration, precision=pd.DataFrame(prec),
                      gains=gains_df, train_landmarks=sorted(train["landmark"].unique()), test_start=test_start,
                      as_of=as_of, n_train_rows=len(train), n_train_customers=int(train["customer_id"].nunique()),
                      n_test=len(u), test_events=int(E.sum()), horizons_months=hs,
                      top_share=settings.warning_top_share, n_boot=int(settings.n_boot), notes=notes,
                      alpha=float(settings.alpha))
