"""The next-best-product run of one period, end to end (what notebook 50 calls): results and facts.

Dates, with ``W`` the label window (``adoption.window_months``) and ``end`` the period end:

- validation: train at ``end - 2W`` (labels to ``end - W``), test at ``end - W`` (labels to
  ``end``): out of time, as ``crm_lib.churn.validation`` does;
- scoring: the logistic model refitted at ``end - W`` (the latest fully observed window)
  scores every customer at ``end``. The logistic model scores the list because its
  contributions give each recommendation its reasons; the gradient-boosting model is the
  challenger reported beside it.

``run_period`` returns a ``MarketingRun``; ``export_lists`` writes its lists into the pack and
``record_facts`` records its facts. The sentences and display tables are ``marketing.narrative``'s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from crm_lib import fmt
from crm_lib.data.store import Warehouse
from crm_lib.errors import NotEstimable
from crm_lib.marketing import nbp as N
from crm_lib.marketing import targeting as T
from crm_lib.marketing.adoption import AdoptionData, adoption_data
from crm_lib.marketing.models import PropensityModels, evaluate, popularity_baseline
from crm_lib.marketing.settings import check_products

logger = logging.getLogger(__name__)


@dataclass
class MarketingRun:
    """Everything notebook 50 shows: validation, the scoring model, next-best products and the list."""

    end: object
    rules: dict
    train: AdoptionData
    test: AdoptionData
    scoring: AdoptionData
    validation_models: dict          # {"logistic": PropensityModels, "hgb": PropensityModels}
    model: PropensityModels          # the scoring model (logistic, refitted at end - W)
    quality: pd.DataFrame
    lifts: dict
    calibration: dict
    nbp: N.NextBestProducts
    target: T.TargetList
    balance: pd.DataFrame
    value: pd.DataFrame
    model_version: str
    timings: dict                    # seconds per step: data, validation, scoring, lists


def model_version(model: PropensityModels, train_as_of) -> str:
    """``<kind>@<training as-of>#<hash of features and coefficients>``: changes whenever the model does."""
    blob = json.dumps({"features": model.features_, "coef": model.coef_.round(8).to_dict() if len(model.coef_) else {},
                       "kind": model.kind, "C": model.C}, sort_keys=True, default=str)
    return f"{model.kind}@{train_as_of}#{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def run_period(wh: Warehouse, end, rules: dict, params: dict | None = None, alpha: float = 0.05,
               seed: int = 0, key: str | None = None, period: str = "") -> MarketingRun:
    """Validate, score, recommend and build the target list for the period ending ``end``.

    Raises
    ------
    ConfigError
        A product in the margin or eligibility table that the bank does not hold.
    NotEstimable
        No product has enough adoptions to be modelled.
    DataContractError
        No eligible pair, no consenting customer, or nobody left to contact.
    """
    params = params or {}
    a = rules["adoption"]
    W = int(a["window_months"])
    end = pd.Timestamp(end).date()
    test_as_of = (pd.Timestamp(end) - pd.DateOffset(months=W)).date()
    train_as_of = (pd.Timestamp(end) - pd.DateOffset(months=2 * W)).date()
    clock = [time.perf_counter()]
    timings: dict = {}

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(timings.get(name, 0.0) + now - clock[0], 2)
        clock[0] = now

    cap = a.get("model_sample_customers")   # the windows of a larger bank: a stratified sample; scoring: everyone
    train = adoption_data(wh, train_as_of, W, params, key, sample=cap)
    skipped = check_products(rules, list(train.at_risk.columns), train.features["customer_type"].dropna().unique())
    if skipped:
        logger.info("products skipped, no customer of their type in this bank: %s", skipped)
    test = adoption_data(wh, test_as_of, W, params, key, sample=cap)
    products = [p for p in train.at_risk.columns if p in rules["products"]]
    lap("data")
    kw = dict(C=float(a["C"]), min_events=int(a["min_events"]), hgb_max_iter=int(a["hgb_max_iter"]),
              calibration_folds=int(a["calibration_folds"]), max_train_rows=int(a["max_train_rows"]), seed=seed)
    vm = {k: PropensityModels(k, **kw).fit(train, products) for k in ("logistic", "hgb")}
    if not vm["logistic"].models_:
        raise NotEstimable(f"no product has {a['min_events']} or more adoptions in the training window "
                           f"{train_as_of} to {test_as_of}", "use a longer adoption.window_months or more history")
    scores = {k: m.predict(test) for k, m in vm.items()}
    scores["popularity baseline"] = popularity_baseline(train, test)[list(vm["logistic"].models_)]
    quality, lifts, cal = evaluate(scores, test, alpha, min_events=max(5, int(a["min_events"]) // 2))
    model = PropensityModels("logistic", **kw).fit(test, products)
    version = model_version(model, test_as_of)
    lap("validation_and_fit")
    scoring = adoption_data(wh, end, None, params, key)
    lap("data")
    t = rules["targeting"]
    offers_cool = N.recent_offers(wh, end, int(t["cooling_off_days"]), key)
    offers_fatigue = N.recent_offers(wh, end, int(t["fatigue_days"]), key)
    prop = model.predict(scoring)
    lap("score_all_products")
    nb = N.next_best_products(scoring, prop, rules, offers_cool)
    lap("next_best")
    target = T.build_target_list(nb, scoring.features, rules, offers_fatigue, None, alpha, seed, end, period, version)
    # reasons in words for the selected customers only (both arms: the review reads the assignment)
    target = T.attach_reasons(target, N.reasons(model, scoring, nb.best.loc[target.assignment["customer_id"]]))
    cov = scoring.X[["age", "log_income", "log_aum", "tenure_years", "n_products"]]
    balance = T.balance_test(target.assignment, cov)
    value = T.list_value(target.assignment, alpha)
    lap("lists")
    logger.info("next-best product %s: %s", period or end, timings)
    return MarketingRun(end, rules, train, test, scoring, vm, model, quality, lifts, cal, nb, target, balance, value,
                        version, timings)


STEP_WORDS = {"no_consent": "no marketing consent", "fatigue_cap": "at or over the contact-fatigue cap",
              "no_allowed_product": "no product allowed (held, ineligible, cooling off or not modelled)",
              "below_list_cutoff": "below the list's expected-value cut-off"}


def lift_frame(run: MarketingRun, scorer: str = "logistic") -> pd.DataFrame:
    """Lift by decile per product (columns) for ``scorer``: the frame ``plots.lift_by_decile_plot`` draws."""
    cols = {p: t["lift"] for (p, s), t in run.lifts.items() if s == scorer}
    return pd.DataFrame(cols)


def calibration_frame(run: MarketingRun, scorer: str = "logistic") -> pd.DataFrame:
    """Calibration tables of ``scorer`` stacked with a ``product`` column."""
    parts = [t.assign(product=p) for (p, s), t in run.calibration.items() if s == scorer]
    return pd.concat(parts) if parts else pd.DataFrame()


def export_lists(run: MarketingRun, ctx) -> dict[str, Path]:
    """Write the contact list, the assignment and the manifest into the pack folder (a temp folder when interactive)."""
    folder = Path(ctx.facts_dir).parent if getattr(ctx, "facts_dir", None) else \
        Path(tempfile.gettempdir()) / "crm-workbench"
    return T.write_lists(run.target, folder, f"next_best_product_{ctx.period.label}")


def record_facts(facts, run: MarketingRun, alpha: float) -> None:
    """Record notebook 50's headline numbers."""
    level = fmt.level(alpha)
    for r in run.quality.dropna(subset=["auc"]).itertuples():
        key = {"logistic": "auc", "hgb": "auc_hgb", "popularity baseline": "auc_baseline"}[r.scorer]
        facts.record(f"nbp_{key}_{r.product}", r.auc, "AUC (0-1)",
                     f"out-of-time AUC of the {r.scorer} adoption score for {r.product}: features at {run.test.as_of}, "
                     f"adoption by {run.test.window_end}", n=int(r.n), ci=(r.auc_lower, r.auc_upper), ci_level=level,
                     uncertainty="DeLong interval", events=int(r.events))
    m, v = run.target.manifest, run.value.loc["all"]
    facts.record("nbp_list_contacts", m["n_treatment"], "customers", "customers on the next-best-product contact list",
                 uncertainty="census count: no sampling error", headline=True)
    facts.record("nbp_list_control", m["n_control"], "customers",
                 "customers held out of the list as a random control (power calculation for the planned uplift)",
                 uncertainty="census count: no sampling error", power=run.target.control["power"])
    facts.record("nbp_list_expected_value", v["expected_value"], "currency",
                 f"sum over the contact list of propensity x margin over {run.rules['horizon_years']:g} year(s)",
                 n=int(v["customers"]), ci=(v["ci_lower"], v["ci_upper"]), ci_level=level,
                 uncertainty="range of the realised value if the propensities are right (normal approximation to a "
                             "Poisson-binomial)", headline=True)
    for step, k in m["excluded_customers_by_step"].items():
        facts.record(f"nbp_excluded_{step}", k, "customers", f"active customers removed from the list: {STEP_WORDS[step]}",
                     uncertainty="census count: no sampling error")
    logger.debug("recorded next-best-product facts for %s", run.end)


def record_previous_list_fact(facts, ev, manifest: dict, alpha: float) -> None:
    r = ev.loc["all"]
    facts.record("nbp_previous_list_uplift", r["uplift"], "proportion",
                 f"adoption of the offered product among contacted customers minus among the held-out control, "
                 f"list of {manifest.get('period', '')} drawn on {manifest.get('as_of', '')}",
                 n=int(r["n_treatment"] + r["n_control"]), ci=(r["uplift_ci_lower"], r["uplift_ci_upper"]),
                 ci_level=fmt.level(alpha), p_value=r["p_value"], uncertainty="Newcombe hybrid score interval",
                 n_treatment=int(r["n_treatment"]), n_control=int(r["n_control"]),
                 rate_treatment=r["rate_treatment"], rate_control=r["rate_control"],
                 list_period=str(manifest.get("period", "")), list_as_of=str(manifest.get("as_of", "")),
                 model_version=str(manifest.get("model_version", "")),
                 planned_uplift=(manifest.get("control") or {}).get("planned_uplift"))
