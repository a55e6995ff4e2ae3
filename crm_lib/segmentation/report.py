"""Segmentation's results and facts: one call per feature table, one call per reporting period.

``segment_customers`` is the whole segmentation of one feature table (the call the
1M-customer benchmark times); ``analyse_period`` adds the previous period and a year
ago for migration and stable cluster labels, and is what the notebook calls; ``record_facts``
writes its facts. The sentences and display tables are ``segmentation.narrative``'s.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import pandas as pd

from crm_lib.data.sqlsafe import suffix as column_suffix
from crm_lib.features import CHANNELS, feature_table, lacks, products
from crm_lib.fmt import N_, integer, tr
from crm_lib.segmentation import settings as S
from crm_lib.segmentation.clusters import STABILITY_LEVEL, STABILITY_LEVEL_WHY, cluster_customers
from crm_lib.segmentation.derived import feature_columns
from crm_lib.segmentation.lifecycle import lifecycle_stages, lifecycle_summary
from crm_lib.segmentation.migration import migration_pairs, migration_rates, transition_matrix
from crm_lib.segmentation.profiles import (HEATMAP_FEATURES, cluster_descriptions, penetration, profile,
                                           standardised_means)
from crm_lib.segmentation.rfm import rfm_grid, rfm_scores, rfm_summary
from crm_lib.segmentation.tiers import balance_policy, tier_order, tier_summary, value_tiers

logger = logging.getLogger(__name__)


@dataclass
class SegmentationResult:
    """Everything ``segment_customers`` computed for one as-of date.

    ``customers`` has one row per active customer: ``customer_id``, ``customer_type``,
    ``aum_avg``, ``rule_tier``, ``tier``, ``tier_rank``, ``overridden``, ``r_score``,
    ``f_score``, ``m_score``, ``rfm_segment``, ``cluster``, ``cluster_name``, ``stage``.
    """

    as_of: pd.Timestamp
    customers: pd.DataFrame
    tiers: pd.DataFrame
    rfm: pd.DataFrame
    clusters: pd.DataFrame
    models: dict
    lifecycle: pd.DataFrame
    timings: dict = field(default_factory=dict)


def segment_customers(features_df: pd.DataFrame, params: dict, settings: dict | None = None,
                      reference: dict | None = None, overrides=None, as_of=None) -> SegmentationResult:
    """Value tiers, RFM, behavioural clusters and lifecycle stages of one feature table.

    Parameters
    ----------
    features_df : DataFrame
        ``crm_lib.features.feature_table`` output (identifiers pseudonymised).
    params : dict
        Run parameters: ``tiers`` (thresholds), ``seed``.
    settings : dict, optional
        ``load_settings()``; default the project's ``parameters/segmentation.yaml``.
    reference : dict, optional
        ``{customer_type: fitted CustomerClusters}`` of the last period (stable labels).
    overrides : DataFrame or path, optional
        Tier overrides; default the settings' ``overrides_file``.
    as_of : date-like, optional
        The feature table's date (for override expiry and lifecycle); default derived.

    Returns
    -------
    SegmentationResult
        With ``timings`` in seconds per step. Clustering uses ``MiniBatchKMeans`` above
        ``clusters.minibatch_threshold`` customers and selects k on a sample of
        ``clusters.selection_sample``, so time grows about linearly with customers.
    """
    s = settings or S.load_settings()
    seed = int(params.get("seed", 0))
    thresholds = params["tiers"]
    if as_of is None and len(features_df):
        as_of = (pd.to_datetime(features_df["onboard_date"])
                 + pd.to_timedelta(features_df["tenure_days"], unit="D")).max()
    as_of = pd.Timestamp(as_of) if as_of is not None else None
    t = {}
    t0 = time.perf_counter()
    no_balances = lacks(features_df, "balances")
    if no_balances:   # a source without balances: no value tiers, no lifecycle (its rules read AUM changes)
        tiers = _untiered(features_df)
    else:
        ov = overrides if overrides is not None else S.load_overrides(s["overrides_file"])
        tiers = value_tiers(features_df, thresholds, ov, as_of=as_of, no_balance=s["no_balance"])
    t["tiers"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cells = S.load_rfm_map(s["rfm"]["segments_file"], bins=int(s["rfm"]["bins"]))
    rfm = rfm_scores(features_df, bins=int(s["rfm"]["bins"]), segment_map=cells, by=s["rfm"]["by"])
    t["rfm"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # the active customers with the columns clustering reads, not every column (at 10M customers each whole copy
    # of the active book is ~4 GB, and the policy and the clustering each make one)
    names = [n for ns in s["clusters"]["features"].values() for n in ns]
    keep = [c for c in dict.fromkeys(["customer_id", "customer_type", "is_active", "aum_avg", *feature_columns(names)])
            if c in features_df.columns]
    active = features_df.loc[features_df["is_active"].fillna(False).astype(bool), keep]
    clusters, models = cluster_customers(active if no_balances else balance_policy(active, s["no_balance"]),
                                         s["clusters"], reference, random_state=seed)
    t["clusters"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    stages = (tiers[["customer_id"]].assign(stage=None) if no_balances
              else lifecycle_stages(features_df, s["lifecycle"], as_of=as_of))
    t["lifecycle"] = time.perf_counter() - t0
    cust = tiers.merge(rfm[["customer_id", "r_score", "f_score", "m_score", "segment"]]
                       .rename(columns={"segment": "rfm_segment"}), on="customer_id", how="left")
    cust = cust.merge(clusters[["customer_id", "cluster", "cluster_name"]], on="customer_id", how="left")
    cust = cust.merge(stages[["customer_id", "stage"]], on="customer_id", how="left")
    logger.info("segmentation of %d active customers: %s", len(cust), {k: round(v, 2) for k, v in t.items()})
    return SegmentationResult(as_of, cust, tiers, rfm, clusters, models, stages, t)


def _untiered(features_df: pd.DataFrame) -> pd.DataFrame:
    """``value_tiers``' columns for the active customers of a source without balances: no tier, no AUM."""
    act = features_df.loc[features_df["is_active"].fillna(False).astype(bool)]
    return pd.DataFrame({"customer_id": act["customer_id"].to_numpy(), "customer_type": act["customer_type"].to_numpy(),
                         "aum_avg": float("nan"), "rule_tier": None, "tier": None, "tier_rank": pd.NA,
                         "overridden": False})


NO_BALANCES = N_("the source has no balances table: value tiers, their migration and the lifecycle stages (whose "
                 "rules read the change in AUM) are computed from balances")
NO_BALANCES_REMEDY = N_("add balances to the source, or name its file in the mapping")


@dataclass
class PeriodSegmentation:
    """The notebook's results for one period (see ``analyse_period``).

    Without balances in the source, ``tier_summary``, ``tier_profiles`` and ``lifecycle_summary`` are
    None and ``missing`` holds why; ``need`` raises ``NotEstimable`` with it for the sections that read them.
    The feature tables are not kept (at 10M customers the period end's is ~2.5 GB in pandas even with only the
    columns read): ``crm_lib.features.feature_table`` builds one. ``previous`` holds the previous period's tiers,
    clusters, lifecycle stages and models (its ``customers`` and ``rfm`` are emptied: nothing compares them).
    """

    period: object
    dates: dict
    current: SegmentationResult
    previous: SegmentationResult | None
    tier_summary: pd.DataFrame
    rfm_summary: pd.DataFrame
    rfm_grids: dict
    cluster_selection: dict
    cluster_profiles: dict
    cluster_zmeans: dict
    cluster_penetration: dict
    lifecycle_summary: pd.DataFrame
    tier_pairs: pd.DataFrame | None
    tier_matrices: dict
    tier_rates: pd.DataFrame | None
    tier_rates_yoy: pd.DataFrame | None
    lifecycle_matrix: pd.DataFrame | None
    tier_closure: pd.DataFrame | None
    tier_profiles: pd.DataFrame
    cluster_closure: dict
    order: dict
    alpha: float
    n_boot: int
    missing: str = ""

    def need(self, what: str = "tiers") -> None:
        """Raise ``NotEstimable`` when the value tiers (and what builds on them) could not be computed."""
        if self.missing:
            from crm_lib.errors import NotEstimable

            raise NotEstimable(tr(self.missing), tr(NO_BALANCES_REMEDY))


def analyse_period(wh, period, params: dict, settings: dict | None = None,
                   key: str | None = None) -> PeriodSegmentation:
    """Segment the customers at the end of ``period`` and compare with the previous period and a year ago.

    Feature tables are built in the warehouse at the period end, the previous period's
    end and a year before the period end (one query each). The previous period is
    segmented too: its clusters are the reference that keeps this period's labels. Only the
    columns the segmentation reads leave the warehouse (``segmentation_columns``), and the
    previous period's feature table is freed before this period's is built.

    Parameters
    ----------
    wh : Warehouse
    period : crm_lib.config.Period
    params : dict
        Run parameters (``tiers``, ``window_days``, ``aum_months``, ``alpha``, ``seed``).
    settings : dict, optional
        ``load_settings()``.
    key : str, optional
        Pseudonymisation key (default from the environment).
    """
    s = settings or S.load_settings()
    alpha = float(params.get("alpha", 0.05))
    seed = int(params.get("seed", 0))
    n_boot = int(s["migration"]["n_bootstrap"])
    kw = {"window_days": int(params.get("window_days", 365)), "aum_months": int(params.get("aum_months", 3)),
          "tier_thresholds": params["tiers"], "key": key}
    dates = {"current": pd.Timestamp(period.end), "previous": pd.Timestamp(period.previous().end),
             "year_ago": pd.Timestamp(period.year_ago().end)}
    # The previous period first, and only what migration reads of its segmentation kept: the driver holds one
    # feature table at a time, with the columns read (the whole table is ~5 GB in pandas at 10M customers).
    cols = segmentation_columns(wh, s)
    f_prev = feature_table(wh, dates["previous"].date(), columns=cols, **kw)
    prev = None
    if _has_history(f_prev):
        prev = _for_migration(segment_customers(f_prev, params, s, as_of=dates["previous"]))
    elif not lacks(f_prev, "balances"):   # (no balances at all: said once, by the tiers)
        logger.warning("no balances at the previous period end %s: migration and label matching skipped",
                       dates["previous"].date())
    del f_prev
    f_now = feature_table(wh, dates["current"].date(), columns=cols, **kw)
    cur = segment_customers(f_now, params, s, reference=prev.models if prev else None, as_of=dates["current"])
    order = tier_order(params["tiers"])
    missing = NO_BALANCES if lacks(f_now, "balances") else ""
    tiers_sum = None if missing else tier_summary(cur.tiers, params["tiers"])
    cells = S.load_rfm_map(s["rfm"]["segments_file"], bins=int(s["rfm"]["bins"]))
    grids = {ct: rfm_grid(cur.rfm, ct) for ct in order if (cur.rfm["customer_type"] == ct).any()}
    sel, profs, zm, pen = {}, {}, {}, {}
    for ct, m in cur.models.items():
        sel[ct] = m.selection_
        seg = cur.clusters[cur.clusters["customer_type"] == ct]
        p = profile(f_now, seg, "cluster")
        p = p.join(cluster_descriptions(m, f_now, profiled=p)[["name", "description"]])
        profs[ct] = p
        zm[ct] = standardised_means(f_now, seg, "cluster")
        pen[ct] = penetration(f_now, seg, "cluster")
    pairs = matrices = rates = rates_yoy = life_m = closure = None
    matrices = {}
    if prev is not None:
        pairs = migration_pairs(prev.tiers, cur.tiers)
        for ct in order:
            pc = pairs[pairs["customer_type"] == ct]
            if len(pc):
                matrices[ct] = transition_matrix(pc, order[ct], alpha, n_boot, seed)
        rates = migration_rates(pairs, alpha, n_boot, seed)
        closure = pd.concat([m[m["to_state"] == "closed"].assign(customer_type=ct) for ct, m in matrices.items()],
                            ignore_index=True) if matrices else None
        was_closed = prev.lifecycle.loc[prev.lifecycle["stage"] == "closed", "customer_id"]
        life_m = transition_matrix(   # closures before the previous date are not this period's movement
            migration_pairs(prev.lifecycle[prev.lifecycle["stage"] != "closed"],
                            cur.lifecycle[~cur.lifecycle["customer_id"].isin(was_closed)], state="stage",
                            rank=None, value=None),
            [st for st in ("onboarding", "growing", "mature", "at_risk", "dormant")], alpha, n_boot, seed)
    cluster_closure = {}
    if prev is not None:   # churn so far of each cluster: its customers at the previous end who have closed
        for ct in cur.models:
            a = prev.clusters[prev.clusters["customer_type"] == ct]
            b = cur.clusters[cur.clusters["customer_type"] == ct]
            if len(a):
                states = sorted(set(a["cluster"]) | set(b["cluster"]), key=lambda c: (len(c), c))
                m = transition_matrix(migration_pairs(a, b, state="cluster", rank=None, value=None), states, alpha,
                                      n_boot, seed, include_new=False)
                cluster_closure[ct] = m[m["to_state"] == "closed"].set_index("from_state")
    tier_prof = None
    if not missing:
        tier_prof = profile(f_now, cur.tiers, "tier")
        tier_prof = tier_prof.reindex([t for ct in order for t in order[ct] if t in tier_prof.index])
    life_sum = None if missing else lifecycle_summary(cur.lifecycle, f_now)
    del f_now   # everything read of it is computed: the year-ago comparison does not hold it (~2.5 GB at 10M)
    if dates["year_ago"] != dates["previous"]:
        f_year = feature_table(wh, dates["year_ago"].date(), columns=YEAR_AGO_COLUMNS, **kw)
        if _has_history(f_year):
            ov = S.load_overrides(s["overrides_file"])
            t_year = value_tiers(f_year, params["tiers"], ov, as_of=dates["year_ago"], no_balance=s["no_balance"])
            rates_yoy = migration_rates(migration_pairs(t_year, cur.tiers), alpha, n_boot, seed)
    elif rates is not None:
        rates_yoy = rates
    return PeriodSegmentation(
        period=period, dates=dates, current=cur, previous=prev, tier_summary=tiers_sum,
        rfm_summary=rfm_summary(cur.rfm, cells), rfm_grids=grids, cluster_selection=sel, cluster_profiles=profs,
        cluster_zmeans=zm, cluster_penetration=pen,
        lifecycle_summary=life_sum,
        tier_pairs=pairs, tier_matrices=matrices, tier_rates=rates, tier_rates_yoy=rates_yoy,
        lifecycle_matrix=life_m, tier_closure=closure, tier_profiles=tier_prof, cluster_closure=cluster_closure,
        order=order, alpha=alpha, n_boot=n_boot, missing=missing)


YEAR_AGO_COLUMNS = ("customer_id", "customer_type", "is_active", "aum_avg")   # what value_tiers reads of everyone

# What the segmentation reads of the feature table besides the clustering and heat-map features, has_<product> and
# share_<channel>: tiers, RFM, lifecycle rules (and the as-of date), profiles and the lifecycle summary.
SEGMENTATION_READS = ("customer_id", "customer_type", "is_active", "onboard_date", "closed_date", "tenure_days",
                      "recency_days", "frequency", "monetary", "aum_avg", "aum_change_3m", "complaints_90d",
                      "complaints_window", "csat_mean", "age", "income", "revenue", "n_products", "digital_share")


def segmentation_columns(wh, settings: dict) -> list[str]:
    """The feature-table columns ``analyse_period`` reads: ``SEGMENTATION_READS``, the columns of the settings'
    clustering features and of the standardised-means heat map, product holdings and channel shares. The driver
    holds these, not every column (at 10M customers the whole table is ~5 GB in pandas)."""
    names = [n for ns in settings["clusters"]["features"].values() for n in ns] + list(HEATMAP_FEATURES)
    held = [f"has_{column_suffix(p)}" for p in (products(wh) if wh.has("accounts") else [])]
    return list(dict.fromkeys([*SEGMENTATION_READS, *feature_columns(names), *held,
                               *(f"share_{c}" for c in CHANNELS)]))


def _for_migration(prev: SegmentationResult) -> SegmentationResult:
    """The previous period's segmentation without its customers and RFM tables (emptied, columns kept): migration,
    label matching and the closure rates read its tiers, clusters, lifecycle stages and models only."""
    return replace(prev, customers=prev.customers.iloc[:0], rfm=prev.rfm.iloc[:0])


def _has_history(f: pd.DataFrame) -> bool:
    """Whether a feature table has active customers with balances (the data may start later)."""
    act = f["is_active"].fillna(False).astype(bool)
    return bool(act.any() and f.loc[act, "aum_avg"].notna().any())


def record_facts(facts, res: PeriodSegmentation) -> None:
    """Record the segmentation's facts (names, units and definitions for ``crm_lib.kpis``)."""
    census = "census count: no sampling error"
    level = 1 - res.alpha
    ts = res.tier_summary if res.tier_summary is not None else pd.DataFrame(
        columns=["tier", "customer_type", "customers", "aum", "aum_share", "overridden"])
    top_ind = res.order.get("individual", [None])[-1]
    for r in ts.itertuples():
        facts.record(f"tier_customers_{r.tier}", int(r.customers), "customers",
                     f"active {r.customer_type} customers in value tier {r.tier} at the period end "
                     "(AUM rule, then relationship-manager overrides)", n=int(r.customers), uncertainty=census,
                     tier=r.tier)
        facts.record(f"tier_aum_{r.tier}", float(r.aum), "currency",
                     f"average AUM (deposits + investments) of active {r.customer_type} customers in tier {r.tier}",
                     n=int(r.customers), uncertainty="census total: no sampling error", tier=r.tier)
        facts.record(f"tier_aum_share_{r.tier}", float(r.aum_share), "proportion",
                     f"share of all active customers' AUM held by tier {r.tier}", n=int(ts["customers"].sum()),
                     uncertainty="census ratio: no sampling error", headline=r.tier == top_ind, tier=r.tier)
    if res.tier_summary is not None:
        facts.record("tier_overrides", int(ts["overridden"].sum()), "customers",
                     "active customers whose tier is set by a relationship-manager override",
                     n=int(ts["customers"].sum()), uncertainty=census)
    for ct, m in res.current.models.items():
        st = m.stability_
        facts.record(f"cluster_count_{ct}", int(m.k_), "clusters",
                     f"behavioural clusters of {ct} customers: the admissible k (bootstrap ARI lower bound >= "
                     f"{m.min_stability}, silhouette >= {m.min_silhouette}) with the lowest ICL, k in "
                     f"{list(m.selection_['k'])}", n=int(m.n_),
                     uncertainty=f"selected by rule; stability at k: mean bootstrap ARI {st['mean']:.3f} "
                                 f"({STABILITY_LEVEL:.0%} interval {st['ci_lower']:.3f}-{st['ci_upper']:.3f}, "
                                 f"{st['n_bootstrap']} resamples of {st['n_sample']:,}; its level is {STABILITY_LEVEL_WHY})",
                     headline=ct == "individual", customer_type=ct)
        facts.record(f"cluster_stability_{ct}", float(st["mean"]), "ARI",
                     f"mean adjusted Rand index between the {ct} clustering and refits on bootstrap resamples "
                     "(1 = identical partitions, 0 = chance agreement)", n=int(st["n_sample"]),
                     ci=(float(st["ci_lower"]), float(st["ci_upper"])), ci_level=STABILITY_LEVEL,
                     uncertainty=f"percentile interval over {st['n_bootstrap']} bootstrap resamples; "
                                 f"its {STABILITY_LEVEL:.0%} level is {STABILITY_LEVEL_WHY}",
                     headline=ct == "individual", customer_type=ct, ci_level_fixed=STABILITY_LEVEL_WHY)
    boot = f"percentile bootstrap over customers ({res.n_boot:,} multinomial draws)"
    for suffix, rates, span in (("", res.tier_rates, "the previous period's end"),
                                ("_yoy", res.tier_rates_yoy, "a year before")):
        if rates is None or "all" not in rates.index:
            continue
        r = rates.loc["all"]
        n = int(r["n_start"])
        for name, col, words in (("uptier_rate", "up_rate", "moved to a higher value tier"),
                                 ("downtier_rate", "down_rate", "moved to a lower value tier"),
                                 ("net_uptier_rate", "net_up_rate", "(moved up - moved down)")):
            facts.record(f"{name}{suffix}", float(r[col]), "proportion",
                         f"customers active at {span} who {words} by the period end / customers active at {span}",
                         n=n, ci=(float(r[f"{col}_lower"]), float(r[f"{col}_upper"])), ci_level=level,
                         uncertainty=boot, headline=(suffix == "" and name != "net_uptier_rate"))
        if suffix == "":
            facts.record("aum_moved_up", float(r["aum_moved_up"]), "currency",
                         "period-end average AUM of customers who moved to a higher tier during the period",
                         n=int(r["up"]), uncertainty="census total: no sampling error")
            facts.record("aum_moved_down", float(r["aum_moved_down"]), "currency",
                         "period-end average AUM of customers who moved to a lower tier during the period",
                         n=int(r["down"]), uncertainty="census total: no sampling error")
    ls = res.lifecycle_summary
    if ls is None:
        return
    n_life = int(ls.loc[ls.index != "closed", "customers"].sum())
    for stage in ("at_risk", "dormant"):
        facts.record(f"lifecycle_{stage}_customers", int(ls.loc[stage, "customers"]), "customers",
                     f"active customers in lifecycle stage {stage} at the period end (rules in "
                     "parameters/segmentation.yaml)", n=n_life, uncertainty=census)


def value_by_segment(wh, res: PeriodSegmentation, clv_settings=None, key: str | None = None,
                     aum_months: int = 3) -> dict:
    """Annual margin (profitability) of the segmented customers by value tier, behavioural cluster and lifecycle stage.

    Annual margin = 12 x ``crm_lib.clv.margin.warehouse_margin`` at the period end: balances (mean of the
    last ``aum_months`` month-ends) at the annual economic-profit spreads of ``parameters/clv.yaml``, plus
    product fees, minus cost to serve. A run-rate, not lifetime value: no survival model is fitted here
    (relationship CLV by tier and lifecycle stage, with intervals, is in ``40_clv``).

    Returns
    -------
    dict with ``"tier"``, ``"cluster"`` and ``"stage"``: DataFrames with ``customer_type``, the segment,
    ``customers``, ``annual_margin`` (sum, currency), ``margin_share`` (of all segmented customers' margin),
    ``mean_annual_margin`` with ``mean_lower``/``mean_upper`` (t interval over customers at ``res.alpha``),
    ``median_annual_margin`` and ``negative_share``; ``"assumptions"`` (the rates in words) and ``"n"``.

    Raises
    ------
    NotEstimable
        The margin table does not price a segment or product of the data, or no segmented customer
        has balances.
    """
    import numpy as np
    from scipy import stats

    from crm_lib.margin import ClvSettings, warehouse_margin
    from crm_lib.errors import ConfigError, DataContractError, NotEstimable

    try:
        cs = clv_settings or ClvSettings.load()
        m = warehouse_margin(wh, res.dates["current"], cs, key, aum_months)
    except NotEstimable:
        raise   # e.g. no balances table
    except (ConfigError, DataContractError) as e:
        raise NotEstimable(tr("the margin table cannot price this book: {error}", error=str(e).splitlines()[0]),
                           tr("add the missing segment or product to parameters/clv.yaml")) from None
    cust = res.current.customers
    cols = [c for c in ("customer_id", "customer_type", "tier", "cluster", "cluster_name", "stage") if c in cust]
    d = cust[cols].merge(m[["customer_id", "margin"]], on="customer_id", how="inner", validate="one_to_one")
    if d.empty:
        raise NotEstimable(tr("none of the {customers} segmented customers has a balance in the last {months} "
                              "month-ends", customers=integer(len(cust)), months=aum_months),
                           tr("load the balances table up to the period end"))
    d["annual_margin"] = 12.0 * d["margin"]
    total = float(d["annual_margin"].sum())
    z = lambda k: stats.t.ppf(1 - res.alpha / 2, k - 1) if k > 1 else np.nan   # noqa: E731

    def table(by: list[str]) -> pd.DataFrame:
        g = d.dropna(subset=by).groupby(by, observed=True, sort=False)["annual_margin"]
        out = g.agg(customers="size", annual_margin="sum", mean_annual_margin="mean",
                    median_annual_margin="median", sd="std").reset_index()
        out["negative_share"] = g.apply(lambda x: float((x < 0).mean())).to_numpy()
        half = [z(k) * s / np.sqrt(k) if k > 1 else np.nan for k, s in zip(out["customers"], out["sd"])]
        out["mean_lower"] = out["mean_annual_margin"] - half
        out["mean_upper"] = out["mean_annual_margin"] + half
        out["margin_share"] = out["annual_margin"] / total if total > 0 else np.nan
        return out.drop(columns="sd")

    tiers = table(["customer_type", "tier"])
    order = {t: i for i, t in enumerate(t for ct in res.order.values() for t in ct)}
    tiers = tiers.sort_values("tier", key=lambda s: s.map(order).fillna(len(order))).reset_index(drop=True)
    clusters = table(["customer_type", "cluster", "cluster_name"]).sort_values(["customer_type", "cluster"])
    stages = table(["stage"]) if "stage" in d else pd.DataFrame()
    desc = cs.describe()
    return {"tier": tiers, "cluster": clusters.reset_index(drop=True), "stage": stages,
            "assumptions": desc.split(", margin from ")[-1], "n": int(len(d)), "total": total}
