"""A deterministic synthetic bank with planted ground truth.

All eight canonical tables are generated with vectorised NumPy, customer chunk by
customer chunk (``CHUNK`` customers at a time), and written as Parquet parts, so memory
stays bounded for a million customers. The same seed, size and end date give the same
bytes. The truth the generator plants (``personas.py``) is written to
``ground_truth.json`` and, per customer, to ``truth_customers.parquet``; neither is
part of the warehouse an analysis reads.

Time conventions: dates are days; churn time is in years since onboarding (365.25 days);
the BG/NBD purchase clock is in weeks.

Speed and memory (target: 1M customers in under two minutes and 4 GB on 2 cores): tables
are assembled directly as Arrow arrays, never as pandas object columns; string columns
are built from integer codes (identifiers from their numbers, categories by ``take``
from their labels) rather than per element; and two background threads write each
chunk's Parquet parts and append it to ``warehouse.duckdb`` while the main thread draws
the next chunk. The random draws, their order and the arithmetic on them are those of
the earlier pandas implementation; only how tables are assembled and written changed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crm_lib.data import personas as P
from crm_lib.errors import WorkbenchError

logger = logging.getLogger(__name__)

SIZES = {"tiny": 2_000, "small": 50_000, "large": 1_000_000}
CHUNK = 100_000
DEFAULT_SEED = 20_261
HISTORY_YEARS = 6
GENERATOR_VERSION = "2"   # 2: every voluntary leaver winds down, also after the data end
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

ARMS = ("none", "control", "treatment")          # retention arm codes 0, 1, 2
CLOSE_REASONS = ("voluntary", "bank_initiated")  # closed_reason codes 0, 1
AGE_BANDS = ("corporate", "under_30", "65_plus", "30_64")  # age_band codes 0..3
TXN_TYPES = ("payment", "transfer_out", "transfer_in", "cash_withdrawal", "card_purchase", "fee_purchase")
PARQUET_OPTIONS = {"compression": "zstd", "row_group_size": 1_000_000}
ROW_IDS = {"customers": "customer_id", "accounts": "account_id", "transactions": "txn_id",
           "complaints": "complaint_id", "surveys": "response_id"}
# The warehouse is appended to by one DuckDB thread (the other core draws the next
# chunk): one thread is also faster and gives a smaller file than two for appends.
WAREHOUSE_THREADS = 1
WAREHOUSE_MEMORY_LIMIT = "512MB"


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


def _choice_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """One categorical draw per row of ``probs[rows]`` (rows sum to 1).

    With ``rows`` the cumulative sums are taken once per distinct row of ``probs`` and
    gathered column by column: the same numbers as ``_choice_rows(rng, probs[rows])``
    without materialising the gathered matrix.
    """
    cum = np.cumsum(probs, axis=1)
    if rows is None:
        u = rng.random(len(probs))[:, None] * cum[:, -1:]
        return (u > cum).sum(axis=1)
    u = rng.random(len(rows)) * cum[:, -1][rows]
    out = np.zeros(len(rows), dtype=np.int64)
    for j in range(cum.shape[1]):
        out += u > cum[:, j][rows]
    return out


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


def _order_by(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The permutation ``np.lexsort((values, groups))`` for non-negative integer ``groups``.

    Integer ``values`` (timestamps in seconds) are packed with the group into one int64
    key and sorted stably, which is exactly lexsort's order and ~10x faster. Float
    ``values`` are replaced by their rank first; elements tied on both keys may then
    come out in another order than lexsort's, which cannot change any output because
    they are equal.
    """
    groups = np.asarray(groups, dtype=np.int64)
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64)
    if np.issubdtype(values.dtype, np.floating):
        rank = np.empty(len(values), dtype=np.int64)
        rank[np.argsort(values)] = np.arange(len(values))
        values = rank
    v = values.astype(np.int64)
    lo, span = v.min(), int(v.max() - v.min()) + 1
    if int(groups.max()) * span + span >= 2**63:
        return np.lexsort((values, groups))
    return np.argsort(groups * span + (v - lo), kind="stable")


def _month_ends(start: np.datetime64, end: np.datetime64) -> np.ndarray:
    months = np.arange(start.astype("datetime64[M]"), end.astype("datetime64[M]") + 1)
    return ((months + 1).astype("datetime64[D]") - DAY)


_DIGITS4 = np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode("ascii"), dtype=np.uint32)


def _id_array(prefix: str, nums: np.ndarray, width: int) -> pa.Array:
    """Arrow strings ``prefix + str(k).zfill(width)`` for each ``k`` in ``nums``.

    Written straight into Arrow's buffers, four digits at a time; per-element Python or
    ``np.char`` string building costs ~10x more time and memory. Numbers wider than
    ``width`` (which ``zfill`` keeps whole) take the slow path.
    """
    nums = np.asarray(nums, dtype=np.int64)
    n = len(nums)
    if n and (nums.min() < 0 or nums.max() >= 10 ** width):
        return pa.array([prefix + str(k).zfill(width) for k in nums.tolist()], type=pa.string())
    head = prefix.encode("utf-8")
    length = len(head) + width
    limit = (2**31 - 1) // length - 1           # int32 offsets
    if n > limit:
        return pa.chunked_array([_id_array(prefix, nums[i:i + limit], width) for i in range(0, n, limit)])
    x = nums.astype(np.uint32 if n == 0 or nums.max() < 2**32 else np.uint64)
    buf = np.empty((n, length), dtype=np.uint8)
    for i, byte in enumerate(head):
        buf[:, i] = byte
    j = length
    while j > len(head):
        k = min(4, j - len(head))
        x, r = np.divmod(x, x.dtype.type(10_000))
        buf[:, j - k:j] = _DIGITS4[r].view(np.uint8).reshape(n, 4)[:, 4 - k:]
        j -= k
    offsets = np.arange(0, (n + 1) * length, length, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))


def _ids(prefix: str, start: int, n: int, width: int = 8) -> pa.Array:
    """Sequential identifiers ``prefix`` + zero-padded ``start .. start + n - 1``."""
    return _id_array(prefix, np.arange(start, start + n), width)


def _customer_ids(positions: np.ndarray) -> pa.Array:
    """``customer_id`` of 0-based customer positions (``CUS00000001`` is position 0)."""
    return _id_array("CUS", np.asarray(positions) + 1, 8)


def _labels(labels, codes: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Arrow strings ``labels[codes]``, null where ``null`` is True."""
    codes = np.asarray(codes, dtype=np.int64)
    if null is not None:
        codes = np.where(null, 0, codes)
    return pa.array(list(labels), type=pa.string()).take(pa.array(codes, mask=null))


def _col(x) -> pa.Array:
    """An Arrow column as ``pa.Table.from_pandas`` makes it (NaN and NaT become null)."""
    return x if isinstance(x, (pa.Array, pa.ChunkedArray)) else pa.array(x, from_pandas=True)


_PANDAS_META: dict = {}


def _table(columns: dict, nullable_int: tuple = ()) -> pa.Table:
    """An Arrow table with the pandas metadata ``pa.Table.from_pandas`` would attach.

    Columns must be in their final Arrow types (strings, timestamp[s], int8/int64,
    float64, bool); ``nullable_int`` names integer columns pandas reads back as ``Int64``.
    """
    t = pa.table({k: _col(v) for k, v in columns.items()})
    key = (t.schema, nullable_int)
    if key not in _PANDAS_META:
        empty = t.schema.empty_table().to_pandas()
        for c in nullable_int:
            empty[c] = empty[c].astype("Int64")
        _PANDAS_META[key] = pa.Table.from_pandas(empty, schema=t.schema, preserve_index=False).schema.metadata
    return t.replace_schema_metadata(_PANDAS_META[key])


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


def _history_start(end: np.datetime64) -> np.datetime64:
    e = pd.Timestamp(str(end))
    return np.datetime64((e - pd.DateOffset(years=HISTORY_YEARS) + pd.Timedelta(days=1)).date(), "D")


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


# --------------------------------------------------------------------------- per-chunk tables

PERSONA_AUM = _persona_attr("aum")
PERSONA_AUM_SD = _persona_attr("aum_sd")
PERSONA_DRIFT = _persona_attr("aum_drift")
PERSONA_VOL = _persona_attr("aum_vol")
PERSONA_MIX = np.array([p.channel_mix for p in P.PERSONAS], dtype=float)
PERSONA_TXN_RATE = _persona_attr("txn_rate")
PERSONA_TXN_AMOUNT = _persona_attr("txn_amount")


def _chunk_tables(spec: BankSpec, chunk: int, lo: int, c: dict, contacts: dict,
                  id_offsets: dict) -> tuple[dict, dict, dict]:
    """The per-customer tables of customers ``lo .. lo + len(c) - 1`` (arrays ``c``).

    Returns the Arrow tables by name, the chunk's BG/NBD truth columns and its
    complaint truth columns.
    """
    end = spec.resolved_end()
    hs = _history_start(end)
    rng = _rng(spec.seed, 10, chunk)
    pid = c["persona_id"]
    n = len(pid)
    is_ind = c["is_individual"]
    onboard = c["onboard"].astype("datetime64[D]")
    closed = c["closed_date"].astype("datetime64[D]")
    voluntary = c["voluntary"]
    obs_start = np.maximum(onboard, hs)
    obs_end = np.where(np.isnat(closed), end, closed)
    span_days = np.maximum((obs_end - obs_start).astype(int), 0)
    ch = P.ChurnTruth()
    cust_ids = _customer_ids(lo + np.arange(n))
    out = {}

    # accounts -------------------------------------------------------------
    n_prod = c["n_products_at_onboarding"]
    k_ind, k_corp = len(INDIVIDUAL_PRODUCTS), len(CORPORATE_PRODUCTS)
    keys = rng.random((n, max(k_ind, k_corp)))
    keys[:, 0] = -1.0  # the current account is always first
    keys[~is_ind, k_corp:] = 2.0
    order = np.argsort(keys, axis=1, kind="stable")
    rows = _expand(n_prod)
    slot = _rank_within(rows)
    prod_idx = order[rows, slot]
    product_labels = list(INDIVIDUAL_PRODUCTS + CORPORATE_PRODUCTS)
    product = np.where(is_ind[rows], np.minimum(prod_idx, k_ind - 1), k_ind + np.minimum(prod_idx, k_corp - 1))
    acc_rows = rows
    acc_open = onboard[rows]
    acc_close = closed[rows]
    # cross-sell responders open the target product within 30 days of contact, if still customers
    camp = contacts["campaign"]
    cs = np.flatnonzero(contacts["responded"] & contacts["is_cross_sell"][camp]
                        & (contacts["pos"] >= lo) & (contacts["pos"] < lo + n))
    if len(cs):
        for tp in contacts["target_product"]:
            if tp not in product_labels:
                product_labels.append(tp)
        tp_code = np.array([product_labels.index(tp) for tp in contacts["target_product"]])[camp[cs]]
        pos = contacts["pos"][cs] - lo
        od = contacts["contacted_at"][cs].astype("datetime64[D]") + rng.integers(1, 31, len(cs)).astype("timedelta64[D]")
        ok = (od <= obs_end[pos]) & is_ind[pos]
        acc_rows = np.r_[acc_rows, pos[ok]]
        product = np.r_[product, tp_code[ok]]
        acc_open = np.r_[acc_open, od[ok]]
        acc_close = np.r_[acc_close, closed[pos][ok]]
    out["accounts"] = _table({
        "account_id": _ids("ACC", id_offsets["accounts"], len(acc_rows), 9),
        "customer_id": cust_ids.take(acc_rows),
        "product": _labels(product_labels, product),
        "open_date": acc_open.astype("datetime64[s]"),
        "close_date": acc_close.astype("datetime64[s]")})

    # balances: month-ends while a customer ----------------------------------
    months = _month_ends(hs, end)
    m0 = np.searchsorted(months, obs_start)                      # first month-end on/after start
    m1 = np.where(np.isnat(closed), len(months), np.searchsorted(months, obs_end, side="left"))
    nm = np.maximum(m1 - m0, 0)
    brow = _expand(nm)
    bmonth = m0[brow] + _rank_within(brow)
    drift = PERSONA_DRIFT[pid]
    vol = PERSONA_VOL[pid]
    base = np.log(PERSONA_AUM[pid]) + rng.normal(0, PERSONA_AUM_SD[pid])
    steps = drift[brow] + vol[brow] * rng.standard_normal(len(brow))
    csum = np.cumsum(steps)
    del steps
    first = np.r_[0, np.cumsum(nm)[:-1]]
    before = np.r_[0.0, csum][first]          # cumulative sum just before each customer's run
    log_aum = base[brow] + csum - before[brow]
    del csum
    # wind-down before a voluntary exit: AUM flows out
    bdate = months[bmonth]
    exit_day = c["exit_date"].astype("datetime64[D]")
    months_to_exit = np.where(voluntary[brow], (exit_day[brow] - bdate).astype(int) / 30.44, np.inf)
    wind = np.clip(ch.wind_down_months - months_to_exit, 0, None)
    del months_to_exit
    log_aum = log_aum + np.log(1 - ch.wind_down_aum_outflow) * wind
    aum = np.exp(log_aum)
    del log_aum
    inv_share = np.clip(_persona_lookup(INVESTMENT_SHARE)[pid] * rng.uniform(0.5, 1.5, n), 0, 0.95)
    has_loan = rng.random(n) < _persona_lookup(LOAN_PROB)[pid]
    loan0 = np.where(has_loan, _persona_lookup(LOAN_SIZE)[pid] * np.exp(rng.normal(0, 0.5, n)), 0.0)
    age_m = (bdate - onboard[brow]).astype(int) / 30.44
    out["balances"] = _table({
        "customer_id": cust_ids.take(brow),
        "month": months.astype("datetime64[s]")[bmonth],
        "deposits": np.round(aum * (1 - inv_share[brow]), 2),
        "investments": np.round(aum * inv_share[brow], 2),
        "loans": np.round(np.clip(loan0[brow] * (1 - age_m / 300.0), 0, None), 2)})
    del aum, age_m, bdate

    # everyday transactions: Poisson per active month, channel from the customer's mix -----
    mix = PERSONA_MIX[pid]
    digital = c["digital_active"]
    mix[:, 1:3] *= np.where(digital, 1.8, 0.5)[:, None]
    mix = rng.gamma(mix * 40 + 0.05)          # Dirichlet around the persona mix
    mix /= mix.sum(axis=1, keepdims=True)
    activity = rng.gamma(4.0, 0.25, n)
    rate = PERSONA_TXN_RATE[pid] * activity
    mrate = rate[brow] * np.where(wind > 0, ch.wind_down_txn_factor, 1.0)
    del wind
    cnt = rng.poisson(mrate)
    del mrate
    trow = _expand(cnt)
    tcust = brow[trow]
    tmonth = bmonth[trow]
    del trow, cnt
    mend = months[tmonth]
    mstart = months.astype("datetime64[M]").astype("datetime64[D]")[tmonth]
    del tmonth
    tlo = np.maximum(mstart, obs_start[tcust])
    width = np.maximum((mend - tlo).astype(int) + 1, 1)
    del mend, mstart
    n_ev = len(tcust)
    secs = (tlo.astype("datetime64[s]") + (rng.random(n_ev) * width * 86400).astype("timedelta64[s]"))
    del tlo, width
    chan = _choice_rows(rng, mix, tcust)
    ttype = np.where(chan == 3, 3, rng.choice([0, 1, 2, 4], n_ev, p=[0.45, 0.25, 0.2, 0.1]))
    amount = np.round(PERSONA_TXN_AMOUNT[pid][tcust] * np.exp(rng.normal(0, 0.9, n_ev)), 2)

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
    o = _order_by(prow, u)
    prow, u = prow[o], u[o]
    keep = _rank_within(prow) < x[prow]
    prow, u = prow[keep], u[keep]
    pts = obs_start[prow].astype("datetime64[s]") + (u * 7 * 86400).astype("timedelta64[s]")
    pamount = np.round(rng.gamma(tt.p_spend, 1.0 / nu[prow]), 2)
    pchan = _choice_rows(rng, mix, prow)

    cid = np.r_[tcust, prow]
    del tcust
    ts = np.r_[secs, pts]
    del secs
    o = _order_by(cid, ts.astype(np.int64))
    n_tx = len(cid)
    out["transactions"] = _table({
        "txn_id": _ids("TXN", id_offsets["transactions"], n_tx, 11),
        "customer_id": cust_ids.take(cid[o]),
        "ts": ts[o],
        "amount": np.r_[amount, pamount][o],
        "channel": _labels(P.CHANNELS, np.r_[chan, pchan][o]),
        "txn_type": _labels(TXN_TYPES, np.r_[ttype, np.full(len(prow), 5)][o])})
    del cid, ts, o, amount, chan, ttype
    truth_tx = {"bgnbd_lambda": lam, "bgnbd_p": pdrop, "gg_nu": nu, "purchases": x, "activity": activity}

    # complaints ------------------------------------------------------------
    cpt, act = P.ComplaintTruth(), P.ImprovementActionTruth()
    years = span_days / YEAR_DAYS
    crate = np.where(c["complaint_prone"], cpt.rate_per_year_prone, cpt.rate_per_year)
    ccount = rng.poisson(crate * years)
    crow = _expand(ccount)
    opened = obs_start[crow].astype("datetime64[s]") + (rng.random(len(crow)) * span_days[crow] * 86400).astype("timedelta64[s]")
    sev_names = list(cpt.severities)
    sev = rng.choice(len(sev_names), len(crow), p=list(cpt.severities.values()))
    med = np.array([cpt.resolution_median_days[s] for s in sev_names])[sev]
    after = opened >= np.datetime64(act.start, "s")
    days = med * np.exp(rng.normal(0, cpt.resolution_log_sd, len(crow))) * np.where(after, act.resolution_time_factor, 1.0)
    resolved = opened + (days * 86400).astype("timedelta64[s]")
    end_s = (end + DAY).astype("datetime64[s]")
    esc = rng.random(len(crow)) < np.array([cpt.escalation_prob[s] for s in sev_names])[sev]
    complaint_id = _ids("CMP", id_offsets["complaints"], len(crow), 8)
    out["complaints"] = _table({
        "complaint_id": complaint_id,
        "customer_id": cust_ids.take(crow),
        "opened_at": opened,
        "resolved_at": np.where(resolved < end_s, resolved, np.datetime64("NaT")),
        "category": _labels(list(cpt.categories), rng.choice(len(cpt.categories), len(crow), p=list(cpt.categories.values()))),
        "channel": _labels(list(cpt.channels), rng.choice(len(cpt.channels), len(crow), p=list(cpt.channels.values()))),
        "severity": _labels(sev_names, sev),
        "escalated": esc})
    truth_cmp = {"complaint_id": complaint_id, "true_resolution_days": days}

    # surveys ---------------------------------------------------------------
    st = P.SatisfactionTruth()
    scount = rng.poisson(st.responses_per_customer_year * years)
    srow = _expand(scount)
    sdate = obs_start[srow] + (rng.random(len(srow)) * span_days[srow]).astype("timedelta64[D]")
    ratings, latent = _survey_scores(rng, len(srow), sdate >= np.datetime64(act.start, "D"))
    tp_p = np.where(digital[:, None], [0.10, 0.15, 0.45, 0.20, 0.10], [0.45, 0.30, 0.05, 0.10, 0.10])
    touchpoint = _choice_rows(rng, tp_p, srow)
    out["surveys"] = _table({
        "response_id": _ids("SRV", id_offsets["surveys"], len(srow), 9),
        "customer_id": cust_ids.take(srow),
        "survey_date": sdate.astype("datetime64[s]"),
        "touchpoint": _labels(TOUCHPOINTS, touchpoint),
        "csat": (1 + (latent[:, None] > np.array(st.csat_cuts)).sum(axis=1)).astype(np.int8),
        "nps": np.clip(np.round(5 + st.nps_slope * (latent - 3.5) + rng.normal(0, 1, len(srow))), 0, 10).astype(int).astype(np.int8),
        **{a: ratings[:, i].astype(np.int8) for i, a in enumerate(P.ATTRIBUTES)}})
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

def _write_part(root: Path, table: str, part: int, data: pa.Table | pd.DataFrame) -> Path:
    """Write one Parquet part; dictionary encoding only for repeated string columns.

    Dictionary-encoding numbers, timestamps and the unique row identifiers only to fall
    back to plain encoding costs ~30% of the write time and makes the files larger.
    """
    d = root / "parquet" / table
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    path = d / f"part-{part:04d}.parquet"
    dictionary = [f.name for f in data.schema if pa.types.is_string(f.type) and f.name != ROW_IDS.get(table)]
    pq.write_table(data, path, use_dictionary=dictionary, **PARQUET_OPTIONS)
    return path


def _sql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


class _PartWriter:
    """Writes Parquet parts and loads them into ``warehouse.duckdb``, on two background threads.

    One thread writes each part's Parquet file; the other appends the same Arrow table to
    its DuckDB table (timestamps as microseconds, so every column gets the type
    ``read_parquet`` would give it). Parts are
    appended in submission order, so row order is part order. ``max_queued`` bounds how
    many submitted batches wait behind the one being written: each holds a chunk's tables
    in memory.
    """

    def __init__(self, root: Path, max_queued: int = 0):
        import duckdb

        self.root = root
        self.max_queued = max_queued
        self.con = duckdb.connect(str(root / "warehouse.duckdb"))
        self.con.execute(f"SET threads={WAREHOUSE_THREADS}").fetchall()
        self.con.execute(f"SET memory_limit={_sql_str(WAREHOUSE_MEMORY_LIMIT)}").fetchall()
        self.created: set[str] = set()
        self.parquet_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthetic-parquet")
        self.duckdb_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthetic-duckdb")
        self.pending: deque[tuple[Future, Future]] = deque()

    def submit(self, part: int, tables: dict) -> None:
        while len(self.pending) > self.max_queued:
            for f in self.pending.popleft():
                f.result()
        self.pending.append((self.parquet_pool.submit(self._parquet, part, tables),
                             self.duckdb_pool.submit(self._duckdb, tables)))

    def _parquet(self, part: int, tables: dict) -> None:
        for name, data in tables.items():
            _write_part(self.root, name, part, data)

    def _duckdb(self, tables: dict) -> None:
        for name, data in tables.items():
            data = data.cast(pa.schema([pa.field(f.name, pa.timestamp("us")) if pa.types.is_timestamp(f.type) else f
                                        for f in data.schema]))
            self.con.register("_part", data)
            try:
                if name in self.created:
                    self.con.execute(f'INSERT INTO "{name}" SELECT * FROM _part').fetchall()
                else:
                    self.con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _part').fetchall()
                    self.created.add(name)
            finally:
                self.con.unregister("_part")

    def close(self) -> None:
        """Wait for every part, checkpoint and close the warehouse (raises a writer error)."""
        try:
            while self.pending:
                for f in self.pending.popleft():
                    f.result()
            self.con.execute("CHECKPOINT").fetchall()
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop queued parts, wait for the running ones and close the warehouse (idempotent)."""
        for pair in self.pending:
            for f in pair:
                f.cancel()
        self.parquet_pool.shutdown(wait=True)
        self.duckdb_pool.shutdown(wait=True)
        self.pending.clear()
        if self.con is not None:
            self.con.close()
            self.con = None


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
    writer = None
    try:
        writer = _PartWriter(tmp)
        customers, t = _customers(spec)
        campaigns, contacts = _campaigns(spec, t["onboard"], t["closed_date"], t["retention_arm"],
                                         t["retention_contact"])
        contacts_table = _contacts_table(contacts)
        counts = {"customers": len(customers), "campaigns": len(campaigns), "campaign_contacts": len(contacts_table)}
        realised = _realised(t, contacts)
        writer.submit(0, {"customers": customers, "campaigns": pa.Table.from_pandas(campaigns, preserve_index=False),
                          "campaign_contacts": contacts_table})
        del customers, contacts_table
        offsets = {"accounts": 1, "transactions": 1, "complaints": 1, "surveys": 1}
        truth_parts, cmp_parts = [], []
        for ci, lo in enumerate(range(0, n, CHUNK)):
            hi = min(lo + CHUNK, n)
            chunk = {k: v[lo:hi] for k, v in t.items()}
            tables, ttx, tcmp = _chunk_tables(spec, ci, lo, chunk, contacts, offsets)
            for name, tbl in tables.items():
                counts[name] = counts.get(name, 0) + len(tbl)
                if name in offsets:
                    offsets[name] += len(tbl)
            writer.submit(ci, tables)
            del tables, chunk
            truth_parts.append(ttx)
            cmp_parts.append(tcmp)
            logger.info("chunk %d: %d customers done", ci, hi - lo)
        extra = {k: np.concatenate([p[k] for p in truth_parts]) for k in truth_parts[0]}
        pq.write_table(_truth_table(t, extra), tmp / "truth_customers.parquet", compression="zstd")
        del extra, truth_parts
        cmp = _table({"complaint_id": pa.concat_arrays([p["complaint_id"] for p in cmp_parts]),
                      "true_resolution_days": np.concatenate([p["true_resolution_days"] for p in cmp_parts])})
        pq.write_table(cmp, tmp / "truth_complaints.parquet", compression="zstd")
        del cmp, cmp_parts
        gt = P.truth_dict()
        gt["improvement_action"]["expected"] = expected_action_lift()
        gt["realised"] = realised
        meta = {"generator_version": GENERATOR_VERSION, "seed": seed, "n_customers": n,
                "size": str(size), "history_start": str(hs), "end_date": str(end),
                "rows": counts, "chunk_size": CHUNK}
        (tmp / "ground_truth.json").write_text(json.dumps(gt, indent=2, default=_json_default) + "\n")
        writer.close()
        writer = None
        meta["seconds"] = round(time.perf_counter() - t0, 2)
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        (tmp / "README.md").write_text(_readme(meta))
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    except BaseException:
        if writer is not None:
            writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("synthetic bank: %d customers in %.1fs -> %s", n, meta["seconds"], out)
    return meta


def _realised(t: dict, contacts: dict) -> dict:
    """Facts of this draw (not parameters): persona counts, arm sizes, closures."""
    names = [p.name for p in P.PERSONAS]
    persona_n = np.bincount(t["persona_id"], minlength=len(names))
    closed = t["closed"]
    reason_n = np.bincount(t["closed_reason"][closed], minlength=len(CLOSE_REASONS))
    camp, group = contacts["campaign"], contacts["group"]
    arms = pd.DataFrame({"n": np.bincount(camp * len(ARMS) + group, minlength=len(contacts["campaign_ids"]) * len(ARMS)),
                         "responded": np.bincount(camp * len(ARMS) + group, weights=contacts["responded"],
                                                  minlength=len(contacts["campaign_ids"]) * len(ARMS)).astype(np.int64)})
    arms["campaign_id"] = np.repeat(contacts["campaign_ids"], len(ARMS))
    arms["group"] = np.tile(ARMS, len(contacts["campaign_ids"]))
    arms = arms[arms["n"] > 0].sort_values(["campaign_id", "group"])
    return {
        "persona_counts": {k: int(persona_n[names.index(k)]) for k in sorted(names) if persona_n[names.index(k)]},
        "closed": int(closed.sum()),
        "closed_by_reason": {k: int(reason_n[CLOSE_REASONS.index(k)]) for k in sorted(CLOSE_REASONS)
                             if reason_n[CLOSE_REASONS.index(k)]},
        "campaign_arms": {f"{r.campaign_id}/{r.group}": {"n": int(r.n), "responded": int(r.responded)}
                          for r in arms.itertuples()},
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
