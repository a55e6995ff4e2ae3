"""What the synthetic bank generates: sizes, seeds, table names, labels and layout constants.

Label tuples are indexed by integer codes throughout the generator (``ARMS``,
``CLOSE_REASONS``, ``AGE_BANDS``, ``TXN_TYPES``); ``BankSpec`` fixes one bank (customer
count, seed, last day of data) and ``_history_start`` the first day of its history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_lib.errors import WorkbenchError

SIZES = {"tiny": 2_000, "small": 50_000, "large": 1_000_000}
CHUNK = 100_000
DEFAULT_SEED = 20_261
HISTORY_YEARS = 6
GENERATOR_VERSION = "4"   # 2: every voluntary leaver winds down, also after the data end; 3: planted product adoption;
                          # 4: survey CSAT cuts and NPS centre at retail-bank levels
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


def _history_start(end: np.datetime64) -> np.datetime64:
    e = pd.Timestamp(str(end))
    return np.datetime64((e - pd.DateOffset(years=HISTORY_YEARS) + pd.Timedelta(days=1)).date(), "D")
