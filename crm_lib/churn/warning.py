"""The early-warning list: who is most likely to churn within the horizon, what is at stake, and why.

The score comes from the landmark model (current behaviour as of the list date), fitted
on the latest landmarks whose follow-up has completed. Each listed customer gets their
churn probability, their relationship CLV and the value at risk, CLV x probability (``crm_lib.clv``,
rates in ``parameters/clv.yaml``), their assets and the assets at risk (column ``value_at_risk``:
AUM x probability, kept for continuity), and the three covariates that raise their log-hazard
most above the average customer's, in words. Identifiers are pseudonyms; nothing personal is listed.

The list is ranked by churn probability (``rank_by="churn_probability"``, the default): that is the
ranking the out-of-time validation measures, so its precision applies to the list.
``rank_by="clv_at_risk"`` lists the customers with the most value at risk instead (large relationships
with moderate risk come first; the validated precision then no longer describes the list).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crm_lib.churn import covariates as cv
from crm_lib.churn.cox import ChurnCox
from crm_lib.churn.frame import SCORE_CHUNK, add_months, keep_columns, snapshot
from crm_lib.churn.settings import ChurnSettings
from crm_lib.churn.validation import fit_landmark_model
from crm_lib.data.export import write_csv
from crm_lib.data.privacy import assert_no_pii
from crm_lib.data.store import Warehouse
from crm_lib.errors import DataContractError
from crm_lib.fmt import N_, _

logger = logging.getLogger(__name__)

PSEUDONYM = re.compile(r"^P[0-9a-f]{15}$")
MIN_REASON = np.log(1.05)        # a reason must raise the hazard by at least 5%
RANKINGS = ("churn_probability", "clv_at_risk")
# Added to ``WarningList.clv_note`` when a list asked to be ranked by CLV at risk has no CLV (translated where shown).
RANKED_BY_PROBABILITY_INSTEAD = N_("; the list is ranked by churn probability instead of CLV at risk")
LIST_COLUMNS = ["rank", "customer_id", "churn_probability", "aum", "value_at_risk", "clv", "clv_at_risk",
                "customer_type", "tier", "tenure_years", "reason_1", "reason_2", "reason_3"]


def scored_columns(covariates):
    """A ``snapshot`` ``reduce``: each part cut to what the list reads (the model's covariates' columns, the CLV's
    tenure and type, assets, tier)."""
    return keep_columns(["customer_id", "customer_type", "tier", "entry", "aum_avg", *cv.frame_columns(covariates)])


def reasons(model: ChurnCox, frame: pd.DataFrame, n: int = 3, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``n`` covariates that raise each customer's log-hazard most above the average customer's, in words.

    A covariate's contribution is ``coef * (value - training mean)``; only contributions
    raising the hazard by at least 5% are reasons. The words give the customer's value, the
    typical (median) value in ``reference`` (default ``frame``) and the factor on the hazard,
    e.g. ``"assets -24% in 3 months (typical +1%) x7.8"``, in the run's language (``crm_lib.fmt._``).

    Returns
    -------
    DataFrame indexed like ``frame`` with ``reason_1`` .. ``reason_<n>`` (empty string when
    fewer covariates raise the risk).
    """
    C = model.contributions(frame)
    ref = frame if reference is None else reference
    w = model.window_days
    typical = {c: float(np.nanmedian(cv.shown_values(ref, c, w).astype(float))) for c in C.columns}
    shown = {c: cv.shown_values(frame, c, w).astype(float).to_numpy() for c in C.columns}
    vals = C.to_numpy()
    order = np.argsort(-vals, axis=1)[:, :n]
    cols = list(C.columns)
    out = np.full((len(frame), n), "", dtype=object)
    for i in range(len(frame)):
        for k in range(min(n, len(cols))):
            j = order[i, k]
            c = vals[i, j]
            if not c > MIN_REASON:
                break
            name = cols[j]
            lab = cv.label(name, w)
            if cv.is_binary(name, shown[name]):
                text = lab if shown[name][i] >= 0.5 else _("not {covariate}").format(covariate=lab)
            else:
                fmt = cv.formatter(name)
                spec = cv.REGISTRY.get(name)
                v, ref = fmt(shown[name][i]), fmt(typical[name])
                if spec is not None and spec.phrase:      # the registry's words ({v}, {ref}, {w})
                    text = _(spec.phrase).format(v=v, ref=ref, w=w)
                else:
                    text = _("{covariate} {value} (typical {typical})").format(covariate=lab, value=v, typical=ref)
            out[i, k] = _("{reason} x{factor}").format(reason=text, factor=f"{np.exp(c):.1f}")
    return pd.DataFrame(out, index=frame.index, columns=[f"reason_{k + 1}" for k in range(n)])


def score(model: ChurnCox, snap: pd.DataFrame, horizon_months: int, clv: pd.Series | None = None) -> pd.DataFrame:
    """Churn probability within ``horizon_months`` for every customer in ``snap``, vectorised.

    Parameters
    ----------
    clv : Series indexed like ``snap``, optional
        Each customer's relationship CLV (currency, ``crm_lib.churn.value.point_clv``).

    Returns
    -------
    DataFrame with ``customer_id``, ``churn_probability`` (0-1), ``log_hazard`` (against the
    training-average customer), ``aum`` (currency), ``value_at_risk`` (aum x probability); with
    ``clv`` also ``clv`` and ``clv_at_risk`` (clv x probability, currency).
    """
    p = model.predict_churn_probability(snap, horizon_months / 12)
    lh = model.predict_log_hazard(snap)
    aum = pd.to_numeric(snap.get("aum_avg", pd.Series(0.0, index=snap.index)), errors="coerce").fillna(0.0)
    out = pd.DataFrame({"customer_id": snap["customer_id"].to_numpy(), "churn_probability": p.to_numpy(),
                        "log_hazard": lh.to_numpy(), "aum": aum.to_numpy(), "value_at_risk": (p * aum).to_numpy()},
                       index=snap.index)
    if clv is not None:
        c = clv.reindex(snap.index).to_numpy(float)
        out["clv"] = c
        out["clv_at_risk"] = p.to_numpy() * c
    return out


@dataclass
class WarningList:
    """The list, how it was made, and the base it was drawn from.

    ``scores`` holds every active customer scored (``score`` columns); ``n_scored`` counts them;
    ``expected_churners_scored`` and ``value_at_risk_scored`` sum probability and assets at risk
    (AUM x probability) over all of them (``clv_at_risk_scored``: CLV x probability; NaN when CLV could not be
    computed, with the reason in ``clv_note``); ``cutoff_probability`` is the lowest probability
    on the list; ``rank_by`` the column the list is ranked by; ``clv_assumptions`` the CLV's
    horizon, discount rate and margin rates in words (``ClvSettings.describe``).
    """

    table: pd.DataFrame
    scores: pd.DataFrame
    model: ChurnCox
    as_of: pd.Timestamp
    horizon_months: int
    top_share: float
    n_scored: int
    expected_churners_scored: float
    value_at_risk_scored: float
    cutoff_probability: float
    clv_at_risk_scored: float = float("nan")
    clv_note: str = ""
    rank_by: str = "churn_probability"
    clv_assumptions: str = ""


def early_warning(wh: Warehouse, as_of, settings: ChurnSettings, covariates=cv.DYNAMIC, key: str | None = None,
                  model: ChurnCox | None = None, clv_settings=None, rank_by: str = "churn_probability",
                  chunk_customers: int | None = SCORE_CHUNK) -> WarningList:
    """Score every active customer as of ``as_of`` and list the ``warning_top_share`` most at risk.

    Parameters
    ----------
    model : ChurnCox, optional
        A fitted landmark model; default: fit one on the landmarks ending
        ``warning_horizon_months`` before ``as_of`` (their follow-up is complete by then).
    rank_by : {"churn_probability", "clv_at_risk"}
        What puts a customer on the list (see the module docstring). Ranking by CLV at risk
        when CLV cannot be computed falls back to the probability and says so in ``clv_note``.
    chunk_customers : int, optional
        The active customers' features are built in parts of about this many (``crm_lib.churn.snapshot``), each
        cut to the columns the model, the CLV and the list read, so the driver never holds every customer's ~70
        columns; the list does not depend on it. ``None``: one query.

    Returns
    -------
    WarningList
        ``table`` columns (``LIST_COLUMNS``): ``rank``, ``customer_id`` (pseudonym),
        ``churn_probability`` (within the horizon, 0-1), ``aum`` (currency),
        ``value_at_risk`` (aum x probability, currency), ``clv`` (relationship CLV if retained: the
        landmark model's survival with recent behaviour at the average, margins of
        ``parameters/clv.yaml``, currency),
        ``clv_at_risk`` (clv x probability, currency), ``customer_type``, ``tier``,
        ``tenure_years``, ``reason_1``..``reason_3``.
    """
    if rank_by not in RANKINGS:
        raise ValueError(f"early warning: rank_by = {rank_by!r} breaks rule 'one of {list(RANKINGS)}'")
    as_of = pd.Timestamp(as_of).normalize()
    h = int(settings.warning_horizon_months)
    if model is None:
        model, _frame = fit_landmark_model(wh, add_months(as_of, -h), h, settings, covariates, key)
    snap = snapshot(wh, as_of, settings.definition, key, settings.window_days, settings.aum_months, settings.tiers,
                    chunk_customers=chunk_customers, reduce=scored_columns(model.covariates_))
    if snap.empty:
        raise DataContractError(f"customers: nobody is active on {as_of.date()} (rule 'customers to score')")
    clv, clv_note, clv_assumptions = _clv(wh, as_of, snap, model, settings, key, clv_settings)
    s = score(model, snap, h, clv)
    k = max(1, int(np.ceil(settings.warning_top_share * len(s))))
    if rank_by == "clv_at_risk" and clv_note:
        clv_note += RANKED_BY_PROBABILITY_INSTEAD
        rank_by = "churn_probability"
    keys = ["churn_probability", "customer_id"] if rank_by == "churn_probability" else \
        [rank_by, "churn_probability", "customer_id"]
    top = s.sort_values(keys, ascending=[False] * (len(keys) - 1) + [True]).head(k)
    listed = snap.loc[top.index]
    why = reasons(model, listed, reference=snap)
    table = pd.DataFrame({
        "rank": np.arange(1, k + 1), "customer_id": top["customer_id"].to_numpy(),
        "churn_probability": top["churn_probability"].to_numpy(), "aum": top["aum"].to_numpy(),
        "value_at_risk": top["value_at_risk"].to_numpy(), "clv": top["clv"].to_numpy(),
        "clv_at_risk": top["clv_at_risk"].to_numpy(), "customer_type": listed["customer_type"].to_numpy(),
        "tier": listed["tier"].fillna("unknown").to_numpy(), "tenure_years": listed["entry"].to_numpy(),
        **{c: why[c].to_numpy() for c in why.columns}})
    logger.info("early warning %s: %d of %d customers listed (p >= %.3f)", as_of.date(), k, len(s),
                float(table["churn_probability"].min()))
    return WarningList(table=table[LIST_COLUMNS], scores=s.reset_index(drop=True), model=model, as_of=as_of,
                       horizon_months=h,
                       top_share=settings.warning_top_share, n_scored=len(s),
                       expected_churners_scored=float(s["churn_probability"].sum()),
                       value_at_risk_scored=float(s["value_at_risk"].sum()),
                       cutoff_probability=float(table["churn_probability"].min()),
                       clv_at_risk_scored=float(s["clv_at_risk"].sum(min_count=1)), clv_note=clv_note,
                       rank_by=rank_by, clv_assumptions=clv_assumptions)


def _clv(wh, as_of, snap, model, settings, key, clv_settings) -> tuple[pd.Series, str, str]:
    """Point relationship CLV of every scored customer, or NaN and the reason; and the assumptions in words.

    Survival from ``model`` with its short-term behaviour covariates (those not in
    ``covariates.EXPLANATORY``) held at the average: the value the bank keeps if the customer
    is retained, which the churn probability then puts at risk.

    The list never fails for want of a margin table: a missing product or segment in
    ``parameters/clv.yaml`` leaves CLV empty and says why (``WarningList.clv_note``).
    """
    from crm_lib.churn.value import point_clv
    from crm_lib.margin import ClvSettings, warehouse_margin
    from crm_lib.errors import ConfigError

    cs = None
    try:
        cs = clv_settings or ClvSettings.load()
        margin = warehouse_margin(wh, as_of, cs, key, settings.aum_months)
        behaviour = [c for c in model.covariates_ if c not in cv.EXPLANATORY]
        return point_clv(snap, margin, model, cs, at_mean=behaviour), "", cs.describe()
    except (DataContractError, ConfigError, ValueError) as e:
        note = f"CLV not computed: {str(e).splitlines()[0]}"
        logger.warning("early warning: %s", note)
        return pd.Series(np.nan, index=snap.index, name="clv"), note, cs.describe() if cs is not None else ""


def export_warning_list(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the list to ``path`` (``.csv`` or ``.parquet``) atomically, after privacy checks.

    A CSV starts with one note line and has its text cells neutralised against spreadsheet
    formulas (``crm_lib.data.export``); read it back with ``pd.read_csv(path, skiprows=1)``.

    Raises
    ------
    DataContractError
        A PII column is present, or a ``customer_id`` is not a pseudonym (``P`` + 15 hex
        digits) -- a raw identifier must never leave the warehouse.
    """
    path = Path(path)
    try:
        assert_no_pii(table, "warning list")
    except ValueError as e:
        raise DataContractError(str(e)) from None
    bad = table.loc[~table["customer_id"].astype(str).str.match(PSEUDONYM), ["customer_id"]]
    if len(bad):
        raise DataContractError(f"warning list.customer_id: {len(bad)} row(s) break rule 'pseudonymous identifier "
                                f"(P + 15 hex digits)'; build the list with crm_lib.churn.early_warning, e.g.\n"
                                f"{bad.head(3).to_string(index=False)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".csv":
        write_csv(table, tmp, float_format="%.6g")   # text cells cannot become spreadsheet formulas
    elif path.suffix == ".parquet":
        table.to_parquet(tmp, index=False)
    else:
        raise ValueError(f"{path}: export as .csv or .parquet")
    os.replace(tmp, path)
    logger.info("warning list written to %s (%d rows)", path, len(table))
    return path
