"""Map an outside dataset's tables, columns and codes onto the canonical schema.

A mapping file (YAML, in ``parameters/mappings/``) looks like::

    tables:
      customers:
        source: CUST_MASTER            # the source's table name (default: the canonical name)
        columns:                       # canonical column: source column, or a spec
          customer_id: CUST_NO
          customer_type: {column: CUST_TYPE, codes: {P: individual, C: corporate}}
          onboard_date: {column: OPEN_DT, format: "%d/%m/%Y"}
          income: {column: INCOME_CENTS, scale: 0.01}

Source columns that already carry a canonical name pass through unchanged. The
mapping is applied as SQL views inside DuckDB, so nothing is copied. A mapping that
names a missing table or column, a source code with no mapping, or a date that does not
match its ``format`` is an error that names the mapping file.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from crm_lib.data.schema import ATTRIBUTE_PREFIX, KEYS, MAX_EXAMPLES, SCHEMAS, Problem
from crm_lib.data.store import CANONICAL_TABLES, _lit, _q
from crm_lib.errors import ConfigError


class ColumnSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: str
    codes: dict[str, str] | None = None
    format: str | None = None
    scale: float | None = None

    @field_validator("codes", mode="before")
    @classmethod
    def _codes_as_str(cls, v):
        return {str(k): str(x) for k, x in v.items()} if isinstance(v, dict) else v


class TableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str | None = None
    columns: dict[str, str | ColumnSpec] = {}


class MappingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tables: dict[str, TableSpec]


class Mapping:
    """A loaded, checked mapping; ``select_sql`` renders one table's canonical view."""

    def __init__(self, spec: MappingFile, path: str = "<mapping>"):
        self.spec = spec
        self.path = path
        for table, ts in spec.tables.items():
            if table not in CANONICAL_TABLES:
                raise ConfigError(f"{path}: tables.{table}: unknown canonical table "
                                  f"(expected one of {', '.join(CANONICAL_TABLES)})")
            known = set(SCHEMAS[table].columns)
            for col in ts.columns:
                if col not in known and not (table == "surveys" and col.startswith(ATTRIBUTE_PREFIX)):
                    raise ConfigError(f"{path}: tables.{table}.columns.{col}: unknown canonical column "
                                      f"(expected one of {', '.join(sorted(known))})")

    def source_table(self, table: str) -> str:
        ts = self.spec.tables.get(table)
        return (ts.source or table) if ts else table

    def _columns(self, table: str) -> dict[str, ColumnSpec]:
        ts = self.spec.tables.get(table)
        if not ts:
            return {}
        return {k: (v if isinstance(v, ColumnSpec) else ColumnSpec(column=v)) for k, v in ts.columns.items()}

    def select_sql(self, table: str, source_columns: list[str]) -> str:
        cols = self._columns(table)
        have = set(source_columns)
        parts = []
        for canon, cs in cols.items():
            if cs.column not in have:
                raise ConfigError(
                    f"{self.path}: tables.{table}.columns.{canon}: source column {cs.column!r} not found in "
                    f"source table {self.source_table(table)!r} (columns: {', '.join(source_columns)})")
            parts.append(f"{_expr(cs)} AS {_q(canon)}")
        mapped_sources = {cs.column for cs in cols.values()}
        for c in source_columns:
            if c not in cols and c not in mapped_sources:
                parts.append(_q(c))
        return ", ".join(parts) or "*"

    def check_codes(self, wh) -> list[Problem]:
        """Source values of coded columns that the mapping does not translate."""
        return self._unmapped(wh, "codes", lambda cs: f"CAST({_q(cs.column)} AS VARCHAR) NOT IN "
                                                      f"({', '.join(_lit(k) for k in cs.codes)})",
                              lambda cs: f"code mapped by {self.path} (codes: {', '.join(cs.codes)})")

    def check_formats(self, wh) -> list[Problem]:
        """Source values of date columns that do not match the mapping's ``format``."""
        return self._unmapped(wh, "format", lambda cs: f"try_strptime({_coded(cs)}, "
                                                       f"{_lit(cs.format)}) IS NULL",
                              lambda cs: f"date format {cs.format!r} from {self.path}")

    def _unmapped(self, wh, attr: str, bad_sql, rule) -> list[Problem]:
        """One problem per mapped column with ``attr`` set whose source values match ``bad_sql(spec)``.

        Examples list each bad source value, its row count and the first source key holding it.
        """
        out = []
        for table in self.spec.tables:
            if not wh.has(table):
                continue
            src, cols = wh._raw[self.source_table(table)], self._columns(table)
            have = set(wh.source_columns(self.source_table(table), raw=True))
            # one example key per bad value, under the source's own key column name
            keys = [sk for sk in (cols[k].column if k in cols else k for k in KEYS[table]) if sk in have]
            first = "".join(f", min(CAST({_q(sk)} AS VARCHAR)) AS {_q('e.g. ' + sk)}" for sk in keys)
            for canon, cs in cols.items():
                if not getattr(cs, attr):
                    continue
                q = (f"SELECT CAST({_q(cs.column)} AS VARCHAR) AS {_q(cs.column)}, count(*) AS n_rows{first} "
                     f"FROM {src} WHERE {_q(cs.column)} IS NOT NULL AND {bad_sql(cs)} GROUP BY 1 ORDER BY 2 DESC")
                bad = wh.con.execute(q).df()
                if len(bad):
                    out.append(Problem(table, canon, rule(cs), int(bad["n_rows"].sum()), bad.head(MAX_EXAMPLES)))
        return out


def _coded(cs: ColumnSpec) -> str:
    """SQL for source column ``cs.column`` as text, with its ``codes`` translated."""
    text = f"CAST({_q(cs.column)} AS VARCHAR)"
    if not cs.codes:
        return text
    whens = " ".join(f"WHEN {text} = {_lit(k)} THEN {_lit(v)}" for k, v in cs.codes.items())
    return f"CASE {whens} ELSE {text} END"


def _expr(cs: ColumnSpec) -> str:
    """SQL turning source column ``cs.column`` into canonical values: codes, then format, then scale.

    ``try_strptime`` leaves a value that does not match ``format`` NULL rather than failing
    the query; ``check_formats`` reports such values at the door.
    """
    expr = _coded(cs) if cs.codes or cs.format else _q(cs.column)
    if cs.format:
        expr = f"CAST(try_strptime({expr}, {_lit(cs.format)}) AS TIMESTAMP)"
    if cs.scale is not None:
        expr = f"({expr}) * {float(cs.scale)}"
    return expr


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping YAML file; errors name the file and the key."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"mapping file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.object[e.start:e.start + 1]!r} "
                          f"at offset {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = "; ".join(str(x) for x in (getattr(e, "context", None), getattr(e, "problem", None)) if x)
        raise ConfigError(f"{path}: not valid YAML{where} ({what or str(e).splitlines()[0]})") from None
    try:
        spec = MappingFile.model_validate(raw or {})
    except ValidationError as e:
        msgs = "; ".join(f"{'.'.join(str(x) for x in err['loc']) or '(top level)'}: {err['msg']}"
                         for err in e.errors())
        raise ConfigError(f"{path}: {msgs}") from None
    return Mapping(spec, str(path))
