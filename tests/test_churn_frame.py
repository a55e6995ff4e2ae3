"""Churn survival frames: exact entry/exit/event on a hand-made bank, both churn definitions, no leakage, privacy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import END_DATE
from crm_lib import churn
from crm_lib.churn.frame import YEAR_DAYS
from crm_lib.churn.settings import ChurnDefinition, ChurnSettings
from crm_lib.data.privacy import pseudonymise_id
from crm_lib.data.store import open_source
from crm_lib.errors import ConfigError, DataContractError

KEY = "churn-test-key"
END = pd.Timestamp("2022-12-31")
T = pd.Timestamp


def _yrs(a, b) -> float:
    return (T(b) - T(a)).days / YEAR_DAYS


def _bank(root, customers: list[dict], activity: dict, contacts: list[dict] = ()):
    """A Parquet bank: ``activity[cid] = (txn_until, [(from_month, aum), ...])``; balances to closure or END."""
    root.mkdir(parents=True, exist_ok=True)
    cust = pd.DataFrame(customers)
    for c in ("onboard_date", "closed_date"):
        cust[c] = pd.to_datetime(cust[c])
    cust["customer_type"] = "individual"
    cust["age"] = 40
    cust["acquisition_channel"] = "branch"
    cust["region"] = "north"
    bal, txn = [], []
    months = pd.date_range("2020-01-31", END, freq="ME")
    for r in cust.itertuples():
        stop = r.closed_date if pd.notna(r.closed_date) else END
        txn_until, levels = activity.get(r.customer_id, (stop, [("2020-01-31", 5000.0)]))
        for m in months:
            if m < r.onboard_date or m > stop:
                continue
            aum = [a for f, a in levels if T(f) <= m][-1]
            bal.append({"customer_id": r.customer_id, "month": m, "deposits": aum, "investments": 0.0, "loans": 0.0})
            day = m.replace(day=10)
            if r.onboard_date <= day <= T(txn_until) and day <= stop:
                txn.append({"txn_id": f"T{len(txn)}", "customer_id": r.customer_id, "ts": day, "amount": 10.0,
                            "channel": "mobile", "txn_type": "payment"})
    pd.DataFrame(bal).to_parquet(root / "balances.parquet", index=False)
    pd.DataFrame(txn).to_parquet(root / "transactions.parquet", index=False)
    cust.to_parquet(root / "customers.parquet", index=False)
    pd.DataFrame([{"campaign_id": "RET-1", "kind": "retention", "start_date": T("2021-05-01"),
                   "end_date": T("2021-06-30"), "cost": 10.0, "target_product": "retention_offer"}]
                 ).to_parquet(root / "campaigns.parquet", index=False)
    cc = pd.DataFrame(list(contacts) or [{"campaign_id": "RET-1", "customer_id": "X", "group": "control",
                                          "contacted_at": T("2021-05-01"), "responded": False, "revenue": 0.0}])
    cc["contacted_at"] = pd.to_datetime(cc["contacted_at"])
    cc.to_parquet(root / "campaign_contacts.parquet", index=False)
    return open_source(root)


CUSTOMERS = [
    # A: onboarded before the window; stops transacting after 2021-03-10 and holds 500 from April 2021
    {"customer_id": "CUS00000001", "onboard_date": "2019-06-01", "closed_date": None, "closed_reason": None},
    # B: low assets but active to the end: never dormant
    {"customer_id": "CUS00000002", "onboard_date": "2020-03-15", "closed_date": None, "closed_reason": None},
    # C: closes voluntarily
    {"customer_id": "CUS00000003", "onboard_date": "2020-05-01", "closed_date": "2021-06-30",
     "closed_reason": "voluntary"},
    # D: the bank closes the relationship (competing exit)
    {"customer_id": "CUS00000004", "onboard_date": "2019-01-01", "closed_date": "2021-02-15",
     "closed_reason": "bank_initiated"},
    # E: treated by the retention campaign, then closes: censored at contact
    {"customer_id": "CUS00000005", "onboard_date": "2020-02-01", "closed_date": "2021-08-31",
     "closed_reason": "voluntary"},
    # F: control arm of the same campaign, then closes: a churn
    {"customer_id": "CUS00000006", "onboard_date": "2020-02-01", "closed_date": "2021-08-31",
     "closed_reason": "voluntary"},
    # G: left before the data window: never at risk in it
    {"customer_id": "CUS00000007", "onboard_date": "2018-01-01", "closed_date": "2019-12-01",
     "closed_reason": "voluntary"},
    # H: leaves before its first month-end: a churn, but no tier was ever measured
    {"customer_id": "CUS00000008", "onboard_date": "2020-06-03", "closed_date": "2020-06-20",
     "closed_reason": "voluntary"},
]
ACTIVITY = {"CUS00000001": ("2021-03-10", [("2020-01-31", 5000.0), ("2021-04-30", 500.0)]),
            "CUS00000002": (END, [("2020-01-31", 500.0)])}
CONTACTS = [{"campaign_id": "RET-1", "customer_id": "CUS00000005", "group": "treatment",
             "contacted_at": "2021-05-01", "responded": True, "revenue": 0.0},
            {"campaign_id": "RET-1", "customer_id": "CUS00000006", "group": "control",
             "contacted_at": "2021-05-03", "responded": False, "revenue": 0.0}]


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    return _bank(tmp_path_factory.mktemp("handmade"), CUSTOMERS, ACTIVITY, CONTACTS)


def _row(frame, cid):
    return frame.set_index("customer_id").loc[pseudonymise_id(cid, KEY)]


def test_closure_frame_has_exact_entries_exits_and_causes(handmade):
    f = churn.survival_frame(handmade, END, key=KEY)
    assert churn.history_start(handmade) == T("2020-01-01")          # first balances month-end is 2020-01-31
    assert pseudonymise_id("CUS00000007", KEY) not in set(f["customer_id"])   # gone before the window
    a = _row(f, "CUS00000001")
    assert a["entry"] == pytest.approx(_yrs("2019-06-01", "2020-01-01"), abs=1e-12)   # left-truncated
    assert a["duration"] == pytest.approx(_yrs("2019-06-01", END), abs=1e-12)
    assert (a["event"], a["cause"]) == (0, "censored")
    c = _row(f, "CUS00000003")
    assert (c["entry"], c["event"], c["cause"]) == (0.0, 1, "voluntary")
    assert c["duration"] == pytest.approx(_yrs("2020-05-01", "2021-06-30"), abs=1e-12)
    d = _row(f, "CUS00000004")
    assert (d["event"], d["cause"]) == (0, "bank_initiated")      # competing exit: censored for churn
    assert d["duration"] == pytest.approx(_yrs("2019-01-01", "2021-02-15"), abs=1e-12)
    e = _row(f, "CUS00000005")
    assert (e["event"], e["cause"], bool(e["censored_at_contact"])) == (0, "censored", True)
    assert e["exit_date"] == T("2021-05-01")
    fc = _row(f, "CUS00000006")                                     # control arm is not censored
    assert (fc["event"], fc["exit_date"]) == (1, T("2021-08-31"))
    assert a["tier_at_entry"] == "mass" and a["cohort"] == "before 2020"
    assert a["tier_entry"] == pytest.approx(_yrs("2019-06-01", "2020-01-31"), abs=1e-12)   # first month-end


def test_tier_analysis_follows_customers_from_the_month_end_their_tier_was_measured(handmade):
    f = churn.survival_frame(handmade, END, key=KEY)
    h = _row(f, "CUS00000008")
    assert (h["event"], h["tier_at_entry"]) == (1, "unknown") and np.isnan(h["tier_entry"])
    t = churn.from_tier_date(f).set_index("customer_id")
    assert pseudonymise_id("CUS00000008", KEY) not in t.index    # its tier would have come from the future
    c = t.loc[pseudonymise_id("CUS00000003", KEY)]
    assert c["entry"] == pytest.approx(_yrs("2020-05-01", "2020-05-31"), abs=1e-12) and c["event"] == 1


def test_dormancy_definition_dates_churn_at_the_first_dormant_month_end(handmade):
    f = churn.survival_frame(handmade, END, definition=ChurnDefinition(kind="dormancy", dormant_days=180,
                                                                       aum_floor=1000), key=KEY)
    a = _row(f, "CUS00000001")
    # last transaction 2021-03-10; 180 silent days end 2021-09-05; first month-end after: 2021-09-30 (AUM 500 < 1000)
    assert (a["event"], a["cause"], a["exit_date"]) == (1, "dormancy", T("2021-09-30"))
    assert _row(f, "CUS00000002")["event"] == 0                     # low assets but active: not dormant
    assert _row(f, "CUS00000003")["cause"] == "voluntary"           # closure still counts
    f2 = churn.survival_frame(handmade, END, definition=ChurnDefinition(kind="dormancy", dormant_days=180,
                                                                        aum_floor=400), key=KEY)
    assert _row(f2, "CUS00000001")["event"] == 0                    # 500 is above a 400 floor


def test_every_closure_counts_when_asked_and_campaign_censoring_can_be_off(handmade):
    f = churn.survival_frame(handmade, END, definition=ChurnDefinition(event_reasons=None, censor_treated_kinds=()),
                             key=KEY)
    assert (_row(f, "CUS00000004")["event"], _row(f, "CUS00000004")["cause"]) == (1, "bank_initiated")
    assert _row(f, "CUS00000005")["event"] == 1 and not f["censored_at_contact"].any()


def test_cohort_frame_starts_at_the_cohort_date_and_marks_earlier_treatment(handmade):
    f = churn.cohort_frame(handmade, "2021-06-15", END, key=KEY, features=False)
    assert set(f["customer_id"]) == {pseudonymise_id(c, KEY) for c in
                                     ("CUS00000001", "CUS00000002", "CUS00000003", "CUS00000005", "CUS00000006")}
    e = _row(f, "CUS00000005")
    # treated before the cohort date: kept, flagged, and its later closure is a churn
    assert (e["treated_before"], e["event"]) == (1, 1)
    assert e["entry"] == pytest.approx(_yrs("2020-02-01", "2021-06-15"), abs=1e-12)
    assert e["time_since_start"] == pytest.approx(_yrs("2021-06-15", "2021-08-31"), abs=1e-12)
    h = churn.cohort_frame(handmade, "2021-06-15", horizon_months=1, key=KEY, features=False)
    assert _row(h, "CUS00000003")["event"] == 1                      # closes 2021-06-30, inside the month
    assert _row(h, "CUS00000005")["event"] == 0                      # closes 2021-08-31, after the horizon
    assert h["exit_date"].max() == T("2021-07-15")


def test_closure_before_onboarding_is_a_named_error_with_pseudonyms(tmp_path):
    bad = CUSTOMERS[:2] + [{"customer_id": "CUS00000009", "onboard_date": "2021-05-01", "closed_date": "2021-04-01",
                            "closed_reason": "voluntary"}]
    wh = _bank(tmp_path / "bad", bad, ACTIVITY)
    with pytest.raises(DataContractError, match=r"(?s)customers\.closed_date.*closed_date >= onboard_date") as e:
        churn.survival_frame(wh, END, key=KEY)
    assert pseudonymise_id("CUS00000009", KEY) in str(e.value) and "CUS00000009" not in str(e.value)


def test_settings_read_the_churn_block_and_name_bad_keys():
    s = ChurnSettings.from_params({"churn": {"kind": "dormancy", "dormant_days": 90, "event_reasons": "voluntary"},
                                   "alpha": 0.1, "window_days": 90, "seed": 3})
    assert (s.definition.kind, s.definition.dormant_days, s.definition.event_reasons) == ("dormancy", 90, ("voluntary",))
    assert (s.alpha, s.window_days, s.seed) == (0.1, 90, 3)
    with pytest.raises(ConfigError, match="churn: unknown key"):
        ChurnSettings.from_params({"churn": {"dormant_dayz": 90}})
    with pytest.raises(ConfigError, match=r"churn\.kind"):
        ChurnSettings.from_params({"churn": {"kind": "attrition"}})
    assert "90 days" in s.definition.describe() and "whichever comes first" in s.definition.describe()


# --------------------------------------------------------------------------- the tiny bank

AS_OF = "2025-06-30"


def _scramble_after(bank, out, d):
    """Copy the bank's Parquet tables with every row dated after ``d`` scrambled (as tests/test_features.py)."""
    rng = np.random.default_rng(11)
    out.mkdir()
    later = d + pd.Timedelta(days=1)
    for table, col in [("transactions", "ts"), ("balances", "month"), ("complaints", "opened_at"),
                       ("surveys", "survey_date"), ("campaign_contacts", "contacted_at"), ("accounts", "open_date"),
                       ("customers", None), ("campaigns", None)]:
        df = pd.read_parquet(bank / "parquet" / table)
        if col:
            post = df[col] >= later
            scr = df[post].copy()
            num = scr.select_dtypes("number").columns
            scr[num] = scr[num] * rng.uniform(0.1, 10, (len(scr), len(num)))
            df = pd.concat([df[~post], scr.sample(frac=0.6, random_state=1)], ignore_index=True)
        if table == "customers":  # later closures move, change reason, or vanish; new closures appear
            late = df["closed_date"] > d
            df.loc[late, "closed_date"] = pd.NaT
            open_ = df["closed_date"].isna()
            pick = open_ & (rng.random(len(df)) < 0.3)
            df.loc[pick, "closed_date"] = pd.Timestamp(END_DATE)
            df.loc[pick, "closed_reason"] = rng.choice(["voluntary", "bank_initiated"], int(pick.sum()))
            df.loc[df["closed_date"].isna(), "closed_reason"] = None
        if table == "complaints":
            late = df["resolved_at"] >= later
            df.loc[late, "resolved_at"] = df.loc[late, "resolved_at"] + pd.Timedelta(days=3)
        if table == "accounts":
            df.loc[df["close_date"] > d, "close_date"] = pd.Timestamp(END_DATE)
        df.to_parquet(out / f"{table}.parquet", index=False)


@pytest.fixture(scope="module")
def scrambled(tiny_bank, tmp_path_factory):
    out = tmp_path_factory.mktemp("churn_scrambled") / "bank"
    _scramble_after(tiny_bank, out, pd.Timestamp(AS_OF))
    return out


def test_nothing_after_the_as_of_date_leaks_into_frames_or_the_warning_list(tiny_bank, scrambled):
    """Scramble, drop and invent everything dated after AS_OF: frames, covariates and the list must not move."""
    s = ChurnSettings(n_boot=20, warning_horizon_months=6, warning_top_share=0.05)
    with open_source(tiny_bank / "warehouse.duckdb") as wh, open_source(scrambled) as wh2:
        f1, f2 = (churn.survival_frame(w, AS_OF, key=KEY) for w in (wh, wh2))
        pd.testing.assert_frame_equal(f1, f2)
        c1, c2 = (churn.cohort_frame(w, AS_OF, horizon_months=3, key=KEY) for w in (wh, wh2))
        covs = [c for c in c1.columns if c not in ("exit_date", "duration", "event", "cause", "censored_at_contact",
                                                   "time_since_start")]
        pd.testing.assert_frame_equal(c1[covs], c2[covs])
        w1, w2 = (churn.early_warning(w, AS_OF, s, key=KEY) for w in (wh, wh2))
    pd.testing.assert_frame_equal(w1.table, w2.table)
    pd.testing.assert_series_equal(w1.model.params_, w2.model.params_)
    assert len(w1.table) == int(np.ceil(0.05 * w1.n_scored)) > 0


def test_identifiers_are_pseudonyms_and_no_pii_reaches_any_frame(tiny_bank):
    raw = set(pd.read_parquet(tiny_bank / "parquet" / "customers")["customer_id"])
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        frames = [churn.survival_frame(wh, AS_OF, key=KEY), churn.snapshot(wh, AS_OF, key=KEY)]
    for f in frames:
        assert f["customer_id"].str.fullmatch(r"P[0-9a-f]{15}").all()
        assert not raw & set(f["customer_id"])
        assert not {"full_name", "phone", "email", "national_id"} & set(f.columns)
