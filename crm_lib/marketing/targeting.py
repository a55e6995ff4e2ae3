"""Target lists: consent, contact fatigue, a randomised held-out control, pseudonymous exports.

From the next-best products (``crm_lib.marketing.nbp``) a list for period P is built in
steps, each counted in the manifest: customers without marketing consent are removed
(always; personal-information law: no contact without a lawful basis), then those at or
over the contact-fatigue cap, then those without an allowed product; the top
``list_share`` by expected value are selected, and a random control group, sized by a
power calculation for the planned uplift, is held out of the contact list. The contact
list (treatment only) and the assignment (both arms, for the later evaluation) leave the
workbench with pseudonymous identifiers only.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from crm_lib.data.export import write_csv
from crm_lib.data.privacy import assert_no_pii
from crm_lib.errors import DataContractError

logger = logging.getLogger(__name__)

PSEUDONYM = re.compile(r"^P[0-9a-f]{15}$")
CUSTOMER_STEPS = ("no_consent", "fatigue_cap", "no_allowed_product", "below_list_cutoff")


@dataclass
class TargetList:
    """A target list for one period.

    Attributes
    ----------
    assignment : DataFrame
        Every selected customer: ``customer_id`` (pseudonym), ``group`` (``treatment`` or
        ``control``), ``rank`` (1 = highest expected value), ``product``, ``propensity``,
        ``margin``, ``expected_value`` (currency), ``reason_1..3``.
    contacts : DataFrame
        ``assignment`` restricted to the treatment group: the list handed to the channel.
    exclusions : DataFrame
        Customers removed at each step (``step``, ``customers``, ``remaining``).
    pair_exclusions : Series
        Customer-product pairs removed by each product rule.
    control : dict
        The power calculation: ``n_control``, ``power`` achieved, ``baseline_rate``,
        ``planned_uplift``, ``alpha``, ``note``.
    manifest : dict
        What the list was built from (written beside it).
    """

    assignment: pd.DataFrame
    contacts: pd.DataFrame
    exclusions: pd.DataFrame
    pair_exclusions: pd.Series
    control: dict
    manifest: dict = field(default_factory=dict)


def contact_counts(offers: pd.DataFrame | None, index: pd.Index) -> pd.Series:
    """Contacts per customer (pseudonymous ``index``) in an offers frame (``customer_id`` per contact)."""
    if offers is None or not len(offers):
        return pd.Series(0, index=index, dtype=int)
    return offers["customer_id"].value_counts().reindex(index, fill_value=0).astype(int)


def control_size(n_total: int, baseline_rate: float, planned_uplift: float, alpha: float = 0.05,
                 power: float = 0.8, min_control: int = 50) -> dict:
    """Smallest control group that detects ``planned_uplift`` with ``power`` when the list has ``n_total`` customers.

    Treatment gets ``n_total - n_control``; the test is two-sided, two independent proportions
    (Cohen's h, ``statsmodels`` ``NormalIndPower``). When even a half-and-half split is
    underpowered the control is half the list and ``note`` says so.

    Returns ``{"n_control", "n_treatment", "power", "effect_size_h", "baseline_rate",
    "planned_uplift", "alpha", "note"}``.

    References
    ----------
    Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences, 2nd ed., ch. 6.
    """
    if n_total < 2:
        raise DataContractError(f"target list: {n_total} customer(s) selected; a list needs at least 2 "
                                "(one treated, one held out) to be evaluated")
    p0 = min(max(float(baseline_rate), 1e-6), 1 - 1e-6)
    p1 = min(p0 + float(planned_uplift), 1 - 1e-6)
    h = abs(proportion_effectsize(p1, p0))
    pw = NormalIndPower()

    def achieved(nc: int) -> float:
        nt = n_total - nc
        return float(pw.power(effect_size=h, nobs1=nt, alpha=alpha, ratio=nc / nt)) if nc > 0 and nt > 0 else 0.0

    half = n_total // 2
    lo = min(max(int(min_control), 1), half)
    note = ""
    if achieved(half) < power:
        nc = half
        note = (f"underpowered: even a half-and-half split of {n_total:,} customers detects an uplift of "
                f"{planned_uplift:.3f} with power {achieved(half):.2f} only (target {power:.2f})")
    elif achieved(lo) >= power:
        nc = lo
    else:
        a, b = lo, half            # power rises with the control size up to an even split
        while b - a > 1:
            m = (a + b) // 2
            a, b = (m, b) if achieved(m) < power else (a, m)
        nc = b
    return {"n_control": int(nc), "n_treatment": int(n_total - nc), "power": achieved(nc), "effect_size_h": float(h),
            "baseline_rate": p0, "planned_uplift": float(planned_uplift), "alpha": float(alpha), "note": note}


def build_target_list(nbp, features: pd.DataFrame, rules: dict, offers: pd.DataFrame | None = None,
                      reasons: pd.DataFrame | None = None, alpha: float = 0.05, seed: int = 0,
                      as_of=None, period: str = "", model_version: str = "") -> TargetList:
    """The period's list: consent, fatigue, allowed product, top share by value, random control.

    Parameters
    ----------
    nbp : NextBestProducts
    features : DataFrame
        The feature table at the scoring date (pseudonymous index; ``consent_marketing``, ``is_active``).
    rules : dict
        ``load_rules()``: ``targeting`` (fatigue cap and days, list share, planned uplift, power,
        minimum control).
    offers : DataFrame, optional
        Contacts within ``fatigue_days`` (``customer_id`` per contact), for the fatigue cap.
    reasons : DataFrame, optional
        ``nbp.reasons(...)`` for the customers of ``nbp.best``.
    seed : int
        Seeds the random control assignment.

    Raises
    ------
    DataContractError
        Every active customer lacks marketing consent; or nobody is left to contact.
    """
    t = rules["targeting"]
    active = features.index[features["is_active"].astype(bool).to_numpy()]
    consent = features.loc[active, "consent_marketing"].fillna(False).astype(bool)
    if len(active) and not consent.any():
        raise DataContractError(f"customers.consent_marketing: none of the {len(active):,} active customers has "
                                "marketing consent; no list can be built (contact without a lawful basis is not allowed)")
    steps, remaining = [], pd.Index(active)
    keep = remaining[consent.reindex(remaining).to_numpy()]
    steps.append(("no_consent", len(remaining) - len(keep), len(keep)))
    remaining = keep
    n_contacts = contact_counts(offers, remaining)
    keep = remaining[(n_contacts < int(t["fatigue_cap"])).to_numpy()]
    steps.append(("fatigue_cap", len(remaining) - len(keep), len(keep)))
    remaining = keep
    keep = remaining[remaining.isin(nbp.best.index)]
    steps.append(("no_allowed_product", len(remaining) - len(keep), len(keep)))
    remaining = keep
    if len(remaining) == 0:
        raise DataContractError("target list: no customer is left after consent, fatigue cap and eligibility "
                                f"({'; '.join(f'{s}: {n:,} removed' for s, n, _ in steps)})")
    cand = nbp.best.loc[remaining].sort_values(["expected_value", "propensity"], ascending=False, kind="stable")
    n_list = max(2, int(math.ceil(float(t["list_share"]) * len(cand))))
    n_list = min(n_list, len(cand))
    sel = cand.iloc[:n_list].copy()
    steps.append(("below_list_cutoff", len(cand) - n_list, n_list))
    ctrl = control_size(n_list, float(sel["propensity"].mean()), float(t["planned_uplift"]), alpha,
                        float(t["power"]), int(t["min_control"]))
    rng = np.random.default_rng(seed)
    is_ctrl = np.zeros(n_list, dtype=bool)
    is_ctrl[rng.choice(n_list, ctrl["n_control"], replace=False)] = True
    sel.insert(0, "group", np.where(is_ctrl, "control", "treatment"))
    sel.insert(1, "rank", np.arange(1, n_list + 1))
    if reasons is not None:
        sel = sel.join(reasons, how="left")
        for c in reasons.columns:
            sel[c] = sel[c].fillna("")
    sel = sel.drop(columns=["variance", "n_allowed"]).rename_axis("customer_id").reset_index()
    exclusions = pd.DataFrame(steps, columns=["step", "customers", "remaining"])
    manifest = {
        "period": period, "as_of": str(as_of) if as_of is not None else "", "model_version": model_version,
        "seed": int(seed), "alpha": float(alpha), "rules_source": rules.get("source", ""),
        "rules": {k: rules[k] for k in ("targeting", "eligibility", "products", "horizon_years")},
        "active_customers": int(len(active)),
        "excluded_customers_by_step": {s: int(n) for s, n, _ in steps},
        "excluded_pairs_by_rule": {k: int(v) for k, v in nbp.pair_exclusions.items()},
        "n_list": int(n_list), "n_treatment": int(ctrl["n_treatment"]), "n_control": int(ctrl["n_control"]),
        "control": ctrl,
        "products": sel["product"].value_counts().sort_index().astype(int).to_dict(),
    }
    contacts = sel[sel["group"] == "treatment"].reset_index(drop=True)
    logger.info("target list %s: %d selected, %d held out", period, n_list, ctrl["n_control"])
    return TargetList(sel, contacts, exclusions, nbp.pair_exclusions, ctrl, manifest)


def attach_reasons(tl: TargetList, reasons: pd.DataFrame) -> TargetList:
    """``tl`` with ``reasons`` (pseudonymous index, ``reason_1..k``) joined onto the assignment and contacts."""
    def add(df: pd.DataFrame) -> pd.DataFrame:
        out = df.drop(columns=[c for c in reasons.columns if c in df.columns]).join(reasons, on="customer_id")
        for c in reasons.columns:
            out[c] = out[c].fillna("")
        return out

    return TargetList(add(tl.assignment), add(tl.contacts), tl.exclusions, tl.pair_exclusions, tl.control, tl.manifest)


def balance_test(assignment: pd.DataFrame, covariates: pd.DataFrame | None = None) -> pd.DataFrame:
    """Treatment vs control balance: standardised mean difference and Welch t-test per numeric column.

    ``covariates`` (pseudonymous index) adds columns, e.g. from the feature table. Returns one
    row per covariate: ``mean_treatment``, ``mean_control``, ``smd`` (difference / pooled sd),
    ``p_value``; and ``product`` (chi-square test of the product mix, smd NaN).
    """
    a = assignment.set_index("customer_id")
    cols = ["propensity", "margin", "expected_value"]
    if covariates is not None:
        a = a.join(covariates, how="left", rsuffix="_cov")
        cols += [c for c in covariates.columns if c not in cols]
    t, c = a[a["group"] == "treatment"], a[a["group"] == "control"]
    rows = []
    for col in cols:
        x1, x0 = t[col].astype(float).dropna(), c[col].astype(float).dropna()
        sd = math.sqrt((x1.var(ddof=1) + x0.var(ddof=1)) / 2) if len(x1) > 1 and len(x0) > 1 else np.nan
        p = stats.ttest_ind(x1, x0, equal_var=False).pvalue if len(x1) > 1 and len(x0) > 1 and sd > 0 else np.nan
        rows.append({"covariate": col, "mean_treatment": x1.mean(), "mean_control": x0.mean(),
                     "smd": (x1.mean() - x0.mean()) / sd if sd and sd > 0 else np.nan, "p_value": p})
    tab = pd.crosstab(a["product"], a["group"])
    p = stats.chi2_contingency(tab)[1] if tab.shape[0] > 1 and tab.shape[1] == 2 else np.nan
    rows.append({"covariate": "product", "mean_treatment": np.nan, "mean_control": np.nan, "smd": np.nan, "p_value": p})
    return pd.DataFrame(rows).set_index("covariate")


def list_value(assignment: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Expected value of the contact list (treatment) per product and in total, with a ``1 - alpha`` interval.

    The interval is where the realised value falls if the propensities are right: adoptions
    are independent Bernoulli draws, so the value has variance sum p(1-p)margin² (normal
    approximation to the Poisson-binomial). Returns ``customers``, ``expected_value``,
    ``ci_lower``, ``ci_upper`` (currency), ``expected_adopters``, indexed by product and ``all``.
    """
    t = assignment[assignment["group"] == "treatment"]
    z = stats.norm.ppf(1 - alpha / 2)
    var = t["propensity"] * (1 - t["propensity"]) * t["margin"] ** 2
    g = pd.DataFrame({"product": t["product"], "ev": t["expected_value"], "var": var, "p": t["propensity"]})
    out = g.groupby("product").agg(customers=("ev", "size"), expected_value=("ev", "sum"), var=("var", "sum"),
                                   expected_adopters=("p", "sum"))
    out.loc["all"] = [len(g), g["ev"].sum(), g["var"].sum(), g["p"].sum()]
    sd = np.sqrt(out["var"])
    out["ci_lower"] = (out["expected_value"] - z * sd).clip(lower=0)
    out["ci_upper"] = out["expected_value"] + z * sd
    out["customers"] = out["customers"].astype(int)
    return out.drop(columns="var")[["customers", "expected_adopters", "expected_value", "ci_lower", "ci_upper"]]


def _check_private(table: pd.DataFrame, what: str) -> None:
    try:
        assert_no_pii(table, what)
    except ValueError as e:
        raise DataContractError(str(e)) from None
    bad = table.loc[~table["customer_id"].astype(str).str.match(PSEUDONYM), ["customer_id"]]
    if len(bad):
        raise DataContractError(f"{what}.customer_id: {len(bad)} row(s) break rule 'pseudonymous identifier "
                                f"(P + 15 hex digits)', e.g.\n{bad.head(3).to_string(index=False)}")


def write_lists(tl: TargetList, folder: str | os.PathLike, stem: str) -> dict[str, Path]:
    """Write the contact list (CSV and Parquet), the assignment (Parquet) and the manifest (JSON).

    Files: ``<stem>_contacts.csv``/``.parquet`` (treatment only: what the channel receives),
    ``<stem>_assignment.parquet`` (treatment and control, for the effectiveness review) and
    ``<stem>_manifest.json``. Written atomically, after privacy checks.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _check_private(tl.assignment, "target list")
    paths = {"contacts_csv": folder / f"{stem}_contacts.csv", "contacts_parquet": folder / f"{stem}_contacts.parquet",
             "assignment": folder / f"{stem}_assignment.parquet", "manifest": folder / f"{stem}_manifest.json"}
    contacts = tl.contacts.drop(columns=["group"])
    for key, path in paths.items():
        tmp = path.with_name(path.name + ".tmp")
        if key == "contacts_csv":
            write_csv(contacts, tmp, float_format="%.6g")
        elif key == "contacts_parquet":
            contacts.to_parquet(tmp, index=False)
        elif key == "assignment":
            tl.assignment.to_parquet(tmp, index=False)
        else:
            man = dict(tl.manifest, files={k: p.name for k, p in paths.items() if k != "manifest"})
            tmp.write_text(json.dumps(man, indent=2, default=str) + "\n")
        os.replace(tmp, path)
    return paths
