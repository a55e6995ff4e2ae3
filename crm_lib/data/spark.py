"""The warehouse on Spark: the same interface as ``crm_lib.data.store.Warehouse``, queries written once.

When a bank outgrows one machine, the canonical tables live as Parquet on a cluster (or on a laptop,
``local_session``). ``SparkWarehouse`` reads such a folder (``<table>.parquet`` or ``<table>/*.parquet``,
the layout ``Warehouse`` reads) as temporary views named after the canonical tables, with the contract's
column types (``Warehouse._contract_select``'s rules), and runs every query of the library on it:

- a query is written once, in DuckDB's SQL, as for ``Warehouse``; SQLGlot compiles it to Spark SQL
  (``to_spark``) and ``spark.sql`` runs it, ``?`` parameters bound as Spark's positional parameters
  (values are never pasted into the query);
- results come back through Arrow and are handed to pandas by DuckDB's own conversion, so a frame, a
  ``fetchall`` row or a ``description`` has the types ``Warehouse`` gives for the same Arrow types;
- ``con`` is a small stand-in for DuckDB's connection (``execute(query, params)`` returning a cursor with
  ``fetchall``/``df``/``description``/``fetch_df_chunk``; ``register``/``unregister`` of a pandas frame).

Each warehouse works in its own Spark session (``SparkSession.newSession``: its own temporary views and SQL
settings, one shared SparkContext), so two warehouses on one session never see each other's tables. The
session is set to DuckDB's meaning of a plain ``TIMESTAMP`` (without time zone, ``spark.sql.timestampType``).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import functools
import glob as _glob
import hashlib
import logging
import re
from pathlib import Path

import duckdb
import pandas as pd
import sqlglot
from sqlglot import exp

from crm_lib.data.sources import CANONICAL_TABLES, SourceError, _classify, _q
from crm_lib.data.store import Warehouse
from crm_lib.errors import ConfigError, DataContractError

logger = logging.getLogger(__name__)


def local_session(app: str = "crm-workbench", cores: int | str = 2):
    """A local Spark session (``local[cores]``), quiet and small, for a laptop or a test.

    An existing session of this process is returned as it is (Spark has one per process).
    """
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(f"local[{cores}]").appName(app)
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", str(cores if isinstance(cores, int) else 4))   # small data
             .config("spark.sql.session.timeZone", "UTC").config("spark.driver.memory", "2g")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


_SPARK_URL = re.compile(r"spark:local(?:\[(\d+|\*)\])?\?path=(.+)")


def open_spark(source: str, mapping=None) -> "SparkWarehouse":
    """``spark:local[N]?path=<folder>`` (``crm_lib.data.store.open_source``) as a ``SparkWarehouse``.

    The source's form, the mapping and the folder are checked before a Spark session is started.
    """
    m = _SPARK_URL.fullmatch(source)
    if not m:
        raise SourceError(f"source {source}: a Spark source is spark:local[N]?path=<folder of Parquet tables> "
                          "(e.g. spark:local[2]?path=/data/bank/parquet; N cores, or * for all)")
    _refuse_mapping(source, mapping)
    _parquet_folder(source, m.group(2))
    cores = m.group(1) or "2"
    return SparkWarehouse(local_session(cores=int(cores) if cores.isdigit() else cores), m.group(2), source=source)


def _refuse_mapping(source, mapping) -> None:
    if mapping is not None:
        raise ConfigError(f"source {source}: a column mapping is not supported on Spark yet; give a Parquet "
                          "folder already in the canonical tables, or open the source with DuckDB")


def _parquet_folder(source: str, path) -> str:
    kind, folder = _classify(str(path))
    if kind != "parquet":
        raise SourceError(f"source {source}: Spark reads a folder of Parquet tables "
                          f"(<table>.parquet or <table>/*.parquet); {path} is a {kind} source")
    return folder


# --------------------------------------------------------------------------- the query layer

@functools.lru_cache(maxsize=1024)
def to_spark(query: str) -> str:
    """``query`` (DuckDB SQL) as Spark SQL, compiled by SQLGlot; ``?`` parameters kept in place.

    Raises ``sqlglot.errors.UnsupportedError`` for a construct SQLGlot cannot express in Spark SQL.
    """
    trees = sqlglot.parse(query, read="duckdb")
    if len(trees) != 1:
        raise ValueError(f"one statement expected, got {len(trees)}: {query[:200]}")
    tree = trees[0].transform(_fix_for_spark)
    return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)


def _fix_for_spark(node: exp.Expression) -> exp.Expression:
    """Where SQLGlot's DuckDB -> Spark compilation would change a result, the Spark spelling of DuckDB's meaning.

    - ``l ASOF [LEFT] JOIN r ON <equalities> AND <one inequality>`` (Spark has no ASOF join): per row of ``l``,
      the row of ``r`` nearest below (``>``, ``>=``) or above (``<``, ``<=``). Compiled as an ordinary join on
      ``r`` with each row's next key (``LEAD``/``LAG`` over the equality columns), keeping the row whose next key
      no longer meets the inequality; ``r`` gains a column ``_asof_neighbour`` (a ``SELECT *`` shows it).
    - ``date_trunc`` is a TIMESTAMP without time zone in DuckDB (for a date or a timestamp); Spark's is a
      TIMESTAMP with the session's time zone, whatever ``spark.sql.timestampType`` says: cast back.
    - ``x / 86400.0``: DuckDB divides in DOUBLE; Spark reads ``86400.0`` as a DECIMAL and rounds the quotient
      to the decimal's scale (a complaint's resolution time moved by up to 4e-8 days): the literal is a DOUBLE.
    """
    if isinstance(node, exp.Div):
        for side in ("this", "expression"):
            lit = node.args.get(side)
            if isinstance(lit, exp.Literal) and not lit.is_string and any(ch in lit.this for ch in ".eE"):
                node.set(side, exp.Cast(this=lit.copy(), to=exp.DataType.build("DOUBLE")))
    if isinstance(node, exp.Join) and str(node.args.get("method") or "").upper() == "ASOF":
        return _asof_as_lateral(node)
    if isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)) and not node.meta.get("crm_ntz"):
        node.meta["crm_ntz"] = True
        return exp.Cast(this=node, to=exp.DataType.build("TIMESTAMP_NTZ", dialect="spark"))
    return node


def _asof_as_lateral(join: exp.Join) -> exp.Join:
    right = join.this
    alias = right.alias_or_name
    cond = join.args.get("on")
    ineqs = [n for n in (cond.find_all(exp.GT, exp.GTE, exp.LT, exp.LTE) if cond else ())]
    if not alias or len(ineqs) != 1:
        raise sqlglot.errors.UnsupportedError(f"ASOF join with {len(ineqs)} inequalities: only one is supported")
    ineq = ineqs[0]

    def inner(e: exp.Expression) -> bool:
        return any(c.table == alias for c in e.find_all(exp.Column))

    if inner(ineq.expression) and not inner(ineq.this):      # outer > r.x: the largest r.x below
        key, desc = ineq.expression, isinstance(ineq, (exp.GT, exp.GTE))
    elif inner(ineq.this) and not inner(ineq.expression):    # r.x < outer: the same, written the other way
        key, desc = ineq.this, isinstance(ineq, (exp.LT, exp.LTE))
    else:
        raise sqlglot.errors.UnsupportedError(f"ASOF join inequality {ineq.sql('duckdb')}: one side must be {alias}'s")
    side = "LEFT " if str(join.args.get("side") or "").upper() == "LEFT" else ""
    # Each row of r knows the next key (lead; lag when the nearest above is wanted) among the rows of its
    # equality partition: the row to join is the one whose neighbour no longer meets the inequality.
    parts = [e for q in cond.find_all(exp.EQ) for e in (q.this, q.expression) if inner(e)]
    nb = exp.column("_asof_neighbour", table=alias)
    beyond = ineq.copy().transform(lambda n: nb.copy() if n == key else n)
    t = exp.to_identifier(alias).sql("spark")
    sub = (f"SELECT *, {'LEAD' if desc else 'LAG'}({key.sql('spark')}) OVER ("
           + (f"PARTITION BY {', '.join(p.sql('spark') for p in parts)} " if parts else "")
           + f"ORDER BY {key.sql('spark')} {'NULLS FIRST' if desc else 'NULLS LAST'}) AS _asof_neighbour "
           f"FROM {right.sql('spark')}")
    q = sqlglot.parse_one(f"SELECT * FROM _l {side}JOIN ({sub}) AS {t} ON ({cond.sql('spark')}) AND "
                          f"({nb.sql('spark')} IS NULL OR NOT ({beyond.sql('spark')}))", read="spark")
    return q.args["joins"][0]


def _param(v):
    """A Python value as Spark binds it (numpy scalars and pandas timestamps as plain Python values)."""
    if v is None or isinstance(v, (str, bool, int, float, decimal.Decimal, _dt.date, _dt.datetime)):
        return v.to_pydatetime() if isinstance(v, pd.Timestamp) else v
    if isinstance(v, (list, tuple)):   # a list (DuckDB binds it for ``list_contains(CAST(? AS VARCHAR[]), x)``)
        return [_param(x) for x in v]
    if hasattr(v, "item"):          # numpy scalar
        return v.item()
    raise TypeError(f"query parameter {v!r} of type {type(v).__name__}: not a SQL value")


# Spark's simple type names -> DuckDB's (``Warehouse.columns`` reports DuckDB's)
_TYPE_NAMES = {"string": "VARCHAR", "double": "DOUBLE", "float": "FLOAT", "bigint": "BIGINT", "int": "INTEGER",
               "smallint": "SMALLINT", "tinyint": "TINYINT", "boolean": "BOOLEAN", "date": "DATE",
               "timestamp_ntz": "TIMESTAMP", "timestamp": "TIMESTAMP WITH TIME ZONE", "binary": "BLOB",
               "void": "NULL"}


def duckdb_type(spark_type) -> str:
    """DuckDB's name for a Spark data type (``VARCHAR``, ``DOUBLE``, ``BIGINT``, ``TIMESTAMP``, ...)."""
    s = spark_type.simpleString()
    if s in _TYPE_NAMES:
        return _TYPE_NAMES[s]
    if s.startswith("decimal"):
        return s.upper()
    if s.startswith("varchar") or s.startswith("char"):
        return "VARCHAR"
    if s.startswith("array<"):
        return duckdb_type(spark_type.elementType) + "[]"
    return s.upper()


class _Cursor:
    """What ``SparkWarehouse.con.execute`` returns: DuckDB's result of the Arrow table Spark computed."""

    def __init__(self, table):
        self.arrow_table = table
        self._con = duckdb.connect(":memory:")
        self._con.register("_result", table)
        self._res = self._con.execute("SELECT * FROM _result")

    @property
    def description(self):
        return self._res.description

    def fetchall(self):
        return self._res.fetchall()

    def fetchone(self):
        return self._res.fetchone()

    def df(self) -> pd.DataFrame:
        return self._res.df()

    fetchdf = df

    def fetch_df_chunk(self, vectors_per_chunk: int = 1):
        return self._res.fetch_df_chunk(vectors_per_chunk)

    def arrow(self):
        return self.arrow_table

    to_arrow_table = arrow

    def close(self) -> None:
        self._con.close()


class _SparkConnection:
    """The part of DuckDB's connection API the library uses, answered by Spark."""

    def __init__(self, wh: "SparkWarehouse"):
        self._wh = wh

    def execute(self, query: str, params=None) -> _Cursor:
        return _Cursor(self._wh._arrow(query, params))

    def sql(self, query: str):
        return self.execute(query)

    def register(self, name: str, df: pd.DataFrame) -> None:
        """``df`` as a temporary view ``name`` of this warehouse's session."""
        self._wh.spark.createDataFrame(df).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self._wh.spark.catalog.dropTempView(name)

    def close(self) -> None:
        pass


class SparkWarehouse(Warehouse):
    """A read-only view of a Parquet folder as the canonical tables, computed by Spark.

    Parameters
    ----------
    spark : SparkSession, optional
        The session to work in (a new session of it is used: own views, own settings); default
        ``local_session()``.
    path : str or Path
        Folder holding ``<table>.parquet`` or ``<table>/*.parquet`` per canonical table.
    mapping : None
        Column mappings are not supported on Spark yet: a mapping raises ``ConfigError``.
    source : str, optional
        How the source is named in messages (default ``spark:?path=<path>``).
    """

    kind = "spark"

    def __init__(self, spark=None, path: str | Path | None = None, mapping=None, source: str | None = None):
        _refuse_mapping(source or path, mapping)
        if path is None:
            raise SourceError("a Spark source needs the folder of its Parquet tables (spark:local[2]?path=/folder)")
        self.source = source or f"spark:?path={path}"
        self.mapping = None
        self.threads = None
        self.path = _parquet_folder(self.source, path)
        self.spark = (spark or local_session()).newSession()
        self.spark.conf.set("spark.sql.timestampType", "TIMESTAMP_NTZ")   # DuckDB's TIMESTAMP: no time zone
        self.con = _SparkConnection(self)
        self._raw: dict[str, str] = {}
        self._views_made: list[str] = []
        self.absent: dict[str, list[str]] = {}
        self.retyped: dict[str, list[str]] = {}
        self._attach()
        self._views()

    # ------------------------------------------------------------------ opening
    def _attach(self) -> None:
        for p in sorted(Path(self.path).iterdir()):
            name = p.name.split(".")[0]
            if not (p.suffix == ".parquet" or (p.is_dir() and any(p.glob("*.parquet")))):
                continue
            files = sorted(_glob.glob(str(p / "*.parquet"))) if p.is_dir() else [str(p)]
            view = f"src_{name}"
            try:
                self.spark.read.parquet(*files).createOrReplaceTempView(view)
            except Exception as e:   # noqa: BLE001 -- Spark's analysis errors have no common base in py4j
                raise SourceError(f"{name}.*: table file {p.name} in source {self.source} is unreadable "
                                  f"(rule 'readable parquet'): {_first_line(e)}") from None
            self._raw[name] = _q(view)

    def _views(self) -> None:
        for table in CANONICAL_TABLES:
            if table not in self._raw:
                continue
            base = f"SELECT * FROM {self._raw[table]}"
            self.spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {table} AS {to_spark(self._contract_select(table, base))}")
            self._views_made.append(table)

    def _describe(self, query: str) -> dict[str, str]:
        """Column -> DuckDB type name of ``query``'s result (DuckDB SQL)."""
        return {f.name: duckdb_type(f.dataType) for f in self.spark.sql(to_spark(query)).schema.fields}

    def _contract_select(self, table: str, base: str) -> str:
        """``base`` with the column types of the contract: ``Warehouse._contract_select``'s rules.

        Spark does not know ``* REPLACE``, so the columns are listed; the order is the one DuckDB's
        ``* REPLACE`` gives (the source's, then the absent ones).
        """
        from crm_lib.data.schema import SCHEMAS

        if table not in SCHEMAS:
            return base
        have = self._describe(base)
        replace, added = self._contract_plan(table, base, have)
        if not replace and not added:
            return base
        cols = [replace.get(c, _q(c)) for c in have] + added
        return f"SELECT {', '.join(cols)} FROM ({base})"

    # ------------------------------------------------------------------ reading
    def tables(self) -> list[str]:
        """Canonical tables present in the source."""
        return [t for t in CANONICAL_TABLES if t in self._views_made]

    def source_columns(self, name: str, raw: bool = False) -> list[str]:
        rel = self._raw[name] if raw else _q(name)
        return list(self._describe(f"SELECT * FROM {rel}"))

    def columns(self, table: str) -> dict[str, str]:
        """Column name -> DuckDB type name of canonical ``table`` (``VARCHAR``, ``DOUBLE``, ``TIMESTAMP``, ...)."""
        self.need(table)
        return self._describe(f"SELECT * FROM {_q(table)}")

    def _spark_frame(self, query: str, params=None):
        """``query`` (DuckDB SQL, ``?`` parameters) as a Spark DataFrame."""
        q = to_spark(query)
        if params:
            return self.spark.sql(q, args=[_param(v) for v in params])
        return self.spark.sql(q)

    def _arrow(self, query: str, params=None):
        try:
            return self._spark_frame(query, params).toArrow()
        except Exception as e:   # noqa: BLE001
            if _is_conversion_error(e):
                raise DataContractError(f"a value could not be converted while reading: {_first_line(e)}") from None
            raise

    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        """Run DuckDB SQL on Spark and return a DataFrame (the dtypes DuckDB gives for the same result)."""
        return _Cursor(self._arrow(query, params)).df()

    def arrow(self, query: str):
        """Run DuckDB SQL on Spark and return a ``pyarrow.Table``."""
        return self._arrow(query)

    def fingerprint(self) -> str:
        """A content hash of every canonical table (row count and an order-free hash of rows).

        Spark's own row hash (``xxhash64``): the same data gives a different fingerprint on DuckDB.
        """
        h = hashlib.sha256()
        for t in self.tables():
            cols = ", ".join(f"`{c}`" for c in self.columns(t))
            n, x = self.spark.sql(f"SELECT count(*), coalesce(sum(xxhash64({cols}) % 1000000007), 0) "
                                  f"FROM {t}").collect()[0]
            h.update(f"{t}:{n}:{x};".encode())
        return h.hexdigest()[:16]

    def close(self) -> None:
        """Drop this warehouse's views (the Spark session itself is left running for the next one)."""
        for v in list(self._views_made) + [v.strip('"') for v in self._raw.values()]:
            try:
                self.spark.catalog.dropTempView(v)
            except Exception:   # noqa: BLE001 -- a session stopped under us
                pass
        self._views_made = []


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def _is_conversion_error(e: BaseException) -> bool:
    """Whether a Spark error is a value that could not be cast (DuckDB's ``ConversionException``)."""
    cond = getattr(e, "getCondition", None) or getattr(e, "getErrorClass", None)
    try:
        name = cond() if cond else ""
    except Exception:   # noqa: BLE001
        name = ""
    return bool(name) and name.startswith(("CAST_INVALID_INPUT", "CAST_OVERFLOW", "INVALID_DATETIME"))
