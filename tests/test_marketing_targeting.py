"""Target lists: rules always hold (seeded loop over random banks), the control is random, bad input is named."""

from __future__ import annotations

import copy
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crm_lib.errors import ConfigError, DataContractError
from crm_lib.marketing import load_rules
from crm_lib.marketing import nbp as N
from crm_lib.marketing import targeting as T
from crm_lib.marketing.adoption import AdoptionData
from crm_lib.marketing.settings import RATINGS, check_products

PRODUCTS = ["savings", "credit_card", "mortgage", "investment", "business_loan", "fx"]
TYPES = {"savings": "individual", "credit_card": "individual", "mortgage": "individual", "investment": "individual",
         "business_loan": "corporate", "fx": "corporate"}


def random_bank(seed: int, n: int = 600, consent_share: float | None = None):
    """A random scoring frame, propensities and recent contacts, as the pipeline would hand them over."""
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"P{hashlib.sha256(f'{seed}-{i}'.encode()).hexdigest()[:15]}" for i in range(n)], name="customer_id")
    ind = rng.random(n) < 0.85
    f = pd.DataFrame({
        "customer_type": np.where(ind, "individual", "corporate"),
        "age": pd.array(np.where(ind, rng.integers(16, 95, n), 0), dtype="Int64"),
        "credit_rating": np.asarray(RATINGS)[rng.integers(0, 7, n)],
        "tier": rng.choice(["mass", "affluent", "private_banking"], n),
        "aum": rng.lognormal(10, 1.5, n),
        "is_active": rng.random(n) < 0.9,
        "consent_marketing": rng.random(n) < (consent_share if consent_share is not None else rng.uniform(0.3, 0.9)),
    }, index=ids)
    f.loc[~ind, "age"] = pd.NA
    for p in PRODUCTS:
        f[f"has_{p}"] = (rng.random(n) < 0.3).astype(int)
    at_risk = pd.DataFrame({p: f["is_active"] & (f["customer_type"] == TYPES[p]) & (f[f"has_{p}"] == 0)
                            for p in PRODUCTS}, index=ids)
    data = AdoptionData(pd.Timestamp("2026-09-30").date(), None, f, pd.DataFrame(index=ids), None, at_risk, TYPES)
    prop = pd.DataFrame(rng.beta(1, 12, (n, len(PRODUCTS))), index=ids, columns=PRODUCTS).where(at_risk)
    k = rng.poisson(0.8, n)
    offers = pd.DataFrame({"customer_id": np.repeat(ids.to_numpy(), k),
                           "product": rng.choice(PRODUCTS + ["mobile_app"], int(k.sum()))})
    return data, prop, offers


def rules_for(seed: int) -> dict:
    rng = np.random.default_rng(1000 + seed)
    return load_rules(overrides={
        "products": {p: {"annual_margin": float(rng.integers(50, 2000)), "aum_margin_rate": 0.001} for p in PRODUCTS},
        "eligibility": {"credit_card": {"customer_type": ["individual"], "min_age": int(rng.integers(18, 30)),
                                        "max_credit_rating": RATINGS[int(rng.integers(2, 6))]},
                        "mortgage": {"customer_type": ["individual"], "min_age": 21, "max_age": int(rng.integers(55, 80))},
                        "investment": {"tiers": ["affluent", "private_banking"]},
                        "business_loan": {"customer_type": ["corporate"], "max_credit_rating": "BB"}},
        "targeting": {"fatigue_cap": int(rng.integers(1, 4)), "list_share": float(rng.uniform(0.1, 0.8)),
                      "planned_uplift": float(rng.uniform(0.02, 0.2)), "min_control": int(rng.integers(5, 40))}})


def test_rules_hold_on_every_random_bank():
    """Seeded loop over 40 random banks: nobody without consent, over the cap, ineligible, holding the
    product or in cooling-off is listed; controls are never on the contact list."""
    for seed in range(40):
        data, prop, offers = random_bank(seed)
        rules = rules_for(seed)
        nb = N.next_best_products(data, prop, rules, offers)
        tl = T.build_target_list(nb, data.features, rules, offers, seed=seed)
        a = tl.assignment.set_index("customer_id")
        f = data.features.loc[a.index]
        assert f["consent_marketing"].all(), seed
        assert f["is_active"].all(), seed
        n_contacts = offers["customer_id"].value_counts().reindex(a.index, fill_value=0)
        assert (n_contacts < rules["targeting"]["fatigue_cap"]).all(), seed
        offered = set(zip(offers["customer_id"], offers["product"]))
        for cid, row in a.iterrows():
            p, fc = row["product"], f.loc[cid]
            assert fc[f"has_{p}"] == 0 and (cid, p) not in offered, (seed, cid, p)
            r = rules["eligibility"].get(p, {})
            if "customer_type" in r:
                assert fc["customer_type"] in r["customer_type"]
            if "min_age" in r:
                assert not pd.isna(fc["age"]) and fc["age"] >= r["min_age"]
            if "max_age" in r:
                assert not pd.isna(fc["age"]) and fc["age"] <= r["max_age"]
            if "tiers" in r:
                assert fc["tier"] in r["tiers"]
            if "max_credit_rating" in r:
                assert RATINGS.index(fc["credit_rating"]) <= RATINGS.index(r["max_credit_rating"])
        ctrl = set(a.index[a["group"] == "control"])
        assert ctrl and not ctrl & set(tl.contacts["customer_id"]), seed
        assert len(ctrl) == tl.control["n_control"] >= min(rules["targeting"]["min_control"], len(a) // 2)
        # the waterfall adds up: active customers = every exclusion + the list
        assert tl.exclusions["customers"].sum() + len(a) == int(data.features["is_active"].sum())


def test_control_assignment_is_random():
    """Across 100 seeded assignments of one list, the balance p-value of the propensity is uniform:
    about 5% fall below 0.05. The count is Binomial(100, 0.05) under randomness; 0.001 two-sided limits
    (0 to 13; a systematic split, e.g. control = the lowest ranks, gives p < 0.05 nearly every time)."""
    data, prop, offers = random_bank(7, n=2000, consent_share=0.8)
    rules = rules_for(7)
    rules["targeting"]["list_share"] = 0.5
    nb = N.next_best_products(data, prop, rules, offers)
    ps = []
    for seed in range(100):
        tl = T.build_target_list(nb, data.features, rules, offers, seed=seed)
        ps.append(T.balance_test(tl.assignment).loc["propensity", "p_value"])
    low = int((np.asarray(ps) < 0.05).sum())
    lo, hi = stats.binom.ppf([0.0005, 0.9995], 100, 0.05)
    assert stats.kstest(ps, "uniform").pvalue > 0.001   # the whole distribution, not only its 5% tail
    assert lo <= low <= hi
    # and the same seed gives the same assignment
    a1 = T.build_target_list(nb, data.features, rules, offers, seed=3).assignment
    a2 = T.build_target_list(nb, data.features, rules, offers, seed=3).assignment
    pd.testing.assert_frame_equal(a1, a2)


def test_control_size_matches_the_closed_form():
    """Equal arms for two proportions: 2 asin(sqrt(p_hat)) has variance 1/n, so the difference of two arms
    of n has variance 2/n and n = 2 ((z_{1-a/2} + z_{1-b}) / h)^2 per arm, h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0))
    (Cohen 1988, ch. 6). With p0 = 0.10 and uplift 0.05: h = 0.1519 and n = 680.35, so 681 per arm."""
    h = 2 * np.arcsin(np.sqrt(0.15)) - 2 * np.arcsin(np.sqrt(0.10))
    n_arm = 2 * ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / h) ** 2
    assert n_arm == pytest.approx(680.35, abs=0.01)
    # unequal arms need 1/n_c + 1/n_t <= 2/n: the smallest such control of a 1,362-customer list (the
    # far tail of the two-sided test adds < 1e-8 power here, so the closed form decides the integer)
    total = 2 * 681
    expect = next(nc for nc in range(1, total) if 1 / nc + 1 / (total - nc) <= 2 / n_arm)
    c = T.control_size(total, 0.10, 0.05, 0.05, 0.8, min_control=1)
    assert c["n_control"] == expect == 661 and c["note"] == "" and c["power"] >= 0.8
    c = T.control_size(2 * 680, 0.10, 0.05, 0.05, 0.8, min_control=1)   # one short of the closed form
    assert c["n_control"] == 680 and "underpowered" in c["note"]
    big = T.control_size(20_000, 0.10, 0.05, 0.05, 0.8, min_control=1)
    # unequal arms: power only needs a control well below half; it is the smallest that reaches 0.8
    assert big["n_control"] < 10_000 and big["power"] >= 0.8
    assert T.control_size(20_000, 0.10, 0.05, 0.05, 0.8, min_control=1 + big["n_control"])["power"] > big["power"]
    small = T.control_size(100, 0.10, 0.05, 0.05, 0.8)
    assert small["n_control"] == 50 and "underpowered" in small["note"]


def test_list_value_interval_covers_realised_value():
    """If the propensities are right, the realised value falls in the 90% interval about 90% of the time
    (normal approximation to a Poisson-binomial of 1,000 draws; 300 seeded repetitions, 0.001 binomial limits)."""
    rng = np.random.default_rng(11)
    n = 1000
    a = pd.DataFrame({"customer_id": [f"P{i:015x}" for i in range(n)], "group": "treatment", "product": "savings",
                      "propensity": rng.uniform(0.02, 0.4, n), "margin": rng.uniform(100, 1000, n)})
    a["expected_value"] = a["propensity"] * a["margin"]
    v = T.list_value(a, alpha=0.10).loc["all"]
    hits = 0
    for _ in range(300):
        real = float((rng.random(n) < a["propensity"]).astype(float) @ a["margin"])
        hits += v["ci_lower"] <= real <= v["ci_upper"]
    lo, hi = stats.binom.ppf([0.0005, 0.9995], 300, 0.9)
    assert lo <= hits <= hi


def test_written_lists_are_pseudonymous_and_contacts_exclude_controls(tmp_path):
    data, prop, offers = random_bank(3)
    rules = rules_for(3)
    nb = N.next_best_products(data, prop, rules, offers)
    tl = T.build_target_list(nb, data.features, rules, offers, seed=3, period="2026Q3", model_version="m1")
    paths = T.write_lists(tl, tmp_path, "nbp_2026Q3")
    csv = pd.read_csv(paths["contacts_csv"], skiprows=1)
    pq = pd.read_parquet(paths["contacts_parquet"])
    assert list(csv["customer_id"]) == list(pq["customer_id"]) == list(tl.contacts["customer_id"])
    assert csv["customer_id"].str.fullmatch(r"P[0-9a-f]{15}").all()
    assert "group" not in csv.columns
    ctrl = tl.assignment.loc[tl.assignment["group"] == "control", "customer_id"]
    assert not set(ctrl) & set(csv["customer_id"])
    man = json.loads(paths["manifest"].read_text())
    assert man["model_version"] == "m1" and man["n_control"] == len(ctrl)
    assert set(man["excluded_customers_by_step"]) == set(T.CUSTOMER_STEPS)
    assert set(man["excluded_pairs_by_rule"]) == set(N.PAIR_RULES)
    bad = copy.deepcopy(tl)
    bad.assignment.loc[0, "customer_id"] = "CUS00000001"
    with pytest.raises(DataContractError, match="pseudonymous identifier"):
        T.write_lists(bad, tmp_path, "bad")


# --------------------------------------------------------------------------- bad input, each a clear message

def test_product_in_margin_table_not_held_by_the_bank():
    rules = load_rules(overrides={"products": {"gold_card": {"annual_margin": 10}}})
    with pytest.raises(ConfigError, match=r"products: product\(s\) \['gold_card'\] are not held"):
        check_products(rules, [p for p in rules["products"] if p != "gold_card"] + ["current_account"])
    check_products(load_rules(), list(load_rules()["products"]))   # the project's table, all held: no error


def test_empty_eligible_set():
    data, prop, offers = random_bank(5)
    rules = rules_for(5)
    rules["eligibility"] = {p: {"customer_type": ["nobody"]} for p in PRODUCTS}
    with pytest.raises(DataContractError, match=r"no customer is eligible for any product.*customer_type: [\d,]+"):
        N.next_best_products(data, prop, rules, offers)


def test_every_customer_without_consent():
    data, prop, offers = random_bank(6, consent_share=0.0)
    rules = rules_for(6)
    nb = N.next_best_products(data, prop, rules, offers)
    with pytest.raises(DataContractError, match=r"consent_marketing: none of the [\d,]+ active customers"):
        T.build_target_list(nb, data.features, rules, offers)


def test_fatigue_cap_of_zero():
    with pytest.raises(ConfigError, match=r"targeting\.fatigue_cap: 0; a cap of zero .* at least 1"):
        load_rules(overrides={"targeting": {"fatigue_cap": 0}})


def test_unknown_rule_field():
    with pytest.raises(ConfigError, match=r"eligibility\.mortgage: unknown rule field\(s\) \['min_income'\]"):
        load_rules(overrides={"eligibility": {"mortgage": {"min_income": 30000}}})


def test_unknown_key_and_bad_rating(tmp_path):
    p = tmp_path / "marketing.yaml"
    p.write_text("targeting: {fatigue_caps: 2}\n")
    with pytest.raises(ConfigError, match=r"marketing\.yaml: targeting\.fatigue_caps: unknown key"):
        load_rules(p)
    with pytest.raises(ConfigError, match=r"max_credit_rating: 'Z' is not one of AAA"):
        load_rules(overrides={"eligibility": {"fx": {"max_credit_rating": "Z"}}})


def test_project_rules_file_loads():
    r = load_rules()
    assert r["source"].endswith("marketing.yaml") and r["targeting"]["fatigue_cap"] >= 1
