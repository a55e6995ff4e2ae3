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
names a missing table or column, or a source code with no mapping, is an error that
names the mapping file.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from crm_lib.data.schema import ATTRIBUTE_PREFIX, SCHEMAS, Problem
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
            expr = _q(cs.column)
            if cs.codes:
                whens = " ".join(f"WHEN CAST({expr} AS VARCHAR) = {_lit(k)} THEN {_lit(v)}" for k, v in cs.codes.items())
                expr = f"CASE {whens} ELSE CAST({expr} AS VARCHAR) END"
            if cs.format:
                expr = f"CAST(strptime(CAST({expr} AS VARCHAR), {_lit(cs.format)}) AS TIMESTAMP)"
            if cs.scale is not None:
                expr = f"({expr}) * {float(cs.scale)}"
            parts.append(f"{expr} AS {_q(canon)}")
        mapped_sources = {cs.column for cs in cols.values()}
        for c in source_columns:
            if c not in cols and c not in mapped_sources:
                parts.append(_q(c))
        return ", ".join(parts) or "*"

    def check_codes(self, wh) -> list[Problem]:
        """Source values of coded columns that the mapping does not translate."""
        out = []
        for table, ts in self.spec.tables.items():
            if not wh.has(table):
                continue
            for canon, cs in self._columns(table).items():
                if not cs.codes:
                    continue
                src = wh._raw[self.source_table(table)]
                codes = ", ".join(_lit(k) for k in cs.codes)
                q = (f"SELECT CAST({_q(cs.column)} AS VARCHAR) AS {_q(cs.column)}, count(*) AS n_rows FROM {src} "
                     f"WHERE {_q(cs.column)} IS NOT NULL AND CAST({_q(cs.column)} AS VARCHAR) NOT IN ({codes}) "
                     "GROUP BY 1 ORDER BY 2 DESC")
                bad = wh.con.execute(q).df()
                if len(bad):
                    out.append(Problem(table, canon, f"code mapped by {self.path} (codes: {', '.join(cs.codes)})",
                                       int(bad["n_rows"].sum()), bad.head(5)))
        return out


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping YAML file; errors name the file and the key."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"mapping file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    try:
        spec = MappingFile.model_validate(raw or {})
    except ValidationError as e:
        msgs = "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"{path}: {msgs}") from None
    return Mapping(spec, str(path))
