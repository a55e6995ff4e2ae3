"""The review: its inputs, the executive summary and the facts it records."""

from __future__ import annotations

import logging

import pandas as pd
from scipy import stats

from crm_lib import fmt, kpis
from crm_lib.config import Period
from crm_lib.fmt import ci_label, esc

from crm_lib.evaluation.scorecard import current_facts, facts_frame, history, period_facts, scorecard

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
         "40_clv": "Customer value (CLV)"}
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
                      period: Period, alpha: float = 0.05) -> list[str]:
    """The executive summary as at most ``MAX_SENTENCES`` sentences, most important first.

    Every number is a scorecard row (a KPI fact of this or an earlier pack, named in words), a
    count of scorecard rows (fact ``kpis_met``), or a campaign/action fact the review records
    (``campaign_uplift_<id>``, ``campaign_roi_<id>``, ``action_effect_<id>``): targets,
    alerts, significant moves of the headline KPIs, then of the long tail, what is within
    noise, what has no history, campaigns, improvement actions.
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
              period: Period, alpha: float = 0.05) -> str:
    """The executive summary (Markdown): a title, then at most 8 sentences (``summary_sentences``),
    one per paragraph."""
    lines = [f"**Executive summary, {period.label}**"]
    lines.extend(summary_sentences(card, alert_rows, camps, acts, period, alpha=alpha))
    return "\n\n".join(lines)

# --------------------------------------------------------------------------- the review

def review_inputs(ctx) -> dict:
    """This period's facts, the previous and year-ago packs' facts, and the KPI history.

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
    return {"current": current, "previous": prev, "year_ago": yoy, "history": hist, "source": source}


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
