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
        read:                          # CSV reader options (optional; default: sniffed, UTF-8)
          delimiter: ";"
          encoding: gb18030            # any Python codec name: utf-8, gbk, gb18030, latin-1, utf-16 ...
          decimal: ","                 # decimal comma
          header_row: 3                # the header is on line 3; the lines above it are skipped

Source columns that already carry a canonical name pass through unchanged. The
mapping is applied as SQL views inside DuckDB, so nothing is copied (a CSV file in an
encoding DuckDB cannot read, such as GBK, is first re-encoded to a temporary UTF-8 copy).
A CSV column with a ``format`` is read as text, so the mapping's format decides and not
the CSV sniffer; a column a typed source (DuckDB, Parquet) already holds as a date cannot
take a ``format``, and the error says to remove it. A mapping that names a missing table
or column, a source code with no mapping, a date that does not match its ``format`` or a
``TODO`` left from ``crm-workbench map`` is an error that names the mapping file and key.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from crm_lib.data.schema import ATTRIBUTE_PREFIX, KEYS, MAX_EXAMPLES, SCHEMAS, Problem
from crm_lib.data.sources import CANONICAL_TABLES, SourceError, _check_utf8, _lit, _q
from crm_lib.errors import ConfigError

logger = logging.getLogger(__name__)

TODO = "TODO"  # what ``crm-workbench map`` writes where no source column fits
DATE_TYPES = ("DATE", "TIMESTAMP")


class ColumnSpec(BaseModel):
    """One canonical column: a source ``column`` (with ``codes``, ``format``, ``scale``), or a ``value``.

    ``value`` states one value for every row, for a fact the source does not record because it
    never varies there (``customer_type: {value: individual}`` for a bank extract of retail
    customers only). It is the user's statement, written in the mapping file, not a default.
    """

    model_config = ConfigDict(extra="forbid")
    column: str | None = None
    value: str | None = None
    codes: dict[str, str] | None = None
    format: str | None = None
    scale: float | None = None

    @model_validator(mode="after")
    def _column_or_value(self):
        if (self.column is None) == (self.value is None):
            raise ValueError("give either `column` (the source column) or `value` (one value for every row)")
        if self.value is not None and (self.codes or self.format or self.scale is not None):
            raise ValueError("`value` stands alone: `codes`, `format` and `scale` apply to a source `column`")
        return self

    @field_validator("codes", mode="before")
    @classmethod
    def _codes_as_str(cls, v):
        return {str(k): str(x) for k, x in v.items()} if isinstance(v, dict) else v


class ReadSpec(BaseModel):
    """How to read one CSV table file; anything left out is sniffed (and the encoding is UTF-8)."""

    model_config = ConfigDict(extra="forbid")
    delimiter: str | None = None
    encoding: str | None = None
    decimal: Literal[".", ","] | None = None
    header_row: int | None = None
    quote: str | None = None

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, v):
        if v is None:
            return v
        try:
            return codecs.lookup(v).name
        except LookupError:
            raise ValueError(f"unknown encoding {v!r} (e.g. utf-8, gbk, gb18030, latin-1, utf-16)") from None

    @field_validator("delimiter", "quote")
    @classmethod
    def _one_char(cls, v):
        if v is not None and len(v) != 1:
            raise ValueError(f"must be one character, got {v!r} (a tab is \"\\t\")")
        return v

    @field_validator("header_row")
    @classmethod
    def _line_number(cls, v):
        if v is not None and v < 1:
            raise ValueError(f"is the line number of the header row (1 = first line), got {v}")
        return v


class TableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str | None = None
    columns: dict[str, str | ColumnSpec] = {}
    read: ReadSpec | None = None


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
            if ts.source == TODO:
                raise ConfigError(f"{path}: tables.{table}.source: still {TODO}: name the source table that holds "
                                  f"{table}, or delete tables.{table}")
            for col, cs in self._columns(table).items():
                if cs.column == TODO:
                    raise ConfigError(f"{path}: tables.{table}.columns.{col}: still {TODO}: name the source column "
                                      f"that holds {table}.{col}, or delete the line")
                todo = [k for k, v in (cs.codes or {}).items() if v == TODO]
                if todo:
                    raise ConfigError(f"{path}: tables.{table}.columns.{col}.codes: still {TODO} for source "
                                      f"code(s) {', '.join(map(repr, todo))}: write the canonical value each stands for")

    def source_table(self, table: str) -> str:
        ts = self.spec.tables.get(table)
        return (ts.source or table) if ts else table

    def _columns(self, table: str) -> dict[str, ColumnSpec]:
        ts = self.spec.tables.get(table)
        if not ts:
            return {}
        return {k: (v if isinstance(v, ColumnSpec) else ColumnSpec(column=v)) for k, v in ts.columns.items()}

    def select_sql(self, table: str, source_columns: list[str] | dict[str, str]) -> str:
        """The select list of canonical ``table``'s view over its source table.

        ``source_columns`` is the source table's column names, or a dict of name -> DuckDB
        type; with types, a ``format`` on a column the source already holds as a date is
        refused with the advice to remove it.
        """
        cols = self._columns(table)
        types = source_columns if isinstance(source_columns, dict) else {}
        source_columns = list(source_columns)
        have = set(source_columns)
        parts = []
        for canon, cs in cols.items():
            if cs.value is not None:
                parts.append(f"{_lit(cs.value)} AS {_q(canon)}")
                continue
            if cs.column not in have:
                raise ConfigError(
                    f"{self.path}: tables.{table}.columns.{canon}: source column {cs.column!r} not found in "
                    f"source table {self.source_table(table)!r} (columns: {', '.join(source_columns)})")
            if cs.format and str(types.get(cs.column, "")).startswith(DATE_TYPES):
                raise ConfigError(
                    f"{self.path}: tables.{table}.columns.{canon}: source column {cs.column!r} of "
                    f"{self.source_table(table)!r} is already a date ({types[cs.column]}); remove `format` "
                    f"(write `{canon}: {cs.column}`" + (", keeping `codes`/`scale`" if cs.codes or cs.scale else "")
                    + ")")
            parts.append(f"{_expr(cs)} AS {_q(canon)}")
        mapped_sources = {cs.column for cs in cols.values() if cs.column is not None}
        for c in source_columns:
            if c not in cols and c not in mapped_sources:
                parts.append(_q(c))
        return ", ".join(parts) or "*"

    def csv_relation(self, con, path: Path) -> str:
        """``read_csv(...)`` for a CSV table file (``Warehouse`` calls this for every CSV file).

        The mapping's ``read`` options (delimiter, encoding, decimal comma, header row) are
        given to DuckDB's sniffer, which settles the rest once over the whole file; columns
        with a ``format`` are read as text so that the format, not the sniffer, parses them.
        A file in an encoding DuckDB does not read is re-encoded to a cached UTF-8 copy.
        A file the mapping does not name is read as without a mapping (UTF-8, sniffed).

        Raises
        ------
        SourceError
            The file is not in the encoding the mapping names (or, with none named, not UTF-8);
            the message gives the line and says which mapping key to set.
        """
        path = Path(path)
        tables = [t for t in self.spec.tables if self.source_table(t) == path.name.split(".")[0]]
        table = tables[0] if tables else None
        read = (self.spec.tables[table].read if table else None) or ReadSpec()
        text_cols = sorted({cs.column for t in tables for cs in self._columns(t).values() if cs.format})
        return csv_relation(con, path, read, text_cols, f"{self.path}: tables.{table}.read" if table else None)

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
            keys = [sk for sk in (cols[k].column if k in cols else k for k in KEYS[table]) if sk and sk in have]
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


def csv_relation(con, path: Path, read: ReadSpec | None = None, text_columns=(), key: str | None = None) -> str:
    """``read_csv(...)`` of CSV file ``path`` with reader options ``read``, sniffed once over the whole file.

    ``text_columns`` are read as text whatever the sniffer thinks. ``key`` is the mapping key
    of ``read`` (e.g. ``m.yaml: tables.customers.read``), for messages.

    Raises
    ------
    SourceError
        The file is not in the encoding ``read`` names (default UTF-8).
    """
    read = read or ReadSpec()
    encoding = read.encoding or "utf-8"
    if encoding == "utf-8":
        try:
            _check_utf8(path)
        except SourceError as e:
            if key is None:
                raise
            raise SourceError(f"{e}; or name the file's encoding in {key}.encoding (e.g. gb18030, gbk, latin-1)") from None
    else:
        path = _utf8_copy(path, encoding, f"{key}.encoding" if key else "the mapping's read.encoding")
    opts = ["header=true", "sample_size=-1"]
    if read.delimiter is not None:
        opts.append(f"delim={_lit(read.delimiter)}")
    if read.quote is not None:
        opts.append(f"quote={_lit(read.quote)}")
    if read.decimal is not None:
        opts.append(f"decimal_separator={_lit(read.decimal)}")
    if read.header_row is not None:
        opts.append(f"skip={int(read.header_row) - 1}")
    if text_columns:
        opts.append("types={" + ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in text_columns) + "}")
    prompt = con.execute(f"SELECT Prompt FROM sniff_csv({_lit(str(path))}, {', '.join(opts)})").fetchall()[0][0]
    prompt = str(prompt or "").strip().rstrip(";")
    if prompt.startswith("FROM read_csv(") and prompt.endswith(")"):
        return prompt[len("FROM "):]
    return f"read_csv({_lit(str(path))}, auto_detect=true, {', '.join(opts)})"


_UTF8_COPIES: dict[tuple, Path] = {}
_UTF8_DIR: tempfile.TemporaryDirectory | None = None


def _utf8_copy(path: Path, encoding: str, key: str, block: int = 1 << 20) -> Path:
    """A UTF-8 copy of ``path`` (read as ``encoding``), made once per file version and process.

    The copies live in one temporary folder removed when the process ends. A byte that is
    not ``encoding`` raises ``SourceError`` with its line and the mapping ``key`` to change.
    """
    global _UTF8_DIR
    st = path.stat()
    cache_key = (str(path.resolve()), st.st_size, st.st_mtime_ns, encoding)
    if cache_key in _UTF8_COPIES and _UTF8_COPIES[cache_key].exists():
        return _UTF8_COPIES[cache_key]
    if _UTF8_DIR is None:
        _UTF8_DIR = tempfile.TemporaryDirectory(prefix="crm-utf8-")
    folder = Path(_UTF8_DIR.name) / hashlib.sha256(repr(cache_key).encode()).hexdigest()[:16]
    folder.mkdir(exist_ok=True)
    out = folder / path.name
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line, done = 1, b""
    with open(path, "rb") as src, open(out, "w", encoding="utf-8", newline="") as dst:
        while True:
            chunk = src.read(block)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                data = done[-4096:] + chunk
                at = len(done[-4096:]) + max(e.start, 0)
                row = data[data.rfind(b"\n", 0, at) + 1:].split(b"\n", 1)[0]
                near = line + chunk[:max(e.start, 0)].count(b"\n")
                raise SourceError(
                    f"{path.stem}.*: file {path.name} is not {encoding} (rule 'encoding {encoding}'): "
                    f"byte {data[at:at + 1]!r} near line {near}, e.g.\n    "
                    f"{row.decode(encoding, errors='replace')[:300]}\nname the file's encoding in {key} "
                    "(e.g. gb18030, gbk, latin-1, utf-8)") from None
            dst.write(text)
            if not chunk:
                break
            line += chunk.count(b"\n")
            done = chunk
    _UTF8_COPIES[cache_key] = out
    logger.info("read %s as %s (UTF-8 copy %s)", path, encoding, out)
    return out


def _validation_text(e: ValidationError) -> str:
    """pydantic's errors as ``key.path: what is wrong``, one per key.

    A column written as a mapping (``{column: ..., format: ...}`` or ``{value: ...}``) that is wrong
    is reported once, as the mapping it was meant to be, not also as the plain name it is not."""
    branch = ("str",)
    out: dict[str, str] = {}
    errors = e.errors()
    as_dict = {tuple(str(x) for x in err["loc"][:-1]) for err in errors
               if err["loc"] and str(err["loc"][-1]) not in branch}
    for err in errors:
        loc = [str(x) for x in err["loc"]]
        if loc and loc[-1] in branch and tuple(loc[:-1]) in as_dict:
            continue   # the plain-name reading of a value written as a mapping
        keys = [x for x in loc if x not in branch and not x.startswith("function-") and x not in ("ColumnSpec",)]
        msg = err["msg"].removeprefix("Value error, ")
        out.setdefault(".".join(keys) or "(top level)", msg)
    return "; ".join(f"{k}: {m}" for k, m in out.items())


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
        raise ConfigError(f"{path}: {_validation_text(e)}") from None
    return Mapping(spec, str(path))
