"""Prose, tables and facts of notebook 50_next_best_product.

Every value taken from data or parameters is escaped (``crm_lib.fmt.esc``/``label``) before it
goes into Markdown; intervals are labelled with the run's alpha (``fmt.ci_label``).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd

from crm_lib import fmt
from crm_lib.fmt import ci_label, esc, label, money, pct
from crm_lib.marketing import targeting as T
from crm_lib.marketing.pipeline import MarketingRun

logger = logging.getLogger(__name__)

STEP_WORDS = {"no_consent": "no marketing consent", "fatigue_cap": "at or over the contact-fatigue cap",
              "no_allowed_product": "no product allowed (held, ineligible, cooling off or not modelled)",
              "below_list_cutoff": "below the list's expected-value cut-off"}
REMAINING_WORDS = {"no_consent": "with marketing consent", "fatigue_cap": "under the fatigue cap",
                   "no_allowed_product": "with an allowed product", "below_list_cutoff": "on the list"}
RULE_WORDS = {"not_active": "not an active customer", "held": "already holds the product",
              "customer_type": "wrong customer type", "min_age": "below the minimum age", "max_age": "above the maximum age",
              "tiers": "value tier not eligible", "max_credit_rating": "credit rating below the minimum",
              "cooling_off": "offered the product within the cooling-off window", "not_modelled": "product not modelled"}


def _auc(q: pd.Series) -> str:
    if fmt.missing(q.get("auc")):
        return "not evaluable"
    return f"{q['auc']:.3f} ({q['auc_lower']:.3f}-{q['auc_upper']:.3f})"


def headline_md(run: MarketingRun, alpha: float) -> str:
    """Headline sentences: modelled products, the best lift over the baseline, the list and its value."""
    q = run.quality
    lr, base = q[q["scorer"] == "logistic"].set_index("product"), q[q["scorer"] == "popularity baseline"].set_index("product")
    ok = lr["auc"].notna()
    gain = (lr.loc[ok, "auc"] - base["auc"].reindex(lr.index[ok])).dropna()
    v = run.value.loc["all"]
    tl = run.target
    offered = [p for p in run.train.at_risk.columns if p in run.rules["products"]]
    parts = [f"- **{len(run.model.models_)} product(s) modelled** of the {len(offered)} in the margin table; "
             f"adoption means a first opening within {run.rules['adoption']['window_months']} months."]
    if len(gain):
        best = gain.idxmax()
        parts.append(f"- Out of time, the logistic model beats the segment-popularity baseline on {int((gain > 0).sum())} "
                     f"of {len(gain)} evaluable product(s); largest gain: {label(best)} (AUC {_auc(lr.loc[best])} vs "
                     f"{_auc(base.loc[best])}, {ci_label(alpha)}).")
    parts.append(f"- **Target list: {tl.manifest['n_treatment']:,} customers to contact** and "
                 f"{tl.manifest['n_control']:,} held out as a random control, from {tl.manifest['active_customers']:,} "
                 f"active customers ({tl.manifest['excluded_customers_by_step']['no_consent']:,} without marketing consent "
                 "were never considered).")
    parts.append(f"- Expected value of the contact list: **{money(v['expected_value'])}** "
                 f"({ci_label(alpha)} {money(v['ci_lower'])}-{money(v['ci_upper'])}; the range the realised value "
                 f"falls in if the propensities are right), from {v['expected_adopters']:.1f} expected adoptions over "
                 f"{run.rules['horizon_years']:g} year(s) of margin.")
    if tl.control["note"]:
        parts.append(f"- The control group is {esc(tl.control['note'])}.")
    return "\n".join(parts)


def design_md(run: MarketingRun) -> str:
    return (f"Training: features as of **{run.train.as_of}**, adoptions to {run.train.window_end}. "
            f"Test (out of time): features as of **{run.test.as_of}**, adoptions to {run.test.window_end}. "
            f"The list is scored at **{run.scoring.as_of}** by the logistic model refitted on the test window "
            f"(model version {fmt.code(run.model_version)}). Rules: {fmt.code(Path(str(run.rules.get('source', ''))).name)}.")


def skipped_md(run: MarketingRun) -> str:
    sk = run.validation_models["logistic"].skipped_
    if not sk:
        return "Every product in the margin table had enough adoptions to be modelled."
    return "Not modelled (too few adoptions to learn from):\n\n" + "\n".join(
        f"- {label(p)}: {esc(r)}" for p, r in sorted(sk.items()))


def quality_display(run: MarketingRun, alpha: float) -> pd.DataFrame:
    """Per product and scorer: customers at risk, adoptions, AUC with its interval, top-decile lift, Brier score."""
    q = run.quality.dropna(subset=["auc"])
    return pd.DataFrame({
        "product": q["product"].str.replace("_", " ").to_numpy(), "model": q["scorer"].to_numpy(),
        "customers at risk": q["n"].to_numpy(), "adoptions": q["events"].to_numpy(),
        "adoption rate": [pct(v) for v in q["rate"]], f"AUC ({ci_label(alpha)})": [_auc(r) for _, r in q.iterrows()],
        "top-decile lift": [f"{v:.2f}" for v in q["top_decile_lift"]], "Brier score": [f"{v:.4f}" for v in q["brier"]],
    })


def lift_frame(run: MarketingRun, scorer: str = "logistic") -> pd.DataFrame:
    """Lift by decile per product (columns) for ``scorer``: the frame ``plots.lift_by_decile_plot`` draws."""
    cols = {p: t["lift"] for (p, s), t in run.lifts.items() if s == scorer}
    return pd.DataFrame(cols)


def calibration_frame(run: MarketingRun, scorer: str = "logistic") -> pd.DataFrame:
    """Calibration tables of ``scorer`` stacked with a ``product`` column."""
    parts = [t.assign(product=p) for (p, s), t in run.calibration.items() if s == scorer]
    return pd.concat(parts) if parts else pd.DataFrame()


def coefficients_display(run: MarketingRun) -> pd.DataFrame:
    """Log-odds per one standard deviation of each feature (scoring model), rounded; blank where unused."""
    c = run.model.coef_std_.T.round(2)
    c.columns = [str(p).replace("_", " ") for p in c.columns]
    return c.astype(object).where(c.notna(), "")


def list_display(run: MarketingRun, rows: int = 20) -> pd.DataFrame:
    t = run.target.contacts.head(rows)
    return pd.DataFrame({"customer (pseudonym)": t["customer_id"].to_numpy(),
                         "product": t["product"].str.replace("_", " ").to_numpy(),
                         "propensity": [pct(v) for v in t["propensity"]], "margin": [money(v) for v in t["margin"]],
                         "expected value": [money(v) for v in t["expected_value"]],
                         **{f"reason {i}": t[f"reason_{i}"].to_numpy() for i in (1, 2, 3) if f"reason_{i}" in t}},
                        index=pd.Index(t["rank"].to_numpy(), name="rank"))


def value_display(run: MarketingRun, alpha: float) -> pd.DataFrame:
    v = run.value
    return pd.DataFrame({"customers": v["customers"].to_numpy(),
                         "expected adoptions": [f"{x:.1f}" for x in v["expected_adopters"]],
                         "expected value": [money(x) for x in v["expected_value"]],
                         ci_label(alpha): [f"{money(a)}-{money(b)}" for a, b in zip(v["ci_lower"], v["ci_upper"])]},
                        index=pd.Index([str(i).replace("_", " ") for i in v.index], name="product"))


def exclusions_display(run: MarketingRun) -> pd.DataFrame:
    e = run.target.exclusions
    return pd.DataFrame({"customers removed": e["customers"].to_numpy(), "customers remaining": e["remaining"].to_numpy()},
                        index=pd.Index([STEP_WORDS.get(s, s) for s in e["step"]], name="step (in order)"))


def pair_exclusions_display(run: MarketingRun) -> pd.DataFrame:
    s = run.target.pair_exclusions
    return pd.DataFrame({"customer-product pairs removed": s.to_numpy()},
                        index=pd.Index([RULE_WORDS.get(k, k) for k in s.index], name="rule (first that applies)"))


def balance_display(run: MarketingRun) -> pd.DataFrame:
    b = run.balance
    return pd.DataFrame({"treatment mean": [fmt.significant(v) for v in b["mean_treatment"]],
                         "control mean": [fmt.significant(v) for v in b["mean_control"]],
                         "standardised difference": [fmt.number(v, 3) for v in b["smd"]],
                         "p-value": [fmt.p_value(v) for v in b["p_value"]]},
                        index=pd.Index([str(i).replace("_", " ") for i in b.index], name="covariate"))


def control_md(run: MarketingRun, alpha: float) -> str:
    c = run.target.control
    return (f"The control group is drawn at random (seeded) from the selected customers, so treated and held-out "
            f"customers differ only by chance. Its size is the smallest that detects an adoption uplift of "
            f"**{pct(c['planned_uplift'])}** over the list's mean propensity ({pct(c['baseline_rate'])}) with power "
            f"{c['power']:.2f} at a {fmt.significance(alpha)} two-sided level (two independent proportions, Cohen's h "
            f"= {c['effect_size_h']:.3f}): **{c['n_control']:,} control** and {c['n_treatment']:,} treated. "
            + (esc(c["note"]).capitalize() + "." if c["note"] else "")
            + " The balance table below tests that the arms are alike (a p-value below the significance level on "
              "one covariate in twenty is expected by chance).")


def export_lists(run: MarketingRun, ctx) -> dict[str, Path]:
    """Write the contact list, the assignment and the manifest into the pack folder (a temp folder when interactive)."""
    folder = Path(ctx.facts_dir).parent if getattr(ctx, "facts_dir", None) else \
        Path(tempfile.gettempdir()) / "crm-workbench"
    return T.write_lists(run.target, folder, f"next_best_product_{ctx.period.label}")


def export_md(paths: dict[str, Path], run: MarketingRun) -> str:
    return (f"The contact list ({run.target.manifest['n_treatment']:,} rows: pseudonymous customer ID, rank, product, "
            f"propensity, margin, expected value and three reasons; no names or contact details) is exported as "
            f"{fmt.code(paths['contacts_csv'].name)} and {fmt.code(paths['contacts_parquet'].name)}. The held-out "
            f"control is never on it: the assignment of both arms, {fmt.code(paths['assignment'].name)}, is what a "
            f"later review compares (adoption among treated vs control), and {fmt.code(paths['manifest'].name)} records "
            f"the model version, as-of date, rules and the customers excluded at each step. Folder: "
            f"{fmt.code(paths['manifest'].parent)}.")


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



def previous_list_md(ev, manifest: dict, until, alpha: float) -> str:
    """The earlier list's outcome in words: adoption among treated vs held-out control."""
    r = ev.loc["all"]
    if fmt.missing(r.get("uplift")):
        return (f"The list of {esc(manifest.get('period', ''))} has no control group or no treated customers; "
                "its effect cannot be estimated.")
    return (f"The list drawn on {esc(manifest.get('as_of', ''))} for {esc(manifest.get('period', ''))} (model "
            f"{fmt.code(manifest.get('model_version', ''))}): by {until}, **{pct(r['rate_treatment'])}** of the "
            f"{int(r['n_treatment']):,} contacted customers had opened the offered product against "
            f"**{pct(r['rate_control'])}** of the {int(r['n_control']):,} held out; uplift "
            f"{fmt.pp(r['uplift'])} ({ci_label(alpha)} {fmt.pp(r['uplift_ci_lower'])} to {fmt.pp(r['uplift_ci_upper'])}, "
            f"{fmt.p_text(r['p_value'])}).")


def previous_list_display(ev, alpha: float) -> pd.DataFrame:
    return pd.DataFrame({"treated": ev["n_treatment"].astype(int).to_numpy(), "control": ev["n_control"].astype(int).to_numpy(),
                         "adoption, treated": [pct(v) for v in ev["rate_treatment"]],
                         "adoption, control": [pct(v) for v in ev["rate_control"]],
                         f"uplift ({ci_label(alpha)})": [f"{fmt.pp(u)} ({fmt.pp(lo)} to {fmt.pp(hi)})"
                                                         for u, lo, hi in zip(ev["uplift"], ev["uplift_ci_lower"],
                                                                              ev["uplift_ci_upper"])],
                         "p-value": [fmt.p_value(v) for v in ev["p_value"]]},
                        index=pd.Index([str(i).replace("_", " ") for i in ev.index], name="product"))


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
