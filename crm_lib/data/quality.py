"""Customer-information quality scorecard: how complete, valid, unique, fresh and consistent the source is.

The supervisory manuals' "customer information management" asks a bank to keep customer data
complete, accurate, timely and consistent, and to hold no more personal data than it needs.
This module measures each of those on the canonical tables of a ``Warehouse`` (after any
mapping), entirely in DuckDB SQL; every value from the contract (codes, bounds, dates) is a
bound parameter and every name a quoted identifier, so nothing from data or configuration is
pasted into a query.

Dimensions (each a share 0-1, higher is better):

- **completeness**: cells that hold a value (not NULL, not blank text), per table and column;
- **validity**: non-empty values that keep the contract (type, code set, range, whole numbers);
- **uniqueness**: rows whose key (``schema.KEYS``) no other row shares;
- **timeliness**: tables whose latest record is within ``stale_days`` of the source's end;
- **consistency**: rows that keep the cross-table rules (no orphans: ``schema.FOREIGN_KEYS``)
  and date order (within a row, and events on or after the customer's onboarding).

Breakdowns: completeness by branch (``customers.branch_id``) and by period of each table's
main date (the trend), and the personal fields the source holds that no analysis uses
(candidates to stop extracting: the manuals' "minimum necessary data").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from crm_lib import kpis
from crm_lib.fmt import N_, _
from crm_lib.data.schema import (AFTER_ONBOARDING, DATE_COLUMNS, FOREIGN_KEYS, KEYS, PII_COLUMNS, SCHEMAS,
                                 distinct_keys, rule_key, sql_type)
from crm_lib.data.sqlsafe import ident
from crm_lib.data.store import Warehouse

logger = logging.getLogger(__name__)

INTEGER_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER")
NUMERIC_TYPES = ("DOUBLE", "FLOAT") + INTEGER_TYPES
DIMENSIONS = ("completeness", "validity", "uniqueness", "timeliness", "consistency")
PERIOD_FREQS = {"M": "month", "Q": "quarter", "Y": "year"}
# Tables a bank adds to every day or month; campaigns come in bursts, so a quiet quarter is not stale data.
CONTINUOUS_TABLES = ("customers", "accounts", "balances", "transactions", "complaints", "surveys")
# Why a personal field is listed by ``unused_personal_fields`` (the page shows it in the run's language).
REASON_IDENTIFIER = N_("direct identifier: dropped before any notebook (crm_lib.data.privacy); no analysis uses it")
REASON_OUTSIDE = N_("not in the customers contract: no analysis reads it")
# Headers and words of the scorecard's tables as a page shows them (``for_display``); the frames
# themselves keep these English names, which the code and the facts use.
DISPLAY_COLUMNS = {"dimension": N_("dimension"), "score": N_("score"), "unit": N_("unit"), "table": N_("table"),
                   "column": N_("column"), "not_null": N_("required"), "rows": N_("rows"), "filled": N_("filled"),
                   "completeness": N_("completeness"), "reason": N_("reason"), "branch": N_("branch")}
DISPLAY_WORDS = (N_("completeness"), N_("validity"), N_("uniqueness"), N_("timeliness"), N_("consistency"),
                 N_("cells"), N_("values"), N_("rows"), N_("tables"))


def _filled(col: str, types: dict | None = None) -> str:
    """SQL: the column's value, NULL when missing; text is trimmed and blank text is missing.

    With ``types`` (column -> DuckDB type) a typed column is read as it is (it cannot hold blank text).
    """
    if types is not None and types.get(col, "VARCHAR") != "VARCHAR":
        return ident(col)
    return f"nullif(trim(CAST({ident(col)} AS VARCHAR)), '')"


def _as(col: str, want: str, types: dict) -> str:
    """SQL: the column as DuckDB type ``want`` (NULL where text does not cast)."""
    have = types.get(col, "VARCHAR")
    if have == want or (want == "TIMESTAMP" and have.startswith(("TIMESTAMP", "DATE"))) or \
            (want == "DOUBLE" and have in NUMERIC_TYPES):
        return f"CAST({ident(col)} AS {want})"
    return f"TRY_CAST({_filled(col)} AS {want})"


def _contract_columns(wh: Warehouse, table: str) -> list[str]:
    """Contract columns of ``table`` the source holds (read from the source, not filled in as absent)."""
    cols = wh.columns(table)
    absent = set(getattr(wh, "absent", {}).get(table, []))
    return [c for c in SCHEMAS[table].columns if c in cols and c not in absent and c not in PII_COLUMNS]


def _fill_counts(wh: Warehouse, table: str, freq: str = "Q") -> pd.DataFrame | None:
    """Rows and filled cells of each contract column of ``table``, by period of its main date (``schema.DATE_COLUMNS``,
    first column; ``period`` NaT for rows whose date is missing or does not read): one scan serves both
    ``completeness`` (summed over periods) and ``trend``. None for a table without a date or contract column."""
    date_cols = [c for c in DATE_COLUMNS.get(table, []) if c in wh.held(table)]
    cols = _contract_columns(wh, table)
    if not date_cols or not cols:
        return None
    types = wh.columns(table)
    d = f"date_trunc(?, {_as(date_cols[0], 'TIMESTAMP', types)})"
    sel = ", ".join(f"count({_filled(c, types)}) AS f{i}" for i, c in enumerate(cols))
    df = wh.con.execute(f"SELECT {d} AS period, count(*) AS rows, {sel} FROM {ident(table)} GROUP BY 1 ORDER BY 1",
                        [PERIOD_FREQS[freq]]).df()
    return df.rename(columns={f"f{i}": c for i, c in enumerate(cols)})


def completeness(wh: Warehouse, fill_counts: dict | None = None) -> pd.DataFrame:
    """Filled cells per table and contract column held by the source.

    ``fill_counts`` (table -> ``_fill_counts``' frame), given, are summed instead of scanning those tables again.

    Returns
    -------
    DataFrame
        ``table``, ``column``, ``not_null`` (the contract forbids NULL: a value is required), ``rows``, ``filled``
        (rows with a value), ``completeness`` (filled / rows, proportion 0-1; NaN for an empty table).
    """
    out = []
    for t in wh.tables():
        cols, types = _contract_columns(wh, t), wh.columns(t)
        if not cols:
            continue
        by = (fill_counts or {}).get(t)
        if by is not None:
            n, filled = int(by["rows"].sum()), [int(by[c].sum()) for c in cols]
        else:
            sel = ", ".join(["count(*)"] + [f"count({_filled(c, types)})" for c in cols])
            n, *filled = wh.con.execute(f"SELECT {sel} FROM {ident(t)}").fetchall()[0]
        for c, f in zip(cols, filled):
            out.append({"table": t, "column": c, "not_null": not SCHEMAS[t].columns[c].nullable,
                        "rows": int(n), "filled": int(f), "completeness": f / n if n else float("nan")})
    return pd.DataFrame(out, columns=["table", "column", "not_null", "rows", "filled", "completeness"])


def _rules(wh: Warehouse, table: str, col: str, types: dict) -> list[tuple[str, str, list]]:
    """(rule name, SQL condition true for an invalid non-empty value, bound parameters) for one column."""
    spec = SCHEMAS[table].columns[col]
    want = sql_type(spec)
    v = _filled(col)
    have = types.get(col, "VARCHAR")
    # the source already holds a value of the contract's kind: no text to parse
    typed = want != "VARCHAR" and (have == want or (want in ("DOUBLE", "BIGINT") and have in NUMERIC_TYPES)
                                   or (want == "TIMESTAMP" and have.startswith(("TIMESTAMP", "DATE"))))
    out = []
    if want != "VARCHAR" and not typed:
        out.append((f"type {want.lower()}", f"TRY_CAST({v} AS {'DOUBLE' if want == 'BIGINT' else want}) IS NULL", []))
    if want == "BIGINT" and have not in INTEGER_TYPES:
        out.append(("whole number", f"{_as(col, 'DOUBLE', types)} % 1 <> 0", []))
    for check in spec.checks:
        st = check.statistics or {}
        if "allowed_values" in st:
            out.append((check.name, f"NOT list_contains(CAST(? AS VARCHAR[]), {v})",
                        [[str(x) for x in st["allowed_values"]]]))
        else:
            num = _as(col, "DOUBLE", types)
            if st.get("min_value") is not None:
                out.append((check.name, f"{num} < ?", [float(st["min_value"])]))
            if st.get("max_value") is not None:
                out.append((check.name, f"{num} > ?", [float(st["max_value"])]))
    return out


def validity(wh: Warehouse) -> pd.DataFrame:
    """Non-empty values that keep their column's contract (type, codes, range, whole numbers).

    Returns
    -------
    DataFrame
        ``table``, ``column``, ``rules`` (the rules checked, '; '-joined), ``checked``
        (non-empty values), ``invalid`` (values breaking at least one rule), ``validity``
        (1 - invalid / checked, proportion 0-1; NaN when nothing was checked). Columns with
        no rule beyond text are left out.
    """
    out = []
    for t in wh.tables():   # one scan per table: two counts per column with rules
        sel, params, meta, types = [], [], [], wh.columns(t)
        for c in _contract_columns(wh, t):
            rules = _rules(wh, t, c, types)
            if not rules:
                continue
            cond = " OR ".join(f"({sql})" for _, sql, _ in rules)
            v = _filled(c, types)
            sel += [f"count({v})", f"count(*) FILTER (WHERE {v} IS NOT NULL AND coalesce({cond}, false))"]
            params += [p for _, _, ps in rules for p in ps]
            meta.append((c, "; ".join(dict.fromkeys(r for r, _, _ in rules))))
        if not meta:
            continue
        counts = wh.con.execute(f"SELECT {', '.join(sel)} FROM {ident(t)}", params).fetchall()[0]
        for (c, rules), checked, bad in zip(meta, counts[0::2], counts[1::2]):
            out.append({"table": t, "column": c, "rules": rules, "checked": int(checked), "invalid": int(bad),
                        "validity": 1 - bad / checked if checked else float("nan")})
    return pd.DataFrame(out, columns=["table", "column", "rules", "checked", "invalid", "validity"])


def uniqueness(wh: Warehouse, duplicate_rows: dict | None = None) -> pd.DataFrame:
    """Rows whose key no other row shares.

    Parameters
    ----------
    duplicate_rows : dict, optional
        Table -> rows beyond the first of each key, as the door counted them on this source
        (``ValidationReport.duplicate_rows``; ``door.json``'s ``duplicate_rows``). A table it names is not
        counted again: at 10M customers, counting 455M transaction ids takes minutes.

    Returns
    -------
    DataFrame
        ``table``, ``key`` ('+'-joined columns), ``rows``, ``duplicates`` (rows beyond the
        first of each key: rows - distinct keys), ``uniqueness`` (1 - duplicates / rows, 0-1).
    """
    out = []
    for t in wh.tables():
        keys = [k for k in KEYS[t] if k in wh.held(t)]
        if len(keys) != len(KEYS[t]):
            continue
        k = ", ".join(ident(x) for x in keys)
        n = wh.con.execute(f"SELECT count(*) FROM {ident(t)}").fetchall()[0][0]
        known = (duplicate_rows or {}).get(t)
        dup = int(known) if known is not None else int(n - distinct_keys(wh.con, t, k))
        out.append({"table": t, "key": "+".join(keys), "rows": int(n), "duplicates": dup,
                    "uniqueness": 1 - dup / n if n else float("nan")})
    return pd.DataFrame(out, columns=["table", "key", "rows", "duplicates", "uniqueness"])


def _latest(wh: Warehouse, table: str, not_after: pd.Timestamp | None) -> pd.Timestamp | None:
    cols = [c for c in DATE_COLUMNS.get(table, []) if c in wh.held(table)]
    if not cols:
        return None
    types = wh.columns(table)
    parts = [f"SELECT max({_as(c, 'TIMESTAMP', types)}) AS d FROM {ident(table)}"
             + (f" WHERE {_as(c, 'TIMESTAMP', types)} <= ?" if not_after is not None else "")
             for c in cols]
    params = [not_after.to_pydatetime()] * len(cols) if not_after is not None else []
    v = wh.con.execute(f"SELECT max(d) FROM ({' UNION ALL '.join(parts)})", params).fetchall()[0][0]
    return pd.Timestamp(v) if v is not None else None


def freshness(wh: Warehouse, as_of=None, stale_days: int = 31) -> pd.DataFrame:
    """How far each table's latest record lags the source's end.

    Parameters
    ----------
    as_of : date-like, optional
        The day the data should reach; default the latest date in any table (dates after
        today are ignored, so a typo in the future does not make every table look stale).
    stale_days : int
        A table of ``CONTINUOUS_TABLES`` whose latest record is more than this many days
        before ``as_of`` is stale (campaign tables are never called stale: campaigns come in bursts).

    Returns
    -------
    DataFrame
        ``table``, ``latest`` (timestamp of its latest dated record), ``as_of``, ``days_behind``
        (whole days), ``stale`` (bool). Tables without a date column are left out.
    """
    today = pd.Timestamp.today().normalize() + pd.Timedelta(days=1)
    cap = pd.Timestamp(as_of) + pd.Timedelta(days=1) if as_of is not None else today
    latest = {t: _latest(wh, t, cap) for t in wh.tables()}
    latest = {t: d for t, d in latest.items() if d is not None}
    end = pd.Timestamp(as_of) if as_of is not None else (max(latest.values()) if latest else None)
    out = []
    for t, d in latest.items():
        behind = int((end.normalize() - d.normalize()).days)
        out.append({"table": t, "latest": d, "as_of": end, "days_behind": behind,
                    "stale": t in CONTINUOUS_TABLES and behind > stale_days})
    return pd.DataFrame(out, columns=["table", "latest", "as_of", "days_behind", "stale"])


def _order_rules(table: str) -> list[tuple[str, str]]:
    """(later, earlier) date pairs the contract orders within a row of ``table``."""
    out = []
    for check in SCHEMAS[table].checks:
        if " >= " in str(check.name):
            later, earlier = (s.strip() for s in str(check.name).split(" >= "))
            out.append((later, earlier))
    return out


def consistency(wh: Warehouse, rule_counts: dict | None = None) -> pd.DataFrame:
    """Cross-table and date-order consistency: orphans, and dates out of order.

    ``rule_counts`` (``ValidationReport.rule_counts``: the door's counts on this source), given, supply the
    orphans of each foreign key the door checked instead of a second anti-join (455M transactions at 10M).

    Returns
    -------
    DataFrame
        ``table``, ``column``, ``rule`` (``exists in <parent>.<column>``, ``<later> >= <earlier>``
        or ``on or after customers.onboard_date``), ``rows`` (rows the rule applies to),
        ``broken``, ``consistency`` (1 - broken / rows, proportion 0-1).
    """
    have = set(wh.tables())
    out = []

    def add(table, column, rule, q, params=()):
        rows, broken = wh.con.execute(q, list(params)).fetchall()[0]
        out.append({"table": table, "column": column, "rule": rule, "rows": int(rows), "broken": int(broken or 0),
                    "consistency": 1 - (broken or 0) / rows if rows else float("nan")})

    for t, c, parent, pc in FOREIGN_KEYS:
        if t in have and parent in have:
            rule = f"exists in {parent}.{pc}"
            known = (rule_counts or {}).get(rule_key(t, c, rule))
            if known is not None:   # the door's anti-join on the same source, keys compared as text alike
                add(t, c, rule, f"SELECT count(*), {int(known)} FROM {ident(t)}")
                continue
            on = f"CAST(x.{ident(c)} AS VARCHAR) = CAST(p.{ident(pc)} AS VARCHAR)"
            add(t, c, rule,
                f"SELECT (SELECT count(*) FROM {ident(t)}), "
                f"(SELECT count(*) FROM {ident(t)} x ANTI JOIN {ident(parent)} p ON {on})")
    for t in [t for t in SCHEMAS if t in have]:
        cols = wh.held(t)
        for later, earlier in _order_rules(t):
            if later in cols and earlier in cols:
                a, b = (_as(x, "TIMESTAMP", cols) for x in (later, earlier))
                add(t, later, f"{later} >= {earlier}",
                    f"SELECT count(*) FILTER (WHERE {a} IS NOT NULL AND {b} IS NOT NULL), "
                    f"count(*) FILTER (WHERE {a} < {b}) FROM {ident(t)}")
    if "customers" in have:
        for t, c in AFTER_ONBOARDING:
            if t in have and c in wh.held(t):
                a = f"TRY_CAST(nullif(trim(CAST(x.{ident(c)} AS VARCHAR)), '') AS DATE)"
                b = "TRY_CAST(nullif(trim(CAST(k.onboard_date AS VARCHAR)), '') AS DATE)"
                add(t, c, "on or after customers.onboard_date",
                    f"SELECT count(*), count(*) FILTER (WHERE {a} < {b}) FROM {ident(t)} x JOIN customers k "
                    "ON CAST(x.customer_id AS VARCHAR) = CAST(k.customer_id AS VARCHAR)")
    return pd.DataFrame(out, columns=["table", "column", "rule", "rows", "broken", "consistency"])


def by_branch(wh: Warehouse, by: str = "branch_id") -> pd.DataFrame:
    """Completeness of each customers column per branch (or any other customers column ``by``).

    Returns
    -------
    DataFrame
        ``branch`` (value of ``by``; '(none)' where it is empty), ``column``, ``customers``,
        ``filled``, ``completeness`` (proportion 0-1). Empty when customers lacks ``by``.
    """
    cols_out = ["branch", "column", "customers", "filled", "completeness"]
    if not wh.has("customers") or by not in wh.held("customers"):
        return pd.DataFrame(columns=cols_out)
    cols = [c for c in _contract_columns(wh, "customers") if c != by]
    types = wh.columns("customers")
    sel = ", ".join(f"count({_filled(c, types)}) AS {ident(c)}" for c in cols)
    wide = wh.con.execute(f"SELECT coalesce({_filled(by)}, ?) AS branch, count(*) AS customers, {sel} "
                          f"FROM customers GROUP BY 1 ORDER BY 1", ["(none)"]).df()
    long = wide.melt(id_vars=["branch", "customers"], value_vars=cols, var_name="column", value_name="filled")
    long["completeness"] = long["filled"] / long["customers"]
    return long[cols_out].sort_values(["branch", "column"], ignore_index=True)


def trend(wh: Warehouse, freq: str = "Q", fill_counts: dict | None = None) -> pd.DataFrame:
    """Completeness of each table by period of its main date (``schema.DATE_COLUMNS``, first column).

    Parameters
    ----------
    freq : {'M', 'Q', 'Y'}
        Period length.
    fill_counts : dict, optional
        Table -> ``_fill_counts(wh, table, freq)``, when already read (``scorecard`` reads them once).

    Returns
    -------
    DataFrame
        ``table``, ``period`` (first day of the period), ``rows``, ``cells``, ``filled``,
        ``completeness`` (filled cells / cells over the table's contract columns, 0-1).
    """
    out = []
    for t in wh.tables():
        by = fill_counts[t] if fill_counts is not None and t in fill_counts else _fill_counts(wh, t, freq)
        if by is None:
            continue
        cols = [c for c in by.columns if c not in ("period", "rows")]
        df = by[by["period"].notna()]
        df = pd.DataFrame({"table": t, "period": df["period"], "rows": df["rows"],
                           "filled": df[cols].sum(axis=1).astype("int64")}).reset_index(drop=True)
        df["cells"] = df["rows"] * len(cols)
        df["completeness"] = df["filled"] / df["cells"]
        out.append(df)
    cols_out = ["table", "period", "rows", "cells", "filled", "completeness"]
    return pd.concat(out, ignore_index=True)[cols_out] if out else pd.DataFrame(columns=cols_out)


def unused_personal_fields(wh: Warehouse) -> pd.DataFrame:
    """Personal fields the source holds that no analysis uses: candidates to stop extracting.

    Two kinds are listed for ``customers``: direct identifiers (``schema.PII_COLUMNS``: names,
    phones, e-mails, national ids), which ``crm_lib.data.privacy`` drops before any notebook
    sees the data; and columns outside the contract (e.g. a source's gender, ethnicity or
    marital status passed through a mapping), which no analysis reads.

    Returns
    -------
    DataFrame
        ``table``, ``column``, ``rows``, ``filled`` (rows holding a value), ``reason``. Only
        columns with at least one value are listed.
    """
    cols_out = ["table", "column", "rows", "filled", "reason"]
    if not wh.has("customers"):
        return pd.DataFrame(columns=cols_out)
    have = wh.columns("customers")
    absent = set(getattr(wh, "absent", {}).get("customers", []))
    cand = [(c, _(REASON_IDENTIFIER)) for c in PII_COLUMNS if c in have and c not in absent]
    cand += [(c, _(REASON_OUTSIDE)) for c in have if c not in SCHEMAS["customers"].columns]
    if not cand:
        return pd.DataFrame(columns=cols_out)
    sel = ", ".join(["count(*)"] + [f"count({_filled(c)})" for c, _ in cand])
    n, *filled = wh.con.execute(f"SELECT {sel} FROM customers").fetchall()[0]
    out = [{"table": "customers", "column": c, "rows": int(n), "filled": int(f), "reason": why}
           for (c, why), f in zip(cand, filled) if f]
    return pd.DataFrame(out, columns=cols_out)


@dataclass
class QualityScorecard:
    """Every measure of ``scorecard``; ``summary()`` rolls them up into one score per dimension."""

    completeness: pd.DataFrame
    validity: pd.DataFrame
    uniqueness: pd.DataFrame
    freshness: pd.DataFrame
    consistency: pd.DataFrame
    by_branch: pd.DataFrame
    trend: pd.DataFrame
    unused_personal_fields: pd.DataFrame
    stale_days: int = 31

    def summary(self) -> pd.DataFrame:
        """One row per dimension: ``dimension``, ``score`` (proportion 0-1), ``n`` (what it is a share of), ``unit``.

        completeness: filled cells / cells of contract columns that must not be NULL (others
        are empty by design for some customers, e.g. income for corporates); validity: valid
        / checked values; uniqueness: 1 - duplicate rows / rows; timeliness: tables not stale
        / continuous tables; consistency: 1 - broken / rows over all consistency rules.
        """
        req = self.completeness[self.completeness["not_null"]]
        n_cont = int(self.freshness["table"].isin(CONTINUOUS_TABLES).sum())
        rows = [
            ("completeness", _share(req["filled"].sum(), req["rows"].sum()), int(req["rows"].sum()), "cells"),
            ("validity", 1 - _share(self.validity["invalid"].sum(), self.validity["checked"].sum()),
             int(self.validity["checked"].sum()), "values"),
            ("uniqueness", 1 - _share(self.uniqueness["duplicates"].sum(), self.uniqueness["rows"].sum()),
             int(self.uniqueness["rows"].sum()), "rows"),
            ("timeliness", 1 - _share(self.freshness["stale"].sum(), n_cont), n_cont, "tables"),
            ("consistency", 1 - _share(self.consistency["broken"].sum(), self.consistency["rows"].sum()),
             int(self.consistency["rows"].sum()), "rows"),
        ]
        return pd.DataFrame(rows, columns=["dimension", "score", "n", "unit"])


def for_display(frame: pd.DataFrame) -> pd.DataFrame:
    """A table of the scorecard (``summary()``, ``completeness``, ``unused_personal_fields``, ...)
    as a page shows it: headers, dimensions and units in the run's language; table, column and
    branch names as the source spells them. English: the frame unchanged (a copy)."""
    out = frame.copy()
    for col in ("dimension", "unit"):
        if col in out.columns:
            out[col] = out[col].map(lambda v: _(v) if isinstance(v, str) and v else v)
    return out.rename(columns={k: _(v) for k, v in DISPLAY_COLUMNS.items() if k in out.columns})


def _share(num, den) -> float:
    return float(num) / float(den) if den else float("nan")


def scorecard(wh: Warehouse, as_of=None, stale_days: int = 31, freq: str = "Q",
              by: str = "branch_id", door: dict | None = None) -> QualityScorecard:
    """The customer-information quality scorecard of ``wh`` (see the module docstring).

    Parameters
    ----------
    wh : Warehouse
        An open source (any mapping applied).
    as_of : date-like, optional
        The day the data should reach (default: its latest date); see ``freshness``.
    stale_days : int
        Days behind ``as_of`` after which a table is stale.
    freq : {'M', 'Q', 'Y'}
        Period of the completeness trend.
    by : str
        Customers column of the breakdown (default ``branch_id``).
    door : dict, optional
        The door's verdict on this source (``NotebookContext.door``, ``door.json``): its duplicate-row and
        orphan counts are reused when it checked the same source (same ``source``), not counted again.

    Returns
    -------
    QualityScorecard
    """
    same = bool(door) and door.get("source") == wh.source
    known, rules = (door.get("duplicate_rows"), door.get("rule_counts")) if same else (None, None)
    fills = {t: f for t in wh.tables() if (f := _fill_counts(wh, t, freq)) is not None}   # one scan per table
    card = QualityScorecard(completeness(wh, fills), validity(wh), uniqueness(wh, known),
                            freshness(wh, as_of, stale_days), consistency(wh, rules), by_branch(wh, by),
                            trend(wh, freq, fills), unused_personal_fields(wh),
                            stale_days)
    logger.info("quality scorecard of %s: %s", wh.source,
                ", ".join(f"{r.dimension} {r.score:.3f}" for r in card.summary().itertuples()))
    return card


def record_facts(facts, card: QualityScorecard) -> None:
    """Record the scorecard's five dimensions as facts ``data_quality_<dimension>`` (KPIs in ``crm_lib.kpis``).

    Each is a census measure of the source (no sampling error); tags name the weakest table or
    column behind it. ``data_quality_unused_personal_fields`` counts the personal fields held but read by no analysis.
    """
    s = card.summary().set_index("dimension")
    worst = {
        "completeness": _worst(card.completeness[card.completeness["not_null"]], "completeness",
                               lambda r: f"{r.table}.{r.column}"),
        "validity": _worst(card.validity, "validity", lambda r: f"{r.table}.{r.column}"),
        "uniqueness": _worst(card.uniqueness, "uniqueness", lambda r: f"{r.table} ({r.key})"),
        "timeliness": ", ".join(f"{r.table} ({r.days_behind} days)" for r in card.freshness[card.freshness["stale"]]
                                .itertuples()),
        "consistency": _worst(card.consistency, "consistency", lambda r: f"{r.table}.{r.column}: {r.rule}"),
    }
    for dim in DIMENSIONS:
        value = s.loc[dim, "score"]
        if pd.isna(value):
            continue
        tags = {"weakest": worst[dim] or "none"}
        if dim == "timeliness":
            tags["stale_days"] = card.stale_days
        facts.record(f"data_quality_{dim}", float(value), "proportion", kpis.get(f"data_quality_{dim}").definition,
                     n=int(s.loc[dim, "n"]), uncertainty="census measure of the source: no sampling error", **tags)
    unused = card.unused_personal_fields
    facts.record("data_quality_unused_personal_fields", len(unused), "fields",
                 "personal fields the source holds that no analysis uses (candidates to stop extracting)",
                 uncertainty="count of columns", fields=", ".join(f"{r.table}.{r.column}" for r in unused.itertuples()))


def _worst(frame: pd.DataFrame, col: str, label) -> str:
    """The row with the lowest ``col`` below 1, as ``label(row)`` with its share; '' when all are 1."""
    bad = frame[frame[col] < 1].sort_values(col)
    if bad.empty:
        return ""
    r = next(bad.itertuples())
    return f"{label(r)} {getattr(r, col):.4f}"
