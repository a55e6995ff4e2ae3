"""Sentences and display tables of notebook 50_next_best_product, from ``marketing.report``'s results.

Every value taken from data or parameters is escaped (``crm_lib.fmt.esc``/``label``) before it
goes into Markdown; intervals are labelled with the run's alpha (``fmt.ci_label``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from crm_lib import fmt
from crm_lib.fmt import ci_label, esc, label, money, pct
from crm_lib.marketing.report import STEP_WORDS, MarketingRun

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


def export_md(paths: dict[str, Path], run: MarketingRun) -> str:
    return (f"The contact list ({run.target.manifest['n_treatment']:,} rows: pseudonymous customer ID, rank, product, "
            f"propensity, margin, expected value and three reasons; no names or contact details) is exported as "
            f"{fmt.code(paths['contacts_csv'].name)} and {fmt.code(paths['contacts_parquet'].name)}. The held-out "
            f"control is never on it: the assignment of both arms, {fmt.code(paths['assignment'].name)}, is what a "
            f"later review compares (adoption among treated vs control), and {fmt.code(paths['manifest'].name)} records "
            f"the model version, as-of date, rules and the customers excluded at each step. Folder: "
            f"{fmt.code(paths['manifest'].parent)}.")


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


