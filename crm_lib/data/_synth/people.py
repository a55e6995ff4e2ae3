"""Who banks with the synthetic bank: the population, its exits, fake PII, and the campaigns.

Customers are drawn by persona (``personas.py``), given a Weibull proportional-hazards
voluntary exit, a constant-hazard bank-initiated exit and the randomised retention arm,
and left-truncated at the history start. The quarterly campaigns and their randomised
contacts follow from who is a customer when.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm_lib.data import personas as P
from crm_lib.data._synth.arrays import _choice_rows, _customer_ids, _id_array, _labels, _rng, _table
from crm_lib.data._synth.spec import ACQ_CHANNELS, ACQ_COST, AGE_BANDS, ARMS, BRANCHES_PER_REGION, CLOSE_REASONS, DAY, INDUSTRIES
from crm_lib.data._synth.spec import OCCUPATIONS, RATINGS, REGION_P, REGIONS, YEAR_DAYS, BankSpec, _history_start


def _persona_attr(name: str) -> np.ndarray:
    """Persona attribute ``name`` by persona code (the index into ``P.PERSONAS``)."""
    return np.array([getattr(p, name) for p in P.PERSONAS])


def _persona_lookup(table: dict) -> np.ndarray:
    """A per-persona dict as an array by persona code."""
    return np.array([table[p.name] for p in P.PERSONAS])


def _persona_code(name: str) -> int:
    return [p.name for p in P.PERSONAS].index(name)


# --------------------------------------------------------------------------- customers

def _draw_population(spec: BankSpec, rng: np.random.Generator, n_draw: int,
                     history_start: np.datetime64, end: np.datetime64) -> dict:
    personas = P.PERSONAS
    ind = [p for p in personas if p.customer_type == "individual"]
    corp = [p for p in personas if p.customer_type == "corporate"]
    is_ind = rng.random(n_draw) < P.INDIVIDUAL_SHARE
    pid = np.where(
        is_ind,
        rng.choice(len(ind), n_draw, p=[p.share for p in ind]),
        len(ind) + rng.choice(len(corp), n_draw, p=[p.share for p in corp]),
    )
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
    return {"persona_id": pid, "is_individual": is_ind, "age": age, "onboard": onboard,
            "digital_active": digital, "complaint_prone": prone, "n_products_at_onboarding": n_prod}


def _linear_predictor(pop: dict) -> np.ndarray:
    hr = P.ChurnTruth().hazard_ratios
    lp = (np.log(hr["complaint_prone"]) * pop["complaint_prone"]
          + np.log(hr["n_products_at_onboarding"]) * pop["n_products_at_onboarding"]
          + np.log(hr["digital_active"]) * pop["digital_active"])
    age = pop["age"]
    ind = pop["is_individual"]
    lp = lp + np.log(hr["age_under_30"]) * (ind & (age < 30))
    lp = lp + np.log(hr["age_65_plus"]) * (ind & (age >= 65))
    lp = lp + np.log(hr["corporate"]) * (~ind)
    return np.asarray(lp, dtype=float)


def _simulate_exits(pop: dict, rng: np.random.Generator, end: np.datetime64) -> dict:
    """Weibull PH voluntary exit, constant-hazard bank exit, and the retention campaign."""
    ch, rt = P.ChurnTruth(), P.RetentionTruth()
    n = len(pop["persona_id"])
    lp = _linear_predictor(pop)
    onboard = pop["onboard"].astype("datetime64[D]")  # days, so ``tc`` below is in years
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
    exit_date = onboard + np.round(t_exit * YEAR_DAYS).astype("timedelta64[D]")
    exit_date = np.maximum(exit_date, onboard + DAY)
    closed = exit_date <= end
    out = dict(pop)
    out["lp"] = lp
    out["closed_date"] = np.where(closed, exit_date, np.datetime64("NaT"))
    out["closed_reason"] = np.where(t_vol <= t_bank, 0, 1)       # CLOSE_REASONS codes
    out["closed"] = closed
    out["retention_arm"] = np.where(treated, 2, np.where(chosen, 1, 0))  # ARMS codes
    out["retention_contact"] = np.where(chosen, contact, np.datetime64("NaT"))
    out["exit_date"] = exit_date
    return out


def _fake_pii(rng: np.random.Generator, is_ind: np.ndarray) -> dict:
    """Fake names, phones, e-mails and national IDs (Arrow strings), drawn from ``rng``.

    The draws are made in a fixed order (first, last, suffix, joiner, second last name,
    phone digits, e-mail digits and domain, ID letters, digits and suffix letter): keep
    it, or every later value changes.
    """
    from faker.providers.person.en_GB import Provider as Person

    n = len(is_ind)
    first_names = list(Person.first_names_male) + list(Person.first_names_female)
    last_names = list(Person.last_names)
    first, last = pa.array(first_names, type=pa.string()), pa.array(last_names, type=pa.string())
    f = first.take(rng.integers(0, len(first_names), n))
    lname = last.take(rng.integers(0, len(last_names), n))
    suffix = _labels((" Ltd", " & Co", " Holdings plc", " Group Ltd", " Trading Ltd"), rng.integers(0, 5, n))
    joiner = _labels((" ", " & "), rng.integers(0, 2, n))
    company = pc.binary_join_element_wise(lname, joiner, last.take(rng.integers(0, len(last_names), n)), suffix, "")
    name = pc.if_else(is_ind, pc.binary_join_element_wise(f, " ", lname, ""), company)
    digits = lambda k: _id_array("", rng.integers(0, 10**k, n), k)  # noqa: E731
    d3 = digits(3)
    phone = pc.binary_join_element_wise("+44 7", d3, " ", digits(6), "")
    local = pc.if_else(is_ind, pc.binary_join_element_wise(f, ".", lname, ""), lname)
    local = pc.utf8_lower(pc.replace_substring(local, " ", ""))
    local = pc.replace_substring(pc.replace_substring(local, "'", ""), "&", "")
    d3 = digits(3)
    email = pc.binary_join_element_wise(
        local, d3, _labels(("@example.com", "@example.org", "@example.net"), rng.integers(0, 3, n)), "")
    letters = tuple("ABCEGHJKLMNPRSTWXYZ")
    l1 = _labels(letters, rng.integers(0, len(letters), n))
    l2 = _labels(letters, rng.integers(0, len(letters), n))
    d6 = digits(6)
    nid = pc.binary_join_element_wise(l1, l2, d6, _labels(tuple("ABCD"), rng.integers(0, 4, n)), "")
    return {"full_name": name, "phone": phone, "email": email, "national_id": nid}


def _customers(spec: BankSpec) -> tuple[pa.Table, dict]:
    """The customers table (Arrow) and per-customer arrays: the truth and what chunks need."""
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
        keep = np.flatnonzero(pop["exit_date"] > history_start)[:need]
        kept.append({k: v[keep] for k, v in pop.items()})
        need -= len(keep)
        draw += 1
    t = {k: np.concatenate([d[k] for d in kept]) for k in kept[0]}
    n = len(t["persona_id"])
    pid = t["persona_id"]
    is_ind = t["is_individual"]
    money = _persona_attr("income")[pid] * np.exp(rng.normal(0, np.where(is_ind, 0.4, 0.6)))
    region = rng.choice(len(REGIONS), n, p=REGION_P)
    region_rank = np.argsort(np.argsort(REGIONS))             # BRnn numbers regions alphabetically
    branch_labels = [f"BR{r + 1:02d}-{b}" for r in range(len(REGIONS)) for b in range(1, BRANCHES_PER_REGION + 1)]
    branch = region_rank[region] * BRANCHES_PER_REGION + rng.integers(1, BRANCHES_PER_REGION + 1, n) - 1
    is_p = {name: pid == _persona_code(name) for name in
            ("young_digital", "retiree_saver", "private_client", "professional", "large_corporate", "micro_business")}
    occ_idx = np.select(
        [is_p["young_digital"], is_p["retiree_saver"], is_p["private_client"], is_p["professional"]],
        [rng.choice([0, 1, 2, 3, 6], n), np.full(n, 8), rng.choice([5, 9, 10, 11], n), rng.choice([1, 3, 5, 11], n)],
        rng.choice([2, 3, 4, 6, 7, 9], n))
    industry = rng.integers(0, len(INDUSTRIES), n)
    rating_shift = np.select([is_p["private_client"], is_p["large_corporate"],
                              is_p["young_digital"], is_p["micro_business"]], [-1.5, -1.5, 1.0, 1.0], 0.0)
    rating = np.clip(np.round(rng.normal(2.5 + rating_shift, 1.1)), 0, 6).astype(int)
    acq_p = np.where(
        is_ind[:, None],
        np.where(t["digital_active"][:, None], [0.15, 0.35, 0.40, 0.10, 0.0], [0.55, 0.20, 0.05, 0.20, 0.0]),
        [0.20, 0.15, 0.0, 0.15, 0.50])
    acq = _choice_rows(rng, acq_p)
    acq_cost = np.round(np.array([ACQ_COST[c] for c in ACQ_CHANNELS])[acq] * np.exp(rng.normal(0, 0.3, n)), 2)
    pii = _fake_pii(_rng(spec.seed, 2), is_ind)
    closed = t["closed"]
    customers = _table({
        "customer_id": _customer_ids(np.arange(n)),
        "customer_type": _labels(("corporate", "individual"), is_ind),
        "age": pa.array(np.nan_to_num(t["age"]).astype(np.int64), mask=~is_ind),
        "income": np.where(is_ind, np.round(money, -2), np.nan),
        "revenue": np.where(is_ind, np.nan, np.round(money, -3)),
        "region": _labels(REGIONS, region),
        "branch_id": _labels(branch_labels, branch),
        "occupation": _labels(OCCUPATIONS, occ_idx, null=~is_ind),
        "industry": _labels(INDUSTRIES, industry, null=is_ind),
        "credit_rating": _labels(RATINGS, rating),
        "onboard_date": t["onboard"].astype("datetime64[s]"),
        "acquisition_channel": _labels(ACQ_CHANNELS, acq),
        "acquisition_cost": acq_cost,
        "closed_date": t["closed_date"].astype("datetime64[s]"),
        "closed_reason": _labels(CLOSE_REASONS, t["closed_reason"], null=~closed),
        "consent_marketing": rng.random(n) < 0.72,
        **pii,
    }, nullable_int=("age",))
    age = t["age"]
    t["age_band"] = np.select([~is_ind, age < 30, age >= 65], [0, 1, 2], 3)
    # who leaves voluntarily, observed or not: a voluntary exit after the data end still
    # casts its wind-down over the last months of data (the signal a scorer must pick up)
    t["voluntary"] = t["closed_reason"] == 0
    return customers, t


def _truth_table(t: dict, extra: dict | None = None) -> pa.Table:
    """Per-customer truth as written to ``truth_customers.parquet``."""
    n = len(t["persona_id"])
    cols = {
        "customer_id": _customer_ids(np.arange(n)),
        "persona": _labels([p.name for p in P.PERSONAS], t["persona_id"]),
        "is_individual": t["is_individual"],
        "complaint_prone": t["complaint_prone"],
        "digital_active": t["digital_active"],
        "n_products_at_onboarding": t["n_products_at_onboarding"].astype(np.int64),
        "lp": t["lp"],
        "retention_arm": _labels(ARMS, t["retention_arm"]),
        "retention_contact": t["retention_contact"].astype("datetime64[s]"),
        "exit_date": t["exit_date"].astype("datetime64[s]"),
        "exit_reason": _labels(CLOSE_REASONS, t["closed_reason"]),   # also for exits after the data end
        "age_band": _labels(AGE_BANDS, t["age_band"]),
    }
    return _table({**cols, **(extra or {})})


def make_customers(spec: BankSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customers table and the per-customer truth (latent traits, exits, arms)."""
    customers, t = _customers(spec)
    return customers.to_pandas(), _truth_table(t).to_pandas()


# --------------------------------------------------------------------------- campaigns

def _campaigns(spec: BankSpec, onboard: np.ndarray, closed: np.ndarray, arm: np.ndarray,
               retention_contact: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """Campaigns, and their randomised contacts as arrays (``pos`` is the customer position)."""
    ct, rt = P.CampaignTruth(), P.RetentionTruth()
    end = spec.resolved_end()
    hs = _history_start(end)
    rng = _rng(spec.seed, 3)
    onboard = onboard.astype("datetime64[D]")
    closed = closed.astype("datetime64[D]")
    n = len(onboard)
    quarters = pd.period_range(pd.Timestamp(str(hs)), pd.Timestamp(str(end)), freq="Q")
    products = ("savings", "credit_card", "investment", "insurance")
    camp_rows, parts = [], []
    for i, q in enumerate(quarters):
        kind = ct.kinds[i % len(ct.kinds)]
        start = np.datetime64((q.start_time + pd.Timedelta(days=14)).date(), "D")
        stop = start + np.timedelta64(45, "D")
        active = (onboard < start) & ~(closed <= start)
        chosen = np.flatnonzero(active & (rng.random(n) < ct.contact_share))
        treated = rng.random(len(chosen)) < ct.treatment_share
        p = ct.response_control[kind] + ct.uplift[kind] * treated
        responded = rng.random(len(chosen)) < p
        mean_rev = ct.revenue_per_response[kind]
        revenue = np.where(responded, np.round(rng.gamma(4.0, mean_rev / 4.0, len(chosen)), 2), 0.0)
        cid = f"{'CS' if kind == 'cross_sell' else 'ACT'}-{q}"
        camp_rows.append({"campaign_id": cid, "kind": kind, "start_date": start, "end_date": stop,
                          "cost": round(len(chosen) * ct.cost_per_contact, 2),
                          "target_product": products[(i // 2) % len(products)] if kind == "cross_sell" else "mobile_app"})
        parts.append({"campaign": np.full(len(chosen), i), "pos": chosen,
                      "group": np.where(treated, 2, 1),
                      "contacted_at": start + rng.integers(0, 14, len(chosen)).astype("timedelta64[D]"),
                      "responded": responded, "revenue": revenue})
    # The retention campaign: arms were drawn with the exits, so the hazard effect is real.
    sel = np.flatnonzero(arm != 0)
    tr = arm[sel] == 2
    resp = rng.random(len(sel)) < np.where(tr, rt.response_treatment, rt.response_control)
    parts.append({"campaign": np.full(len(sel), len(quarters)), "pos": sel, "group": arm[sel],
                  "contacted_at": retention_contact[sel].astype("datetime64[D]"),
                  "responded": resp,
                  "revenue": np.where(resp, np.round(rng.gamma(4.0, rt.revenue_per_response / 4.0, len(sel)), 2), 0.0)})
    camp_rows.append({"campaign_id": rt.campaign_id, "kind": "retention",
                      "start_date": np.datetime64(rt.start, "D"), "end_date": np.datetime64(rt.end, "D"),
                      "cost": round(len(sel) * rt.cost_per_contact, 2), "target_product": "retention_offer"})
    contacts = {k: np.concatenate([d[k] for d in parts]) for k in parts[0]}
    contacts["campaign_ids"] = [r["campaign_id"] for r in camp_rows]   # label of each campaign code
    contacts["target_product"] = [r["target_product"] for r in camp_rows]
    contacts["is_cross_sell"] = np.array([r["kind"] == "cross_sell" for r in camp_rows])
    campaigns = pd.DataFrame(camp_rows).sort_values("start_date", kind="stable").reset_index(drop=True)
    for c in ("start_date", "end_date"):
        campaigns[c] = pd.to_datetime(campaigns[c]).astype("datetime64[s]")
    return campaigns, contacts


def _contacts_table(contacts: dict) -> pa.Table:
    return _table({
        "campaign_id": _labels(contacts["campaign_ids"], contacts["campaign"]),
        "customer_id": _customer_ids(contacts["pos"]),
        "group": _labels(ARMS, contacts["group"]),
        "contacted_at": contacts["contacted_at"].astype("datetime64[s]"),
        "responded": contacts["responded"],
        "revenue": contacts["revenue"]})


def make_campaigns(spec: BankSpec, customers: pd.DataFrame, truth: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Campaigns and their randomised contacts."""
    arm = truth["retention_arm"].map({a: i for i, a in enumerate(ARMS)}).to_numpy()
    campaigns, contacts = _campaigns(spec, customers["onboard_date"].to_numpy(), customers["closed_date"].to_numpy(),
                                     arm, truth["retention_contact"].to_numpy())
    return campaigns, _contacts_table(contacts).to_pandas()
