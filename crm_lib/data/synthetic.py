"""A deterministic synthetic bank with planted ground truth.

All eight canonical tables are generated with vectorised NumPy, customer chunk by
customer chunk (``CHUNK`` customers at a time), and written as Parquet parts, so memory
stays bounded for a million customers. The same seed, size and end date give the same
bytes. The truth the generator plants (``personas.py``) is written to
``ground_truth.json`` and, per customer, to ``truth_customers.parquet``; neither is
part of the warehouse an analysis reads.

Time conventions: dates are days; churn time is in years since onboarding (365.25 days);
the BG/NBD purchase clock is in weeks.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crm_lib.data import personas as P
from crm_lib.errors import WorkbenchError

logger = logging.getLogger(__name__)

SIZES = {"tiny": 2_000, "small": 50_000, "large": 1_000_000}
CHUNK = 100_000
DEFAULT_SEED = 20_261
HISTORY_YEARS = 6
GENERATOR_VERSION = "1"
TABLES = ("customers", "accounts", "balances", "transactions", "complaints", "surveys",
          "campaigns", "campaign_contacts")

DAY = np.timedelta64(1, "D")
YEAR_DAYS = 365.25

INDIVIDUAL_PRODUCTS = ("current_account", "savings", "credit_card", "mortgage",
                       "personal_loan", "investment", "insurance")
CORPORATE_PRODUCTS = ("business_current", "business_savings", "business_loan",
                      "merchant_services", "fx", "trade_finance")
REGIONS = ("north", "midlands", "london", "south_east", "south_west", "scotland")
REGION_P = (0.18, 0.17, 0.22, 0.18, 0.12, 0.13)
BRANCHES_PER_REGION = 6
OCCUPATIONS = ("student", "technology", "retail", "healthcare", "education", "finance",
               "trades", "public_sector", "retired", "self_employed", "executive", "legal")
INDUSTRIES = ("retail", "construction", "manufacturing", "hospitality", "professional_services",
              "logistics", "technology", "agriculture", "healthcare", "wholesale")
RATINGS = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC")
ACQ_CHANNELS = ("branch", "online", "mobile", "referral", "relationship_manager")
ACQ_COST = {"branch": 260.0, "online": 90.0, "mobile": 70.0, "referral": 130.0,
            "relationship_manager": 1600.0}
TOUCHPOINTS = ("branch_visit", "call_centre", "mobile_app", "online_banking", "relationship_review")
INVESTMENT_SHARE = {"young_digital": 0.05, "family_mainstream": 0.15, "professional": 0.35,
                    "retiree_saver": 0.45, "private_client": 0.65, "micro_business": 0.05,
                    "sme_trader": 0.15, "large_corporate": 0.30}
LOAN_PROB = {"young_digital": 0.15, "family_mainstream": 0.60, "professional": 0.55,
             "retiree_saver": 0.05, "private_client": 0.35, "micro_business": 0.40,
             "sme_trader": 0.55, "large_corporate": 0.60}
LOAN_SIZE = {"young_digital": 8_000, "family_mainstream": 180_000, "professional": 350_000,
             "retiree_saver": 20_000, "private_client": 900_000, "micro_business": 60_000,
             "sme_trader": 900_000, "large_corporate": 25_000_000}


@dataclass(frozen=True)
class BankSpec:
    """What to generate: customer count, seed and the last day of data."""

    n_customers: int
    seed: int = DEFAULT_SEED
    end_date: str | None = None

    def resolved_end(self) -> np.datetime64:
        return np.datetime64(self.end_date or str(last_closed_quarter_end()), "D")


def last_closed_quarter_end(today: pd.Timestamp | None = None) -> pd.Timestamp:
    """The last day of the most recent quarter that has fully closed before ``today``."""
    today = pd.Timestamp(today or pd.Timestamp.today()).normalize()
    q_start = today.to_period("Q").start_time
    return (q_start - pd.Timedelta(days=1)).normalize().date()


def resolve_size(size: str | int) -> int:
    """Customer count for a named size (``tiny``, ``small``, ``large``) or a number."""
    if isinstance(size, int) or str(size).isdigit():
        n = int(size)
    elif size in SIZES:
        n = SIZES[size]
    else:
        raise WorkbenchError(f"unknown size {size!r}: use one of {sorted(SIZES)} or a number")
    if n < 200:
        raise WorkbenchError(f"n_customers={n} is too small: the bank needs at least 200 customers")
    return n


# --------------------------------------------------------------------------- helpers

def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


def _choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    return (u > cum).sum(axis=1)


def _expand(counts: np.ndarray) -> np.ndarray:
    """Row index repeated ``counts`` times (the 'explode' of a count vector)."""
    return np.repeat(np.arange(len(counts)), counts)


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal, sorted ``groups``."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)


def _month_ends(start: np.datetime64, end: np.datetime64) -> np.ndarray:
    months = np.arange(start.astype("datetime64[M]"), end.astype("datetime64[M]") + 1)
    return ((months + 1).astype("datetime64[D]") - DAY)


def _ids(prefix: str, start: int, n: int, width: int = 8) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(start, start + n).astype(str), width))


# --------------------------------------------------------------------------- customers

def _draw_population(spec: BankSpec, rng: np.random.Generator, n_draw: int,
                     history_start: np.datetime64, end: np.datetime64) -> pd.DataFrame:
    personas = P.PERSONAS
    ind = [p for p in personas if p.customer_type == "individual"]
    corp = [p for p in personas if p.customer_type == "corporate"]
    is_ind = rng.random(n_draw) < P.INDIVIDUAL_SHARE
    pid = np.where(
        is_ind,
        rng.choice(len(ind), n_draw, p=[p.share for p in ind]),
        len(ind) + rng.choice(len(corp), n_draw, p=[p.share for p in corp]),
    )
    pers = np.array([p.name for p in personas])[pid]
    attr = lambda f: np.array([getattr(p, f) for p in personas])[pid]  # noqa: E731

    age = np.where(is_ind, np.clip(rng.normal(attr("age_mean"), np.maximum(attr("age_sd"), 1)), 18, 95), np.nan)
    age = np.floor(age)
    # Onboarding: up to 16 years before the data end; individuals not before age 18.
    max_years = np.where(is_ind, np.minimum(16.0, np.nan_to_num(age) - 18.0 + 0.5), 16.0)
    years_ago = rng.random(n_draw) * np.maximum(max_years, 0.25)
    onboard = end - np.round(years_ago * YEAR_DAYS).astype("timedelta64[D]")

    digital = rng.random(n_draw) < attr("digital_prob")
    prone = rng.random(n_draw) < P.ComplaintTruth().complaint_prone_share
    n_prod = np.minimum(1 + rng.poisson(attr("products")), 6)
    return pd.DataFrame({
        "persona": pers, "persona_id": pid, "is_individual": is_ind, "age": age,
        "onboard": onboard, "digital_active": digital, "complaint_prone": prone,
        "n_products_at_onboarding": n_prod,
    })


def _linear_predictor(pop: pd.DataFrame) -> np.ndarray:
    hr = P.ChurnTruth().hazard_ratios
    lp = (np.log(hr["complaint_prone"]) * pop["complaint_prone"]
          + np.log(hr["n_products_at_onboarding"]) * pop["n_products_at_onboarding"]
          + np.log(hr["digital_active"]) * pop["digital_active"])
    age = pop["age"].to_numpy()
    ind = pop["is_individual"].to_numpy()
    lp = lp + np.log(hr["age_under_30"]) * (ind & (age < 30))
    lp = lp + np.log(hr["age_65_plus"]) * (ind & (age >= 65))
    lp = lp + np.log(hr["corporate"]) * (~ind)
    return lp.to_numpy(dtype=float)


def _simulate_exits(pop: pd.DataFrame, rng: np.random.Generator, end: np.datetime64) -> pd.DataFrame:
    """Weibull PH voluntary exit, constant-hazard bank exit, and the retention campaign."""
    ch, rt = P.ChurnTruth(), P.RetentionTruth()
    n = len(pop)
    lp = _linear_predictor(pop)
    onboard = pop["onboard"].to_numpy().astype("datetime64[D]")
    e = rng.exponential(size=n)
    t_vol = ch.scale * (e * np.exp(-lp)) ** (1.0 / ch.shape)
    t_bank = rng.exponential(1.0 / ch.bank_initiated_rate, size=n)

    # Retention campaign: contact date within the first two weeks of the campaign;
    # eligible when still a customer at contact; a random share is contacted, half treated.
    c_start = np.datetime64(rt.start, "D")
    contact = c_start + rng.integers(0, 14, n).astype("timedelta64[D]")
    tc = (contact - onboard).astype(float) / YEAR_DAYS
    alive_at_contact = (tc > 0) & (np.minimum(t_vol, t_bank) > tc)
    chosen = alive_at_contact & (rng.random(n) < rt.eligible_share)
    treated = chosen & (rng.random(n) < rt.treatment_share)
    # Treated hazard is multiplied by HR from contact on: invert the cumulative hazard.
    h_tc = (np.clip(tc, 0, None) / ch.scale) ** ch.shape
    target = e * np.exp(-lp)
    t_treat = ch.scale * (h_tc + np.clip(target - h_tc, 0, None) / rt.hazard_ratio) ** (1.0 / ch.shape)
    t_vol = np.where(treated & (t_vol > tc), t_treat, t_vol)

    t_exit = np.minimum(t_vol, t_bank)
    reason = np.where(t_vol <= t_bank, "voluntary", "bank_initiated")
    exit_date = onboard + np.round(t_exit * YEAR_DAYS).astype("timedelta64[D]")
    exit_date = np.maximum(exit_date, onboard + DAY)
    closed = exit_date <= end
    out = pop.copy()
    out["lp"] = lp
    out["closed_date"] = np.where(closed, exit_date, np.datetime64("NaT"))
    out["closed_reason"] = np.where(closed, reason, None)
    out["retention_arm"] = np.where(treated, "treatment", np.where(chosen, "control", "none"))
    out["retention_contact"] = np.where(chosen, contact, np.datetime64("NaT"))
    out["exit_date"] = exit_date
    return out


def _fake_pii(rng: np.random.Generator, is_ind: np.ndarray, ids: np.ndarray) -> dict:
    from faker.providers.person.en_GB import Provider as Person

    n = len(is_ind)
    first = np.array(list(Person.first_names_male) + list(Person.first_names_female))
    last = np.array(list(Person.last_names))
    f = first[rng.integers(0, len(first), n)]
    lname = last[rng.integers(0, len(last), n)]
    suffix = np.array([" Ltd", " & Co", " Holdings plc", " Group Ltd", " Trading Ltd"])[rng.integers(0, 5, n)]
    company = np.char.add(np.char.add(lname, np.array([" ", " & "])[rng.integers(0, 2, n)]),
                          np.char.add(last[rng.integers(0, len(last), n)], suffix))
    name = np.where(is_ind, np.char.add(np.char.add(f, " "), lname), company)
    digits = lambda k: np.char.zfill(rng.integers(0, 10**k, n).astype(str), k)  # noqa: E731
    phone = np.char.add("+44 7", np.char.add(digits(3), np.char.add(" ", digits(6))))
    local = np.char.lower(np.char.replace(np.where(is_ind, np.char.add(np.char.add(f, "."), lname), lname), " ", ""))
    local = np.char.replace(np.char.replace(local, "'", ""), "&", "")
    email = np.char.add(np.char.add(local, digits(3)),
                        np.array(["@example.com", "@example.org", "@example.net"])[rng.integers(0, 3, n)])
    letters = np.array(list("ABCEGHJKLMNPRSTWXYZ"))
    nid = np.char.add(np.char.add(letters[rng.integers(0, len(letters), n)], letters[rng.integers(0, len(letters), n)]),
                      np.char.add(digits(6), np.array(list("ABCD"))[rng.integers(0, 4, n)]))
    return {"full_name": name, "phone": phone, "email": email, "national_id": nid}


def make_customers(spec: BankSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customers table and the per-customer truth (latent traits, exits, arms)."""
    end = spec.resolved_end()
    history_start = _history_start(end)
    rng = _rng(spec.seed, 0)
    kept = []
    need = spec.n_customers
    draw = 0
    while need > 0:
        pop = _draw_population(spec, _rng(spec.seed, 0, draw), int(need * 1.8) + 500, history_start, end)
        pop = _simulate_exits(pop, _rng(spec.seed, 1, draw), end)
        # Left truncation: only customers still with the bank at the history start are seen.
        pop = pop[pop["exit_date"] > history_start].head(need)
        kept.append(pop)
        need -= len(pop)
        draw += 1
    t = pd.concat(kept, ignore_index=True)
    n = len(t)
    ids = _ids("CUS", 1, n)
    t.insert(0, "customer_id", ids)
    is_ind = t["is_individual"].to_numpy()
    persona = t["persona"].to_numpy()
    spec_of = {p.name: p for p in P.PERSONAS}
    income_med = np.array([spec_of[p].income for p in persona])
    money = income_med * np.exp(rng.normal(0, np.where(is_ind, 0.4, 0.6)))
    region = np.array(REGIONS)[rng.choice(len(REGIONS), n, p=REGION_P)]
    branch = np.char.add(np.char.add("BR", np.char.zfill((np.searchsorted(REGIONS, region, sorter=np.argsort(REGIONS)) + 1).astype(str), 2)),
                         np.char.add("-", rng.integers(1, BRANCHES_PER_REGION + 1, n).astype(str)))
    occ_idx = np.select(
        [persona == "young_digital", persona == "retiree_saver", persona == "private_client", persona == "professional"],
        [rng.choice([0, 1, 2, 3, 6], n), np.full(n, 8), rng.choice([5, 9, 10, 11], n), rng.choice([1, 3, 5, 11], n)],
        rng.choice([2, 3, 4, 6, 7, 9], n))
    occupation = np.where(is_ind, np.array(OCCUPATIONS)[occ_idx], None)
    industry = np.where(is_ind, None, np.array(INDUSTRIES)[rng.integers(0, len(INDUSTRIES), n)])
    rating_shift = np.select([persona == "private_client", persona == "large_corporate",
                              persona == "young_digital", persona == "micro_business"], [-1.5, -1.5, 1.0, 1.0], 0.0)
    rating = np.array(RATINGS)[np.clip(np.round(rng.normal(2.5 + rating_shift, 1.1)), 0, 6).astype(int)]
    acq_p = np.where(
        is_ind[:, None],
        np.where(t["digital_active"].to_numpy()[:, None], [0.15, 0.35, 0.40, 0.10, 0.0], [0.55, 0.20, 0.05, 0.20, 0.0]),
        [0.20, 0.15, 0.0, 0.15, 0.50])
    acq = np.array(ACQ_CHANNELS)[_choice_rows(rng, acq_p)]
    acq_cost = np.round(np.vectorize(ACQ_COST.get)(acq) * np.exp(rng.normal(0, 0.3, n)), 2)
    pii = _fake_pii(_rng(spec.seed, 2), is_ind, ids)
    customers = pd.DataFrame({
        "customer_id": ids,
        "customer_type": np.where(is_ind, "individual", "corporate"),
        "age": pd.array(np.where(is_ind, t["age"], np.nan), dtype="Int64"),
        "income": np.where(is_ind, np.round(money, -2), np.nan),
        "revenue": np.where(is_ind, np.nan, np.round(money, -3)),
        "region": region,
        "branch_id": branch,
        "occupation": occupation,
        "industry": industry,
        "credit_rating": rating,
        "onboard_date": t["onboard"].to_numpy().astype("datetime64[D]"),
        "acquisition_channel": acq,
        "acquisition_cost": acq_cost,
        "closed_date": t["closed_date"].to_numpy().astype("datetime64[D]"),
        "closed_reason": t["closed_reason"].to_numpy(),
        "consent_marketing": rng.random(n) < 0.72,
        **pii,
    })
    for c in ("onboard_date", "closed_date"):
        customers[c] = pd.to_datetime(customers[c]).astype("datetime64[s]")
    truth = t[["customer_id", "persona", "is_individual", "complaint_prone", "digital_active",
               "n_products_at_onboarding", "lp", "retention_arm", "retention_contact", "exit_date"]].copy()
    truth["age_band"] = np.select([~is_ind, t["age"] < 30, t["age"] >= 65], ["corporate", "under_30", "65_plus"], "30_64")
    return customers, truth


def _history_start(end: np.datetime64) -> np.datetime64:
    e = pd.Timestamp(str(end))
    return np.datetime64((e - pd.DateOffset(years=HISTORY_YEARS) + pd.Timedelta(days=1)).date(), "D")


# --------------------------------------------------------------------------- campaigns

def make_campaigns(spec: BankSpec, customers: pd.DataFrame, truth: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Campaigns and their randomised contacts."""
    ct, rt = P.CampaignTruth(), P.RetentionTruth()
    end = spec.resolved_end()
    hs = _history_start(end)
    rng = _rng(spec.seed, 3)
    onboard = customers["onboard_date"].to_numpy().astype("datetime64[D]")
    closed = customers["closed_date"].to_numpy().astype("datetime64[D]")
    ids = customers["customer_id"].to_numpy()
    quarters = pd.period_range(pd.Timestamp(str(hs)), pd.Timestamp(str(end)), freq="Q")
    products = ("savings", "credit_card", "investment", "insurance")
    camp_rows, contact_frames = [], []
    for i, q in enumerate(quarters):
        kind = ct.kinds[i % len(ct.kinds)]
        start = np.datetime64((q.start_time + pd.Timedelta(days=14)).date(), "D")
        stop = start + np.timedelta64(45, "D")
        active = (onboard < start) & ~(closed <= start)
        chosen = np.flatnonzero(active & (rng.random(len(ids)) < ct.contact_share))
        treated = rng.random(len(chosen)) < ct.treatment_share
        p = ct.response_control[kind] + ct.uplift[kind] * treated
        responded = rng.random(len(chosen)) < p
        mean_rev = ct.revenue_per_response[kind]
        revenue = np.where(responded, np.round(rng.gamma(4.0, mean_rev / 4.0, len(chosen)), 2), 0.0)
        cid = f"{'CS' if kind == 'cross_sell' else 'ACT'}-{q}"
        camp_rows.append({"campaign_id": cid, "kind": kind, "start_date": start, "end_date": stop,
                          "cost": round(len(chosen) * ct.cost_per_contact, 2),
                          "target_product": products[(i // 2) % len(products)] if kind == "cross_sell" else "mobile_app"})
        contact_frames.append(pd.DataFrame({
            "campaign_id": cid, "customer_id": ids[chosen],
            "group": np.where(treated, "treatment", "control"),
            "contacted_at": start + rng.integers(0, 14, len(chosen)).astype("timedelta64[D]"),
            "responded": responded, "revenue": revenue}))
    # The retention campaign: arms were drawn with the exits, so the hazard effect is real.
    arm = truth["retention_arm"].to_numpy()
    sel = arm != "none"
    tr = arm[sel] == "treatment"
    resp = rng.random(sel.sum()) < np.where(tr, rt.response_treatment, rt.response_control)
    contact_frames.append(pd.DataFrame({
        "campaign_id": rt.campaign_id, "customer_id": ids[sel], "group": arm[sel],
        "contacted_at": truth["retention_contact"].to_numpy()[sel].astype("datetime64[D]"),
        "responded": resp,
        "revenue": np.where(resp, np.round(rng.gamma(4.0, rt.revenue_per_response / 4.0, sel.sum()), 2), 0.0)}))
    camp_rows.append({"campaign_id": rt.campaign_id, "kind": "retention",
                      "start_date": np.datetime64(rt.start, "D"), "end_date": np.datetime64(rt.end, "D"),
                      "cost": round(sel.sum() * rt.cost_per_contact, 2), "target_product": "retention_offer"})
    campaigns = pd.DataFrame(camp_rows).sort_values("start_date", kind="stable").reset_index(drop=True)
    contacts = pd.concat(contact_frames, ignore_index=True)
    for df, cols in ((campaigns, ("start_date", "end_date")), (contacts, ("contacted_at",))):
        for c in cols:
            df[c] = pd.to_datetime(df[c]).astype("datetime64[s]")
    return campaigns, contacts


# --------------------------------------------------------------------------- per-chunk tables

def _chunk_tables(spec: BankSpec, chunk: int, cust: pd.DataFrame, truth: pd.DataFrame,
                  contacts: pd.DataFrame, campaigns: pd.DataFrame, id_offsets: dict) -> dict:
    end = spec.resolved_end()
    hs = _history_start(end)
    rng = _rng(spec.seed, 10, chunk)
    n = len(cust)
    spec_of = {p.name: p for p in P.PERSONAS}
    persona = truth["persona"].to_numpy()
    is_ind = truth["is_individual"].to_numpy()
    onboard = cust["onboard_date"].to_numpy().astype("datetime64[D]")
    closed = cust["closed_date"].to_numpy().astype("datetime64[D]")
    voluntary = (cust["closed_reason"] == "voluntary").to_numpy()
    obs_start = np.maximum(onboard, hs)
    obs_end = np.where(np.isnat(closed), end, closed)
    span_days = np.maximum((obs_end - obs_start).astype(int), 0)
    ch = P.ChurnTruth()
    out = {}

    # accounts -------------------------------------------------------------
    n_prod = truth["n_products_at_onboarding"].to_numpy()
    k_ind, k_corp = len(INDIVIDUAL_PRODUCTS), len(CORPORATE_PRODUCTS)
    keys = rng.random((n, max(k_ind, k_corp)))
    keys[:, 0] = -1.0  # the current account is always first
    keys[~is_ind, k_corp:] = 2.0
    order = np.argsort(keys, axis=1, kind="stable")
    rows = _expand(n_prod)
    slot = _rank_within(rows)
    prod_idx = order[rows, slot]
    product = np.where(is_ind[rows], np.array(INDIVIDUAL_PRODUCTS)[np.minimum(prod_idx, k_ind - 1)],
                       np.array(CORPORATE_PRODUCTS)[np.minimum(prod_idx, k_corp - 1)])
    acc_cust = cust["customer_id"].to_numpy()[rows]
    acc_open = onboard[rows]
    acc_close = closed[rows]
    # cross-sell responders open the target product within 30 days of contact, if still customers
    cs = contacts[contacts["responded"] & contacts["campaign_id"].str.startswith("CS-")]
    cs = cs[cs["customer_id"].isin(cust["customer_id"])]
    if len(cs):
        tp = cs["campaign_id"].map(campaigns.set_index("campaign_id")["target_product"]).to_numpy()
        pos = pd.Index(cust["customer_id"]).get_indexer(cs["customer_id"])
        od = cs["contacted_at"].to_numpy().astype("datetime64[D]") + rng.integers(1, 31, len(cs)).astype("timedelta64[D]")
        ok = (od <= obs_end[pos]) & is_ind[pos]
        acc_cust = np.r_[acc_cust, cs["customer_id"].to_numpy()[ok]]
        product = np.r_[product, tp[ok]]
        acc_open = np.r_[acc_open, od[ok]]
        acc_close = np.r_[acc_close, closed[pos][ok]]
    out["accounts"] = pd.DataFrame({
        "account_id": _ids("ACC", id_offsets["accounts"], len(acc_cust), 9),
        "customer_id": acc_cust, "product": product,
        "open_date": pd.to_datetime(acc_open).astype("datetime64[s]"),
        "close_date": pd.to_datetime(acc_close).astype("datetime64[s]")})

    # balances: month-ends while a customer ----------------------------------
    months = _month_ends(hs, end)
    m0 = np.searchsorted(months, obs_start)                      # first month-end on/after start
    m1 = np.where(np.isnat(closed), len(months), np.searchsorted(months, obs_end, side="left"))
    nm = np.maximum(m1 - m0, 0)
    brow = _expand(nm)
    bmonth = m0[brow] + _rank_within(brow)
    drift = np.array([spec_of[p].aum_drift for p in persona])
    vol = np.array([spec_of[p].aum_vol for p in persona])
    base = np.log(np.array([spec_of[p].aum for p in persona])) + rng.normal(0, [spec_of[p].aum_sd for p in persona])
    steps = drift[brow] + vol[brow] * rng.standard_normal(len(brow))
    csum = np.cumsum(steps)
    first = np.r_[0, np.cumsum(nm)[:-1]]
    before = np.r_[0.0, csum][first]          # cumulative sum just before each customer's run
    log_aum = base[brow] + csum - before[brow]
    # wind-down before a voluntary exit: AUM flows out
    months_to_exit = np.where(voluntary[brow], (obs_end[brow] - months[bmonth]).astype(int) / 30.44, np.inf)
    wind = np.clip(ch.wind_down_months - months_to_exit, 0, None)
    log_aum = log_aum + np.log(1 - ch.wind_down_aum_outflow) * wind
    aum = np.exp(log_aum)
    inv_share = np.clip(np.array([INVESTMENT_SHARE[p] for p in persona]) * rng.uniform(0.5, 1.5, n), 0, 0.95)
    has_loan = rng.random(n) < np.array([LOAN_PROB[p] for p in persona])
    loan0 = np.where(has_loan, np.array([LOAN_SIZE[p] for p in persona]) * np.exp(rng.normal(0, 0.5, n)), 0.0)
    age_m = (months[bmonth] - onboard[brow]).astype(int) / 30.44
    out["balances"] = pd.DataFrame({
        "customer_id": cust["customer_id"].to_numpy()[brow],
        "month": pd.to_datetime(months[bmonth]).astype("datetime64[s]"),
        "deposits": np.round(aum * (1 - inv_share[brow]), 2),
        "investments": np.round(aum * inv_share[brow], 2),
        "loans": np.round(np.clip(loan0[brow] * (1 - age_m / 300.0), 0, None), 2)})

    # everyday transactions: Poisson per active month, channel from the customer's mix -----
    mix = np.array([spec_of[p].channel_mix for p in persona], dtype=float)
    digital = truth["digital_active"].to_numpy()
    mix[:, 1:3] *= np.where(digital, 1.8, 0.5)[:, None]
    mix = rng.gamma(mix * 40 + 0.05)          # Dirichlet around the persona mix
    mix /= mix.sum(axis=1, keepdims=True)
    activity = rng.gamma(4.0, 0.25, n)
    rate = np.array([spec_of[p].txn_rate for p in persona]) * activity
    mrate = rate[brow] * np.where(wind > 0, ch.wind_down_txn_factor, 1.0)
    cnt = rng.poisson(mrate)
    trow = _expand(cnt)
    tcust = brow[trow]
    mend = months[bmonth[trow]]
    mstart = mend.astype("datetime64[M]").astype("datetime64[D]")
    lo = np.maximum(mstart, obs_start[tcust])
    width = np.maximum((mend - lo).astype(int) + 1, 1)
    secs = (lo.astype("datetime64[s]") + (rng.random(len(trow)) * width * 86400).astype("timedelta64[s]"))
    chan = _choice_rows(rng, mix[tcust])
    ttype = np.where(chan == 3, 3, rng.choice([0, 1, 2, 4], len(trow), p=[0.45, 0.25, 0.2, 0.1]))
    amt_med = np.array([spec_of[p].txn_amount for p in persona])
    amount = np.round(amt_med[tcust] * np.exp(rng.normal(0, 0.9, len(trow))), 2)

    # fee-bearing purchases: BG/NBD counts and timing, Gamma-Gamma spend ---------------
    tt = P.TransactionalTruth()
    lam = rng.gamma(tt.r, 1.0 / tt.alpha, n)
    pdrop = rng.beta(tt.a, tt.b, n)
    nu = rng.gamma(tt.q, 1.0 / tt.gamma, n)
    weeks = span_days / 7.0
    n_poisson = rng.poisson(lam * weeks)
    j_alive = rng.geometric(pdrop)               # purchases made before becoming inactive
    x = np.minimum(n_poisson, j_alive)
    prow = _expand(n_poisson)
    u = rng.random(len(prow)) * weeks[prow]
    o = np.lexsort((u, prow))
    prow, u = prow[o], u[o]
    keep = _rank_within(prow) < x[prow]
    prow, u = prow[keep], u[keep]
    pts = obs_start[prow].astype("datetime64[s]") + (u * 7 * 86400).astype("timedelta64[s]")
    pamount = np.round(rng.gamma(tt.p_spend, 1.0 / nu[prow]), 2)
    pchan = _choice_rows(rng, mix[prow])

    cid = np.r_[tcust, prow]
    ts = np.r_[secs, pts]
    o = np.lexsort((ts, cid))
    n_tx = len(cid)
    ttypes = np.array(["payment", "transfer_out", "transfer_in", "cash_withdrawal", "card_purchase", "fee_purchase"])
    out["transactions"] = pd.DataFrame({
        "txn_id": _ids("TXN", id_offsets["transactions"], n_tx, 11),
        "customer_id": cust["customer_id"].to_numpy()[cid[o]],
        "ts": ts[o],
        "amount": np.r_[amount, pamount][o],
        "channel": np.array(P.CHANNELS)[np.r_[chan, pchan][o]],
        "txn_type": ttypes[np.r_[ttype, np.full(len(prow), 5)][o]]})
    truth_tx = pd.DataFrame({"bgnbd_lambda": lam, "bgnbd_p": pdrop, "gg_nu": nu,
                             "purchases": x, "activity": activity})

    # complaints ------------------------------------------------------------
    cpt, act = P.ComplaintTruth(), P.ImprovementActionTruth()
    years = span_days / YEAR_DAYS
    crate = np.where(truth["complaint_prone"].to_numpy(), cpt.rate_per_year_prone, cpt.rate_per_year)
    ccount = rng.poisson(crate * years)
    crow = _expand(ccount)
    opened = obs_start[crow].astype("datetime64[s]") + (rng.random(len(crow)) * span_days[crow] * 86400).astype("timedelta64[s]")
    sev_names = np.array(list(cpt.severities))
    sev = rng.choice(len(sev_names), len(crow), p=list(cpt.severities.values()))
    med = np.array([cpt.resolution_median_days[s] for s in sev_names])[sev]
    after = opened >= np.datetime64(act.start, "s")
    days = med * np.exp(rng.normal(0, cpt.resolution_log_sd, len(crow))) * np.where(after, act.resolution_time_factor, 1.0)
    resolved = opened + (days * 86400).astype("timedelta64[s]")
    end_s = (end + DAY).astype("datetime64[s]")
    esc = rng.random(len(crow)) < np.array([cpt.escalation_prob[s] for s in sev_names])[sev]
    out["complaints"] = pd.DataFrame({
        "complaint_id": _ids("CMP", id_offsets["complaints"], len(crow)),
        "customer_id": cust["customer_id"].to_numpy()[crow],
        "opened_at": opened,
        "resolved_at": np.where(resolved < end_s, resolved, np.datetime64("NaT")),
        "category": np.array(list(cpt.categories))[rng.choice(len(cpt.categories), len(crow), p=list(cpt.categories.values()))],
        "channel": np.array(list(cpt.channels))[rng.choice(len(cpt.channels), len(crow), p=list(cpt.channels.values()))],
        "severity": sev_names[sev],
        "escalated": esc})
    truth_cmp = pd.DataFrame({"complaint_id": out["complaints"]["complaint_id"], "true_resolution_days": days})

    # surveys ---------------------------------------------------------------
    st = P.SatisfactionTruth()
    scount = rng.poisson(st.responses_per_customer_year * years)
    srow = _expand(scount)
    sdate = obs_start[srow] + (rng.random(len(srow)) * span_days[srow]).astype("timedelta64[D]")
    ratings, latent = _survey_scores(rng, len(srow), sdate >= np.datetime64(act.start, "D"))
    tp_p = np.where(digital[srow][:, None], [0.10, 0.15, 0.45, 0.20, 0.10], [0.45, 0.30, 0.05, 0.10, 0.10])
    out["surveys"] = pd.DataFrame({
        "response_id": _ids("SRV", id_offsets["surveys"], len(srow), 9),
        "customer_id": cust["customer_id"].to_numpy()[srow],
        "survey_date": pd.to_datetime(sdate).astype("datetime64[s]"),
        "touchpoint": np.array(TOUCHPOINTS)[_choice_rows(rng, tp_p)],
        "csat": 1 + (latent[:, None] > np.array(st.csat_cuts)).sum(axis=1),
        "nps": np.clip(np.round(5 + st.nps_slope * (latent - 3.5) + rng.normal(0, 1, len(srow))), 0, 10).astype(int),
        **{a: ratings[:, i] for i, a in enumerate(P.ATTRIBUTES)}})
    for k in ("csat", "nps", *P.ATTRIBUTES):
        out["surveys"][k] = out["surveys"][k].astype("int8")
    return out, truth_tx, truth_cmp


def _survey_scores(rng: np.random.Generator, n: int, after_action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Attribute ratings (n x 5, integers 1-5) and the latent overall satisfaction."""
    st, act = P.SatisfactionTruth(), P.ImprovementActionTruth()
    common = rng.normal(0, st.common_factor_sd, n)
    means = np.array([st.rating_means[a] for a in P.ATTRIBUTES])
    raw = means + common[:, None] + rng.normal(0, st.specific_sd, (n, len(means)))
    raw[:, 0] += act.attr_resolution_lift * after_action
    ratings = np.clip(np.round(raw), 1, 5).astype(np.int8)
    w = np.array([st.weights[a] for a in P.ATTRIBUTES])
    latent = ratings @ w + rng.normal(0, st.noise_sd, n)
    return ratings, latent


def expected_action_lift(seed: int = 0, n: int = 400_000) -> dict:
    """Population effect of the improvement action on CSAT, by simulation from the truth."""
    st = P.SatisfactionTruth()
    out = {}
    for flag in (False, True):
        r, lat = _survey_scores(_rng(seed, 99), n, np.full(n, flag))
        csat = 1 + (lat[:, None] > np.array(st.csat_cuts)).sum(axis=1)
        out[flag] = (csat.mean(), (csat >= 4).mean(), r[:, 0].mean())
    return {"csat_mean_lift": round(float(out[True][0] - out[False][0]), 4),
            "csat_top2box_lift": round(float(out[True][1] - out[False][1]), 4),
            "attr_resolution_mean_lift": round(float(out[True][2] - out[False][2]), 4),
            "csat_mean_before": round(float(out[False][0]), 4),
            "method": f"simulated from the planted satisfaction model, n={n}"}


# --------------------------------------------------------------------------- writing

def _write_part(root: Path, table: str, part: int, df: pd.DataFrame) -> None:
    d = root / "parquet" / table
    d.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), d / f"part-{part:04d}.parquet",
                   compression="zstd", row_group_size=1_000_000)


def generate(out: str | Path, size: str | int = "small", seed: int = DEFAULT_SEED,
             end_date: str | None = None, force: bool = False) -> dict:
    """Generate the synthetic bank into folder ``out`` and build its DuckDB warehouse.

    The folder gets ``parquet/<table>/part-*.parquet`` (the source of truth),
    ``warehouse.duckdb`` (the same tables), ``ground_truth.json``,
    ``truth_customers.parquet``, ``truth_complaints.parquet`` and ``metadata.json``.
    Everything is built in a sibling temporary folder and moved into place at the end;
    an existing ``out`` is only replaced with ``force=True``.

    Returns the metadata dict (row counts, dates, seed, timings).
    """
    from crm_lib.data.store import build_warehouse

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise WorkbenchError(f"{out} already holds data; pass --force to replace it")
    n = resolve_size(size)
    spec = BankSpec(n_customers=n, seed=seed, end_date=end_date)
    end = spec.resolved_end()
    hs = _history_start(end)
    t0 = time.perf_counter()
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        customers, truth = make_customers(spec)
        campaigns, contacts = make_campaigns(spec, customers, truth)
        _write_part(tmp, "customers", 0, customers)
        _write_part(tmp, "campaigns", 0, campaigns)
        _write_part(tmp, "campaign_contacts", 0, contacts)
        offsets = {"accounts": 1, "transactions": 1, "complaints": 1, "surveys": 1}
        counts = {"customers": len(customers), "campaigns": len(campaigns), "campaign_contacts": len(contacts)}
        truth_parts, cmp_parts = [], []
        for ci, lo in enumerate(range(0, n, CHUNK)):
            sl = slice(lo, min(lo + CHUNK, n))
            tables, ttx, tcmp = _chunk_tables(spec, ci, customers.iloc[sl].reset_index(drop=True),
                                              truth.iloc[sl].reset_index(drop=True), contacts, campaigns, offsets)
            for name, df in tables.items():
                _write_part(tmp, name, ci, df)
                counts[name] = counts.get(name, 0) + len(df)
                if name in offsets:
                    offsets[name] += len(df)
            truth_parts.append(ttx)
            cmp_parts.append(tcmp)
            logger.info("chunk %d: %d customers done", ci, sl.stop - sl.start)
        truth_all = pd.concat([truth.reset_index(drop=True), pd.concat(truth_parts, ignore_index=True)], axis=1)
        truth_all["retention_contact"] = pd.to_datetime(truth_all["retention_contact"]).astype("datetime64[s]")
        truth_all["exit_date"] = pd.to_datetime(truth_all["exit_date"]).astype("datetime64[s]")
        pq.write_table(pa.Table.from_pandas(truth_all, preserve_index=False), tmp / "truth_customers.parquet", compression="zstd")
        pq.write_table(pa.Table.from_pandas(pd.concat(cmp_parts, ignore_index=True), preserve_index=False),
                       tmp / "truth_complaints.parquet", compression="zstd")
        gt = P.truth_dict()
        gt["improvement_action"]["expected"] = expected_action_lift()
        gt["realised"] = _realised(customers, truth_all, contacts)
        meta = {"generator_version": GENERATOR_VERSION, "seed": seed, "n_customers": n,
                "size": str(size), "history_start": str(hs), "end_date": str(end),
                "rows": counts, "chunk_size": CHUNK}
        (tmp / "ground_truth.json").write_text(json.dumps(gt, indent=2, default=_json_default) + "\n")
        build_warehouse(tmp / "parquet", tmp / "warehouse.duckdb")
        meta["seconds"] = round(time.perf_counter() - t0, 2)
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        (tmp / "README.md").write_text(_readme(meta))
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("synthetic bank: %d customers in %.1fs -> %s", n, meta["seconds"], out)
    return meta


def _realised(customers: pd.DataFrame, truth: pd.DataFrame, contacts: pd.DataFrame) -> dict:
    """Facts of this draw (not parameters): persona counts, arm sizes, closures."""
    arms = contacts.groupby(["campaign_id", "group"]).agg(n=("customer_id", "size"), responded=("responded", "sum"))
    return {
        "persona_counts": truth["persona"].value_counts().sort_index().to_dict(),
        "closed": int(customers["closed_date"].notna().sum()),
        "closed_by_reason": customers["closed_reason"].value_counts().sort_index().to_dict(),
        "campaign_arms": {f"{c}/{g}": {"n": int(r.n), "responded": int(r.responded)} for (c, g), r in arms.iterrows()},
    }


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def _readme(meta: dict) -> str:
    return (
        "# Synthetic bank (generated)\n\n"
        f"{meta['n_customers']:,} customers, history {meta['history_start']} to {meta['end_date']}, "
        f"seed {meta['seed']}. Made by `crm-workbench demo-data`; regenerate rather than edit.\n\n"
        "- `warehouse.duckdb`: the eight canonical tables (what analyses read)\n"
        "- `parquet/<table>/part-*.parquet`: the same tables as Parquet\n"
        "- `ground_truth.json`, `truth_*.parquet`: the planted truth, for tests only\n"
        "- `metadata.json`: seed, dates, row counts\n\n"
        "All names, phones, e-mails and national IDs are fake.\n")
