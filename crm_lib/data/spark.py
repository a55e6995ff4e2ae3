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

import contextlib
import datetime as _dt
import decimal
import functools
import glob as _glob
import logging
import os
import re
import weakref
from pathlib import Path

import duckdb
import pandas as pd
import sqlglot
from sqlglot import exp

from crm_lib.data.sources import CANONICAL_TABLES, SourceError, _classify, _q
from crm_lib.data.store import Warehouse, share_strings
from crm_lib.errors import ConfigError, DataContractError

logger = logging.getLogger(__name__)


# The settings of every local session the workbench starts (``local_session``, ``pack_server``): no UI, UTC,
# Arrow to pandas; shuffle partitions follow the cores (4 for ``local[*]``). In local mode the driver's JVM is
# also the executor: its heap (``CRM_SPARK_DRIVER_MEMORY``, default 4g) holds the scans' working sets and the
# results going back to Python (the 1M-customer feature table is ~0.5 GB; 2g lost it).
DRIVER_MEMORY_ENV = "CRM_SPARK_DRIVER_MEMORY"
_SESSION_CONF = {
    "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": lambda master: (re.findall(r"\[(\d+)\]", master) or ["4"])[0],
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": lambda master: os.environ.get(DRIVER_MEMORY_ENV, "4g"),
    "spark.driver.maxResultSize": "2g",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def _session_conf(master: str) -> dict[str, str]:
    """``_SESSION_CONF`` for ``master`` (``local[2]``, ``local[*]``)."""
    return {k: v(master) if callable(v) else v for k, v in _SESSION_CONF.items()}


def local_session(app: str = "crm-workbench", cores: int | str = 2):
    """A local Spark session (``local[cores]``), quiet and small, for a laptop or a test.

    An existing session of this process is returned as it is (Spark has one per process).
    """
    from pyspark.sql import SparkSession

    master = f"local[{cores}]"
    builder = SparkSession.builder.master(master).appName(app)
    for k, v in _session_conf(master).items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


_SPARK_URL = re.compile(r"spark:local(?:\[(\d+|\*)\])?\?path=(.+)")
_CONNECT_URL = re.compile(r"(sc://[^?/;]+)(/;[^?]*)?\?(path|database)=(.+)")
_DATABASE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")

# The Spark Connect server of a pack on ``spark:local[N]`` (``pack_server``): its address, for every
# notebook kernel of the pack (and the door) to work in one JVM instead of starting one each.
PACK_REMOTE_ENV = "CRM_SPARK_PACK_REMOTE"
# Spark Connect's own variable for the bearer token a client sends (pyspark reads it; never in a URL).
TOKEN_ENV = "SPARK_CONNECT_AUTHENTICATE_TOKEN"
SOURCE_FORMS = ("spark:local[N]?path=<folder of Parquet tables> (a local session of N cores, or * for all), "
                "sc://<host>:<port>?path=<folder or URI the cluster reads> or "
                "sc://<host>:<port>?database=<database of the canonical tables> (Spark Connect; "
                f"token from {TOKEN_ENV}; ';use_ssl=true' after the port for TLS)")


def open_spark(source: str, mapping=None) -> "SparkWarehouse":
    """A Spark source (``crm_lib.data.store.open_source``) as a ``SparkWarehouse``.

    - ``spark:local[N]?path=<folder>``: a local Spark session of N cores in this process, or, inside a
      pack (``pack_server``), a session of the pack's one local Spark Connect server;
    - ``sc://host:port?path=<folder or URI>`` / ``sc://host:port?database=<db>``: a session of a Spark
      Connect server (a cluster); the tables are read where the server is, and only query results
      (customer-level or aggregated frames) come back. A token comes from ``SPARK_CONNECT_AUTHENTICATE_TOKEN``,
      never from the source string (which the pack's manifest records): a ``token=`` in it is refused.

    ``mapping`` (a ``crm_lib.data.mapping.Mapping`` or its file) names the source's tables and columns, as on
    DuckDB; CSV reading options do not apply (Spark reads Parquet tables and databases).

    The source's form and the mapping are checked (and a local folder found) before a session is started.
    """
    mapping = _mapping(mapping)
    m = _SPARK_URL.fullmatch(source)
    if m:
        _parquet_folder(source, m.group(2))
        remote = os.environ.get(PACK_REMOTE_ENV)
        if remote:
            return SparkWarehouse(connect_session(remote, source), m.group(2), mapping=mapping, source=source,
                                  own_session=True)
        cores = m.group(1) or "2"
        return SparkWarehouse(local_session(cores=int(cores) if cores.isdigit() else cores), m.group(2),
                              mapping=mapping, source=source)
    c = _CONNECT_URL.fullmatch(source)
    if not c:
        raise SourceError(f"source {source}: a Spark source is one of: {SOURCE_FORMS}")
    address, opts, key, value = c.groups()
    if re.search(r"(^|;)\s*token\s*=", opts or ""):
        raise ConfigError(f"source {address}: a token in the source string would be recorded in the pack's "
                          f"manifest; set it in the environment variable {TOKEN_ENV} instead")
    if key == "path" and "://" not in value:
        _parquet_folder(source, value)         # a local folder (the server's machine is this one)
    if key == "database" and not _DATABASE.fullmatch(value):
        raise SourceError(f"source {source}: database {value!r} is not a name (letters, digits, _; "
                          "catalog.database at most)")
    session = connect_session(address + (opts or ""), source)
    return SparkWarehouse(session, **{key: value}, mapping=mapping, source=source, own_session=True)


def connect_session(url: str, source: str | None = None):
    """A new session of the Spark Connect server at ``url`` (``sc://host:port[/;use_ssl=true]``).

    Raises ``SourceError`` when the server does not answer (a first query is made here).
    """
    import socket
    from urllib.parse import urlsplit

    from pyspark.sql import SparkSession

    where = urlsplit(url.split("/;")[0])
    try:      # Spark Connect's client retries an unreachable server for minutes: a plain connect first
        socket.create_connection((where.hostname, where.port or 15002), timeout=10).close()
    except OSError as e:
        raise SourceError(f"source {source or url}: no Spark Connect server listens at {where.hostname}:"
                          f"{where.port or 15002} (rule 'Spark reachable'): {e}") from None
    mode = os.environ.get("SPARK_CONNECT_MODE_ENABLED")
    try:
        spark = SparkSession.builder.remote(url).create()
        spark.sql("SELECT 1").collect()
    except Exception as e:   # noqa: BLE001 -- gRPC and Spark errors share no base class
        raise SourceError(f"source {source or url}: the Spark Connect server at {url.split('/;')[0]} did not "
                          f"answer (rule 'Spark reachable'): {_first_line(e)}") from None
    finally:
        # pyspark marks the whole process as Connect-only once a Connect session exists, and a local session
        # (``local_session``) could no longer start in it; this session is used only through its own object
        if mode is None:
            os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
    return spark


def _is_connect(spark) -> bool:
    return type(spark).__module__.startswith("pyspark.sql.connect")


@contextlib.contextmanager
def pack_server(source, log: str | Path | None = None):
    """For a pack on ``spark:local[N]?path=...``: one local Spark Connect server for the whole pack.

    Without it every notebook kernel starts its own JVM (about 7 s) and compiles every query cold; with
    it the door and the kernels open sessions of one warm server (``open_spark`` reads its address from
    ``CRM_SPARK_PACK_REMOTE``). It is the same engine (Spark, ``local[N]``, the settings of
    ``local_session``), bound to the loopback interface, with a fresh token for this pack
    (``SPARK_CONNECT_AUTHENTICATE_TOKEN``, given to the kernels through their environment), and it
    stops when the pack ends. Any other source, or a pack inside a pack, yields ``None`` and changes nothing.

    Yields the server's ``sc://localhost:<port>`` address (or ``None``).
    """
    m = _SPARK_URL.fullmatch(source or "") if isinstance(source, str) else None
    if not m or os.environ.get(PACK_REMOTE_ENV):
        yield None
        return
    import pyspark
    import secrets
    import shutil
    import signal
    import socket
    import subprocess
    import tempfile
    import time

    home = Path(pyspark.__file__).parent
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(16)
    master = f"local[{m.group(1) or 2}]"
    conf = {**_session_conf(master),
            "spark.connect.grpc.binding.address": "127.0.0.1", "spark.connect.grpc.binding.port": str(port)}
    cmd = [str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
           "--name", "crm-workbench pack", "--master", master]
    for k, v in conf.items():
        cmd += ["--conf", f"{k}={v}"]
    env = {**os.environ, "SPARK_HOME": str(home), TOKEN_ENV: token}
    own_log = log is None      # the server's log: kept (and named in the error) only when it fails to start
    if own_log:
        fd, log = tempfile.mkstemp(prefix="crm-spark-pack-", suffix=".log")
        os.close(fd)
    out = open(log, "ab")
    scratch = tempfile.mkdtemp(prefix="crm-spark-pack-")   # the server's working folder (spark-warehouse, ...)
    proc = subprocess.Popen(cmd + ["spark-internal"], env=env, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True, cwd=scratch)
    saved = {k: os.environ.get(k) for k in (PACK_REMOTE_ENV, TOKEN_ENV)}
    started = False
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise SourceError(f"source {source}: the pack's local Spark Connect server exited with code "
                                  f"{proc.returncode} while starting (its log: {log})")
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    started = True
                    break
            if time.monotonic() > deadline:
                raise SourceError(f"source {source}: the pack's local Spark Connect server did not listen "
                                  f"within 180 s (its log: {log})")
            time.sleep(0.25)
        url = f"sc://localhost:{port}"
        os.environ[PACK_REMOTE_ENV], os.environ[TOKEN_ENV] = url, token
        logger.info("Spark: one local Spark Connect server (%s) for the pack at %s", master, url)
        yield url
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        out.close()
        shutil.rmtree(scratch, ignore_errors=True)
        if own_log and started:
            Path(log).unlink(missing_ok=True)


def _mapping(mapping):
    """A mapping object from a mapping, its file, or ``None``."""
    if mapping is None or hasattr(mapping, "select_sql"):
        return mapping
    from crm_lib.data.mapping import load_mapping

    return load_mapping(mapping)


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
    - ``try_strptime(x, '<strftime format>')`` (a mapping's date ``format``): Spark's ``try_to_timestamp`` with
      the format in Spark's pattern letters (``spark_datetime_pattern``), on ``x`` without surrounding white
      space, which DuckDB skips too.
    - ``CAST('0x' || h AS BIGINT)`` (the number a hexadecimal string ``h`` writes, as ``fingerprint`` reads an
      MD5): Spark reads no ``0x``; ``CAST(conv(h, 16, 10) AS BIGINT)``.
    """
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "try_strptime":
        return _try_to_timestamp(node)
    if isinstance(node, exp.Cast) and node.to.is_type("bigint"):
        pipe = node.this.unnest()
        if (isinstance(pipe, exp.DPipe) and isinstance(pipe.this, exp.Literal) and pipe.this.is_string
                and pipe.this.this.lower() == "0x"):
            return exp.Cast(this=exp.func("conv", pipe.expression.copy(), exp.Literal.number(16),
                                          exp.Literal.number(10)), to=node.to.copy())
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


# strftime directive -> (Spark pattern letters when a separator is on both sides, when another field touches it). One
# letter parses one or more digits, as DuckDB's strptime does ("1/2/2024" and "01/02/2024" alike); a field
# next to another without a separator ("%Y%m%d") needs its fixed width to be split.
# %y is left out: DuckDB reads "85" as 1985, Spark's "yy" as 2085.
_SPARK_FIELDS = {"Y": ("yyyy", "yyyy"), "m": ("M", "MM"), "d": ("d", "dd"), "H": ("H", "HH"),
                 "I": ("h", "hh"), "M": ("m", "mm"), "S": ("s", "ss"), "f": ("SSSSSS", "SSSSSS"),
                 "p": ("a", "a"), "b": ("MMM", "MMM"), "B": ("MMMM", "MMMM"), "j": ("D", "DDD")}


def spark_datetime_pattern(fmt: str) -> str:
    """A DuckDB ``strptime`` format (``%d/%m/%Y``) as a Spark datetime pattern (``d/M/yyyy``).

    Raises ``sqlglot.errors.UnsupportedError`` for a directive without a Spark equivalent here (the message
    names it), rather than parse dates differently on the two engines.
    """
    tokens, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            d = fmt[i + 1]
            if d == "%":
                tokens.append(("lit", "%"))
            elif d in _SPARK_FIELDS:
                tokens.append(("field", d))
            else:
                raise sqlglot.errors.UnsupportedError(f"date format {fmt!r}: %{d} has no Spark pattern here "
                                                      f"(supported: {', '.join('%' + k for k in _SPARK_FIELDS)})")
            i += 2
        else:
            tokens.append(("lit", fmt[i]))
            i += 1
    out = []
    for k, (kind, v) in enumerate(tokens):
        if kind == "lit":
            out.append(f"'{v}'" if v.isalpha() else ("''" if v == "'" else v))
            continue
        touching = any(0 <= j < len(tokens) and tokens[j][0] == "field" for j in (k - 1, k + 1))
        out.append(_SPARK_FIELDS[v][1 if touching else 0])
    return "".join(out)


def _try_to_timestamp(node: exp.Anonymous) -> exp.Expression:
    args = node.expressions
    if len(args) != 2 or not (isinstance(args[1], exp.Literal) and args[1].is_string):
        raise sqlglot.errors.UnsupportedError("try_strptime: a value and a format literal expected")
    value = exp.Anonymous(this="regexp_replace",
                          expressions=[args[0].copy(), exp.Literal.string(r"^\s+|\s+$"), exp.Literal.string("")])
    return exp.Anonymous(this="try_to_timestamp",
                         expressions=[value, exp.Literal.string(spark_datetime_pattern(args[1].this))])


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
    """A read-only view of Parquet tables (or a database's tables) as the canonical tables, computed by Spark.

    Parameters
    ----------
    spark : SparkSession, optional
        The session to work in: a classic (local or cluster) session or a Spark Connect one. A new session
        of it is used (own views, own settings) unless ``own_session``; default ``local_session()``.
    path : str or Path
        Folder holding ``<table>.parquet`` or ``<table>/*.parquet`` per canonical table: a local folder, or
        a URI the session reads (``s3a://``, ``hdfs://``, ``abfss://``, ...; then each canonical table is
        looked for as ``<path>/<table>`` and ``<path>/<table>.parquet``).
    database : str, optional
        Instead of ``path``: the database (``db`` or ``catalog.db``) whose tables are the canonical tables.
    mapping : Mapping or path, optional
        The source's own table and column names, codes, date formats and scales onto the canonical schema
        (``crm_lib.data.mapping``), applied in Spark as on DuckDB (a date ``format`` through
        ``try_to_timestamp``, see ``spark_datetime_pattern``); its CSV reading options do not apply.
    source : str, optional
        How the source is named in messages (default ``spark:?path=<path>``).
    own_session : bool
        ``spark`` is this warehouse's own session (``open_spark``'s Spark Connect sessions): used as it is
        and stopped by ``close`` (or when the process exits), which releases it on the server.
    """

    kind = "spark"

    def __init__(self, spark=None, path: str | Path | None = None, mapping=None, source: str | None = None,
                 database: str | None = None, own_session: bool = False):
        if path is None and database is None:
            raise SourceError("a Spark source needs the folder of its Parquet tables (spark:local[2]?path=/folder) "
                              "or a database (sc://host:15002?database=crm)")
        self.source = source or (f"spark:?path={path}" if path is not None else f"spark:?database={database}")
        self.mapping = _mapping(mapping)
        self.threads = None
        self.database = database
        self.path = None if path is None else (str(path) if "://" in str(path) else _parquet_folder(self.source, path))
        spark = spark or local_session()
        self.spark = spark if own_session else spark.newSession()
        self._finalizer = (weakref.finalize(self, _stop_quietly, self.spark)
                           if own_session and _is_connect(self.spark) else None)
        self.spark.conf.set("spark.sql.timestampType", "TIMESTAMP_NTZ")   # DuckDB's TIMESTAMP: no time zone
        self.con = _SparkConnection(self)
        self._raw: dict[str, str] = {}
        self._kept: dict[str, str] | None = None
        self._views_made: list[str] = []
        self.absent: dict[str, list[str]] = {}
        self.retyped: dict[str, list[str]] = {}
        self._attach()
        self._views()

    # ------------------------------------------------------------------ opening
    def _attach(self) -> None:
        for name, reader in self._table_readers():
            view = f"src_{name}"
            try:
                reader().createOrReplaceTempView(view)
            except Exception as e:   # noqa: BLE001 -- Spark's analysis errors have no common base in py4j
                raise SourceError(f"{name}.*: table {name} in source {self.source} is unreadable "
                                  f"(rule 'readable parquet'): {_first_line(e)}") from None
            self._raw[name] = _q(view)
        if self.mapping is not None:     # a catalog lower-cases names (CUST_MASTER is cust_master there)
            lower = {k.lower(): v for k, v in self._raw.items()}
            for t in CANONICAL_TABLES:
                src = self.mapping.source_table(t)
                if src not in self._raw and src.lower() in lower:
                    self._raw[src] = lower[src.lower()]

    def _table_readers(self):
        """(table name, a function returning its Spark DataFrame) for each table the source holds."""
        if self.database is not None:
            db = ".".join(f"`{part}`" for part in self.database.split("."))
            try:
                names = [r[0] for r in self.spark.sql(f"SHOW TABLES IN {db}").where("NOT isTemporary")
                         .select("tableName").collect()]
            except Exception as e:   # noqa: BLE001
                raise SourceError(f"source {self.source}: database {self.database} could not be listed "
                                  f"(rule 'readable database'): {_first_line(e)}") from None
            for name in sorted(names):
                yield name, functools.partial(self.spark.table, f"{db}.`{name}`")
            return
        if "://" in self.path:     # a URI only the session can list: look for each canonical table
            names = [self.mapping.source_table(t) if self.mapping else t for t in CANONICAL_TABLES]
            for name in names:
                for candidate in (f"{self.path.rstrip('/')}/{name}", f"{self.path.rstrip('/')}/{name}.parquet"):
                    try:
                        self.spark.read.parquet(candidate).schema   # analysed now: a missing path raises here
                    except Exception as e:   # noqa: BLE001
                        if "PATH_NOT_FOUND" in str(e) or "does not exist" in str(e):
                            continue
                        raise SourceError(f"{name}.*: table {candidate} in source {self.source} is unreadable "
                                          f"(rule 'readable parquet'): {_first_line(e)}") from None
                    yield name, functools.partial(self.spark.read.parquet, candidate)
                    break
            return
        for p in sorted(Path(self.path).iterdir()):
            name = p.name.split(".")[0]
            if not (p.suffix == ".parquet" or (p.is_dir() and any(p.glob("*.parquet")))):
                continue
            files = sorted(_glob.glob(str(p / "*.parquet"))) if p.is_dir() else [str(p)]
            yield name, functools.partial(self.spark.read.parquet, *files)

    def _views(self) -> None:
        for table in CANONICAL_TABLES:
            src_name = self.mapping.source_table(table) if self.mapping else table
            if src_name not in self._raw:
                continue
            select = (self.mapping.select_sql(table, self._describe(f"SELECT * FROM {self._raw[src_name]}"))
                      if self.mapping else "*")
            base = f"SELECT {select} FROM {self._raw[src_name]}"
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
        return share_strings(_Cursor(self._arrow(query, params)).df())

    def arrow(self, query: str):
        """Run DuckDB SQL on Spark and return a ``pyarrow.Table``."""
        return self._arrow(query)

    def _create_temp(self, name: str, query: str) -> None:
        # computed now and kept by the session (memory, then its disk), read by name after
        self.spark.sql(f"CACHE TABLE {name} AS {to_spark(query)}")

    def _drop_temp(self, name: str) -> None:
        try:
            self.spark.sql(f"UNCACHE TABLE IF EXISTS {name}")
            self.spark.catalog.dropTempView(name)
        except Exception:   # noqa: BLE001 -- a session stopped under us
            pass

    def close(self) -> None:
        """Drop this warehouse's views (the Spark session itself is left running for the next one)."""
        for v in list(self._views_made) + [v.strip('"') for v in self._raw.values()]:
            try:
                self.spark.catalog.dropTempView(v)
            except Exception:   # noqa: BLE001 -- a session stopped under us
                pass
        self._views_made = []
        if self._finalizer is not None:
            self._finalizer()          # release the Spark Connect session (its client would hold the exit)


def _stop_quietly(spark) -> None:
    try:
        spark.stop()
    except Exception:   # noqa: BLE001 -- the server may be gone already
        pass


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
