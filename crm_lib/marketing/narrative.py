"""Sentences and display tables of notebook 50_next_best_product, from ``marketing.report``'s results.

Every value taken from data or parameters is escaped (``crm_lib.fmt.esc``/``label``) before it
goes into Markdown; intervals are labelled with the run's alpha (``fmt.ci_label``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from crm_lib import fmt
from crm_lib.fmt import N_, _, ci_label, esc, label, money, pct
from crm_lib.marketing.nbp import FEATURE_WORDS
from crm_lib.marketing.report import STEP_WORDS, MarketingRun

# Words for codes the library defines, marked for extraction and translated where shown (``_(x)``).
REMAINING_WORDS = {"no_consent": N_("with marketing consent"), "fatigue_cap": N_("under the fatigue cap"),
                   "no_allowed_product": N_("with an allowed product"), "below_list_cutoff": N_("on the list")}
RULE_WORDS = {"not_active": N_("not an active customer"), "held": N_("already holds the product"),
              "customer_type": N_("wrong customer type"), "min_age": N_("below the minimum age"),
              "max_age": N_("above the maximum age"), "tiers": N_("value tier not eligible"),
              "max_credit_rating": N_("credit rating below the minimum"),
              "cooling_off": N_("offered the product within the cooling-off window"),
              "not_modelled": N_("product not modelled")}
# marketing.report.STEP_WORDS, repeated here so the catalogue holds them (the page translates them)
_STEP_MESSAGES = (N_("no marketing consent"), N_("at or over the contact-fatigue cap"),
                  N_("no product allowed (held, ineligible, cooling off or not modelled)"),
                  N_("below the list's expected-value cut-off"))
SCORER_WORDS = {"logistic": N_("logistic"), "hgb": N_("hgb"), "popularity baseline": N_("popularity baseline")}
COVARIATE_WORDS = {"propensity": N_("propensity"), "margin": N_("margin"), "expected_value": N_("expected value"),
                   "product": N_("product"), "age": N_("age"), "log_income": N_("log income"),
                   "log_aum": N_("log aum"), "tenure_years": N_("tenure years"), "n_products": N_("n products")}


def _words(code, words: dict) -> str:
    """A library code in words, in the run's language; a code it does not know as itself (underscores as spaces)."""
    w = words.get(code)
    return _(w) if w is not None else str(code).replace("_", " ")


def _feature(col) -> str:
    """A model feature as the coefficient table names it: its identifier in English, its words
    (``nbp.FEATURE_WORDS``) in another language."""
    col = str(col)
    if col.startswith("has_"):
        text = _("holds {product}")
        return text.format(product=col[4:].replace("_", " ")) if text != "holds {product}" else col
    words = FEATURE_WORDS.get(col)
    return _(words) if words is not None and _(words) != words else col


def _all(i) -> str:
    return _("all") if str(i) == "all" else str(i).replace("_", " ")


def _auc(q: pd.Series) -> str:
    if fmt.missing(q.get("auc")):
        return _("not evaluable")
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
    parts = [_("- **{modelled} product(s) modelled** of the {offered} in the margin table; "
               "adoption means a first opening within {months} months.").format(
        modelled=len(run.model.models_), offered=len(offered), months=run.rules['adoption']['window_months'])]
    if len(gain):
        best = gain.idxmax()
        parts.append(_("- Out of time, the logistic model beats the segment-popularity baseline on {better} "
                       "of {evaluable} evaluable product(s); largest gain: {product} (AUC {auc_model} vs "
                       "{auc_baseline}, {ci}).").format(
            better=int((gain > 0).sum()), evaluable=len(gain), product=label(best), auc_model=_auc(lr.loc[best]),
            auc_baseline=_auc(base.loc[best]), ci=ci_label(alpha)))
    parts.append(_("- **Target list: {treated} customers to contact** and "
                   "{control} held out as a random control, from {active} "
                   "active customers ({no_consent} without marketing consent "
                   "were never considered).").format(
        treated=f"{tl.manifest['n_treatment']:,}", control=f"{tl.manifest['n_control']:,}",
        active=f"{tl.manifest['active_customers']:,}",
        no_consent=f"{tl.manifest['excluded_customers_by_step']['no_consent']:,}"))
    parts.append(_("- Expected value of the contact list: **{value}** "
                   "({ci} {lower}-{upper}; the range the realised value "
                   "falls in if the propensities are right), from {adoptions} expected adoptions over "
                   "{years} year(s) of margin.").format(
        value=money(v['expected_value']), ci=ci_label(alpha), lower=money(v['ci_lower']), upper=money(v['ci_upper']),
        adoptions=f"{v['expected_adopters']:.1f}", years=f"{run.rules['horizon_years']:g}"))
    if tl.control["note"]:
        parts.append(_("- The control group is {note}.").format(note=esc(_control_note(run))))
    return "\n".join(parts)


def _control_note(run: MarketingRun) -> str:
    """``control["note"]`` (English in the manifest) in the run's language: the control is underpowered."""
    c = run.target.control
    try:
        target = float(run.rules["targeting"]["power"])
    except (KeyError, TypeError, ValueError):
        return c["note"]
    return _("underpowered: even a half-and-half split of {customers} customers detects an uplift of "
             "{uplift} with power {power} only (target {target})").format(
        customers=f"{int(c['n_control'] + c['n_treatment']):,}", uplift=f"{c['planned_uplift']:.3f}",
        power=f"{c['power']:.2f}", target=f"{target:.2f}")


def design_md(run: MarketingRun) -> str:
    return _("Training: features as of **{train_as_of}**, adoptions to {train_end}. "
             "Test (out of time): features as of **{test_as_of}**, adoptions to {test_end}. "
             "The list is scored at **{scoring_as_of}** by the logistic model refitted on the test window "
             "(model version {version}). Rules: {rules}.").format(
        train_as_of=run.train.as_of, train_end=run.train.window_end, test_as_of=run.test.as_of,
        test_end=run.test.window_end, scoring_as_of=run.scoring.as_of, version=fmt.code(run.model_version),
        rules=fmt.code(Path(str(run.rules.get('source', ''))).name)) + _sample_md(run)


def _sample_md(run: MarketingRun) -> str:
    """The training and test windows' customer samples (a bank above ``adoption.model_sample_customers``)."""
    out = []
    for words, data in ((_("Training window"), run.train), (_("Test window"), run.test)):
        if data.sample is not None:
            out.append(_("{window}: models {note}.").format(window=words, note=esc(data.sample.text(localised=True))))
    return ("\n\n" + " ".join(out)) if out else ""


def skipped_md(run: MarketingRun) -> str:
    sk = run.validation_models["logistic"].skipped_
    if not sk:
        return _("Every product in the margin table had enough adoptions to be modelled.")
    return _("Not modelled (too few adoptions to learn from):") + "\n\n" + "\n".join(
        f"- {label(p)}: {esc(_skip_reason(r))}" for p, r in sorted(sk.items()))


_SKIP = re.compile(r"^(\d+) adopter\(s\) among (\d+) customers at risk in the training window "
                   r"\(fewer than min_events=(\d+)\)$")


def _skip_reason(reason: str) -> str:
    """``PropensityModels.skipped_``'s reason (English, from marketing.models) in the run's language."""
    m = _SKIP.match(str(reason))
    if not m:
        return reason
    return _("{adopters} adopter(s) among {customers} customers at risk in the training window "
             "(fewer than min_events={min_events})").format(adopters=m.group(1), customers=m.group(2),
                                                            min_events=m.group(3))


def quality_display(run: MarketingRun, alpha: float) -> pd.DataFrame:
    """Per product and scorer: customers at risk, adoptions, AUC with its interval, top-decile lift, Brier score."""
    q = run.quality.dropna(subset=["auc"])
    return pd.DataFrame({
        _("product"): q["product"].str.replace("_", " ").to_numpy(),
        _("model"): [_words(s, SCORER_WORDS) for s in q["scorer"]],
        _("customers at risk"): q["n"].to_numpy(), _("adoptions"): q["events"].to_numpy(),
        _("adoption rate"): [pct(v) for v in q["rate"]],
        _("AUC ({ci})").format(ci=ci_label(alpha)): [_auc(r) for _, r in q.iterrows()],
        _("top-decile lift"): [f"{v:.2f}" for v in q["top_decile_lift"]],
        _("Brier score"): [f"{v:.4f}" for v in q["brier"]],
    })


def coefficients_display(run: MarketingRun) -> pd.DataFrame:
    """Log-odds per one standard deviation of each feature (scoring model), rounded; blank where unused."""
    c = run.model.coef_std_.T.round(2)
    c.columns = [str(p).replace("_", " ") for p in c.columns]
    c.index = [_feature(f) for f in c.index]
    return c.astype(object).where(c.notna(), "")


def list_display(run: MarketingRun, rows: int = 20) -> pd.DataFrame:
    t = run.target.contacts.head(rows)
    return pd.DataFrame({_("customer (pseudonym)"): t["customer_id"].to_numpy(),
                         _("product"): t["product"].str.replace("_", " ").to_numpy(),
                         _("propensity"): [pct(v) for v in t["propensity"]], _("margin"): [money(v) for v in t["margin"]],
                         _("expected value"): [money(v) for v in t["expected_value"]],
                         **{_("reason {number}").format(number=i): t[f"reason_{i}"].to_numpy()
                            for i in (1, 2, 3) if f"reason_{i}" in t}},
                        index=pd.Index(t["rank"].to_numpy(), name=_("rank")))


def value_display(run: MarketingRun, alpha: float) -> pd.DataFrame:
    v = run.value
    return pd.DataFrame({_("customers"): v["customers"].to_numpy(),
                         _("expected adoptions"): [f"{x:.1f}" for x in v["expected_adopters"]],
                         _("expected value"): [money(x) for x in v["expected_value"]],
                         ci_label(alpha): [f"{money(a)}-{money(b)}" for a, b in zip(v["ci_lower"], v["ci_upper"])]},
                        index=pd.Index([_all(i) for i in v.index], name=_("product")))


def exclusions_display(run: MarketingRun) -> pd.DataFrame:
    e = run.target.exclusions
    return pd.DataFrame({_("customers removed"): e["customers"].to_numpy(),
                         _("customers remaining"): e["remaining"].to_numpy()},
                        index=pd.Index([_(STEP_WORDS[s]) if s in STEP_WORDS else s for s in e["step"]],
                                       name=_("step (in order)")))


def pair_exclusions_display(run: MarketingRun) -> pd.DataFrame:
    s = run.target.pair_exclusions
    return pd.DataFrame({_("customer-product pairs removed"): s.to_numpy()},
                        index=pd.Index([_(RULE_WORDS[k]) if k in RULE_WORDS else k for k in s.index],
                                       name=_("rule (first that applies)")))


def balance_display(run: MarketingRun) -> pd.DataFrame:
    b = run.balance
    return pd.DataFrame({_("treatment mean"): [fmt.significant(v) for v in b["mean_treatment"]],
                         _("control mean"): [fmt.significant(v) for v in b["mean_control"]],
                         _("standardised difference"): [fmt.number(v, 3) for v in b["smd"]],
                         _("p-value"): [fmt.p_value(v) for v in b["p_value"]]},
                        index=pd.Index([_words(i, COVARIATE_WORDS) for i in b.index], name=_("covariate")))


def control_md(run: MarketingRun, alpha: float) -> str:
    c = run.target.control
    text = _("The control group is drawn at random (seeded) from the selected customers, so treated and held-out "
             "customers differ only by chance. Its size is the smallest that detects an adoption uplift of "
             "**{uplift}** over the list's mean propensity ({baseline}) with power "
             "{power} at a {level} two-sided level (two independent proportions, Cohen's h "
             "= {effect_size}): **{control} control** and {treated} treated.").format(
        uplift=pct(c['planned_uplift']), baseline=pct(c['baseline_rate']), power=f"{c['power']:.2f}",
        level=fmt.significance(alpha), effect_size=f"{c['effect_size_h']:.3f}", control=f"{c['n_control']:,}",
        treated=f"{c['n_treatment']:,}")
    note = _("{note}.").format(note=esc(_control_note(run)).capitalize()) if c["note"] else ""
    return (text + " " + note + " " + _("The balance table below tests that the arms are alike (a p-value below "
                                        "the significance level on one covariate in twenty is expected by chance)."))


def export_md(paths: dict[str, Path], run: MarketingRun) -> str:
    return _("The contact list ({rows} rows: pseudonymous customer ID, rank, product, "
             "propensity, margin, expected value and three reasons; no names or contact details) is exported as "
             "{csv} and {parquet}. The held-out "
             "control is never on it: the assignment of both arms, {assignment}, is what a "
             "later review compares (adoption among treated vs control), and {manifest} records "
             "the model version, as-of date, rules and the customers excluded at each step. Folder: "
             "{folder}.").format(
        rows=f"{run.target.manifest['n_treatment']:,}", csv=fmt.code(paths['contacts_csv'].name),
        parquet=fmt.code(paths['contacts_parquet'].name), assignment=fmt.code(paths['assignment'].name),
        manifest=fmt.code(paths['manifest'].name), folder=fmt.code(paths['manifest'].parent))


def previous_list_md(ev, manifest: dict, until, alpha: float) -> str:
    """The earlier list's outcome in words: adoption among treated vs held-out control."""
    r = ev.loc["all"]
    if fmt.missing(r.get("uplift")):
        return _("The list of {period} has no control group or no treated customers; "
                 "its effect cannot be estimated.").format(period=esc(manifest.get('period', '')))
    return _("The list drawn on {as_of} for {period} (model "
             "{version}): by {until}, **{rate_treated}** of the "
             "{treated} contacted customers had opened the offered product against "
             "**{rate_control}** of the {control} held out; uplift "
             "{uplift} ({ci} {lower} to {upper}, "
             "{p}).").format(
        as_of=esc(manifest.get('as_of', '')), period=esc(manifest.get('period', '')),
        version=fmt.code(manifest.get('model_version', '')), until=until, rate_treated=pct(r['rate_treatment']),
        treated=f"{int(r['n_treatment']):,}", rate_control=pct(r['rate_control']), control=f"{int(r['n_control']):,}",
        uplift=fmt.pp(r['uplift']), ci=ci_label(alpha), lower=fmt.pp(r['uplift_ci_lower']),
        upper=fmt.pp(r['uplift_ci_upper']), p=fmt.p_text(r['p_value']))


def previous_list_display(ev, alpha: float) -> pd.DataFrame:
    return pd.DataFrame({_("treated"): ev["n_treatment"].astype(int).to_numpy(),
                         _("control"): ev["n_control"].astype(int).to_numpy(),
                         _("adoption, treated"): [pct(v) for v in ev["rate_treatment"]],
                         _("adoption, control"): [pct(v) for v in ev["rate_control"]],
                         _("uplift ({ci})").format(ci=ci_label(alpha)): [
                             _("{uplift} ({lower} to {upper})").format(uplift=fmt.pp(u), lower=fmt.pp(lo), upper=fmt.pp(hi))
                             for u, lo, hi in zip(ev["uplift"], ev["uplift_ci_lower"], ev["uplift_ci_upper"])],
                         _("p-value"): [fmt.p_value(v) for v in ev["p_value"]]},
                        index=pd.Index([_all(i) for i in ev.index], name=_("product")))


