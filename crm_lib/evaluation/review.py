"""The review: its inputs, the executive summary and the facts it records."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from scipy import stats

from crm_lib import fmt, kpis
from crm_lib.periods import Period
from crm_lib.fmt import ci_label, esc

from crm_lib.errors import NotEstimable
from crm_lib.evaluation.scorecard import current_facts, facts_frame, history, period_facts, scorecard
from crm_lib.factfile import load_facts

logger = logging.getLogger(__name__)

Z95 = stats.norm.ppf(0.975)

# --------------------------------------------------------------------------- headline and areas

# The KPIs a head of CRM reads first, in the order the bank's manuals rank them: customer value
# (CLV, CLV:CAC), churn and retention, satisfaction (CSAT, NPS), complaint SLA, AUM and
# customers by tier, cross-sell. Names the registry does not (yet) hold are left out.
HEADLINE = ("total_clv", "clv_cac_ratio", "median_clv", "churn_rate_period", "retention_12m", "csat_top2box",
            "nps", "sla_compliance", "total_aum", "active_customers", "tier_aum_share_private_banking",
            "cross_sell_ratio")
MAX_HEADLINE = 12

# Areas of the long tail, by the notebook that records each KPI (crm_lib.kpis.KPI.notebook).
AREAS = {"00_data_overview": "Customers, growth and data quality", "10_segmentation": "Segments and value tiers",
         "20_churn": "Churn and retention", "21_early_warning": "Early warning",
         "30_satisfaction": "Satisfaction", "31_complaints_sla": "Complaints and SLA",
         "40_clv": "Customer value (CLV)", "50_next_best_product": "Precision marketing"}
OTHER_AREA = "Other facts"


def headline_kpis(registry: dict | None = None) -> list[str]:
    """The headline KPIs (``HEADLINE``) the registry holds, in the manuals' order, at most 12."""
    reg = kpis.REGISTRY if registry is None else registry
    return [k for k in HEADLINE if k in reg][:MAX_HEADLINE]


def area_of(name: str) -> str:
    """The area a KPI belongs to (``AREAS``, from its registry notebook); ``Other facts`` otherwise."""
    k = kpis.REGISTRY.get(name)
    return AREAS.get(k.notebook, OTHER_AREA) if k is not None else OTHER_AREA


def headline_card(current: pd.DataFrame, previous: pd.DataFrame | None, year_ago: pd.DataFrame | None,
                  targets: dict, alpha: float = 0.05) -> pd.DataFrame:
    """The scorecard (``evaluation.scorecard``) of the headline KPIs, in order; a KPI without
    facts this period is a ``not measured`` row, never a crash."""
    return scorecard(current, previous, year_ago, targets, alpha=alpha, kpi_names=headline_kpis())


def long_tail(card: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The scorecard rows that are not headline KPIs, grouped by area (areas in ``AREAS`` order)."""
    rest = card.drop(index=[k for k in headline_kpis() if k in card.index])
    areas = rest.index.map(area_of)
    order = [*AREAS.values(), OTHER_AREA]
    return {a: rest[areas == a] for a in order if (areas == a).any()}


def significant_changes(card: pd.DataFrame) -> pd.DataFrame:
    """Rows whose change vs the previous period or the year-ago period is significant, headline
    KPIs first (in their order), then the rest in the card's order."""
    sig = card[card["sig_prev"].astype(bool) | card["sig_yoy"].astype(bool)]
    head = [k for k in headline_kpis() if k in sig.index]
    return sig.loc[head + [k for k in sig.index if k not in head]]


# --------------------------------------------------------------------------- precision-marketing lists

LIST_FACT = "nbp_previous_list_uplift"
LIST_NOTEBOOK = "50_next_best_product"
LIST_SECTION = "Previous period's list"     # notebook 50's section that evaluates the earlier list
UPSTREAM = f"{LIST_NOTEBOOK}: {LIST_SECTION}"  # what the review's list section builds on


def current_raw_facts(ctx) -> list[dict]:
    """This period's facts as stored, with their tags: the ones the other notebooks of this run
    recorded, or (interactively) the published pack's."""
    if ctx.facts_dir is not None:
        return [f for p in sorted(Path(ctx.facts_dir).glob("*.json")) if p.stem != ctx.notebook
                for f in load_facts(p)]
    path = Path(ctx.reports_dir) / ctx.profile / ctx.period.label / "facts.json"
    return load_facts(path) if path.exists() else []


def list_evaluation(raw: list[dict], notebooks: list[str] | None = None, period_label: str = "") -> dict:
    """The previous period's next-best-product list against its held-out control, as notebook
    ``50_next_best_product`` recorded it this period (fact ``nbp_previous_list_uplift``).

    Parameters
    ----------
    raw : list of dict
        This period's facts as stored (``current_raw_facts``).
    notebooks : list of str, optional
        The profile's notebooks (to say why there is no list when notebook 50 is not among them).
    period_label : str
        This period, for the sentences.

    Returns
    -------
    dict
        ``evaluated`` True with ``value`` (uplift, a difference of proportions), ``ci_lower``,
        ``ci_upper``, ``ci_level``, ``p_value``, ``n``, ``n_treatment``, ``n_control``,
        ``rate_treatment``, ``rate_control``, ``planned_uplift``, ``list_period``, ``list_as_of``,
        ``model_version``, ``definition``; or ``evaluated`` False with ``reason``, ``remedy`` and, when
        it is notebook 50's evaluation that is missing, ``builds_on`` (``UPSTREAM``)
        (the first period has no earlier list; a profile without notebook 50 draws none). Never raises.
    """
    mine = [f for f in raw if f.get("notebook") == LIST_NOTEBOOK]
    fact = next((f for f in mine if f.get("name") == LIST_FACT), None)
    if fact is not None and not fmt.missing(fact.get("value")):
        t = fact.get("tags") or {}
        return {"evaluated": True, **{k: fact.get(k) for k in ("value", "ci_lower", "ci_upper", "ci_level", "p_value",
                                                                 "n", "definition")},
                **{k: t.get(k) for k in ("n_treatment", "n_control", "rate_treatment", "rate_control",
                                         "planned_uplift", "list_period", "list_as_of", "model_version")}}
    if fact is not None:
        t = fact.get("tags") or {}
        return {"evaluated": False,
                "reason": f"the list of {t.get('list_period') or 'the previous period'} has no control group or no "
                          "treated customers, so its effect cannot be estimated",
                "remedy": "keep a random control out of every list (parameters/marketing.yaml, targeting)"}
    omitted = next((f for f in mine if (f.get("tags") or {}).get("kind") == "omitted"
                    and (f.get("tags") or {}).get("section") == LIST_SECTION), None)
    if omitted is not None:
        t = omitted["tags"]
        return {"evaluated": False, "reason": str(t.get("reason") or "notebook 50 could not evaluate it"),
                "remedy": str(t.get("remedy") or ""), "builds_on": UPSTREAM}
    if notebooks is not None and LIST_NOTEBOOK not in notebooks:
        return {"evaluated": False,
                "reason": f"this profile does not draw next-best-product target lists (notebook {LIST_NOTEBOOK} "
                          "is not among its notebooks)",
                "remedy": "lists are drawn and evaluated one period later by the quarterly pack", "builds_on": UPSTREAM}
    if mine:
        return {"evaluated": False,
                "reason": f"notebook {LIST_NOTEBOOK} recorded no evaluation of the previous period's list"
                          + (f" for {period_label}" if period_label else ""),
                "remedy": "see its section 'Did the previous period's list work?'", "builds_on": UPSTREAM}
    return {"evaluated": False,
            "reason": f"notebook {LIST_NOTEBOOK} recorded no facts"
                      + (f" for {period_label}" if period_label else "") + " before this review",
            "remedy": f"run {LIST_NOTEBOOK} before the review in the same pack", "builds_on": UPSTREAM}


def require_list(ev: dict) -> dict:
    """``ev`` when the previous list was evaluated; otherwise ``NotEstimable`` with its reason,
    so the review's guarded section says why (never a failed page)."""
    if not ev.get("evaluated"):
        e = NotEstimable(ev["reason"], ev.get("remedy", ""))
        if ev.get("builds_on"):   # omitted because notebook 50's evaluation is, not for a reason of its own
            e.builds_on = ev["builds_on"]
        raise e
    return ev


def _list_alpha(ev: dict, alpha: float) -> float:
    """The alpha of the recorded interval (notebook 50's run), else the review's."""
    lvl = ev.get("ci_level")
    return fmt.alpha_of(lvl) if not fmt.missing(lvl) else alpha


def list_significant(ev: dict | None, alpha: float = 0.05) -> bool:
    """Whether the list's uplift differs from zero at ``alpha`` (score test of notebook 50)."""
    return bool(ev and ev.get("evaluated") and not fmt.missing(ev.get("p_value")) and float(ev["p_value"]) < alpha)


def _list_uplift_text(ev: dict, alpha: float) -> str:
    a = _list_alpha(ev, alpha)
    return (f"{fmt.pp(ev['value'])} ({ci_label(a)} {fmt.interval(ev['ci_lower'], ev['ci_upper'], fmt.pp)}, "
            f"{fmt.p_text(ev['p_value'])}; n = {fmt.integer(ev['n_treatment'])} contacted vs "
            f"{fmt.integer(ev['n_control'])} held out)")


def list_md(ev: dict, alpha: float = 0.05) -> str:
    """The previous period's list in words: adoption among contacted vs held-out customers,
    the uplift with its interval, n and p-value, the verdict at ``alpha`` and the definition."""
    require_list(ev)
    sig = list_significant(ev, alpha)
    verdict = (("raised" if ev["value"] > 0 else "lowered") + " adoption of the offered product significantly"
               if sig else f"shows no significant difference from its control (p ≥ {alpha:g})")
    text = (f"The next-best-product list of {esc(ev['list_period'])} (drawn on {esc(ev['list_as_of'])}, model "
            f"{fmt.code(ev['model_version'])}) {verdict}: by the end of {esc(ev.get('period', '')) or 'this period'}, "
            f"{fmt.pct(ev['rate_treatment'])} of the contacted customers had opened the product offered to them "
            f"against {fmt.pct(ev['rate_control'])} of the random control held out of the list; uplift "
            f"{_list_uplift_text(ev, alpha)}.")
    if not fmt.missing(ev.get("planned_uplift")):
        text += (f" The control was sized to detect an uplift of {fmt.pp(ev['planned_uplift'])} "
                 "(`planned_uplift` in parameters/marketing.yaml)"
                 + ("; the interval excludes it." if ev["ci_upper"] < ev["planned_uplift"] else "."))
    return text + (f" Definition: {esc(ev['definition'])} (fact `{LIST_FACT}`, recorded by {LIST_NOTEBOOK}, "
                   "which shows the uplift per product).")


def list_table(ev: dict, alpha: float = 0.05) -> pd.DataFrame:
    """One row per evaluated list: n per arm, adoption per arm, uplift with its interval, p-value."""
    require_list(ev)
    a = _list_alpha(ev, alpha)
    return pd.DataFrame({"drawn on": [esc(ev["list_as_of"])],
                         "contacted (n)": [fmt.integer(ev["n_treatment"])],
                         "held-out control (n)": [fmt.integer(ev["n_control"])],
                         "adoption, contacted": [fmt.pct(ev["rate_treatment"])],
                         "adoption, control": [fmt.pct(ev["rate_control"])],
                         f"uplift ({ci_label(a)})": [f"{fmt.pp(ev['value'])} "
                                                     f"({fmt.interval(ev['ci_lower'], ev['ci_upper'], fmt.pp)})"],
                         "p-value": [fmt.p_value(ev["p_value"])],
                         "planned uplift": [fmt.pp(ev.get("planned_uplift"))]},
                        index=pd.Index([esc(ev["list_period"])], name="list of period"))


# --------------------------------------------------------------------------- narrative

def _fmt(value, unit) -> str:
    return fmt.by_unit(value, unit, pct_digits=1)


def _fmt_change(change, unit) -> str:
    if unit == "proportion":
        return f"{fmt.signed(100 * change, 2)} percentage points"
    return ("+" if change >= 0 else "-") + _fmt(abs(change), unit)


def _words(s) -> str:
    return fmt.label(s)


def _move(name, r, tag: str, against: str) -> str:
    """``churn rate period improved to 2.1% (-0.30 percentage points vs 2026Q2, p = 0.012)``."""
    good = (r[f"change_{tag}"] > 0) == (r["better"] == "higher")
    return (f"{_words(name)} {'improved' if good else 'worsened'} to {_fmt(r['value'], r['unit'])} "
            f"({_fmt_change(r[f'change_{tag}'], r['unit'])} vs {against}, {fmt.p_text(r[f'p_{tag}'])})")


MAX_SENTENCES = 8


def summary_sentences(card: pd.DataFrame, alert_rows: pd.DataFrame, camps: pd.DataFrame, acts: pd.DataFrame,
                      period: Period, alpha: float = 0.05, lists: dict | None = None) -> list[str]:
    """The executive summary as at most ``MAX_SENTENCES`` sentences, most important first.

    Every number is a scorecard row (a KPI fact of this or an earlier pack, named in words), a
    count of scorecard rows (fact ``kpis_met``), or a campaign/action fact the review records
    (``campaign_uplift_<id>``, ``campaign_roi_<id>``, ``action_effect_<id>``): targets,
    alerts, significant moves of the headline KPIs, then of the long tail, what is within
    noise, what has no history, campaigns, improvement actions. The previous period's
    precision-marketing list (``lists``, from ``list_evaluation``; fact
    ``nbp_previous_list_uplift``) joins the campaigns sentence only when its uplift is
    significant at ``alpha``.
    """
    prev_label, yoy_label = period.previous().label, period.year_ago().label
    out = []
    targeted = card[~card["status"].isin(["no target"])]
    if len(targeted):
        met, near, missed = (card[card["status"] == s].index.tolist() for s in ("met", "near", "missed"))
        unmeasured = int((card["status"] == "not measured").sum())
        out.append(f"Targets: {len(met)} met, {len(near)} near, {len(missed)} missed"
                   + (f" (missed: {', '.join(_words(m) for m in missed)})" if missed else "")
                   + (f", {unmeasured} not measured this period" if unmeasured else "") + ".")
    if len(alert_rows):
        out.append("Alerts: " + "; ".join(f"{esc(r.kpi)} {esc(r.rule)} ({_fmt(r.value, card.loc[r.kpi, 'unit'])})"
                                          for r in alert_rows.itertuples()) + ".")
    head = [k for k in headline_kpis() if k in card.index]
    moves = []
    for name in head:
        r = card.loc[name]
        if r["sig_prev"]:
            moves.append(_move(name, r, "prev", prev_label))
        elif r["sig_yoy"]:
            moves.append(_move(name, r, "yoy", yoy_label))
    if moves:
        out.append(f"Headline KPIs that changed significantly (p < {alpha:g}): " + "; ".join(moves) + ".")
    elif head and card.loc[head, "p_prev"].notna().any():
        out.append(f"No headline KPI changed significantly vs {prev_label} (p ≥ {alpha:g}).")
    tail = card.drop(index=head)
    sig_tail = tail[tail["sig_prev"].astype(bool)].index.tolist()
    if sig_tail:
        out.append(f"{len(sig_tail)} other KPI(s) changed significantly vs {prev_label}: "
                   f"{', '.join(_words(k) for k in sig_tail)} (the scorecard by area gives each change).")
    tested = card[card["p_prev"].notna()]
    quiet = int((~tested["sig_prev"].astype(bool)).sum())
    if quiet:
        out.append(f"{quiet} tested KPI(s) show no significant change vs {prev_label} (p ≥ {alpha:g}): "
                   "differences there are within noise.")
    no_prev = int(card["history"].astype(str).str.contains("no previous period").sum())
    if no_prev:
        out.append(f"{no_prev} KPI(s) have no previous period to compare with.")
    parts = []
    ev = camps[camps["evaluable"] == True] if len(camps) else camps  # noqa: E712
    for cid, r in ev.iterrows():
        verdict = "lifted response" if r["uplift_ci_lower"] > 0 else "showed no significant response uplift"
        parts.append(f"campaign {esc(cid)} ({esc(str(r['kind']).replace('_', '-'))}) {verdict}: {fmt.pp(r['uplift'])} "
                     f"({ci_label(alpha)} {fmt.signed(100 * r['uplift_ci_lower'], 2)} to "
                     f"{fmt.signed(100 * r['uplift_ci_upper'], 2)}; n = {fmt.integer(r['n_treatment'])} vs "
                     f"{fmt.integer(r['n_control'])}), ROI {fmt.signed(100 * r['roi'], 0)}% ({ci_label(alpha)} "
                     f"{fmt.signed(100 * r['roi_ci_lower'], 0)}% to {fmt.signed(100 * r['roi_ci_upper'], 0)}%)")
    for cid, r in (camps[camps["evaluable"] == False].iterrows() if len(camps) else []):  # noqa: E712
        parts.append(f"campaign {esc(cid)}: {esc(r['note'])}")
    if list_significant(lists, alpha):
        parts.append(f"the next-best-product list of {esc(lists['list_period'])} "
                     f"{'raised' if lists['value'] > 0 else 'lowered'} adoption of the offered product vs its "
                     f"held-out control by {_list_uplift_text(lists, alpha)}")
    if parts:
        out.append("Campaigns: " + "; ".join(parts) + ".")
    parts = []
    for aid, r in acts.iterrows():
        if r["note"].startswith("not evaluable"):
            parts.append(f"Action {esc(aid)} ({esc(r['name'])}): {esc(r['note'])}")
            continue
        rel = "%" if r["scale"] == "relative" else ""
        est = f"{fmt.signed(100 * r['estimate'], 1)}%" if rel else fmt.signed(r["estimate"], 2)
        ci = (f"{fmt.signed(100 * r['ci_lower'], 1)}% to {fmt.signed(100 * r['ci_upper'], 1)}%" if rel
              else f"{fmt.signed(r['ci_lower'], 2)} to {fmt.signed(r['ci_upper'], 2)}")
        worked = "worked" if r["p_value"] < alpha else "has no detectable effect yet"
        expected = fmt.signed(100 * r["expected_effect"] if rel else r["expected_effect"], 1)
        parts.append(f"Action {esc(aid)} ({esc(r['name'])}) {worked}: {_words(r['kpi'])} changed by {est} at its "
                     f"start ({ci_label(alpha)} {ci}, {fmt.p_text(r['p_value'])}); expected {expected}{rel}, "
                     f"{'consistent' if r['consistent'] else 'not consistent'} with the estimate")
    if parts:
        out.append("Improvement actions: " + "; ".join(parts) + ".")
    return out[:MAX_SENTENCES]


def narrative(card: pd.DataFrame, alert_rows: pd.DataFrame, camps: pd.DataFrame, acts: pd.DataFrame,
              period: Period, alpha: float = 0.05, lists: dict | None = None) -> str:
    """The executive summary (Markdown): a title, then at most 8 sentences (``summary_sentences``),
    one per paragraph."""
    lines = [f"**Executive summary, {period.label}**"]
    lines.extend(summary_sentences(card, alert_rows, camps, acts, period, alpha=alpha, lists=lists))
    return "\n\n".join(lines)

# --------------------------------------------------------------------------- the review

def review_inputs(ctx) -> dict:
    """This period's facts, the previous and year-ago packs' facts, the KPI history and the
    evaluation of the previous period's precision-marketing list (``lists``, ``list_evaluation``).

    Under the runner, this period's facts are the ones the other notebooks of the same run
    recorded; interactively, the published pack of the period (when there is one).
    """
    profile, per = ctx.profile, ctx.period
    if ctx.facts_dir is not None:
        current = current_facts(ctx.facts_dir, exclude=ctx.notebook)
        source = "this run"
    else:
        current = period_facts(ctx.reports_dir, profile, per)
        source = "published pack" if current is not None else "none"
        current = current if current is not None else facts_frame([])
    prev = period_facts(ctx.reports_dir, profile, per.previous())
    yoy = period_facts(ctx.reports_dir, profile, per.year_ago())
    hist = history(ctx.reports_dir, profile, per, ctx.params.get("history_periods", 8), current=current)
    lists = list_evaluation(current_raw_facts(ctx), ctx.params.get("notebooks"), per.label)
    lists["period"] = per.label
    return {"current": current, "previous": prev, "year_ago": yoy, "history": hist, "source": source,
            "lists": lists}


def record_facts(facts, card: pd.DataFrame, alert_rows: pd.DataFrame, camps: pd.DataFrame,
                 acts: pd.DataFrame, alpha: float = 0.05) -> None:
    """Record the review's own facts: scorecard counts, alerts, campaign uplifts, action effects."""
    counts = card["status"].value_counts()
    facts.record("kpis_met", int(counts.get("met", 0)), "KPIs", "KPIs at or beyond their target",
                 n=int((card["status"] != "no target").sum()), uncertainty="count of scorecard rows",
                 missed=int(counts.get("missed", 0)), near=int(counts.get("near", 0)))
    facts.record("kpi_alerts", len(alert_rows), "alerts", "alert rules (parameters/alerts.yaml) breached this period",
                 n=len(card), uncertainty="count of rules breached",
                 breached="; ".join(f"{r.kpi}: {r.rule}" for r in alert_rows.itertuples()))
    for cid, r in camps.iterrows():
        if not r["evaluable"]:
            continue
        facts.record(f"campaign_uplift_{cid}", r["uplift"], "proportion",
                     f"response rate treatment - control, campaign {cid} ({r['kind']})",
                     n=int(r["n_treatment"] + r["n_control"]), ci=(r["uplift_ci_lower"], r["uplift_ci_upper"]),
                     ci_level=1 - alpha, p_value=r["uplift_p"], uncertainty="Newcombe hybrid score interval")
        facts.record(f"campaign_roi_{cid}", r["roi"], "ratio", f"(incremental revenue - cost) / cost, campaign {cid}",
                     n=int(r["n_treatment"] + r["n_control"]), ci=(r["roi_ci_lower"], r["roi_ci_upper"]),
                     ci_level=1 - alpha, uncertainty="Welch interval of revenue uplift, cost fixed")
    for aid, r in acts.iterrows():
        if pd.isna(r.get("estimate")):
            continue
        facts.record(f"action_effect_{aid}", r["estimate"], "relative change" if r["scale"] == "relative" else
                     kpis.REGISTRY[r["kpi"]].unit, f"ITS level change of {r['kpi']} at {r['start_date']}",
                     ci=(r["ci_lower"], r["ci_upper"]), ci_level=1 - alpha, p_value=r["p_value"],
                     uncertainty="Newey-West (HAC) segmented regression", expected=r["expected_effect"])
