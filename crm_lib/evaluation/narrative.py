"""The review's sentences and tables: the executive summary and the precision-marketing lists' outcome.

Every number is traceable to a scorecard row or a fact (``crm_lib.evaluation.report`` builds them).
"""

from __future__ import annotations

import pandas as pd

from crm_lib import fmt, kpis
from crm_lib.evaluation.report import LIST_FACT, LIST_NOTEBOOK, _list_alpha, headline_kpis, list_significant, require_list
from crm_lib.evaluation.scorecard import rule_words
from crm_lib.fmt import _, ci_label, esc
from crm_lib.periods import Period


def _list_uplift_text(ev: dict, alpha: float) -> str:
    a = _list_alpha(ev, alpha)
    return _("{uplift} ({ci} {interval}, {p}; n = {treated} contacted vs {control} held out)").format(
        uplift=fmt.pp(ev['value']), ci=ci_label(a), interval=fmt.interval(ev['ci_lower'], ev['ci_upper'], fmt.pp),
        p=fmt.p_text(ev['p_value']), treated=fmt.integer(ev['n_treatment']), control=fmt.integer(ev['n_control']))


def list_md(ev: dict, alpha: float = 0.05) -> str:
    """The previous period's list in words: adoption among contacted vs held-out customers,
    the uplift with its interval, n and p-value, the verdict at ``alpha`` and the definition."""
    require_list(ev)
    sig = list_significant(ev, alpha)
    if sig and ev["value"] > 0:
        text = _("The next-best-product list of {list_period} (drawn on {as_of}, model {version}) raised adoption of "
                 "the offered product significantly: by the end of {period}, {rate_contacted} of the contacted "
                 "customers had opened the product offered to them against {rate_control} of the random control "
                 "held out of the list; uplift {uplift}.")
    elif sig:
        text = _("The next-best-product list of {list_period} (drawn on {as_of}, model {version}) lowered adoption of "
                 "the offered product significantly: by the end of {period}, {rate_contacted} of the contacted "
                 "customers had opened the product offered to them against {rate_control} of the random control "
                 "held out of the list; uplift {uplift}.")
    else:
        text = _("The next-best-product list of {list_period} (drawn on {as_of}, model {version}) shows no "
                 "significant difference from its control (p ≥ {alpha}): by the end of {period}, {rate_contacted} of "
                 "the contacted customers had opened the product offered to them against {rate_control} of the "
                 "random control held out of the list; uplift {uplift}.")
    text = text.format(list_period=esc(ev['list_period']), as_of=esc(ev['list_as_of']),
                       version=fmt.code(ev['model_version']), alpha=f"{alpha:g}",
                       period=esc(ev.get('period', '')) or _("this period"), rate_contacted=fmt.pct(ev['rate_treatment']),
                       rate_control=fmt.pct(ev['rate_control']), uplift=_list_uplift_text(ev, alpha))
    if not fmt.missing(ev.get("planned_uplift")):
        planned = (_("The control was sized to detect an uplift of {planned} (`planned_uplift` in "
                     "parameters/marketing.yaml); the interval excludes it.") if ev["ci_upper"] < ev["planned_uplift"]
                   else _("The control was sized to detect an uplift of {planned} (`planned_uplift` in "
                          "parameters/marketing.yaml)."))
        text += " " + planned.format(planned=fmt.pp(ev['planned_uplift']))
    return text + " " + _("Definition: {definition} (fact `{fact}`, recorded by {notebook}, which shows the uplift "
                          "per product).").format(definition=esc(ev['definition']), fact=LIST_FACT,
                                                  notebook=LIST_NOTEBOOK)


def list_table(ev: dict, alpha: float = 0.05) -> pd.DataFrame:
    """One row per evaluated list: n per arm, adoption per arm, uplift with its interval, p-value."""
    require_list(ev)
    a = _list_alpha(ev, alpha)
    return pd.DataFrame({_("drawn on"): [esc(ev["list_as_of"])],
                         _("contacted (n)"): [fmt.integer(ev["n_treatment"])],
                         _("held-out control (n)"): [fmt.integer(ev["n_control"])],
                         _("adoption, contacted"): [fmt.pct(ev["rate_treatment"])],
                         _("adoption, control"): [fmt.pct(ev["rate_control"])],
                         _("uplift ({ci})").format(ci=ci_label(a)): [
                             f"{fmt.pp(ev['value'])} ({fmt.interval(ev['ci_lower'], ev['ci_upper'], fmt.pp)})"],
                         _("p-value"): [fmt.p_value(ev["p_value"])],
                         _("planned uplift"): [fmt.pp(ev.get("planned_uplift"))]},
                        index=pd.Index([esc(ev["list_period"])], name=_("list of period")))


def _fmt(value, unit) -> str:
    return fmt.by_unit(value, unit, pct_digits=1)


def _fmt_change(change, unit) -> str:
    if unit == "proportion":
        return _("{change} percentage points").format(change=fmt.signed(100 * change, 2))
    return ("+" if change >= 0 else "-") + _fmt(abs(change), unit)


def _words(s) -> str:
    """A KPI's name as words (``churn rate period``), in the run's language when the registry has it."""
    return fmt.label(_(str(s).replace("_", " ")) if s in kpis.REGISTRY else s)


def _kpi_code(s) -> str:
    """A KPI as the alerts name it: its identifier in English, its translated name in another language."""
    words = str(s).replace("_", " ")
    shown = _(words) if s in kpis.REGISTRY else words
    return esc(s) if shown == words else esc(shown)


def _move(name, r, tag: str, against: str) -> str:
    """``churn rate period improved to 2.1% (-0.30 percentage points vs 2026Q2, p = 0.012)``."""
    good = (r[f"change_{tag}"] > 0) == (r["better"] == "higher")
    text = (_("{kpi} improved to {value} ({change} vs {period}, {p})") if good
            else _("{kpi} worsened to {value} ({change} vs {period}, {p})"))
    return text.format(kpi=_words(name), value=_fmt(r['value'], r['unit']),
                       change=_fmt_change(r[f'change_{tag}'], r['unit']), period=against, p=fmt.p_text(r[f'p_{tag}']))


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
        out.append(_("Targets: {met} met, {near} near, {missed} missed{missed_kpis}{unmeasured}.").format(
            met=len(met), near=len(near), missed=len(missed),
            missed_kpis=_(" (missed: {kpis})").format(kpis=", ".join(_words(m) for m in missed)) if missed else "",
            unmeasured=_(", {count} not measured this period").format(count=unmeasured) if unmeasured else ""))
    if len(alert_rows):
        out.append(_("Alerts: {alerts}.").format(alerts="; ".join(
            _("{kpi} {rule} ({value})").format(kpi=_kpi_code(r.kpi), rule=esc(rule_words(r.rule)),
                                               value=_fmt(r.value, card.loc[r.kpi, 'unit']))
            for r in alert_rows.itertuples())))
    head = [k for k in headline_kpis() if k in card.index]
    moves = []
    for name in head:
        r = card.loc[name]
        if r["sig_prev"]:
            moves.append(_move(name, r, "prev", prev_label))
        elif r["sig_yoy"]:
            moves.append(_move(name, r, "yoy", yoy_label))
    if moves:
        out.append(_("Headline KPIs that changed significantly (p < {alpha}): {moves}.").format(
            alpha=f"{alpha:g}", moves="; ".join(moves)))
    elif head and card.loc[head, "p_prev"].notna().any():
        out.append(_("No headline KPI changed significantly vs {period} (p ≥ {alpha}).").format(
            period=prev_label, alpha=f"{alpha:g}"))
    tail = card.drop(index=head)
    sig_tail = tail[tail["sig_prev"].astype(bool)].index.tolist()
    if sig_tail:
        out.append(_("{count} other KPI(s) changed significantly vs {period}: {kpis} (the scorecard by area gives "
                     "each change).").format(count=len(sig_tail), period=prev_label,
                                             kpis=", ".join(_words(k) for k in sig_tail)))
    tested = card[card["p_prev"].notna()]
    quiet = int((~tested["sig_prev"].astype(bool)).sum())
    if quiet:
        out.append(_("{count} tested KPI(s) show no significant change vs {period} (p ≥ {alpha}): differences there "
                     "are within noise.").format(count=quiet, period=prev_label, alpha=f"{alpha:g}"))
    no_prev = int(card["history"].astype(str).str.contains("no previous period").sum())
    if no_prev:
        out.append(_("{count} KPI(s) have no previous period to compare with.").format(count=no_prev))
    parts = []
    ev = camps[camps["evaluable"] == True] if len(camps) else camps  # noqa: E712
    for cid, r in ev.iterrows():
        text = (_("campaign {campaign} ({kind}) lifted response: {uplift} ({ci} {lower} to {upper}; n = {treated} vs "
                  "{control}), ROI {roi}% ({ci} {roi_lower}% to {roi_upper}%)") if r["uplift_ci_lower"] > 0
                else _("campaign {campaign} ({kind}) showed no significant response uplift: {uplift} ({ci} {lower} to "
                       "{upper}; n = {treated} vs {control}), ROI {roi}% ({ci} {roi_lower}% to {roi_upper}%)"))
        parts.append(text.format(
            campaign=esc(cid), kind=esc(str(r['kind']).replace('_', '-')), uplift=fmt.pp(r['uplift']),
            ci=ci_label(alpha), lower=fmt.signed(100 * r['uplift_ci_lower'], 2),
            upper=fmt.signed(100 * r['uplift_ci_upper'], 2), treated=fmt.integer(r['n_treatment']),
            control=fmt.integer(r['n_control']), roi=fmt.signed(100 * r['roi'], 0),
            roi_lower=fmt.signed(100 * r['roi_ci_lower'], 0), roi_upper=fmt.signed(100 * r['roi_ci_upper'], 0)))
    for cid, r in (camps[camps["evaluable"] == False].iterrows() if len(camps) else []):  # noqa: E712
        parts.append(_("campaign {campaign}: {note}").format(campaign=esc(cid), note=esc(r['note'])))
    if list_significant(lists, alpha):
        text = (_("the next-best-product list of {list_period} raised adoption of the offered product vs its "
                  "held-out control by {uplift}") if lists['value'] > 0
                else _("the next-best-product list of {list_period} lowered adoption of the offered product vs its "
                       "held-out control by {uplift}"))
        parts.append(text.format(list_period=esc(lists['list_period']), uplift=_list_uplift_text(lists, alpha)))
    if parts:
        out.append(_("Campaigns: {campaigns}.").format(campaigns="; ".join(parts)))
    parts = []
    for aid, r in acts.iterrows():
        if str(r["note"]).startswith("not evaluable") or fmt.missing(r.get("estimate")):
            parts.append(_("Action {action} ({name}): {note}").format(action=esc(aid), name=esc(r['name']),
                                                                     note=esc(r['note'])))
            continue
        rel = "%" if r["scale"] == "relative" else ""
        est = f"{fmt.signed(100 * r['estimate'], 1)}%" if rel else fmt.signed(r["estimate"], 2)
        ci = (_("{lower}% to {upper}%").format(lower=fmt.signed(100 * r['ci_lower'], 1),
                                               upper=fmt.signed(100 * r['ci_upper'], 1)) if rel
              else _("{lower} to {upper}").format(lower=fmt.signed(r['ci_lower'], 2), upper=fmt.signed(r['ci_upper'], 2)))
        expected = fmt.signed(100 * r["expected_effect"] if rel else r["expected_effect"], 1)
        worked = r["p_value"] < alpha
        if worked and r["consistent"]:
            text = _("Action {action} ({name}) worked: {kpi} changed by {estimate} at its start ({ci} {interval}, {p}); "
                     "expected {expected}, consistent with the estimate")
        elif worked:
            text = _("Action {action} ({name}) worked: {kpi} changed by {estimate} at its start ({ci} {interval}, {p}); "
                     "expected {expected}, not consistent with the estimate")
        elif r["consistent"]:
            text = _("Action {action} ({name}) has no detectable effect yet: {kpi} changed by {estimate} at its start "
                     "({ci} {interval}, {p}); expected {expected}, consistent with the estimate")
        else:
            text = _("Action {action} ({name}) has no detectable effect yet: {kpi} changed by {estimate} at its start "
                     "({ci} {interval}, {p}); expected {expected}, not consistent with the estimate")
        parts.append(text.format(action=esc(aid), name=esc(r['name']), kpi=_words(r['kpi']), estimate=est,
                                 ci=ci_label(alpha), interval=ci, p=fmt.p_text(r['p_value']),
                                 expected=f"{expected}{rel}"))
    if parts:
        out.append(_("Improvement actions: {actions}.").format(actions="; ".join(parts)))
    return out[:MAX_SENTENCES]


def summary_md(card: pd.DataFrame, alert_rows: pd.DataFrame, camps: pd.DataFrame, acts: pd.DataFrame,
              period: Period, alpha: float = 0.05, lists: dict | None = None) -> str:
    """The executive summary (Markdown): a title, then at most 8 sentences (``summary_sentences``),
    one per paragraph."""
    lines = [_("**Executive summary, {period}**").format(period=period.label)]
    lines.extend(summary_sentences(card, alert_rows, camps, acts, period, alpha=alpha, lists=lists))
    return "\n\n".join(lines)
