"""What each report notebook needs from a source: canonical tables, and columns where it matters.

One registry, keyed by notebook name, read by the door (``crm_lib.data.door``: a source is
checked against the union of what the profile's notebooks need, not against every
canonical table) and by the runner (a notebook whose needs the source cannot meet is
*not run*, with the reason, and the rest of the pack builds).

A table's entry is the tuple of columns the notebook reads from it, or ``CONTRACT``: every
column the contract marks required (``crm_lib.data.schema.SCHEMAS``). Optional contract
columns are never needs: a source that lacks one reads it as empty and the analyses that
use it leave it out or say why (the door lists each as a warning).

The declarations follow the library calls each notebook makes; where a call reads a table
only when the source has it (``wh.has(...)``), the table is not a need. Every analysis
notebook builds the customer feature table (``crm_lib.features.feature_table``), which
needs only customers: what it computes from a table or column the source lacks is NULL
(``features.missing_inputs``). The data overview, segmentation and CLV notebooks run on
customers and transactions alone (a bank that cannot yet extract balances), their other
sections saying what they lack; the churn, satisfaction, complaints and marketing
notebooks still declare ``FEATURE_TABLES`` in full (their models are fitted on every one).
A notebook missing from the registry needs every required table of the contract (the
door's rule before this registry), so a new notebook is never run on data it cannot read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

CONTRACT = "contract"   # every required contract column of the table

# crm_lib.features.feature_table: customers, products from accounts, AUM and tiers from balances,
# RFM and channels from transactions, complaint, survey and contact counts in the behaviour window
FEATURE_TABLES = ("customers", "accounts", "balances", "transactions", "complaints", "surveys",
                  "campaign_contacts")
_FEATURES = {t: CONTRACT for t in FEATURE_TABLES}

# The customers and the dates they joined: what a feature table without any other table describes
_CUSTOMERS = {"customers": ("customer_id", "customer_type", "onboard_date")}
_PURCHASES = {"transactions": ("customer_id", "ts", "amount")}

NEEDS: dict[str, dict[str, tuple[str, ...] | str]] = {
    # coverage, door, tiers, base movement, engagement, data-quality scorecard: the feature table reads
    # what the source has (``features.missing_inputs``); a section whose table is missing says so
    "00_data_overview": dict(_CUSTOMERS),
    # RFM and clusters on the feature table's transactions; tiers, lifecycle and migration where the
    # source has balances and accounts (else those sections say they are not estimable)
    "10_segmentation": {**_CUSTOMERS, **_PURCHASES},
    # survival frame, campaign effect (campaigns read when present), models on the feature table
    "20_churn": dict(_FEATURES),
    "21_early_warning": dict(_FEATURES),
    # surveys joined to the feature table's segments
    "30_satisfaction": dict(_FEATURES),
    # complaints joined to the feature table's segments
    "31_complaints_sla": dict(_FEATURES),
    # card and payment models on transactions; relationship CLV (on the churn frame and balances)
    # and cohort retention where the source has them
    "40_clv": {**_CUSTOMERS, **_PURCHASES},
    # product adoption on the feature table; next-best-product response from campaigns and contacts
    "50_next_best_product": {**_FEATURES, "campaigns": CONTRACT},
    # reads the pack's facts; campaign results and action KPIs only from tables the source has
    "90_effectiveness_review": {},
}


def _contract_columns(table: str) -> tuple[str, ...]:
    from crm_lib.data.schema import SCHEMAS

    return tuple(c for c, col in SCHEMAS[table].columns.items() if col.required)


def _strict() -> dict[str, tuple[str, ...] | str]:
    from crm_lib.data.schema import REQUIRED_TABLES

    return {t: CONTRACT for t in REQUIRED_TABLES}


def needs_of(notebook: str) -> dict[str, tuple[str, ...]]:
    """Table -> columns ``notebook`` needs (``CONTRACT`` resolved to the contract's required columns).

    A notebook not in ``NEEDS`` needs every required table of the contract, in full.
    """
    declared = NEEDS.get(notebook)
    if declared is None:
        declared = _strict()
    return {t: (_contract_columns(t) if cols == CONTRACT else tuple(cols)) for t, cols in declared.items()}


def union(notebooks: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Table -> columns needed by at least one of ``notebooks`` (what the door checks for them)."""
    out: dict[str, dict[str, None]] = {}
    for nb in notebooks:
        for t, cols in needs_of(nb).items():
            out.setdefault(t, {}).update(dict.fromkeys(cols))
    return {t: tuple(cols) for t, cols in out.items()}


def source_shape(wh) -> dict[str, set[str]]:
    """Canonical table -> columns the source really holds (an absent optional column read as empty is not held)."""
    return {t: set(wh.held(t)) for t in wh.tables()}


def missing(notebook: str, shape: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """What ``notebook`` needs and the source lacks: table -> missing columns (``("*",)`` for a whole table)."""
    out = {}
    for t, cols in needs_of(notebook).items():
        if t not in shape:
            out[t] = ("*",)
        else:
            held = set(shape[t])
            lack = tuple(c for c in cols if c not in held)
            if lack:
                out[t] = lack
    return out


def reason(lacking: Mapping[str, tuple[str, ...]]) -> str:
    """``missing(...)`` as a sentence: 'needs table balances, which the source does not have'; '' when nothing lacks."""
    tables = [t for t, cols in lacking.items() if cols == ("*",)]
    columns = [f"{t}.{c}" for t, cols in lacking.items() if cols != ("*",) for c in cols]
    parts = []
    if tables:
        parts.append(f"table{'s' if len(tables) > 1 else ''} {', '.join(tables)}")
    if columns:
        parts.append(f"column{'s' if len(columns) > 1 else ''} {', '.join(columns)}")
    if not parts:
        return ""
    which = "which the source does not have"
    return f"needs {' and '.join(parts)}, {which}"


def unmet(notebook: str, shape: Mapping[str, Iterable[str]]) -> str:
    """Why ``notebook`` cannot run on a source of this ``shape`` ('' when its needs are met)."""
    return reason(missing(notebook, shape))


def needed_by(notebooks: Iterable[str], table: str, column: str = "*") -> list[str]:
    """The notebooks among ``notebooks`` that need ``table`` (or its ``column``)."""
    return [nb for nb in notebooks
            if table in (n := needs_of(nb)) and (column == "*" or column in n[table])]
