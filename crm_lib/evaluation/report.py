"""The review's results and facts: its inputs (the facts of this and earlier packs), the headline card,
the significant changes, the precision-marketing lists' evaluation and the facts it records. The
sentences are ``crm_lib.evaluation.narrative``'s."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from crm_lib import fmt, kpis

from crm_lib.errors import NotEstimable
from crm_lib.evaluation.scorecard import current_facts, facts_frame, history, period_facts, scorecard
from crm_lib.factfile import load_facts
from crm_lib.fmt import N_, _

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- headline and areas

# The KPIs a head of CRM reads first, in the order the bank's manuals rank them: customer value
# (CLV, CLV:CAC), churn and retention, satisfaction (CSAT, NPS), complaint SLA, AUM and
# customers by tier, cross-sell. Names the registry does not (yet) hold are left out.
HEADLINE = ("total_clv", "clv_cac_ratio", "median_clv", "churn_rate_period", "retention_12m", "csat_top2box",
            "nps", "sla_compliance", "total_aum", "active_customers", "tier_aum_share_private_banking",
            "cross_sell_ratio")
MAX_HEADLINE = 12

# Areas of the long tail, by the notebook that records each KPI (crm_lib.kpis.KPI.notebook).
# English (marked for the catalogue); ``long_tail`` returns them in the run's language, as headings.
AREAS = {"00_data_overview": N_("Customers, growth and data quality"), "10_segmentation": N_("Segments and value tiers"),
         "20_churn": N_("Churn and retention"), "21_early_warning": N_("Early warning"),
         "30_satisfaction": N_("Satisfaction"), "31_complaints_sla": N_("Complaints and SLA"),
         "40_clv": N_("Customer value (CLV)"), "50_next_best_product": N_("Precision marketing")}
OTHER_AREA = N_("Other facts")


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
    """The scorecard rows that are not headline KPIs, grouped by area (areas in ``AREAS`` order; the
    keys are the areas' names in the run's language, shown as headings)."""
    rest = card.drop(index=[k for k in headline_kpis() if k in card.index])
    areas = rest.index.map(area_of)
    order = [*AREAS.values(), OTHER_AREA]
    return {_(a): rest[areas == a] for a in order if (areas == a).any()}


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


# --------------------------------------------------------------------------- narrative


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
