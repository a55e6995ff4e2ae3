"""Column contracts of the canonical tables, and the door that enforces them.

Per-column rules (type, nulls, allowed values, ranges, within-row date order) are
pandera schemas, run on each table in batches streamed out of DuckDB so memory stays
bounded. Relational rules (unique keys, foreign keys, cross-table date order, future
dates, empty tables) are SQL run inside DuckDB. Every broken rule becomes one
``Problem`` naming table, column, rule, count and up to five example rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from crm_lib.data.store import Warehouse, _q
from crm_lib.errors import DataContractError

logger = logging.getLogger(__name__)

CHANNELS = ["branch", "mobile", "online", "atm", "phone"]
RATINGS = ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C", "D", "NR"]
BATCH_ROWS = 2_000_000
MAX_EXAMPLES = 5

REQUIRED_TABLES = ("customers", "accounts", "balances", "transactions")
OPTIONAL_TABLES = ("complaints", "surveys", "campaigns", "campaign_contacts")

PII_COLUMNS = ("full_name", "phone", "email", "national_id")


def _str(**kw) -> pa.Column:
    return pa.Column(str, coerce=True, **kw)


def _cat(values, nullable=False, **kw) -> pa.Column:
    return pa.Column(str, pa.Check.isin(values, name=f"one of {sorted(values)}"), nullable=nullable, coerce=True, **kw)


def _num(lo=None, hi=None, nullable=False, **kw) -> pa.Column:
    checks = []
    if lo is not None and hi is not None:
        checks.append(pa.Check.in_range(lo, hi, name=f"between {lo} and {hi}"))
    elif lo is not None:
        checks.append(pa.Check.ge(lo, name=f">= {lo}"))
    return pa.Column(float, checks, nullable=nullable, coerce=True, **kw)


def _int(lo, hi, nullable=False, **kw) -> pa.Column:
    return pa.Column("Int64", pa.Check.in_range(lo, hi, name=f"integer {lo}-{hi}"),
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
            ex = self.examples.head(MAX_EXAMPLES).to_string(index=False)
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


def validate(wh: Warehouse, today: pd.Timestamp | None = None, batch_rows: int = BATCH_ROWS) -> ValidationReport:
    """Check every canonical table of ``wh`` against its contract.

    Parameters
    ----------
    wh : Warehouse
    today : Timestamp, optional
        Dates after this day are 'future dates'; default the current date.
    batch_rows : int
        Rows per batch for the per-column checks (bounded memory).

    Returns
    -------
    ValidationReport
        Never raises for bad data: call ``raise_for_errors()`` to stop at the door.
    """
    today = pd.Timestamp(today or pd.Timestamp.today()).normalize()
    problems: list[Problem] = []
    present = set(wh.tables())
    rows = {}
    for t in REQUIRED_TABLES:
        if t not in present:
            problems.append(Problem(t, "*", "required table present", 0))
    for t in OPTIONAL_TABLES:
        if t not in present:
            problems.append(Problem(t, "*", "optional table present (analyses that need it are skipped)", 0,
                                    severity="warning"))
    structurally_ok = set()
    for t in [t for t in SCHEMAS if t in present]:
        rows[t] = wh.count(t)
        cols = wh.columns(t)
        missing = [c for c, col in SCHEMAS[t].columns.items() if col.required and c not in cols]
        for c in missing:
            problems.append(Problem(t, c, "required column present", 0,
                                    pd.DataFrame({"columns found": [", ".join(cols)]})))
        if missing:
            continue
        if rows[t] == 0:
            problems.append(Problem(t, "*", "table not empty", 0,
                                    severity="error" if t in REQUIRED_TABLES else "warning"))
            continue
        found = _column_rules(wh, t, cols, batch_rows)
        problems.extend(found)
        if not any(p.rule.startswith("type ") for p in found):
            structurally_ok.add(t)
    problems.extend(_relational_rules(wh, structurally_ok, today))
    report = ValidationReport(wh.source, problems, rows)
    logger.info("validated %s: %d error(s), %d warning(s)", wh.source, len(report.errors), len(report.warnings))
    return report


def _schema_for(table: str, cols: dict) -> pa.DataFrameSchema:
    schema = SCHEMAS[table]
    if table == "surveys":
        extra = {c: _int(1, 5, nullable=True) for c in cols if c.startswith(ATTRIBUTE_PREFIX)}
        schema = schema.add_columns(extra)
    return schema


def _column_rules(wh: Warehouse, table: str, cols: dict, batch_rows: int) -> list[Problem]:
    schema = _schema_for(table, cols)
    names = [c for c in schema.columns if c in cols]
    key = KEYS[table]
    acc: dict[tuple[str, str], list] = {}
    reader = wh.con.execute(f"SELECT {', '.join(_q(c) for c in names)} FROM {_q(table)}")
    while True:
        batch = reader.fetch_df_chunk(max(1, batch_rows // 2048))
        if batch is None or len(batch) == 0:
            break
        try:
            schema.validate(batch, lazy=True)
        except SchemaErrors as err:
            fc = err.failure_cases
            for (col, check), grp in fc.groupby(["column", "check"], dropna=False, sort=False):
                col = table if pd.isna(col) or col == table else col
                rule = _rule_name(str(check), col)
                idx = pd.to_numeric(grp["index"], errors="coerce").dropna().astype(int).unique()
                shown = [c for c in dict.fromkeys(key + ([col] if col in batch else []) +
                                                  ([c.strip() for c in rule.split(">=")] if ">=" in rule else []))
                         if c in batch]
                ex = batch.loc[batch.index.isin(idx), shown].head(MAX_EXAMPLES) if len(idx) else \
                    pd.DataFrame({"failure": grp["failure_case"].astype(str).head(MAX_EXAMPLES)})
                entry = acc.setdefault((col, rule), [0, []])
                entry[0] += max(len(idx), len(grp)) if len(idx) == 0 else len(idx)
                entry[1].append(ex)
    out = []
    for (col, rule), (count, exs) in acc.items():
        column = col if col in cols else (rule.split(" >= ")[0] if " >= " in rule else "*")
        out.append(Problem(table, column, rule, count, pd.concat(exs).head(MAX_EXAMPLES)))
    return out


def _rule_name(check: str, col: str) -> str:
    if check.startswith("coerce_dtype"):
        return "type " + check.split("'")[1] if "'" in check else "type"
    if check == "not_nullable":
        return "not null"
    if check.startswith("column_in_dataframe"):
        return "required column present"
    return check


def _relational_rules(wh: Warehouse, ok: set, today: pd.Timestamp) -> list[Problem]:
    out: list[Problem] = []
    con = wh.con

    def probe(table, column, rule, where_sql, select_sql, severity="error"):
        n = con.execute(f"SELECT count(*) FROM ({where_sql})").fetchone()[0]
        if n:
            ex = con.execute(f"{select_sql} LIMIT {MAX_EXAMPLES}").df()
            out.append(Problem(table, column, rule, int(n), ex, severity))

    for t in ok:
        key = ", ".join(_q(c) for c in KEYS[t])
        dup = f"SELECT {key} FROM {_q(t)} GROUP BY {key} HAVING count(*) > 1"
        probe(t, "+".join(KEYS[t]), "unique key", dup,
              f"SELECT {key}, count(*) AS copies FROM {_q(t)} GROUP BY {key} HAVING count(*) > 1 ORDER BY {key}")
        for c in DATE_COLUMNS.get(t, []):
            w = f"SELECT * FROM {_q(t)} WHERE CAST({_q(c)} AS DATE) > DATE '{today.date()}'"
            keys = ", ".join(_q(k) for k in KEYS[t])
            probe(t, c, f"not in the future (after {today.date()})", w,
                  f"SELECT {keys}, {_q(c)} FROM {_q(t)} WHERE CAST({_q(c)} AS DATE) > DATE '{today.date()}' ORDER BY {_q(c)} DESC")
    for t, c, parent, pc in FOREIGN_KEYS:
        if t in ok and parent in ok:
            w = (f"SELECT c.* FROM {_q(t)} c ANTI JOIN {_q(parent)} p ON c.{_q(c)} = p.{_q(pc)}")
            keys = ", ".join("c." + _q(k) for k in dict.fromkeys(KEYS[t] + [c]))
            probe(t, c, f"exists in {parent}.{pc}", w,
                  f"SELECT {keys} FROM {_q(t)} c ANTI JOIN {_q(parent)} p ON c.{_q(c)} = p.{_q(pc)} ORDER BY {keys}")
    if "customers" in ok:
        for t, c in AFTER_ONBOARDING:
            if t not in ok:
                continue
            cond = (f"FROM {_q(t)} x JOIN customers k USING (customer_id) "
                    f"WHERE CAST(x.{_q(c)} AS DATE) < k.onboard_date")
            keys = ", ".join("x." + _q(k) for k in KEYS[t])
            probe(t, c, "on or after customers.onboard_date", f"SELECT 1 {cond}",
                  f"SELECT {keys}, x.customer_id, x.{_q(c)}, k.onboard_date {cond} ORDER BY {keys}",
                  severity="warning" if t == "accounts" else "error")
    return out
