"""Sentences and display tables for the segmentation notebook, built from ``analyse_period``.

Every rate is stated with its interval and n; counts and totals are a census of the
warehouse and say so. Tables come back as strings (thousands separators, percentages),
ready to display without scientific notation.
"""

from __future__ import annotations

import pandas as pd

from crm_lib import fmt
from crm_lib.fmt import ci_label, esc, money, pct
from crm_lib.fmt import integer as n
from crm_lib.segmentation.clusters import STABILITY_LEVEL, STABILITY_LEVEL_WHY

_label = fmt.label           # codes from data and parameters as words, escaped: for Markdown


def _words(s) -> str:
    """A code as words for a DataFrame cell or label (pandas escapes HTML there; Markdown does not apply)."""
    return str(s).replace("_", " ")

#: the stability interval's label: its level is fixed by design, and says so
STABILITY_CI = f"{fmt.level_pct(1 - STABILITY_LEVEL)} interval, {STABILITY_LEVEL_WHY}"


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
    base = (f"**Base:** {n(ts['customers'].sum())} active customers on {d['current']:%d %b %Y} hold "
            f"{money(ts['aum'].sum())} of AUM (deposits + investments, average of the last month-ends).")
    ind = ts[ts["customer_type"] == "individual"]
    if len(ind):
        top = ind.iloc[-1]
        base += (f" The top individual tier, *{_label(top['tier'])}*, is {pct(top['share'])} of customers and "
                 f"{pct(top['aum_share'])} of AUM.")
    bullets = [base]
    if res.tier_rates is not None:
        r = res.tier_rates.loc["all"]
        bullets.append(
            f"**Since {d['previous']:%d %b %Y}:** {n(r['up'])} customers moved up a value tier and {n(r['down'])} "
            f"down: up-tier rate **{_ci(r['up_rate'], r['up_rate_lower'], r['up_rate_upper'], alpha)}**, "
            f"down-tier rate **{_ci(r['down_rate'], r['down_rate_lower'], r['down_rate_upper'], alpha)}**, net "
            f"{_ci(r['net_up_rate'], r['net_up_rate_lower'], r['net_up_rate_upper'], alpha)} (n = "
            f"{n(r['n_start'])} customers active at the start). {money(r['aum_moved_up'])} of AUM sits with "
            f"customers who moved up, {money(r['aum_moved_down'])} with those who moved down.")
    else:
        bullets.append("**Movement:** the data has no previous period, so migration is not reported.")
    if res.tier_rates_yoy is not None and d["year_ago"] != d["previous"]:
        y = res.tier_rates_yoy.loc["all"]
        bullets.append(f"**Over the year since {d['year_ago']:%d %b %Y}:** up "
                       f"{_ci(y['up_rate'], y['up_rate_lower'], y['up_rate_upper'], alpha)}, down "
                       f"{_ci(y['down_rate'], y['down_rate_lower'], y['down_rate_upper'], alpha)} "
                       f"(n = {n(y['n_start'])}).")
    cl = [f"{m.k_} {esc(ct)} clusters (stability: bootstrap ARI {m.stability_['mean']:.3f}, "
          f"{fmt.level_pct(1 - STABILITY_LEVEL)} interval, fixed by design, {m.stability_['ci_lower']:.3f}-"
          f"{m.stability_['ci_upper']:.3f}, n = {n(m.n_)})"
          for ct, m in res.current.models.items()]
    if cl:
        bullets.append("**Behaviour:** " + " and ".join(cl) + f". The stability interval is at {STABILITY_CI}.")
    ls = res.lifecycle_summary
    active = max(int(ls.loc[ls.index != "closed", "customers"].sum()), 1)
    bullets.append(f"**Lifecycle:** {n(ls.loc['at_risk', 'customers'])} customers at risk "
                   f"({pct(ls.loc['at_risk', 'customers'] / active)} of active) and "
                   f"{n(ls.loc['dormant', 'customers'])} dormant ({pct(ls.loc['dormant', 'customers'] / active)}).")
    return ("\n".join(f"- {b}" for b in bullets)
            + f"\n\nIntervals are {fmt.level_pct(alpha)} percentile bootstraps over customers (Wilson where a count is "
            "0), except the cluster stability's; counts and AUM are a census of the warehouse and carry no sampling "
            "error.")


def tiers_text(res, thresholds: dict) -> str:
    rules = "; ".join(f"{esc(ct)}: " + ", ".join(f"{_label(t)} from {money(lo)}" for t, lo in tiers.items())
                      for ct, tiers in thresholds.items())
    ov = int(res.tier_summary["overridden"].sum())
    return (f"Tiers by the average AUM of the last month-ends ({rules}; parameter `tiers`). "
            + (f"{n(ov)} customer(s) are placed by a relationship-manager override "
               "(`parameters/tier_overrides.yaml`)." if ov else
               "No relationship-manager overrides apply (`parameters/tier_overrides.yaml` is empty or expired)."))


def _titles(df: pd.DataFrame) -> pd.DataFrame:
    names = {"aum": "AUM", "aum_share": "AUM share", "median_aum": "median AUM", "csat_mean": "CSAT mean",
             "complaints_per_100": "complaints per 100"}
    out = df.rename(columns=lambda c: names.get(c, _words(c)))
    out.index.names = [_words(x) if x else x for x in out.index.names]
    return out


def tier_table(res) -> pd.DataFrame:
    t = res.tier_summary.assign(tier=lambda d: d["tier"].map(_words)).set_index(["customer_type", "tier"])
    return _titles(format_table(t, percent=("share", "aum_share"), currency=("aum", "median_aum"),
                                integer=("customers", "overridden")))


def rfm_text(res) -> str:
    s = res.rfm_summary
    out = []
    for ct in s["customer_type"].unique():
        d = s[s["customer_type"] == ct].set_index("segment")
        bits = [f"*{_label(seg)}* {pct(d.loc[seg, 'share'])} of customers / {pct(d.loc[seg, 'value_share'])} of value"
                for seg in ("champions", "loyal_customers", "at_risk", "hibernating") if seg in d.index]
        out.append(f"**{esc(str(ct).capitalize())}s** ({n(d['customers'].sum())}): " + "; ".join(bits) + ".")
    return (" ".join(out) + " Scores are quintiles within customer type over the behaviour window; equal values "
            "share a score. Segment sizes are a census of the window.")


def rfm_table(res) -> pd.DataFrame:
    t = res.rfm_summary.assign(segment=lambda d: d["segment"].map(_words)).set_index(["customer_type", "segment"])
    return _titles(format_table(t, percent=("share", "value_share"), currency=("monetary",),
                                integer=("customers", "median_recency_days", "median_frequency")))


def clusters_text(res, ctype: str) -> str:
    m = res.current.models[ctype]
    sel = m.selection_
    adm = [int(k) for k in sel.loc[sel["admissible"], "k"]]
    st = m.stability_
    s = (f"**{esc(str(ctype).capitalize())}s: k = {m.k_}.** Admissible k (bootstrap ARI lower bound >= {m.min_stability:.2f} "
         f"and silhouette >= {m.min_silhouette:.2f}): {adm or 'none'}; ")
    s += ("among them k = {} has the lowest ICL. ".format(m.k_) if m.k_ in adm else
          "none passed both gates, so the most stable k was taken. ")
    s += (f"Stability at k = {m.k_}: mean ARI {st['mean']:.3f} ({STABILITY_CI}: {st['ci_lower']:.3f}-"
          f"{st['ci_upper']:.3f}, {st['n_bootstrap']} bootstrap refits on {n(st['n_sample'])} customers); silhouette "
          f"{m.silhouette_:.2f}. Features: {', '.join(esc(f) for f in m.features_)}. Fit: {esc(m.fit_method_)}.")
    lm = m.label_map_
    if lm["reference_label"].notna().any():
        s += (f" Labels follow last period's clusters (Hungarian matching of centroids; largest shift "
              f"{lm['distance'].max():.2f} standard deviations).")
    return s


def selection_table(model) -> pd.DataFrame:
    t = model.selection_[["k", "stability", "stability_lower", "stability_upper", "silhouette", "bic", "icl",
                          "note"]].set_index("k")
    t = format_table(t, decimals={"silhouette": 3, "stability": 3, "stability_lower": 3, "stability_upper": 3,
                                  "bic": 0, "icl": 0})
    fixed = f"{fmt.level_pct(1 - STABILITY_LEVEL)}, fixed by design"
    return t.rename(columns={"stability": "stability (ARI)", "stability_lower": f"lower ({fixed})",
                             "stability_upper": f"upper ({fixed})", "bic": "BIC", "icl": "ICL"})


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
    t = t.rename(columns={"aum_q1": "AUM 25th percentile", "aum_q3": "AUM 75th percentile"})
    if closure is not None and len(closure):
        t[f"closed since the previous period end % [{ci_label(alpha)}]"] = [
            _pp(closure.loc[i, "row_share"], closure.loc[i, "ci_lower"], closure.loc[i, "ci_upper"])
            + f" of {n(closure.loc[i, 'row_total'])}" if i in closure.index and closure.loc[i, "row_total"] > 0
            else "-" for i in p.index]
    return t


def cluster_table(res, ctype: str) -> pd.DataFrame:
    """Cluster profiles with clusters as columns ('I1: younger, lower AUM') and measures as rows.

    The last row is the churn so far: the share of the cluster's customers at the previous
    period end (same label, matched across periods) who have closed since, with its interval.
    """
    p = res.cluster_profiles[ctype]
    t = _profile_table(p, res.cluster_closure.get(ctype), res.alpha)
    t.index = [f"{lbl}: {p.loc[lbl, 'name']}" for lbl in p.index]
    return _titles(t).T


def tier_profile_table(res) -> pd.DataFrame:
    """Profiles of the value tiers (tiers as columns), with each tier's closures since the previous period end."""
    clo = None
    if res.tier_closure is not None:
        clo = res.tier_closure[res.tier_closure["from_state"] != "new"].set_index("from_state")
    t = _profile_table(res.tier_profiles, clo, res.alpha)
    t.index = [_words(i) for i in t.index]
    return _titles(t).T


def penetration_table(res, ctype: str) -> pd.DataFrame:
    """Products held and channel shares (rows) per cluster (columns), as percentages."""
    p = res.cluster_penetration[ctype]
    t = format_table(p, percent=tuple(p.columns)).T
    t.index = [_words(i).replace("channel ", "channel: ") for i in t.index]
    return t


def lifecycle_text(res, rules: dict) -> str:
    ls = res.lifecycle_summary
    return (f"Stages by rule (`parameters/segmentation.yaml`, precedence top to bottom): closed within "
            f"{esc(rules['closed_lookback_days'])} days; onboarding (tenure <= {esc(rules['onboarding_days'])} days); at risk "
            f"(AUM down {pct(-rules['at_risk_aum_change_3m'], 0)} or more over 3 month-ends, or "
            f"{esc(rules['at_risk_complaints_90d'])}+ complaints in 90 days); dormant (no transaction in "
            f"{esc(rules['dormant_days'])} days); growing (tenure <= {esc(rules['growing_tenure_days'])} days or AUM up "
            f"{pct(rules['growing_aum_change_3m'], 0)}+); mature otherwise. The churn model's score will replace the "
            f"at-risk rules once it exists. Mature customers hold {pct(ls.loc['mature', 'aum_share'])} of AUM.")


def lifecycle_table(res) -> pd.DataFrame:
    t = res.lifecycle_summary.rename(index=_words)
    return _titles(format_table(t, percent=("share", "aum_share"), currency=("aum",), integer=("customers",)))


def _pp(x, lo, hi) -> str:
    return f"{100 * x:.2f} [{100 * lo:.2f}-{100 * hi:.2f}]"


def rates_table(res) -> pd.DataFrame:
    """Up, down, net and closure rates (% [interval]), this period and over a year, per customer type."""
    rows = []
    for label, rates, since in (("previous period end", res.tier_rates, res.dates["previous"]),
                                ("a year before", res.tier_rates_yoy, res.dates["year_ago"])):
        if rates is None or (label == "a year before" and res.dates["year_ago"] == res.dates["previous"]):
            continue
        for ct, r in rates.iterrows():
            rows.append({"since": f"{since:%d %b %Y}", "customer type": ct, "n at start": n(r["n_start"]),
                         "up": _pp(r["up_rate"], r["up_rate_lower"], r["up_rate_upper"]),
                         "down": _pp(r["down_rate"], r["down_rate_lower"], r["down_rate_upper"]),
                         "net up": _pp(r["net_up_rate"], r["net_up_rate_lower"], r["net_up_rate_upper"]),
                         "closed": _pp(r["closed_rate"], r["closed_rate_lower"], r["closed_rate_upper"]),
                         "AUM moved up": money(r["aum_moved_up"]), "AUM moved down": money(r["aum_moved_down"]),
                         "new customers": n(r["new"])})
    t = pd.DataFrame(rows)
    if len(t):
        t = t.set_index(["since", "customer type"])
        t = t.rename(columns={c: f"{c} % [{ci_label(res.alpha)}]" for c in ("up", "down", "net up", "closed")})
    return t


def closure_table(res) -> pd.DataFrame:
    """Closure ('churn so far') rate of each start tier over the period, with its interval."""
    c = res.tier_closure
    if c is None:
        return pd.DataFrame()
    c = c[c["from_state"] != "new"]
    return pd.DataFrame({"customer type": c["customer_type"],
                         "tier at start": c["from_state"].map(_words),
                         "customers at start": [n(v) for v in c["row_total"]],
                         "closed in the period": [n(v) for v in c["count"]],
                         f"closure rate % [{ci_label(res.alpha)}]": [_pp(s, lo, hi) for s, lo, hi in
                                                             zip(c["row_share"], c["ci_lower"], c["ci_upper"])]}
                        ).set_index(["customer type", "tier at start"])


def migration_text(res) -> str:
    if res.tier_rates is None:
        return "No previous period in the data: migration is not available."
    alpha = res.alpha
    parts = []
    for ct, r in res.tier_rates.drop(index="all", errors="ignore").iterrows():
        parts.append(f"{esc(ct)}s: up {_ci(r['up_rate'], r['up_rate_lower'], r['up_rate_upper'], alpha)}, down "
                     f"{_ci(r['down_rate'], r['down_rate_lower'], r['down_rate_upper'], alpha)}, closed "
                     f"{_ci(r['closed_rate'], r['closed_rate_lower'], r['closed_rate_upper'], alpha)} "
                     f"(n = {n(r['n_start'])})")
    return ("Tier movement from the previous period's end to this period's end, among customers active at the "
            "start: " + "; ".join(parts) + ". Cells of the matrices show the row share, its "
            f"{fmt.level_pct(alpha)} bootstrap interval and the count; `new` is where customers onboarded in the period "
            "landed.")


def clusters_method(settings: dict) -> str:
    """How the clusters are fitted, including what happens at large N (from the settings)."""
    c = settings["clusters"]
    feats = "; ".join(f"{esc(ct)}: {', '.join(esc(x) for x in f)}" for ct, f in c["features"].items())
    return (f"Each customer type is clustered separately with a scikit-learn pipeline: median imputation, "
            f"standardisation{', PCA' if c['pca_components'] else ''}, then "
            f"{'k-means' if c['algorithm'] == 'kmeans' else 'a Gaussian mixture'} with fixed seeds (features: "
            f"{feats}). k from {esc(c['k_range'][0])} to {esc(c['k_range'][1])} is scored on a random sample of at most "
            f"{n(c['selection_sample'])} customers by stability (adjusted Rand index of {esc(c['n_bootstrap'])} bootstrap "
            f"refits), silhouette and BIC/ICL of a Gaussian mixture; the chosen k is the admissible one (stability "
            f"lower bound >= {esc(c['min_stability'])}, silhouette >= {esc(c['min_silhouette'])}) with the lowest ICL, the "
            "clustering form of BIC that does not split one non-Gaussian cluster into overlapping components. "
            f"**Large populations:** above {n(c['minibatch_threshold'])} customers of a type the final fit is "
            "MiniBatchKMeans (batches of 4,096) on all customers "
            "(a Gaussian mixture is fitted on the selection sample), so time grows about linearly with customers. "
            "Labels are matched to last period's clusters so that segment names do not shuffle between reports.")


def _fact_value(x, unit: str) -> str:
    if x is None:
        return ""
    if unit == "ARI":
        return fmt.number(x, 3)
    if unit in ("proportion", "currency"):
        return fmt.by_unit(x, unit)
    return n(x)


def _fact_interval(f) -> str:
    """``lo to hi (80% CI)``; a level fixed by design says so."""
    if f.ci_lower is None:
        return ""
    lv = f"{ci_label(fmt.alpha_of(f.ci_level))}" if f.ci_level else "level not recorded"
    if f.tags.get("ci_level_fixed"):
        lv += ", fixed by design"
    return f"{_fact_value(f.ci_lower, f.unit)} to {_fact_value(f.ci_upper, f.unit)} ({lv})"


def facts_table(facts):
    """The recorded facts for display (a pandas Styler, so definitions are not cut short):
    values in their units, intervals with their level, n and how uncertain. Cells are
    HTML-escaped (tier names and definitions come from parameters)."""
    rows = []
    for f in facts.facts.values():
        rows.append({"fact": f.name, "value": _fact_value(f.value, f.unit), "unit": f.unit,
                     "interval": _fact_interval(f),
                     "n": n(f.n) if f.n is not None else "", "uncertainty": f.uncertainty,
                     "headline": "yes" if f.headline else "", "definition": f.definition})
    t = pd.DataFrame(rows).set_index("fact")
    return fmt.escape_styler(t.style.set_properties(subset=["uncertainty", "definition"], **{"text-align": "left"}))


def value_text(val: dict, alpha: float) -> str:
    """How profit is spread over the segments, with the definition and assumptions (from ``value_by_segment``)."""
    t = val["tier"]
    top = t.sort_values("annual_margin", ascending=False).iloc[0]
    neg = t.sort_values("negative_share", ascending=False).iloc[0]
    return (f"The {n(val['n'])} segmented customers earn **{money(val['total'])} a year** of margin. Tier "
            f"*{_label(top['tier'])}* carries {pct(top['margin_share'])} of it with {n(top['customers'])} customers; "
            f"in *{_label(neg['tier'])}* {pct(neg['negative_share'])} of customers have a negative margin (balances and "
            "fees below their cost to serve). **Definition:** annual margin = 12 x (balances x annual spread / 12 + "
            f"monthly product fees - monthly cost to serve), balances the mean of the last month-ends; "
            f"{esc(val['assumptions'])}; the spreads are economic-profit margins (after operating costs, credit losses "
            "and the cost of capital). A run-rate, not lifetime value: relationship CLV by tier, with intervals, is in "
            f"the CLV notebook. Totals and shares are a census under these assumptions (no sampling error; the rates "
            f"are not covered by any interval); means carry a {fmt.level_pct(alpha)} t interval over customers.")


def value_table(val: dict, by: str, alpha: float) -> pd.DataFrame:
    """Annual margin per segment (``by``: ``tier``, ``cluster`` or ``stage``) as display strings."""
    t = val[by]
    if t is None or not len(t):
        return pd.DataFrame()
    idx = {"tier": ["customer_type", "tier"], "cluster": ["customer_type", "cluster", "cluster_name"],
           "stage": ["stage"]}[by]
    out = pd.DataFrame({
        "customers": [n(v) for v in t["customers"]],
        "annual margin": [money(v) for v in t["annual_margin"]],
        "share of margin": ["-" if pd.isna(v) else pct(v) for v in t["margin_share"]],
        f"mean per customer ({ci_label(alpha)})": [
            f"{money(m)} ({fmt.interval(lo, hi, money, 'not estimable')})"
            for m, lo, hi in t[["mean_annual_margin", "mean_lower", "mean_upper"]].to_numpy()],
        "median per customer": [money(v) for v in t["median_annual_margin"]],
        "negative margin": [pct(v) for v in t["negative_share"]]},
        index=pd.MultiIndex.from_frame(t[idx].astype(str).apply(lambda c: c.map(_words))) if len(idx) > 1
        else pd.Index(t[idx[0]].astype(str).map(_words), name=idx[0]))
    out.index.names = [_words(x) for x in out.index.names]
    return out
