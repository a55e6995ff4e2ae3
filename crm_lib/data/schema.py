"""Column contracts of the canonical tables, and the door that enforces them.

Per-column rules (type, nulls, allowed values, ranges, within-row date order) are
pandera schemas, run on each table in batches streamed out of DuckDB so memory stays
bounded. Before that pass, one DuckDB scan per table counts the rows that could break any of
them (``_sql_clean``): a table with none skips the pandera pass, which would find nothing (a
1M-customer bank's door: 97M rows in seconds instead of minutes); a table with one, or with a
rule the scan cannot write in SQL, gets the pandera pass and its exact report. Relational rules (unique keys, foreign keys, cross-table date order, future
dates, empty tables) are SQL run inside DuckDB. Every broken rule becomes one
``Problem`` naming table, column, rule, count and up to five example rows.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from crm_lib.data.sources import SourceError, _first_line, _q
from crm_lib.data.sqlsafe import lit, lits
from crm_lib.errors import DataContractError
from crm_lib.fmt import N_

if TYPE_CHECKING:  # the warehouse is above the contract (store reads SCHEMAS): a type, not an import
    from crm_lib.data.store import Warehouse

logger = logging.getLogger(__name__)

CHANNELS = ["branch", "mobile", "online", "atm", "phone"]
# The contract's code values are the library's vocabulary, shown on pages as words: marked here for the
# translation catalogue (``crm_lib.fmt.gettext`` translates them where they are shown; a bank's own
# values, such as product codes or regions, are shown as they are).
CODE_WORDS = (N_("individual"), N_("corporate"), N_("voluntary"), N_("bank_initiated"), N_("dormancy"),
              N_("deceased"), N_("other"), N_("low"), N_("medium"), N_("high"), N_("cross_sell"),
              N_("retention"), N_("activation"), N_("treatment"), N_("control"), N_("branch"), N_("mobile"),
              N_("online"), N_("atm"), N_("phone"))
RATINGS = ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", "D", "NR"]
# Rows per pandera batch: 250k keeps the 45M-row transactions check of a 1M-customer bank
# at 1.8 GB peak (2M rows took 7.7 GB) for the same time (85 s against 82 s).
BATCH_ROWS = 250_000
MAX_EXAMPLES = 5
UNIQUE_KEY_PARTS = (16, 128)    # hash parts a unique-key check falls back to when one aggregate runs out of memory

REQUIRED_TABLES = ("customers", "accounts", "balances", "transactions")
OPTIONAL_TABLES = ("complaints", "surveys", "campaigns", "campaign_contacts")
# Rules of a source checked against what its notebooks need (``validate(..., needs=...)``): warnings
NEEDED_TABLE = "table present (needed by notebooks of the profile, which are not run)"
NEEDED_COLUMN = "required column present (needed by notebooks of the profile, which are not run)"
UNNEEDED_COLUMN = "required column present (no notebook of the profile reads it)"
UNNEEDED_TABLE = "required table present (no notebook of the profile reads it)"

PII_COLUMNS = ("full_name", "phone", "email", "national_id")

# Rule text for a value that is not of its column's type, by pandas dtype.
TYPE_RULES = {"float64": "type number", "Int64": "type integer", "boolean": "type true/false",
              "datetime64[ns]": "type date (YYYY-MM-DD[ HH:MM:SS])", "str": "type text"}


# DuckDB type of each contract dtype: how a source column with no usable type of its own is read.
SQL_TYPES = {"float64": "DOUBLE", "Int64": "BIGINT", "boolean": "BOOLEAN", "datetime64[ns]": "TIMESTAMP"}


def sql_type(column: pa.Column) -> str:
    """The DuckDB type a contract column is read as (``VARCHAR`` for text)."""
    return SQL_TYPES.get(str(column.dtype), "VARCHAR")


def _str(**kw) -> pa.Column:
    return pa.Column(str, coerce=True, **kw)


# Built-in pandera checks report their ``error`` text, so it is set to the rule name.
def _cat(values, nullable=False, **kw) -> pa.Column:
    rule = f"one of {sorted(values)}"
    return pa.Column(str, pa.Check.isin(values, name=rule, error=rule), nullable=nullable, coerce=True, **kw)


def _num(lo=None, hi=None, nullable=False, **kw) -> pa.Column:
    checks = []
    if lo is not None and hi is not None:
        checks.append(pa.Check.in_range(lo, hi, name=f"between {lo} and {hi}", error=f"between {lo} and {hi}"))
    elif lo is not None:
        checks.append(pa.Check.ge(lo, name=f">= {lo}", error=f">= {lo}"))
    return pa.Column(float, checks, nullable=nullable, coerce=True, **kw)


def _int(lo, hi, nullable=False, **kw) -> pa.Column:
    rule = f"integer {lo}-{hi}"
    return pa.Column("Int64", pa.Check.in_range(lo, hi, name=rule, error=rule),
                     nullable=nullable, coerce=True, **kw)


def _date(nullable=False, **kw) -> pa.Column:
    return pa.Column("datetime64[ns]", nullable=nullable, coerce=True, **kw)


def _bool(nullable=False) -> pa.Column:
    return pa.Column("boolean", nullable=nullable, coerce=True)


def _order(later: str, earlier: str) -> pa.Check:
    return pa.Check(lambda df: df[later].isna() | df[earlier].isna() | (df[later] >= df[earlier]),
                    name=f"{later} >= {earlier}", element_wise=False)


SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "customers": pa.DataFrameSchema({
        "customer_id": _str(),
        "customer_type": _cat(["individual", "corporate"]),
        "age": _int(18, 120, nullable=True),
        "income": _num(0, nullable=True, required=False),
        "revenue": _num(0, nullable=True, required=False),
        "region": _str(nullable=True, required=False),
        "branch_id": _str(nullable=True),
        "occupation": _str(nullable=True, required=False),
        "industry": _str(nullable=True, required=False),
        "credit_rating": _cat(RATINGS, nullable=True, required=False),
        "onboard_date": _date(),
        "acquisition_channel": _str(nullable=True, required=False),
        "acquisition_cost": _num(0, nullable=True, required=False),
        "closed_date": _date(nullable=True),
        "closed_reason": _cat(["voluntary", "bank_initiated", "dormancy", "deceased", "other"],
                              nullable=True, required=False),
        "consent_marketing": _bool(),
        **{c: _str(nullable=True, required=False) for c in PII_COLUMNS},
    }, checks=[_order("closed_date", "onboard_date")]),
    "accounts": pa.DataFrameSchema({
        "account_id": _str(), "customer_id": _str(), "product": _str(),
        "open_date": _date(), "close_date": _date(nullable=True),
    }, checks=[_order("close_date", "open_date")]),
    "balances": pa.DataFrameSchema({
        "customer_id": _str(), "month": _date(),
        "deposits": _num(0), "investments": _num(0), "loans": _num(0),
    }),
    "transactions": pa.DataFrameSchema({
        "txn_id": _str(), "customer_id": _str(), "ts": _date(),
        "amount": _num(), "channel": _cat(CHANNELS), "txn_type": _str(),
    }),
    "complaints": pa.DataFrameSchema({
        "complaint_id": _str(), "customer_id": _str(), "opened_at": _date(),
        "resolved_at": _date(nullable=True), "category": _str(), "channel": _str(),
        "severity": _cat(["low", "medium", "high"]), "escalated": _bool(),
    }, checks=[_order("resolved_at", "opened_at")]),
    "surveys": pa.DataFrameSchema({
        "response_id": _str(), "customer_id": _str(), "survey_date": _date(),
        "touchpoint": _str(nullable=True),
        "csat": _int(1, 5, nullable=True), "nps": _int(0, 10, nullable=True),
    }),
    "campaigns": pa.DataFrameSchema({
        "campaign_id": _str(), "kind": _cat(["cross_sell", "retention", "activation"]),
        "start_date": _date(), "end_date": _date(), "cost": _num(0),
        "target_product": _str(nullable=True),
    }, checks=[_order("end_date", "start_date")]),
    "campaign_contacts": pa.DataFrameSchema({
        "campaign_id": _str(), "customer_id": _str(),
        "group": _cat(["treatment", "control"]), "contacted_at": _date(),
        "responded": _bool(), "revenue": _num(0),
    }),
}

# What the analyses read when a source lacks a required column that no notebook it runs needs. The
# warehouse reads every missing contract column as NULL (unknown), and what is computed from it is
# left out, never counted as zero; these are the only defaults a reviewer could read as data, so the
# door report names them beside the missing column.
LACKING_DEFAULTS = {
    ("customers", "closed_date"): "no customer is known to have closed: every customer counts as active "
                                  "(closures, churn and base movement are not reported)",
    ("transactions", "txn_type"): "every transaction is an ordinary purchase (fee-bearing card purchases are not "
                                  "told apart: the card and payment models read them all)",
}
READ_AS_EMPTY = "empty: what is computed from it is left out, never counted as zero"

# Survey attribute ratings: any column attr_* is a 1-5 integer rating.
ATTRIBUTE_PREFIX = "attr_"

KEYS = {
    "customers": ["customer_id"], "accounts": ["account_id"], "balances": ["customer_id", "month"],
    "transactions": ["txn_id"], "complaints": ["complaint_id"], "surveys": ["response_id"],
    "campaigns": ["campaign_id"], "campaign_contacts": ["campaign_id", "customer_id"],
}
FOREIGN_KEYS = [  # (table, column, parent table, parent column)
    ("accounts", "customer_id", "customers", "customer_id"),
    ("balances", "customer_id", "customers", "customer_id"),
    ("transactions", "customer_id", "customers", "customer_id"),
    ("complaints", "customer_id", "customers", "customer_id"),
    ("surveys", "customer_id", "customers", "customer_id"),
    ("campaign_contacts", "customer_id", "customers", "customer_id"),
    ("campaign_contacts", "campaign_id", "campaigns", "campaign_id"),
]
DATE_COLUMNS = {
    "customers": ["onboard_date", "closed_date"], "accounts": ["open_date", "close_date"],
    "balances": ["month"], "transactions": ["ts"], "complaints": ["opened_at", "resolved_at"],
    "surveys": ["survey_date"], "campaigns": ["start_date"], "campaign_contacts": ["contacted_at"],
}
# Events before the customer joined: (table, column) compared with customers.onboard_date.
AFTER_ONBOARDING = [("accounts", "open_date"), ("transactions", "ts"), ("complaints", "opened_at"),
                    ("surveys", "survey_date")]


@dataclass
class Problem:
    """One broken rule: where, what, how often, and a few rows that show it."""

    table: str
    column: str
    rule: str
    count: int
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)
    severity: str = "error"

    def message(self) -> str:
        head = (f"{self.table}.{self.column}: {self.count:,} row(s) break rule '{self.rule}'"
                if self.count else f"{self.table}.{self.column}: rule '{self.rule}' broken")
        if self.examples is not None and len(self.examples):
            # one wide text column (e.g. the columns found) reads better flush left
            ex = self.examples.head(MAX_EXAMPLES).to_string(
                index=False, justify="left" if self.examples.shape[1] == 1 else None)
            head += ", e.g.\n    " + ex.replace("\n", "\n    ")
        return head

    def as_dict(self) -> dict:
        return {"table": self.table, "column": self.column, "rule": self.rule, "count": int(self.count),
                "severity": self.severity,
                "examples": self.examples.head(MAX_EXAMPLES).astype(str).to_dict("records")
                if self.examples is not None else []}


@dataclass
class ValidationReport:
    """All problems found at the door; ``ok`` when none is an error."""

    source: str
    problems: list[Problem]
    rows: dict[str, int]
    #: table -> rows beyond the first of each key (rows - distinct keys), for every table whose key was checked
    duplicate_rows: dict[str, int] = field(default_factory=dict)
    #: "table.column: rule" -> rows breaking it, for every cross-table rule checked (0 included)
    rule_counts: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def text(self) -> str:
        lines = [f"source {self.source}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)"]
        for p in self.problems:
            lines.append(f"[{p.severity}] " + p.message())
        return "\n".join(lines)

    def table(self) -> pd.DataFrame:
        """One row per problem: table, column, rule, count, severity."""
        return pd.DataFrame([{k: v for k, v in p.as_dict().items() if k != "examples"} for p in self.problems],
                            columns=["table", "column", "rule", "count", "severity"])

    def raise_for_errors(self) -> None:
        if self.errors:
            raise DataContractError(self.text(), problems=self.errors)


def rule_key(table: str, column: str, rule: str) -> str:
    """The name of a checked rule in ``ValidationReport.rule_counts`` (and ``door.json``'s ``rule_counts``)."""
    return f"{table}.{column}: {rule}"


def in_hash_parts(con, table: str, key: str, run) -> list:
    """``run(where)`` over the whole of ``table`` (``where`` empty), or, when that one aggregate outgrows DuckDB's
    memory limit (455M transaction ids under 3.7 GiB did), once per part of ``key``'s hash (``where`` a WHERE
    clause): equal keys share a part, so per-key results from the parts add up to the whole's. Tries the parts
    counts of ``UNIQUE_KEY_PARTS`` in turn; returns the list of ``run``'s results, one per part."""
    try:
        return [run("")]
    except duckdb.OutOfMemoryException:
        pass
    for parts in UNIQUE_KEY_PARTS:
        try:
            out = [run(f" WHERE abs(hash({key}) % {parts}) = {i}") for i in range(parts)]
        except duckdb.OutOfMemoryException:
            continue
        logger.info("keys of %s read in %d hash parts (one aggregate did not fit in memory)", table, parts)
        return out
    raise duckdb.OutOfMemoryException(f"{table}: its key did not fit in memory in {UNIQUE_KEY_PARTS[-1]} parts")


def distinct_keys(con, table: str, key: str) -> int:
    """Distinct values of ``key`` (quoted column list) in ``table`` on connection ``con``, counted in hash parts
    when one aggregate does not fit in memory (``in_hash_parts``), as the door's unique-key check counts its
    duplicates."""
    q = f"SELECT count(*) FROM (SELECT DISTINCT {key} FROM {_q(table)}{{where}})"
    return sum(in_hash_parts(con, table, key, lambda where: con.execute(q.format(where=where)).fetchall()[0][0]))


def validate(wh: Warehouse, today: pd.Timestamp | None = None, batch_rows: int = BATCH_ROWS,
             needs: dict | None = None, precheck: bool = True) -> ValidationReport:
    """Check every canonical table of ``wh`` against its contract.

    Parameters
    ----------
    wh : Warehouse
    today : Timestamp, optional
        Dates after this day are 'future dates'; default the current date.
    batch_rows : int
        Rows per batch for the per-column checks (bounded memory).
    needs : dict, optional
        Table -> columns the notebooks to be run need (``crm_lib.data.needs.union``). Given,
        a missing table or required column is a warning, not an error: the notebooks that
        need it are not run (``needed ...`` rules), and one that no notebook needs is only
        noted. Without it every required table and column of the contract must be present.
        A table present is checked in full either way: every rule on the columns it has.
    precheck : bool
        Skip the pandera pass of a table that one SQL scan shows clean (the default); False runs
        it on every table (the report is the same either way: ``tests/test_door_catalogue.py``).

    Returns
    -------
    ValidationReport
        Never raises for bad data: call ``raise_for_errors()`` to stop at the door.

    Raises
    ------
    SourceError
        A table's file cannot be read to the end (e.g. a corrupt Parquet page).
    """
    today = pd.Timestamp(today or pd.Timestamp.today()).normalize()
    problems: list[Problem] = []
    present = set(wh.tables())
    rows = {}
    if needs is not None and not present:   # e.g. the wrong folder, or a mapping that names no source table
        problems.append(Problem("*", "*", "at least one canonical table present", 0,
                                pd.DataFrame({"tables found": [", ".join(getattr(wh, "_raw", {})) or "none"]})))
    for t in [t for t in REQUIRED_TABLES + OPTIONAL_TABLES if t not in present]:
        if needs is not None and t in needs:
            problems.append(Problem(t, "*", NEEDED_TABLE, 0, severity="warning"))
        elif t in OPTIONAL_TABLES:
            problems.append(Problem(t, "*", "optional table present (analyses that need it are skipped)", 0,
                                    severity="warning"))
        elif needs is None:
            problems.append(Problem(t, "*", "required table present", 0))
        else:
            problems.append(Problem(t, "*", UNNEEDED_TABLE, 0, severity="warning"))
    for t, cols in getattr(wh, "absent", {}).items():
        for c in cols:
            if SCHEMAS[t].columns[c].required:
                continue   # reported below as a missing required column
            problems.append(Problem(t, c, "optional column present (absent: read as empty, and analyses "
                                          "that use it leave it out or say why they cannot run)", 0,
                                    severity="warning"))
    structurally_ok = set()
    for t in [t for t in SCHEMAS if t in present]:
        try:
            rows[t] = wh.count(t)
            cols = wh.held(t)
            missing = [c for c, col in SCHEMAS[t].columns.items() if col.required and c not in cols]
            for c in missing:
                rule, severity = "required column present", "error"
                if needs is not None:   # the notebooks that need it are not run; the rest of the table is checked
                    rule = NEEDED_COLUMN if c in needs.get(t, ()) else UNNEEDED_COLUMN
                    severity = "warning"
                found = {"columns found": [", ".join(cols)]}
                if needs is not None:   # the notebooks that run read it as empty, or as a stated default
                    found["read as"] = [LACKING_DEFAULTS.get((t, c), READ_AS_EMPTY)]
                problems.append(Problem(t, c, rule, 0, pd.DataFrame(found), severity=severity))
            if rows[t] == 0:
                # an optional table may be empty (no surveys, no complaints this year): the sections that read
                # it say why they are not estimable; a core table the profile reads may not
                needed = t in REQUIRED_TABLES and (needs is None or t in needs)
                problems.append(Problem(t, "*", "table not empty", 0, severity="error" if needed else "warning"))
                continue
            found = _column_rules(wh, t, cols, batch_rows, precheck)
        except duckdb.Error as e:
            raise SourceError(f"{t}.*: table in source {wh.source} cannot be read to the end (rule 'readable'): "
                              f"{_first_line(e)}; re-export the file") from None
        problems.extend(found)
        if not any(p.rule.startswith("type ") for p in found):
            structurally_ok.add(t)
    duplicate_rows: dict[str, int] = {}
    rule_counts: dict[str, int] = {}
    problems.extend(_relational_rules(wh, structurally_ok, today, duplicate_rows, rule_counts))
    report = ValidationReport(wh.source, problems, rows, duplicate_rows, rule_counts)
    logger.info("validated %s: %d error(s), %d warning(s)", wh.source, len(report.errors), len(report.warnings))
    return report


def _schema_for(table: str, cols: dict) -> pa.DataFrameSchema:
    schema = SCHEMAS[table]
    if table == "surveys":
        extra = {c: _int(1, 5, nullable=True) for c in cols if c.startswith(ATTRIBUTE_PREFIX)}
        schema = schema.add_columns(extra)
    gone = [c for c in schema.columns if c not in cols]
    if gone:  # a required column the source lacks (reported apart): check the others, and the rules among them
        schema = schema.remove_columns(gone)
        schema.checks = [ch for ch in schema.checks if not set(_rule_columns(str(ch.name))) & set(gone)]
    return schema


# DuckDB types whose every value converts to the contract's pandas dtype (pandera's coercion cannot fail)
_EXACT_TYPES = {
    "float64": ("DOUBLE", "FLOAT", "REAL", "DECIMAL", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT",
                "USMALLINT", "UINTEGER"),
    "Int64": ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"),
    "boolean": ("BOOLEAN",),
    "datetime64[ns]": ("DATE", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"),
    "str": ("VARCHAR",),
}
_ORDER_RULE = re.compile(r"(\w+) >= (\w+)")


def _sql_clean(wh: Warehouse, table: str, cols: dict, schema: pa.DataFrameSchema) -> bool:
    """Whether one DuckDB scan shows that no row of ``table`` can break a per-column rule of ``schema``.

    True only when every rule is written here in SQL and no row breaks any of them: then pandera's pass
    would report nothing and is skipped. False when a row may break a rule (a null where none is allowed,
    a value outside its set or range, dates out of order or beyond pandas' nanosecond range, NaN) or when
    a column's type or a rule is one this scan does not cover: the pandera pass then decides, so the
    report never depends on this check.
    """
    conds = []
    for name, col in schema.columns.items():
        if name not in cols:
            continue
        dtype, base = str(col.dtype), cols[name].upper().split("(")[0]
        if base not in _EXACT_TYPES.get(dtype, ()):
            return False                       # a coercion that could fail: pandera's to judge
        q = _q(name)
        if not col.nullable:
            conds.append(f"{q} IS NULL" + (f" OR isnan({q})" if dtype == "float64" else ""))
        elif dtype == "float64":
            conds.append(f"isnan({q})")       # NaN is null to pandas but not to SQL: let pandera judge
        if dtype == "datetime64[ns]":
            conds.append(f"{q} < TIMESTAMP '1677-09-22' OR {q} > TIMESTAMP '2262-04-11'")
        for check in col.checks:
            st = check.statistics or {}
            if set(st) == {"allowed_values"}:
                conds.append(f"{q} NOT IN ({lits(st['allowed_values'])})")
            elif set(st) == {"min_value", "max_value", "include_min", "include_max"} and \
                    st["include_min"] and st["include_max"]:
                conds.append(f"{q} < {lit(st['min_value'])} OR {q} > {lit(st['max_value'])}")
            elif set(st) == {"min_value"} and str(check.name).startswith(">="):
                conds.append(f"{q} < {lit(st['min_value'])}")
            else:
                return False
    for check in schema.checks:                # the within-row date orders
        m = _ORDER_RULE.fullmatch(str(check.name))
        if not m or not set(m.groups()) <= set(cols):
            return False
        conds.append(f"{_q(m.group(1))} < {_q(m.group(2))}")
    # every value of every column is read (a hash of each), as the pandera pass would: a page that cannot be
    # decoded fails here, and DuckDB cannot answer the scan from a file's statistics alone
    where = " OR ".join(f"({c})" for c in conds) or "false"
    reads = ", ".join(f"bit_xor(hash({_q(c)}))" for c in schema.columns if c in cols)
    return wh.con.execute(f"SELECT count(*) FILTER (WHERE {where}), {reads} FROM {_q(table)}").fetchall()[0][0] == 0


def _column_rules(wh: Warehouse, table: str, cols: dict, batch_rows: int, precheck: bool = True) -> list[Problem]:
    schema = _schema_for(table, cols)
    names = [c for c in schema.columns if c in cols]
    key = KEYS[table]
    # Dates held as text are checked against DuckDB's own cast (what later SQL uses), then
    # handed to pandera already cast, so pandas' more lenient date parsing never decides.
    text_dates = [c for c in names if str(schema.columns[c].dtype) == "datetime64[ns]"
                  and not cols[c].startswith(("DATE", "TIMESTAMP"))]
    out = [p for c in text_dates if (p := _text_date_problem(wh, table, c)) is not None]
    if precheck and not text_dates and _sql_clean(wh, table, cols, schema):
        return out
    select = ", ".join(f"TRY_CAST(nullif(trim(CAST({_q(c)} AS VARCHAR)), '') AS TIMESTAMP) AS {_q(c)}"
                       if c in text_dates else _q(c) for c in names)
    acc: dict[tuple[str, str], list] = {}
    reader = wh.con.execute(f"SELECT {select} FROM {_q(table)}")
    while True:
        batch = reader.fetch_df_chunk(max(1, batch_rows // 2048))
        if batch is None or len(batch) == 0:
            break
        try:
            with warnings.catch_warnings():  # pandera's own pandas deprecation noise
                warnings.simplefilter("ignore", FutureWarning)
                schema.validate(batch, lazy=True)
        except SchemaErrors as err:
            for (col, rule), (idx, failures) in _failures(err.failure_cases, table, batch, schema).items():
                shown = [c for c in dict.fromkeys(key + [col] + _rule_columns(rule)) if c in batch]
                ex = batch.loc[batch.index.isin(idx), shown] if len(idx) else \
                    pd.DataFrame({"failure": [str(f) for f in failures[:MAX_EXAMPLES]]})
                entry = acc.setdefault((col, rule), [0, []])
                entry[0] += len(idx) or len(failures)
                entry[1].append(ex.head(MAX_EXAMPLES))
    bad_type = {p.column for p in out} | {col for col, rule in acc if rule.startswith("type ")}
    for (col, rule), (count, exs) in acc.items():
        if not rule.startswith("type ") and bad_type & {col, *_rule_columns(rule)}:
            continue  # a follow-on failure of values that are not of their column's type
        out.append(Problem(table, col if col in cols else "*", rule, count, pd.concat(exs).head(MAX_EXAMPLES)))
    return out


def _text_date_problem(wh: Warehouse, table: str, column: str) -> Problem | None:
    """Text in a date column that DuckDB cannot read as a date, or None."""
    raw = f"nullif(trim(CAST({_q(column)} AS VARCHAR)), '')"
    where = f"FROM {_q(table)} WHERE {raw} IS NOT NULL AND TRY_CAST({raw} AS TIMESTAMP) IS NULL"
    n = wh.con.execute(f"SELECT count(*) {where}").fetchall()[0][0]
    if not n:
        return None
    held = wh.held(table)
    keys = ", ".join(_q(k) for k in dict.fromkeys(KEYS[table] + [column]) if k in held)
    ex = wh.con.execute(f"SELECT {keys} {where} ORDER BY {keys} LIMIT {MAX_EXAMPLES}").df()
    return Problem(table, column, TYPE_RULES["datetime64[ns]"], int(n), ex)


def _failures(fc: pd.DataFrame, table: str, batch: pd.DataFrame,
              schema: pa.DataFrameSchema) -> dict[tuple[str, str], tuple[list, list]]:
    """pandera failure cases as (column, rule) -> (row labels in ``batch``, failure values).

    A table-wide date-order check is reported once, on its later column, not once per
    column of the table; pandera's repeat of a failed coercion as a dtype check merges
    into the same type rule.
    """
    fc = fc.copy()
    fc["check"] = fc["check"].astype(str)
    wide = fc["schema_context"].eq("DataFrameSchema") & fc["check"].str.contains(" >= ", regex=False)
    fc.loc[wide, "column"] = fc.loc[wide, "check"].str.split(" >= ").str[0]
    out: dict[tuple[str, str], tuple[list, list]] = {}
    for (col, check), grp in fc.groupby(["column", "check"], dropna=False, sort=False):
        col = "*" if pd.isna(col) or col == table else str(col)
        rule = _rule_name(check)
        idx = pd.to_numeric(grp["index"], errors="coerce").dropna().astype(int).tolist()
        if not idx and rule.startswith("type ") and col in batch:
            idx = batch.index[_not_of_type(batch[col], str(schema.columns[col].dtype))].tolist()
        old_idx, old_fail = out.get((col, rule), ([], []))
        out[(col, rule)] = (sorted(set(old_idx) | set(idx)),
                            old_fail or grp["failure_case"].dropna().tolist())
    return out


def _not_of_type(s: pd.Series, dtype: str) -> pd.Series:
    """Values pandera could not coerce as a whole column (e.g. 4.5 in an integer column)."""
    if dtype not in ("float64", "Int64"):
        return pd.Series(False, index=s.index)
    num = pd.to_numeric(s, errors="coerce")
    bad = s.notna() & num.isna()
    return bad | (num.notna() & (num % 1 != 0)) if dtype == "Int64" else bad


def _rule_columns(rule: str) -> list[str]:
    return [c.strip() for c in rule.split(">=")] if " >= " in rule and not rule.startswith(">=") else []


def _rule_name(check: str) -> str:
    if check.startswith(("coerce_dtype", "dtype(")):
        dtype = check.split("'")[1] if "'" in check else ""
        return TYPE_RULES.get(dtype, f"type {dtype}".strip())
    if check == "not_nullable":
        return "not null"
    if check.startswith("column_in_dataframe"):
        return "required column present"
    return check


def _relational_rules(wh: Warehouse, ok: set, today: pd.Timestamp,
                      duplicate_rows: dict | None = None, rule_counts: dict | None = None) -> list[Problem]:
    """The rules across rows and tables; ``duplicate_rows`` (given) gets each checked key's duplicate rows and
    ``rule_counts`` each checked rule's broken rows (``rule_key``)."""
    out: list[Problem] = []
    duplicate_rows = {} if duplicate_rows is None else duplicate_rows
    rule_counts = {} if rule_counts is None else rule_counts
    con = wh.con

    def probe(table, column, rule, where_sql, select_sql, severity="error"):
        try:
            n = con.execute(f"SELECT count(*) FROM ({where_sql})").fetchall()[0][0]
            ex = con.execute(f"{select_sql} LIMIT {MAX_EXAMPLES}").df() if n else None
        except duckdb.Error as e:  # e.g. a value DuckDB cannot convert: say so, do not crash
            logger.debug("rule %r on %s.%s not checked", rule, table, column, exc_info=True)
            out.append(Problem(table, column, f"{rule} (could not be checked)", 0,
                               pd.DataFrame({"reason": [_first_line(e)]})))
            return
        rule_counts[rule_key(table, column, rule)] = int(n)
        if n:
            out.append(Problem(table, column, rule, int(n), ex, severity))

    def unique(table, key):
        """Keys held more than once and the rows beyond each key's first, checked in hash parts when one
        aggregate does not fit in memory (``in_hash_parts``): the counts and the first examples (in key order)
        are the ones the one query gives."""
        dup = f"SELECT count(*) AS c FROM {_q(table)}{{where}} GROUP BY {key} HAVING count(*) > 1"
        ex = f"SELECT {key}, count(*) AS copies FROM {_q(table)}{{where}} GROUP BY {key} HAVING count(*) > 1 " \
             f"ORDER BY {key} LIMIT {MAX_EXAMPLES}"

        def part(where):
            k, extra = con.execute(f"SELECT count(*), coalesce(sum(c - 1), 0) FROM ({dup.format(where=where)})"
                                   ).fetchall()[0]
            return k, extra, (con.execute(ex.format(where=where)).df() if k else None)

        parts = in_hash_parts(con, table, key, part)
        n, extra = sum(k for k, _, _ in parts), sum(int(e) for _, e, _ in parts)
        if not n:
            return 0, 0, None
        frames = [f for _, _, f in parts if f is not None]
        if len(frames) == 1:
            return n, extra, frames[0]
        return n, extra, pd.concat(frames).sort_values(KEYS[table]).head(MAX_EXAMPLES).reset_index(drop=True)

    have = {t: set(wh.held(t)) for t in ok}   # a required column the source lacks has no rule to check
    for t in ok:
        key = ", ".join(_q(c) for c in KEYS[t])
        if set(KEYS[t]) <= have[t]:
            try:
                n, duplicate_rows[t], ex = unique(t, key)
            except duckdb.Error as e:
                logger.debug("unique key of %s not checked", t, exc_info=True)
                out.append(Problem(t, "+".join(KEYS[t]), "unique key (could not be checked)", 0,
                                   pd.DataFrame({"reason": [_first_line(e)]})))
            else:
                if n:
                    out.append(Problem(t, "+".join(KEYS[t]), "unique key", int(n), ex))
        for c in [c for c in DATE_COLUMNS.get(t, []) if c in have[t]]:
            w = f"SELECT * FROM {_q(t)} WHERE CAST({_q(c)} AS DATE) > DATE '{today.date()}'"
            keys = ", ".join(_q(k) for k in KEYS[t] if k in have[t]) or _q(c)
            probe(t, c, f"not in the future (after {today.date()})", w,
                  f"SELECT {keys}, {_q(c)} FROM {_q(t)} WHERE CAST({_q(c)} AS DATE) > DATE '{today.date()}' ORDER BY {_q(c)} DESC")
    for t, c, parent, pc in FOREIGN_KEYS:
        if t in ok and parent in ok and c in have[t] and pc in have[parent]:
            # keys compare as text (their contract type), so an integer key column cannot crash the join
            on = f"CAST(c.{_q(c)} AS VARCHAR) = CAST(p.{_q(pc)} AS VARCHAR)"
            w = f"SELECT c.* FROM {_q(t)} c ANTI JOIN {_q(parent)} p ON {on}"
            keys = ", ".join("c." + _q(k) for k in dict.fromkeys(KEYS[t] + [c]) if k in have[t])
            probe(t, c, f"exists in {parent}.{pc}", w,
                  f"SELECT {keys} FROM {_q(t)} c ANTI JOIN {_q(parent)} p ON {on} ORDER BY {keys}")
    if "customers" in ok:
        for t, c in AFTER_ONBOARDING:
            if t not in ok or c not in have[t] or not {"customer_id", "onboard_date"} <= have["customers"] \
                    or "customer_id" not in have[t]:
                continue
            cond = (f"FROM {_q(t)} x JOIN customers k "
                    "ON CAST(x.customer_id AS VARCHAR) = CAST(k.customer_id AS VARCHAR) "
                    f"WHERE CAST(x.{_q(c)} AS DATE) < CAST(k.onboard_date AS DATE)")
            keys = ", ".join("x." + _q(k) for k in KEYS[t] if k in have[t]) or "x.customer_id"
            probe(t, c, "on or after customers.onboard_date", f"SELECT 1 {cond}",
                  f"SELECT {keys}, x.customer_id, x.{_q(c)}, k.onboard_date {cond} ORDER BY {keys}",
                  severity="warning" if t == "accounts" else "error")
    return out
