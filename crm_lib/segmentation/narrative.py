"""Sentences and display tables for the segmentation notebook, built from ``analyse_period``.

Every rate is stated with its interval and n; counts and totals are a census of the
warehouse and say so. Tables come back as strings (thousands separators, percentages),
ready to display without scientific notation.
"""

from __future__ import annotations

import pandas as pd

from crm_lib import fmt
from crm_lib.fmt import N_, _, ci_label, esc, money, pct
from crm_lib.fmt import integer as n
from crm_lib.segmentation.clusters import STABILITY_LEVEL, STABILITY_LEVEL_WHY
from crm_lib.segmentation.derived import cluster_name_label
from crm_lib.segmentation.lifecycle import stage_label

_label = fmt.label           # codes from data and parameters as words, escaped: for Markdown


def _words(s) -> str:
    """A code as words for a DataFrame cell or label (pandas escapes HTML there; Markdown does not apply)."""
    return str(s).replace("_", " ")

#: the stability interval's label: its level is fixed by design, and says so (English; ``stability_ci()`` translates)
STABILITY_CI = f"{fmt.level_pct(1 - STABILITY_LEVEL)} interval, {STABILITY_LEVEL_WHY}"
#: ``clusters.STABILITY_LEVEL_WHY`` marked for the catalogue (tests/test_i18n_segclv.py keeps the two equal)
_STABILITY_WHY = N_("fixed by design: k is admitted only when this interval's lower bound reaches "
                    "min_stability, so the choice of k does not change with the report's confidence level")

#: customer types of the data contract (``crm_lib.data.schema``) and the all-customers row: library vocabulary
CUSTOMER_TYPE_NAMES = {"individual": N_("individual"), "corporate": N_("corporate"), "all": N_("all")}
#: the RFM segments ``parameters/rfm_segments.yaml`` ships with; a segment a bank adds is shown as it is named
RFM_SEGMENT_NAMES = {"champions": N_("champions"), "loyal_customers": N_("loyal customers"),
                     "potential_loyalists": N_("potential loyalists"), "new_customers": N_("new customers"),
                     "promising": N_("promising"), "need_attention": N_("need attention"),
                     "about_to_sleep": N_("about to sleep"), "at_risk": N_("at risk"), "cant_lose": N_("cant lose"),
                     "hibernating": N_("hibernating")}
#: display names of the tables' columns and index levels (the English is the code as words, or the name given)
_COLUMN_TITLES = {
    "aum": N_("AUM"), "aum_share": N_("AUM share"), "median_aum": N_("median AUM"), "csat_mean": N_("CSAT mean"),
    "complaints_per_100": N_("complaints per 100"), "customers": N_("customers"), "share": N_("share"),
    "overridden": N_("overridden"), "value_share": N_("value share"), "monetary": N_("monetary"),
    "median_recency_days": N_("median recency days"), "median_frequency": N_("median frequency"),
    "median_age": N_("median age"), "median_income": N_("median income"), "median_revenue": N_("median revenue"),
    "median_avg_ticket": N_("median avg ticket"), "median_products": N_("median products"),
    "median_digital_share": N_("median digital share"), "median_tenure_years": N_("median tenure years"),
    "customer_type": N_("customer type"), "tier": N_("tier"), "segment": N_("segment"), "stage": N_("stage"),
    "cluster": N_("cluster"), "cluster_name": N_("cluster name"), "silhouette": N_("silhouette"), "note": N_("note"),
}


def _zh() -> bool:
    return fmt.get_locale().lower().startswith("zh")


def _sp() -> str:
    """What separates two sentences: a space in English, nothing after a Chinese full stop."""
    return "" if _zh() else " "


def _list_sep() -> str:
    return "、" if _zh() else ", "


def _semi() -> str:
    return "；" if _zh() else "; "


def _colon() -> str:
    """What follows a label in a list (``individual: ...``): a full-width colon in Chinese."""
    return "：" if _zh() else ": "


def _day(d) -> str:
    """``30 Sep 2026`` in English (as always), the locale's long date otherwise (``2026年9月30日``)."""
    return f"{d:%d %b %Y}" if fmt.get_locale() == "en" else fmt.date(d)


def customer_type_label(ct) -> str:
    """A customer type (``individual``, ``corporate``, ``all``) in the run's language; others as words."""
    return _(CUSTOMER_TYPE_NAMES[ct]) if isinstance(ct, str) and ct in CUSTOMER_TYPE_NAMES else str(ct)


def rfm_label(segment) -> str:
    """An RFM segment's name as words in the run's language (the shipped names are translated)."""
    if isinstance(segment, str) and segment in RFM_SEGMENT_NAMES:
        return _(RFM_SEGMENT_NAMES[segment])
    return _words(segment)


def _title(c) -> str:
    return _(_COLUMN_TITLES[c]) if isinstance(c, str) and c in _COLUMN_TITLES else _words(c)


def stability_ci() -> str:
    """``STABILITY_CI`` in the run's language."""
    return _("{level} interval, {why}").format(level=fmt.level_pct(1 - STABILITY_LEVEL), why=_(_STABILITY_WHY))


def _and(items: list[str]) -> str:
    out = items[0] if items else ""
    for x in items[1:]:
        out = _("{first} and {second}").format(first=out, second=x)
    return out


def format_table(df: pd.DataFrame, percent=(), currency=(), integer=(), decimals: dict | None = None) -> pd.DataFrame:
    """A copy of ``df`` with the named columns as display strings (NaN shown as '-')."""
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if c in percent:
            out[c] = [("-" if pd.isna(v) else pct(v)) for v in col]
        elif c in currency:
            out[c] = [("-" if pd.isna(v) else money(v)) for v in col]
        elif c in integer:
            out[c] = [("-" if pd.isna(v) else n(v)) for v in col]
        elif decimals and c in decimals:
            out[c] = [("-" if pd.isna(v) else fmt.number(v, decimals[c])) for v in col]
    return out


def _ci(x, lo, hi, alpha: float, digits: int = 2) -> str:
    return fmt.pct_ci(x, lo, hi, alpha, digits)


def headline(res) -> str:
    """The bullet points a reviewer reads first: size, value, movement, clusters, lifecycle."""
    alpha = res.alpha
    ts = res.tier_summary
    d = res.dates
    if ts is None:   # a source without balances
        bullets = [_("**Base:** {customers} active customers on {date}. The source has no balances, so value "
                     "tiers, tier movement and lifecycle stages are not reported.").format(
            customers=n(len(res.current.customers)), date=_day(d["current"]))]
        return _headline_rest(res, bullets, alpha)
    base = _("**Base:** {customers} active customers on {date} hold {aum} of AUM (deposits + investments, average "
             "of the last month-ends).").format(customers=n(ts["customers"].sum()), date=_day(d["current"]),
                                                 aum=money(ts["aum"].sum()))
    ind = ts[ts["customer_type"] == "individual"]
    if len(ind):
        top = ind.iloc[-1]
        base += _sp() + _("The top individual tier, *{tier}*, is {customer_share} of customers and {aum_share} of "
                          "AUM.").format(tier=_label(top["tier"]), customer_share=pct(top["share"]),
                                         aum_share=pct(top["aum_share"]))
    bullets = [base]
    if res.tier_rates is not None:
        r = res.tier_rates.loc["all"]
        bullets.append(_(
            "**Since {date}:** {up} customers moved up a value tier and {down} down: up-tier rate **{up_rate}**, "
            "down-tier rate **{down_rate}**, net {net_rate} (n = {n_start} customers active at the start). {aum_up} "
            "of AUM sits with customers who moved up, {aum_down} with those who moved down.").format(
            date=_day(d["previous"]), up=n(r["up"]), down=n(r["down"]),
            up_rate=_ci(r["up_rate"], r["up_rate_lower"], r["up_rate_upper"], alpha),
            down_rate=_ci(r["down_rate"], r["down_rate_lower"], r["down_rate_upper"], alpha),
            net_rate=_ci(r["net_up_rate"], r["net_up_rate_lower"], r["net_up_rate_upper"], alpha),
            n_start=n(r["n_start"]), aum_up=money(r["aum_moved_up"]), aum_down=money(r["aum_moved_down"])))
    else:
        bullets.append(_("**Movement:** the data has no previous period, so migration is not reported."))
    if res.tier_rates_yoy is not None and d["year_ago"] != d["previous"]:
        y = res.tier_rates_yoy.loc["all"]
        bullets.append(_("**Over the year since {date}:** up {up_rate}, down {down_rate} (n = {n_start}).").format(
            date=_day(d["year_ago"]), up_rate=_ci(y["up_rate"], y["up_rate_lower"], y["up_rate_upper"], alpha),
            down_rate=_ci(y["down_rate"], y["down_rate_lower"], y["down_rate_upper"], alpha), n_start=n(y["n_start"])))
    return _headline_rest(res, bullets, alpha)


def _headline_rest(res, bullets: list[str], alpha: float) -> str:
    """The headline's clusters and lifecycle bullets, and its note on intervals."""
    cl = [_("{k} {customer_type} clusters (stability: bootstrap ARI {mean}, {level} interval, fixed by design, "
            "{lower}-{upper}, n = {n})").format(
              k=m.k_, customer_type=esc(customer_type_label(ct)), mean=f"{m.stability_['mean']:.3f}",
              level=fmt.level_pct(1 - STABILITY_LEVEL), lower=f"{m.stability_['ci_lower']:.3f}",
              upper=f"{m.stability_['ci_upper']:.3f}", n=n(m.n_))
          for ct, m in res.current.models.items()]
    if cl:
        bullets.append(_("**Behaviour:** {clusters}. The stability interval is at {stability_ci}.").format(
            clusters=_and(cl), stability_ci=stability_ci()))
    ls = res.lifecycle_summary
    if ls is not None:
        active = max(int(ls.loc[ls.index != "closed", "customers"].sum()), 1)
        bullets.append(_("**Lifecycle:** {at_risk} customers at risk ({at_risk_share} of active) and {dormant} dormant "
                         "({dormant_share}).").format(
            at_risk=n(ls.loc["at_risk", "customers"]), at_risk_share=pct(ls.loc["at_risk", "customers"] / active),
            dormant=n(ls.loc["dormant", "customers"]), dormant_share=pct(ls.loc["dormant", "customers"] / active)))
    return ("\n".join(f"- {b}" for b in bullets) + "\n\n"
            + _("Intervals are {level} percentile bootstraps over customers (Wilson where a count is 0), except the "
                "cluster stability's; counts and AUM are a census of the warehouse and carry no sampling "
                "error.").format(level=fmt.level_pct(alpha)))


def tiers_text(res, thresholds: dict) -> str:
    rules = _semi().join(
        esc(customer_type_label(ct)) + _colon()
        + _list_sep().join(_("{tier} from {amount}").format(tier=_label(t), amount=money(lo)) for t, lo in tiers.items())
        for ct, tiers in thresholds.items())
    ov = int(res.tier_summary["overridden"].sum())
    return (_("Tiers by the average AUM of the last month-ends ({rules}; parameter `tiers`).").format(rules=rules)
            + _sp()
            + (_("{count} customer(s) are placed by a relationship-manager override "
                 "(`parameters/tier_overrides.yaml`).").format(count=n(ov)) if ov else
               _("No relationship-manager overrides apply (`parameters/tier_overrides.yaml` is empty or expired).")))


def _titles(df: pd.DataFrame) -> pd.DataFrame:
    out = df.rename(columns=_title)
    out.index.names = [_title(x) if x else x for x in out.index.names]
    return out


def _ctypes(d: pd.DataFrame) -> pd.DataFrame:
    return d.assign(customer_type=lambda x: x["customer_type"].map(customer_type_label))


def clusters_heading(ctype: str) -> str:
    """``**Individual clusters**``: the heading of a customer type's cluster tables."""
    return _("**{customer_type} clusters**").format(customer_type=esc(customer_type_label(ctype).capitalize()))


def tier_table(res) -> pd.DataFrame:
    t = _ctypes(res.tier_summary.assign(tier=lambda d: d["tier"].map(_words))).set_index(["customer_type", "tier"])
    return _titles(format_table(t, percent=("share", "aum_share"), currency=("aum", "median_aum"),
                                integer=("customers", "overridden")))


def rfm_text(res) -> str:
    s = res.rfm_summary
    out = []
    for ct in s["customer_type"].unique():
        d = s[s["customer_type"] == ct].set_index("segment")
        bits = [_("*{segment}* {customer_share} of customers / {value_share} of value").format(
                    segment=esc(rfm_label(seg)), customer_share=pct(d.loc[seg, "share"]),
                    value_share=pct(d.loc[seg, "value_share"]))
                for seg in ("champions", "loyal_customers", "at_risk", "hibernating") if seg in d.index]
        out.append(_("**{customer_type}s** ({count}): {segments}.").format(
            customer_type=esc(customer_type_label(ct).capitalize()), count=n(d["customers"].sum()),
            segments=_semi().join(bits)))
    return (_sp().join(out) + _sp()
            + _("Scores are quintiles within customer type over the behaviour window; equal values share a score. "
                "Segment sizes are a census of the window."))


def rfm_table(res) -> pd.DataFrame:
    t = _ctypes(res.rfm_summary.assign(segment=lambda d: d["segment"].map(rfm_label))).set_index(
        ["customer_type", "segment"])
    return _titles(format_table(t, percent=("share", "value_share"), currency=("monetary",),
                                integer=("customers", "median_recency_days", "median_frequency")))


def clusters_text(res, ctype: str) -> str:
    m = res.current.models[ctype]
    sel = m.selection_
    adm = [int(k) for k in sel.loc[sel["admissible"], "k"]]
    st = m.stability_
    head = dict(customer_type=esc(customer_type_label(ctype).capitalize()), k=m.k_,
                min_stability=f"{m.min_stability:.2f}", min_silhouette=f"{m.min_silhouette:.2f}",
                admissible=adm or _("none"))
    if m.k_ in adm:
        s = _("**{customer_type}s: k = {k}.** Admissible k (bootstrap ARI lower bound >= {min_stability} and "
              "silhouette >= {min_silhouette}): {admissible}; among them k = {k} has the lowest ICL.").format(**head)
    else:
        s = _("**{customer_type}s: k = {k}.** Admissible k (bootstrap ARI lower bound >= {min_stability} and "
              "silhouette >= {min_silhouette}): {admissible}; none passed both gates, so the most stable k was "
              "taken.").format(**head)
    s += _sp() + _("Stability at k = {k}: mean ARI {mean} ({stability_ci}: {lower}-{upper}, {n_bootstrap} bootstrap "
                   "refits on {n_sample} customers); silhouette {silhouette}. Features: {features}. Fit: "
                   "{fit_method}.").format(
        k=m.k_, mean=f"{st['mean']:.3f}", stability_ci=stability_ci(), lower=f"{st['ci_lower']:.3f}",
        upper=f"{st['ci_upper']:.3f}", n_bootstrap=st["n_bootstrap"], n_sample=n(st["n_sample"]),
        silhouette=f"{m.silhouette_:.2f}", features=", ".join(esc(f) for f in m.features_),
        fit_method=esc(m.fit_method_))
    lm = m.label_map_
    if lm["reference_label"].notna().any():
        s += _sp() + _("Labels follow last period's clusters (Hungarian matching of centroids; largest shift "
                       "{distance} standard deviations).").format(distance=f"{lm['distance'].max():.2f}")
    return s


def selection_table(model) -> pd.DataFrame:
    t = model.selection_[["k", "stability", "stability_lower", "stability_upper", "silhouette", "bic", "icl",
                          "note"]].set_index("k")
    t = format_table(t, decimals={"silhouette": 3, "stability": 3, "stability_lower": 3, "stability_upper": 3,
                                  "bic": 0, "icl": 0})
    level = fmt.level_pct(1 - STABILITY_LEVEL)
    return t.rename(columns={"stability": _("stability (ARI)"),
                             "stability_lower": _("lower ({level}, fixed by design)").format(level=level),
                             "stability_upper": _("upper ({level}, fixed by design)").format(level=level),
                             "bic": "BIC", "icl": "ICL", "silhouette": _("silhouette"), "note": _("note")})


_PROFILE_ROWS = ["customers", "share", "aum_share", "median_age", "median_income", "median_revenue", "median_aum",
                 "aum_q1", "aum_q3", "median_avg_ticket", "median_frequency", "median_products",
                 "median_digital_share", "median_tenure_years", "csat_mean", "complaints_per_100"]


def _profile_table(p: pd.DataFrame, closure: pd.DataFrame | None, alpha: float) -> pd.DataFrame:
    cols = [c for c in _PROFILE_ROWS if c in p.columns]
    t = format_table(p[cols], percent=("share", "aum_share", "median_digital_share"),
                     currency=("median_income", "median_revenue", "median_aum", "aum_q1", "aum_q3",
                               "median_avg_ticket"),
                     integer=("customers", "median_age", "median_frequency", "median_products"),
                     decimals={"csat_mean": 2, "complaints_per_100": 1, "median_tenure_years": 1})
    t = t.rename(columns={"aum_q1": _("AUM 25th percentile"), "aum_q3": _("AUM 75th percentile")})
    if closure is not None and len(closure):
        t[_("closed since the previous period end % [{ci}]").format(ci=ci_label(alpha))] = [
            _("{rate} of {total}").format(
                rate=_pp(closure.loc[i, "row_share"], closure.loc[i, "ci_lower"], closure.loc[i, "ci_upper"]),
                total=n(closure.loc[i, "row_total"]))
            if i in closure.index and closure.loc[i, "row_total"] > 0 else "-" for i in p.index]
    return t


def cluster_table(res, ctype: str) -> pd.DataFrame:
    """Cluster profiles with clusters as columns ('I1: younger, lower AUM') and measures as rows.

    The last row is the churn so far: the share of the cluster's customers at the previous
    period end (same label, matched across periods) who have closed since, with its interval.
    """
    p = res.cluster_profiles[ctype]
    t = _profile_table(p, res.cluster_closure.get(ctype), res.alpha)
    t.index = [f"{lbl}: {cluster_name_label(p.loc[lbl, 'name'])}" for lbl in p.index]
    return _titles(t).T


def tier_profile_table(res) -> pd.DataFrame:
    """Profiles of the value tiers (tiers as columns), with each tier's closures since the previous period end."""
    clo = None
    if res.tier_closure is not None:
        clo = res.tier_closure[res.tier_closure["from_state"] != "new"].set_index("from_state")
    t = _profile_table(res.tier_profiles, clo, res.alpha)
    t.index = [_words(i) for i in t.index]
    return _titles(t).T


def _penetration_row(i) -> str:
    """A product code as it is (data), or ``channel: mobile`` for a channel share (the word translated)."""
    w = _words(i)
    if w.startswith("channel "):
        return _("channel: {channel}").format(channel=w[len("channel "):])
    return w


def penetration_table(res, ctype: str) -> pd.DataFrame:
    """Products held and channel shares (rows) per cluster (columns), as percentages."""
    p = res.cluster_penetration[ctype]
    t = format_table(p, percent=tuple(p.columns)).T
    t.index = [_penetration_row(i) for i in t.index]
    t.columns.name = _title(t.columns.name) if t.columns.name else t.columns.name
    return t


def lifecycle_text(res, rules: dict) -> str:
    ls = res.lifecycle_summary
    return _("Stages by rule (`parameters/segmentation.yaml`, precedence top to bottom): closed within "
             "{closed_days} days; onboarding (tenure <= {onboarding_days} days); at risk (AUM down {aum_down} or more "
             "over 3 month-ends, or {complaints}+ complaints in 90 days); dormant (no transaction in {dormant_days} "
             "days); growing (tenure <= {growing_days} days or AUM up {aum_up}+); mature otherwise. The churn model's "
             "score will replace the at-risk rules once it exists. Mature customers hold {mature_share} of "
             "AUM.").format(
        closed_days=esc(rules["closed_lookback_days"]), onboarding_days=esc(rules["onboarding_days"]),
        aum_down=pct(-rules["at_risk_aum_change_3m"], 0), complaints=esc(rules["at_risk_complaints_90d"]),
        dormant_days=esc(rules["dormant_days"]), growing_days=esc(rules["growing_tenure_days"]),
        aum_up=pct(rules["growing_aum_change_3m"], 0), mature_share=pct(ls.loc["mature", "aum_share"]))


def lifecycle_table(res) -> pd.DataFrame:
    t = res.lifecycle_summary.rename(index=stage_label)
    return _titles(format_table(t, percent=("share", "aum_share"), currency=("aum",), integer=("customers",)))


def _pp(x, lo, hi) -> str:
    return f"{100 * x:.2f} [{100 * lo:.2f}-{100 * hi:.2f}]"


def rates_table(res) -> pd.DataFrame:
    """Up, down, net and closure rates (% [interval]), this period and over a year, per customer type."""
    rows = []
    since_c, type_c = _("since"), _("customer type")
    ci = ci_label(res.alpha)
    rate_c = {c: _("{rate} % [{ci}]").format(rate=w, ci=ci)
              for c, w in (("up", _("up")), ("down", _("down")), ("net up", _("net up")), ("closed", _("closed")))}
    for label, rates, since in (("previous period end", res.tier_rates, res.dates["previous"]),
                                ("a year before", res.tier_rates_yoy, res.dates["year_ago"])):
        if rates is None or (label == "a year before" and res.dates["year_ago"] == res.dates["previous"]):
            continue
        for ct, r in rates.iterrows():
            rows.append({since_c: _day(since), type_c: customer_type_label(ct), _("n at start"): n(r["n_start"]),
                         rate_c["up"]: _pp(r["up_rate"], r["up_rate_lower"], r["up_rate_upper"]),
                         rate_c["down"]: _pp(r["down_rate"], r["down_rate_lower"], r["down_rate_upper"]),
                         rate_c["net up"]: _pp(r["net_up_rate"], r["net_up_rate_lower"], r["net_up_rate_upper"]),
                         rate_c["closed"]: _pp(r["closed_rate"], r["closed_rate_lower"], r["closed_rate_upper"]),
                         _("AUM moved up"): money(r["aum_moved_up"]), _("AUM moved down"): money(r["aum_moved_down"]),
                         _("new customers"): n(r["new"])})
    t = pd.DataFrame(rows)
    if len(t):
        t = t.set_index([since_c, type_c])
    return t


def closure_table(res) -> pd.DataFrame:
    """Closure ('churn so far') rate of each start tier over the period, with its interval."""
    c = res.tier_closure
    if c is None:
        return pd.DataFrame()
    c = c[c["from_state"] != "new"]
    type_c, tier_c = _("customer type"), _("tier at start")
    return pd.DataFrame({type_c: c["customer_type"].map(customer_type_label),
                         tier_c: c["from_state"].map(_words),
                         _("customers at start"): [n(v) for v in c["row_total"]],
                         _("closed in the period"): [n(v) for v in c["count"]],
                         _("closure rate % [{ci}]").format(ci=ci_label(res.alpha)): [
                             _pp(s, lo, hi) for s, lo, hi in zip(c["row_share"], c["ci_lower"], c["ci_upper"])]}
                        ).set_index([type_c, tier_c])


def migration_text(res) -> str:
    if res.tier_rates is None:
        return _("No previous period in the data: migration is not available.")
    alpha = res.alpha
    parts = []
    for ct, r in res.tier_rates.drop(index="all", errors="ignore").iterrows():
        parts.append(_("{customer_type}s: up {up_rate}, down {down_rate}, closed {closed_rate} (n = {n_start})").format(
            customer_type=esc(customer_type_label(ct)),
            up_rate=_ci(r["up_rate"], r["up_rate_lower"], r["up_rate_upper"], alpha),
            down_rate=_ci(r["down_rate"], r["down_rate_lower"], r["down_rate_upper"], alpha),
            closed_rate=_ci(r["closed_rate"], r["closed_rate_lower"], r["closed_rate_upper"], alpha),
            n_start=n(r["n_start"])))
    return _("Tier movement from the previous period's end to this period's end, among customers active at the "
             "start: {movements}. Cells of the matrices show the row share, its {level} bootstrap interval and the "
             "count; `new` is where customers onboarded in the period landed.").format(
        movements=_semi().join(parts), level=fmt.level_pct(alpha))


def clusters_method(settings: dict) -> str:
    """How the clusters are fitted, including what happens at large N (from the settings)."""
    c = settings["clusters"]
    feats = _semi().join(esc(customer_type_label(ct)) + _colon() + ", ".join(esc(x) for x in f)
                         for ct, f in c["features"].items())
    return _sp().join([
        _("Each customer type is clustered separately with a scikit-learn pipeline: median imputation, "
          "standardisation{pca}, then {algorithm} with fixed seeds (features: {features}). k from {k_min} to {k_max} "
          "is scored on a random sample of at most {sample} customers by stability (adjusted Rand index of "
          "{n_bootstrap} bootstrap refits), silhouette and BIC/ICL of a Gaussian mixture; the chosen k is the "
          "admissible one (stability lower bound >= {min_stability}, silhouette >= {min_silhouette}) with the lowest "
          "ICL, the clustering form of BIC that does not split one non-Gaussian cluster into overlapping "
          "components.").format(
            pca=_(", PCA") if c["pca_components"] else "",
            algorithm=_("k-means") if c["algorithm"] == "kmeans" else _("a Gaussian mixture"), features=feats,
            k_min=esc(c["k_range"][0]), k_max=esc(c["k_range"][1]), sample=n(c["selection_sample"]),
            n_bootstrap=esc(c["n_bootstrap"]), min_stability=esc(c["min_stability"]),
            min_silhouette=esc(c["min_silhouette"])),
        _("**Large populations:** above {threshold} customers of a type the final fit is MiniBatchKMeans (batches of "
          "{batch}) on all customers (a Gaussian mixture is fitted on the selection sample), so time grows about "
          "linearly with customers.").format(threshold=n(c["minibatch_threshold"]), batch=n(4096)),
        _("Labels are matched to last period's clusters so that segment names do not shuffle between reports.")])


def value_text(val: dict, alpha: float) -> str:
    """How profit is spread over the segments, with the definition and assumptions (from ``value_by_segment``)."""
    t = val["tier"]
    top = t.sort_values("annual_margin", ascending=False).iloc[0]
    neg = t.sort_values("negative_share", ascending=False).iloc[0]
    return _sp().join([
        _("The {n} segmented customers earn **{total} a year** of margin. Tier *{top_tier}* carries {top_share} of it "
          "with {top_customers} customers; in *{negative_tier}* {negative_share} of customers have a negative margin "
          "(balances and fees below their cost to serve).").format(
            n=n(val["n"]), total=money(val["total"]), top_tier=_label(top["tier"]), top_share=pct(top["margin_share"]),
            top_customers=n(top["customers"]), negative_tier=_label(neg["tier"]),
            negative_share=pct(neg["negative_share"])),
        _("**Definition:** annual margin = 12 x (balances x annual spread / 12 + monthly product fees - monthly cost "
          "to serve), balances the mean of the last month-ends; {assumptions}; the spreads are economic-profit "
          "margins (after operating costs, credit losses and the cost of capital).").format(
            assumptions=esc(val["assumptions"])),
        _("A run-rate, not lifetime value: relationship CLV by tier, with intervals, is in the CLV notebook. Totals "
          "and shares are a census under these assumptions (no sampling error; the rates are not covered by any "
          "interval); means carry a {level} t interval over customers.").format(level=fmt.level_pct(alpha))])


_VALUE_INDEX = {"customer_type": customer_type_label, "cluster_name": lambda v: _words(cluster_name_label(v)),
                "stage": stage_label}


def value_table(val: dict, by: str, alpha: float) -> pd.DataFrame:
    """Annual margin per segment (``by``: ``tier``, ``cluster`` or ``stage``) as display strings."""
    t = val[by]
    if t is None or not len(t):
        return pd.DataFrame()
    idx = {"tier": ["customer_type", "tier"], "cluster": ["customer_type", "cluster", "cluster_name"],
           "stage": ["stage"]}[by]
    keys = t[idx].astype(str).apply(lambda c: c.map(_VALUE_INDEX.get(c.name, _words)))
    out = pd.DataFrame({
        _("customers"): [n(v) for v in t["customers"]],
        _("annual margin"): [money(v) for v in t["annual_margin"]],
        _("share of margin"): ["-" if pd.isna(v) else pct(v) for v in t["margin_share"]],
        _("mean per customer ({ci})").format(ci=ci_label(alpha)): [
            f"{money(m)} ({fmt.interval(lo, hi, money, _('not estimable'))})"
            for m, lo, hi in t[["mean_annual_margin", "mean_lower", "mean_upper"]].to_numpy()],
        _("median per customer"): [money(v) for v in t["median_annual_margin"]],
        _("negative margin"): [pct(v) for v in t["negative_share"]]},
        index=pd.MultiIndex.from_frame(keys) if len(idx) > 1 else pd.Index(keys[idx[0]], name=idx[0]))
    out.index.names = [_title(x) for x in out.index.names]
    return out
