"""The review's sentences and tables: the executive summary and the precision-marketing lists' outcome.

Every number is traceable to a scorecard row or a fact (``crm_lib.evaluation.report`` builds them).
"""

from __future__ import annotations

import pandas as pd

from crm_lib import fmt
from crm_lib.evaluation.report import LIST_FACT, LIST_NOTEBOOK, _list_alpha, headline_kpis, list_significant, require_list
from crm_lib.fmt import ci_label, esc
from crm_lib.periods import Period


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


def summary_md(card: pd.DataFrame, alert_rows: pd.DataFrame, camps: pd.DataFrame, acts: pd.DataFrame,
              period: Period, alpha: float = 0.05, lists: dict | None = None) -> str:
    """The executive summary (Markdown): a title, then at most 8 sentences (``summary_sentences``),
    one per paragraph."""
    lines = [f"**Executive summary, {period.label}**"]
    lines.extend(summary_sentences(card, alert_rows, camps, acts, period, alpha=alpha, lists=lists))
    return "\n\n".join(lines)
