"""The warehouse: one DuckDB connection over a source, tables read as canonical views.

A *source* is one of
- a DuckDB file (``path/warehouse.duckdb`` or ``duckdb:///path``), attached read-only;
- a folder of Parquet files (``<table>.parquet`` or ``<table>/*.parquet``);
- a folder of CSV files (``<table>.csv``), read as UTF-8.

Whatever the source, the connection exposes the canonical tables as views named after
them (through a column mapping when one is given), so feature SQL is written once.
Heavy work stays in DuckDB; ``frame`` and ``sql`` return pandas DataFrames.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from crm_lib.data.sources import (CANONICAL_TABLES, SourceError, _check_utf8, _classify,  # noqa: F401
                                 _first_line, _lit, _q)
from crm_lib.errors import ConfigError, DataContractError, EngineMemoryError

logger = logging.getLogger(__name__)


MEMORY_ENV = "CRM_DUCKDB_MEMORY_LIMIT"   # DuckDB's memory limit for every warehouse a process opens ("6GB")
_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.I)


def check_memory_limit(value, key: str = "duckdb_memory_limit") -> str | None:
    """``value`` as a DuckDB memory limit ("6GB", "512MiB"); ``None`` for none given (DuckDB's own default, 80%
    of the machine's memory for each process). Anything else is a ``ConfigError`` naming ``key``."""
    if value in (None, ""):
        return None
    m = _MEMORY_RE.match(str(value))
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"{key}: a size such as 6GB or 512MiB (KB, MB, GB, TB, KiB, MiB, GiB, TiB), "
                          f"got {value!r}")
    return f"{m.group(1)}{m.group(2).upper().replace('I', 'i')}"


def machine_memory_mb() -> float:
    """The machine's physical memory in MiB (``os.sysconf``)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20


def resolve_memory_limit(value, parallel: int = 1) -> str | None:
    """The DuckDB memory limit of each of ``parallel`` notebook kernels: ``"auto"`` is half the machine's memory
    shared among them (the other half is left for the frames pandas holds); a size is taken as it is; ``None``
    leaves DuckDB's default (80% of the machine's memory for every process, which ``parallel`` kernels can
    overcommit on a large bank)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return f"{int(machine_memory_mb() * 0.5 / max(1, int(parallel)))}MiB"
    return check_memory_limit(value)


SHARE_MIN_ROWS = 1000          # below this, a result is too small for shared strings to matter
SHARE_MAX_DISTINCT = 0.05      # a text column is shared when its strided sample has at most this share distinct


def shared_text(text: str) -> np.ndarray:
    """``text`` as a 0-d object array: ``np.where``/``np.select`` then share it across rows (a plain ``str``
    becomes one Python string a row, ~60 bytes each: ~600 MB a column at 10M customers)."""
    out = np.empty((), dtype=object)
    out[()] = text
    return out


def share_strings(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each repetitive text column's equal strings made one Python object (a new frame).

    DuckDB (and the Arrow result a Spark query returns through it) gives every row of a ``VARCHAR`` column its
    own ``str``, about 60 bytes each: at 10M customers, a customer type, age band, channel, region or cause costs
    ~600 MB a column in every frame that carries it. Pointing equal strings at one object keeps the column's dtype
    (object), values and missing values (``None`` and ``NaN`` stay where they were) exactly, so nothing computed
    from the frame changes; only memory does. A column is shared when a strided sample of ~10,000 of its values
    is all ``str`` and at most ``SHARE_MAX_DISTINCT`` distinct (so pseudonyms, one per customer, are left as
    they are), and kept as it was when any value is not a ``str``."""
    n = len(df)
    if n < SHARE_MIN_ROWS or not df.columns.is_unique:
        return df
    step = max(1, n // 10_000)
    shared_cols = {}
    for col in df.columns[df.dtypes.to_numpy() == object]:
        values = df[col].to_numpy()
        sample = [v for v in values[::step] if v is not None and v == v]
        if not sample or any(type(v) is not str for v in sample) or \
                len(set(sample)) > SHARE_MAX_DISTINCT * len(sample):
            continue
        try:
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
        except TypeError:                                   # an unhashable value (a list or a map)
            continue
        if any(type(u) is not str for u in uniques):      # e.g. 1 and True would share a code
            continue
        shared = uniques.take(codes)
        missing = codes < 0
        shared[missing] = values[missing]                 # None stays None and NaN stays NaN
        shared_cols[col] = shared
    if not shared_cols:
        return df
    # a new frame, not df[col] = ...: pandas keeps a frame's object columns in one 2-D block, and a column set
    # in place leaves the old block (and every per-row string in it) alive behind the others' views
    out = pd.DataFrame({c: shared_cols[c] if c in shared_cols else df[c].copy() for c in df.columns},
                       index=df.index)
    out.attrs = df.attrs
    return out


_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
             "UBIGINT")
_NUMBERS = ("DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC")


def row_text(columns: dict[str, str]) -> str:
    """A DuckDB SQL expression giving each row's text for ``fingerprint``, from ``columns`` (name -> DuckDB
    type name), which DuckDB and Spark (through ``to_spark``) write alike, so that a fingerprint does not
    depend on the engine or on how the source stored a value.

    The columns in name order, joined by the unit separator (``chr(31)``), NULL as the record separator
    (``chr(30)``). An integer is its digits. Any other number is read as a DOUBLE (IEEE arithmetic is the
    same on both engines; their texts of a double are not): a whole value below 9e15 as its digits (so
    ``5``, ``5.0`` and a DECIMAL ``5.00`` read alike), else below 1e12 as the floor of its millionths with
    ``u`` (``1.5`` is ``1500000u``), else its floor with ``~``; beyond 9e15, infinite or not a number as
    ``+big``, ``-big`` or ``nan``. A date or a timestamp as ``YYYY-MM-DD HH:MM:SS.ffffff`` (a DATE is its
    midnight). A string or a boolean as its text.
    """
    parts = []
    for name in sorted(columns):
        c, kind = _q(name), columns[name].upper()
        if kind in _INTEGERS:
            text = f"CAST({c} AS VARCHAR)"
        elif kind.startswith(_NUMBERS):
            d = f"CAST({c} AS DOUBLE)"
            text = (f"CASE WHEN abs({d}) < 9e15 AND {d} = floor({d}) THEN CAST(CAST({d} AS BIGINT) AS VARCHAR) "
                    f"WHEN abs({d}) < 1e12 "
                    f"THEN CAST(CAST(floor({d} * CAST(1000000 AS DOUBLE)) AS BIGINT) AS VARCHAR) || 'u' "
                    f"WHEN abs({d}) < 9e15 THEN CAST(CAST(floor({d}) AS BIGINT) AS VARCHAR) || '~' "
                    f"WHEN {d} > 0 THEN '+big' WHEN {d} < 0 THEN '-big' WHEN {d} IS NOT NULL THEN 'nan' END")
        elif kind.startswith(("DATE", "TIMESTAMP")) and "TIME ZONE" not in kind:
            text = f"strftime(CAST({c} AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%f')"
        else:
            text = f"CAST({c} AS VARCHAR)"
        parts.append(f"coalesce({text}, chr(30))")
    return f"concat_ws(chr(31), {', '.join(parts)})" if parts else "''"


class Warehouse:
    """A read-only view of a source as the canonical tables.

    Parameters
    ----------
    source : str or Path
        DuckDB file, Parquet folder or CSV folder (see module docstring).
    mapping : Mapping, optional
        Column and code mapping from the source's names onto the canonical schema
        (``crm_lib.data.mapping``). Without one, source tables must already be canonical.
    threads : int, optional
        DuckDB worker threads; default lets DuckDB decide.
    memory_limit : str, optional
        DuckDB's memory limit ("6GB", or "auto": half the machine's memory); default ``$CRM_DUCKDB_MEMORY_LIMIT`` (the runner sets it for each notebook
        from the ``duckdb_memory_limit`` parameter), else DuckDB's own default. Above it, DuckDB spills to a
        private folder under the system's temporary directory (``$TMPDIR``), removed on ``close``.
    """

    def __init__(self, source: str | Path, mapping=None, threads: int | None = None,
                 memory_limit: str | None = None):
        self.source = str(source)
        self.mapping = mapping
        self.threads = threads
        self.kind, self.path = _classify(self.source)
        given = memory_limit or os.environ.get(MEMORY_ENV)
        limit = (resolve_memory_limit(given) if str(given).strip().lower() == "auto"
                 else check_memory_limit(given, key="memory_limit" if memory_limit else MEMORY_ENV))
        self.con = duckdb.connect(":memory:")
        if threads:
            self.con.execute(f"SET threads={int(threads)}")
        if limit:
            self.con.execute(f"SET memory_limit = {_lit(limit)}")
        # DuckDB's allocator (jemalloc on Linux) keeps the pages a query freed until it purges them in a later
        # allocation: after the 1M bank's feature table the process held 2,039 MB by default and 1,247 MB with
        # background purging (979 MB three seconds later; `benchmarks/run.py --only allocator`). Purged in the
        # background, a query's working memory goes back to the machine for the pandas frames that follow it.
        self.con.execute("SET allocator_background_threads = true")
        # DuckDB spills an in-memory database to '.tmp' under the working directory (a kernel's is notebooks/)
        self._spill = Path(tempfile.gettempdir()) / f"crm-duckdb-{os.getpid()}-{secrets.token_hex(4)}"
        self.con.execute(f"SET temp_directory = {_lit(str(self._spill))}")
        self._raw: dict[str, str] = {}       # canonical table -> relation in the source
        self._kept: dict[str, str] | None = None   # query -> temporary table, inside kept_results
        # table -> optional contract columns the source lacks, exposed as typed NULL columns
        self.absent: dict[str, list[str]] = {}
        # table -> text columns read as their contract type (every value empty or castable)
        self.retyped: dict[str, list[str]] = {}
        try:
            self._attach()
            self._views()
        except BaseException:
            self.con.close()
            raise

    # ------------------------------------------------------------------ opening
    def _attach(self) -> None:
        if self.kind == "duckdb":
            try:
                self.con.execute(f"ATTACH {_lit(self.path)} AS src (READ_ONLY)")
                names = [r[0] for r in self.con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'src'").fetchall()]
            except duckdb.Error as e:
                raise SourceError(f"source {self.source}: cannot open as a DuckDB file ({_first_line(e)})") from None
            for n in names:
                self._raw[n] = f"src.{_q(n)}"
            return
        root = Path(self.path)
        for p in sorted(root.iterdir()):
            name = p.name.split(".")[0]
            if self.kind == "parquet" and (p.suffix == ".parquet" or (p.is_dir() and any(p.glob("*.parquet")))):
                glob = str(p / "*.parquet") if p.is_dir() else str(p)
                rel = f"read_parquet({_lit(glob)})"
            elif self.kind == "csv" and p.suffix == ".csv":
                if self.mapping is None:  # with a mapping, its csv_relation checks the encoding it names
                    _check_utf8(p)
                rel = None
            else:
                continue
            view = f"src_{name}"
            try:
                rel = rel or (self.mapping.csv_relation(self.con, p) if self.mapping is not None  # reader options
                              else _csv_relation(self.con, p))
                self.con.execute(f"CREATE VIEW {_q(view)} AS SELECT * FROM {rel}")
                cols = [d[0] for d in self.con.execute(f"SELECT * FROM {_q(view)} LIMIT 0").description]
            except duckdb.Error as e:
                raise SourceError(f"{name}.*: table file {p.name} in source {self.source} is unreadable "
                                  f"(rule 'readable {self.kind}'): {_first_line(e)}") from None
            if self.kind == "csv" and len(cols) == 1 and "," in cols[0]:
                _check_fields(p)  # DuckDB fell back to one column: find the ragged line
            self._raw[name] = _q(view)

    def _views(self) -> None:
        for table in CANONICAL_TABLES:
            src_name = self.mapping.source_table(table) if self.mapping else table
            if src_name not in self._raw:
                continue
            if self.mapping:
                select = self.mapping.select_sql(table, {r[0]: r[1] for r in self.con.execute(  # names -> types
                    f"DESCRIBE SELECT * FROM {self._raw[src_name]}").fetchall()})
            else:
                select = "*"
            base = f"SELECT {select} FROM {self._raw[src_name]}"
            self.con.execute(f"CREATE VIEW {_q(table)} AS {self._contract_select(table, base)}")

    def _contract_select(self, table: str, base: str) -> str:
        """``base`` with the column types of the contract, not of a sniffer.

        - A text column whose contract type is a date, number or flag, and whose non-empty
          values all cast to that type, is read as that type (a CSV column left empty in
          every row is sniffed as text; the contract says it is a date).
        - Text that does not cast stays text, so the door reports it as a broken type rule.
        - A column the source lacks becomes a NULL column of its contract type (listed in
          ``absent``), so every query can read it: the door reports an optional one as a
          warning, a required one as missing (an error, or with a profile's needs a warning
          naming the notebooks that cannot run and the default the others read,
          ``schema.LACKING_DEFAULTS``).
          ``held`` is what the source really holds.
        """
        from crm_lib.data.schema import SCHEMAS

        if table not in SCHEMAS:
            return base
        have = {r[0]: r[1] for r in self.con.execute(f"DESCRIBE {base}").fetchall()}
        replace, added = self._contract_plan(table, base, have)
        if not replace and not added:
            return base
        star = "*" + (f" REPLACE ({', '.join(replace.values())})" if replace else "")
        return f"SELECT {', '.join([star] + added)} FROM ({base})"

    def _contract_plan(self, table: str, base: str, have: dict[str, str]) -> tuple[dict[str, str], list[str]]:
        """``_contract_select``'s columns: source column -> its retyped expression, and the NULL columns added.

        Records ``retyped`` and ``absent``; every engine's warehouse builds its select from this plan.
        """
        from crm_lib.data.schema import PII_COLUMNS, SCHEMAS, sql_type

        replace, added = {}, []
        for col, spec in SCHEMAS[table].columns.items():
            want = sql_type(spec)
            if col in have:
                if want == "VARCHAR" or have[col] not in ("VARCHAR", '"NULL"', "NULL"):
                    continue
                raw = f"nullif(trim(CAST({_q(col)} AS VARCHAR)), '')"
                bad = self.con.execute(f"SELECT count(*) FROM ({base}) WHERE {raw} IS NOT NULL "
                                       f"AND (TRY_CAST({raw} AS {want}) IS NULL"
                                       + (f" OR TRY_CAST({raw} AS DOUBLE) % 1 <> 0" if want == "BIGINT" else "")
                                       + ")").fetchall()[0][0]
                if not bad:
                    replace[col] = f"TRY_CAST({raw} AS {want}) AS {_q(col)}"
                    self.retyped.setdefault(table, []).append(col)
            elif col not in PII_COLUMNS:
                added.append(f"CAST(NULL AS {want}) AS {_q(col)}")
                self.absent.setdefault(table, []).append(col)
        return replace, added

    # ------------------------------------------------------------------ reading
    def has(self, table: str) -> bool:
        """Whether the canonical ``table`` exists in this source."""
        return table in self.tables()

    def tables(self) -> list[str]:
        """Canonical tables present in the source."""
        rows = self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'memory' "
            "AND table_type = 'VIEW' AND table_name NOT LIKE 'src_%'").fetchall()
        return [t for t in CANONICAL_TABLES if t in {r[0] for r in rows}]

    def source_columns(self, name: str, raw: bool = False) -> list[str]:
        rel = self._raw[name] if raw else _q(name)
        return [d[0] for d in self.con.execute(f"SELECT * FROM {rel} LIMIT 0").description]

    def columns(self, table: str) -> dict[str, str]:
        """Column name -> DuckDB type of canonical ``table``."""
        self.need(table)
        rows = self.con.execute(f"DESCRIBE SELECT * FROM {_q(table)}").fetchall()
        return {r[0]: r[1] for r in rows}

    def held(self, table: str) -> dict[str, str]:
        """``columns`` without those the source lacks (read as NULL, listed in ``absent``)."""
        gone = set(self.absent.get(table, ()))
        return {c: t for c, t in self.columns(table).items() if c not in gone}

    def count(self, table: str) -> int:
        self.need(table)
        return int(self.con.execute(f"SELECT count(*) FROM {_q(table)}").fetchall()[0][0])

    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        """Run SQL in DuckDB and return a DataFrame (internal: may hold raw identifiers)."""
        try:
            return share_strings(self.con.execute(query, params or []).df())
        except duckdb.ConversionException as e:
            raise DataContractError(f"a value could not be converted while reading: {_first_line(e)}") from None

    def arrow(self, query: str):
        """Run SQL in DuckDB and return a ``pyarrow.Table`` (internal: may hold raw identifiers)."""
        try:
            return self.con.sql(query).to_arrow_table()
        except duckdb.ConversionException as e:
            raise DataContractError(f"a value could not be converted while reading: {_first_line(e)}") from None
        except duckdb.OutOfMemoryException as e:
            raise EngineMemoryError(f"DuckDB ran out of memory for one query: {_first_line(e)}") from e
        except duckdb.BinderException as e:   # e.g. a column the query names that the source does not give
            raise DataContractError(f"a query named what the source does not have: {_first_line(e)}") from None

    def frame(self, table: str, columns: list[str] | None = None, where: str | None = None) -> pd.DataFrame:
        """Read canonical ``table`` (internal: raw identifiers and PII included)."""
        self.need(table)
        cols = ", ".join(_q(c) for c in columns) if columns else "*"
        q = f"SELECT {cols} FROM {_q(table)}" + (f" WHERE {where}" if where else "")
        return self.sql(q)

    def need(self, table: str) -> None:
        """Raise ``NotEstimable`` naming ``table`` and the tables found when the source lacks it.

        A ``DataContractError`` outside a report section; inside one (``NotebookContext.section``)
        the section says it is not estimable for want of the table and the page goes on.
        """
        if not self.has(table):
            from crm_lib.errors import NotEstimable
            from crm_lib.fmt import tr

            raise NotEstimable(tr("{table}: table is missing from the source (found: {found})", table=table,
                                  found=", ".join(self.tables()) or "no canonical tables"),
                               tr("add {table} to the source, or name its file in the mapping", table=table))

    def data_start(self):
        """The first day of the first month with balances (``datetime.date``), or None for a source
        without balances: the earliest period a pack can be built for (``crm-workbench backfill``)."""
        if not self.has("balances"):
            return None
        v = self.con.execute("SELECT min(month) FROM balances").fetchall()[0][0]
        return None if v is None else pd.Timestamp(v).to_period("M").start_time.date()

    def data_end(self) -> pd.Timestamp:
        """The end of the data: the last month-end with balances.

        A source without balances (a bank that extracts customers and transactions only)
        ends at the last month-end on or before its latest dated row (transactions,
        accounts, complaints, surveys, onboarding and closure dates); a source with no
        dated row at all (a customer snapshot) at the last month-end before today, the
        day it is read.
        """
        if self.has("balances"):
            v = self.con.execute("SELECT max(month) FROM balances").fetchall()[0][0]
            return pd.Timestamp(v).normalize()
        dated = {"transactions": ("ts",), "accounts": ("open_date", "close_date"), "complaints": ("opened_at",),
                 "surveys": ("survey_date",), "customers": ("onboard_date", "closed_date")}
        last = []
        for t, cols in dated.items():
            held = self.columns(t) if self.has(t) else {}
            for c in cols:
                if c in held and held[c].startswith(("DATE", "TIMESTAMP")):
                    v = self.con.execute(f"SELECT max(CAST({_q(c)} AS DATE)) FROM {_q(t)}").fetchall()[0][0]
                    if v is not None:
                        last.append(pd.Timestamp(v))
        day = max(last) if last else pd.Timestamp.today().normalize() - pd.Timedelta(days=1)
        return day if day.is_month_end else (day - pd.offsets.MonthEnd(1)).normalize()

    def fingerprint(self) -> str:
        """A content hash of every canonical table, the same on every engine and source form.

        Per table, its row count and the sum over rows of the first 60 bits of the MD5 of the row's text
        (``row_text``): order-free, and the same for the same rows whether they are read by DuckDB or Spark,
        from a DuckDB file, Parquet or CSV. One query per table, run by the engine (the rows never leave it).
        """
        h = hashlib.sha256()
        for t in self.tables():
            row = row_text(self.columns(t))
            n, x = self.con.execute(
                f"SELECT count(*), coalesce(sum(CAST(CAST(('0x' || substr(md5({row}), 1, 15)) AS BIGINT) "
                f"AS DECIMAL(38, 0))), 0) "
                f"FROM {_q(t)}").fetchall()[0]
            h.update(f"{t}:{n}:{int(x)};".encode())
        return h.hexdigest()[:16]

    @contextmanager
    def kept_results(self):
        """Within the block, ``kept(query)`` runs each query once into a temporary table of this session and
        reads it from there after: a book built part by part queries the warehouse once, not once per part.
        The tables are dropped when the block ends."""
        outer = self._kept is not None
        if not outer:
            self._kept = {}
        try:
            yield self
        finally:
            if not outer:
                for name in self._kept.values():
                    self._drop_temp(name)
                self._kept = None

    @property
    def keeping(self) -> bool:
        """Inside ``kept_results``."""
        return self._kept is not None

    def kept(self, query: str) -> str | None:
        """The temporary table holding ``query``'s result (made on first use), or ``None`` outside
        ``kept_results``."""
        if self._kept is None:
            return None
        if query not in self._kept:
            name = f"crm_kept_{len(self._kept)}_{secrets.token_hex(3)}"
            self._create_temp(name, query)
            self._kept[query] = name
        return self._kept[query]

    def _create_temp(self, name: str, query: str) -> None:
        self.con.execute(f"CREATE TEMP TABLE {name} AS {query}")

    def _drop_temp(self, name: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {name}")

    def close(self) -> None:
        self.con.close()
        spill = getattr(self, "_spill", None)
        if spill is not None and spill.exists():
            shutil.rmtree(spill, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_source(source: str | Path, mapping=None, threads: int | None = None,
                memory_limit: str | None = None) -> Warehouse:
    """Open ``source`` (with an optional mapping file path or object) as a Warehouse.

    A Spark source opens the tables on Spark instead (``crm_lib.data.spark.SparkWarehouse``, the same
    interface, every query compiled to Spark SQL; ``crm_lib.data.spark.open_spark``):

    - ``spark:local[2]?path=/data/bank/parquet``: a Parquet folder on a local session of 2 cores
      (``spark:local[N]?path=...`` on N, ``spark:local[*]?path=...`` on all of them);
    - ``sc://host:15002?path=s3a://bank/crm`` or ``sc://host:15002?database=crm``: a Spark Connect server
      (a cluster), its token from ``SPARK_CONNECT_AUTHENTICATE_TOKEN``.

    ``threads`` and ``memory_limit`` do not apply there; a mapping does, except its CSV reading options.
    """
    if isinstance(source, str) and source.startswith(("spark:", "sc://")):
        from crm_lib.data.spark import open_spark

        return open_spark(source, mapping)
    if mapping is not None and not hasattr(mapping, "select_sql"):
        from crm_lib.data.mapping import load_mapping

        mapping = load_mapping(mapping)
    return Warehouse(source, mapping=mapping, threads=threads, memory_limit=memory_limit)


def _csv_relation(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    """``read_csv`` of ``path`` with the dialect and column types sniffed once, over the whole file.

    Left to ``auto_detect``, DuckDB would sniff the whole file again on every query of
    the view (several times slower than the read itself).
    """
    auto = f"read_csv({_lit(str(path))}, header=true, auto_detect=true, sample_size=-1)"
    sniff = f"SELECT Prompt FROM sniff_csv({_lit(str(path))}, header=true, sample_size=-1)"
    prompt = con.execute(sniff).fetchall()[0][0]
    prompt = str(prompt or "").strip().rstrip(";")
    return prompt[len("FROM "):] if prompt.startswith("FROM read_csv(") and prompt.endswith(")") else auto


def _check_fields(path: Path) -> None:
    """Raise ``SourceError`` at the first line whose field count differs from the header's."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        for fields in reader:
            if len(fields) != len(header):
                raise SourceError(
                    f"{path.stem}.*: file {path.name} is not a regular CSV (rule 'every line has the header's "
                    f"{len(header)} fields'): line {reader.line_num} has {len(fields)}, e.g.\n    "
                    f"{','.join(fields)[:300]}")
    if len(header) > 1:
        raise SourceError(f"{path.stem}.*: file {path.name} could not be split into columns "
                          f"(rule 'comma-separated with a header row'): header {','.join(header)[:300]!r}")
