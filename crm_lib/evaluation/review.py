"""The review: its inputs, the executive summary and the facts it records."""

from __future__ import annotations

import logging

import pandas as pd
from scipy import stats

from crm_lib import kpis
from crm_lib.config import Period

from crm_lib.evaluation.scorecard import current_facts, facts_frame, history, period_facts

logger = logging.getLogger(__name__)

Z95 = stats.norm.ppf(0.975)


# --------------------------------------------------------------------------- narrative

def _fmt(value, unit) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    if unit == "proportion":
        return f"{100 * value:.1f}%"
    if unit == "currency":
        return f"{value / 1e6:,.1f}m" if abs(value) >= 1e6 else f"{value:,.0f}"
    if unit in ("customers", "problems", "count"):
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _fmt_change(change, unit) -> str:
    if unit == "proportion":
        return f"{100 * change:+.2f} percentage points"
    return ("+" if change >= 0 else "-") + _fmt(abs(change), unit)


def narrative(card: pd.DataFrame, alert_rows: pd.DataFrame, camps: pd.DataFrame, acts: pd.DataFrame,
              period: Period, alpha: float = 0.05) -> str:
    """The executive summary (Markdown): what moved, what is significant, what worked."""
    lines = [f"**Executive summary, {period.label}.**"]
    if len(alert_rows):
        lines.append("**Alerts:** " + "; ".join(f"{r.kpi} {r.rule} ({_fmt(r.value, card.loc[r.kpi, 'unit'])})"
                                              for r in alert_rows.itertuples()) + ".")
    met = card[card["status"] == "met"].index.tolist()
    missed = card[card["status"] == "missed"].index.tolist()
    near = card[card["status"] == "near"].index.tolist()
    if len(card[card["status"] != "no target"]):
        lines.append(f"Targets: {len(met)} met, {len(near)} near, {len(missed)} missed"
                     + (f" (missed: {', '.join(missed)})" if missed else "") + ".")
    sig = card[card["sig_prev"]]
    for name, r in sig.iterrows():
        good = (r["change_prev"] > 0) == (r["better"] == "higher")
        lines.append(f"{name.replace('_', ' ').capitalize()} {'improved' if good else 'worsened'} to "
                     f"{_fmt(r['value'], r['unit'])} ({_fmt_change(r['change_prev'], r['unit'])} vs {period.previous().label}, "
                     f"p = {r['p_prev']:.3g}).")
    tested = card[card["p_prev"].notna()]
    quiet = tested[~tested["sig_prev"]].index.tolist()
    if quiet:
        lines.append(f"No significant change vs {period.previous().label} (p ≥ {alpha:g}) in: "
                     f"{', '.join(q.replace('_', ' ') for q in quiet)} — differences there are within noise.")
    if card["history"].str.contains("no previous period").any():
        lines.append(f"{int(card['history'].str.contains('no previous period').sum())} KPI(s) have no previous period to compare with.")
    ev = camps[camps["evaluable"] == True] if len(camps) else camps  # noqa: E712
    for cid, r in ev.iterrows():
        verdict = "lifted response" if r["uplift_ci_lower"] > 0 else "showed no significant response uplift"
        lines.append(f"Campaign {cid} ({r['kind'].replace('_', '-')}) {verdict}: {100 * r['uplift']:+.2f} pp "
                     f"(95% CI {100 * r['uplift_ci_lower']:+.2f} to {100 * r['uplift_ci_upper']:+.2f}; "
                     f"n = {r['n_treatment']:,} vs {r['n_control']:,}), ROI {r['roi']:+.0%} "
                     f"(CI {r['roi_ci_lower']:+.0%} to {r['roi_ci_upper']:+.0%}).")
    for cid, r in (camps[camps["evaluable"] == False].iterrows() if len(camps) else []):  # noqa: E712
        lines.append(f"Campaign {cid}: {r['note']}.")
    for aid, r in acts.iterrows():
        if r["note"].startswith("not evaluable"):
            lines.append(f"Action {aid} ({r['name']}): {r['note']}.")
            continue
        rel = "%" if r["scale"] == "relative" else ""
        est = f"{100 * r['estimate']:+.1f}%" if rel else f"{r['estimate']:+.2f}"
        ci = f"{100 * r['ci_lower']:+.1f}% to {100 * r['ci_upper']:+.1f}%" if rel else f"{r['ci_lower']:+.2f} to {r['ci_upper']:+.2f}"
        worked = "worked" if r["p_value"] < alpha else "has no detectable effect yet"
        lines.append(f"Action {aid} ({r['name']}) {worked}: {r['kpi'].replace('_', ' ')} changed by {est} at its start "
                     f"(95% CI {ci}, p = {r['p_value']:.2g}); expected {100 * r['expected_effect'] if rel else r['expected_effect']:+.1f}{rel}"
                     f" — {'consistent' if r['consistent'] else 'not consistent'} with the estimate.")
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
