"""Writing the synthetic bank: Parquet parts and the DuckDB warehouse, on background threads."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crm_lib.data._synth.spec import PARQUET_OPTIONS, ROW_IDS, WAREHOUSE_MEMORY_LIMIT, WAREHOUSE_THREADS


# --------------------------------------------------------------------------- writing

def _write_part(root: Path, table: str, part: int, data: pa.Table | pd.DataFrame) -> Path:
    """Write one Parquet part; dictionary encoding only for repeated string columns.

    Dictionary-encoding numbers, timestamps and the unique row identifiers only to fall
    back to plain encoding costs ~30% of the write time and makes the files larger.
    """
    d = root / "parquet" / table
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    path = d / f"part-{part:04d}.parquet"
    dictionary = [f.name for f in data.schema if pa.types.is_string(f.type) and f.name != ROW_IDS.get(table)]
    pq.write_table(data, path, use_dictionary=dictionary, **PARQUET_OPTIONS)
    return path


def _sql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


_DONE: Future = Future()
_DONE.set_result(None)


class _PartWriter:
    """Writes Parquet parts and loads them into ``warehouse.duckdb``, on two background threads.

    One thread writes each part's Parquet file; the other appends the same Arrow table to
    its DuckDB table (timestamps as microseconds, so every column gets the type
    ``read_parquet`` would give it). Parts are
    appended in submission order, so row order is part order. ``max_queued`` bounds how
    many submitted batches wait behind the one being written: each holds a chunk's tables
    in memory.
    """

    def __init__(self, root: Path, max_queued: int = 0, warehouse: bool = True):
        import duckdb

        self.root = root
        self.max_queued = max_queued
        self.con = None
        if warehouse:       # else Parquet parts only
            self.con = duckdb.connect(str(root / "warehouse.duckdb"))
            self.con.execute(f"SET threads={WAREHOUSE_THREADS}").fetchall()
            self.con.execute(f"SET memory_limit={_sql_str(WAREHOUSE_MEMORY_LIMIT)}").fetchall()
        self.created: set[str] = set()
        self.parquet_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthetic-parquet")
        self.duckdb_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthetic-duckdb")
        self.pending: deque[tuple[Future, Future]] = deque()

    def submit(self, part: int, tables: dict) -> None:
        while len(self.pending) > self.max_queued:
            for f in self.pending.popleft():
                f.result()
        self.pending.append((self.parquet_pool.submit(self._parquet, part, tables),
                             self.duckdb_pool.submit(self._duckdb, tables) if self.con is not None else _DONE))

    def _parquet(self, part: int, tables: dict) -> None:
        for name, data in tables.items():
            _write_part(self.root, name, part, data)

    def _duckdb(self, tables: dict) -> None:
        for name, data in tables.items():
            data = data.cast(pa.schema([pa.field(f.name, pa.timestamp("us")) if pa.types.is_timestamp(f.type) else f
                                        for f in data.schema]))
            self.con.register("_part", data)
            try:
                if name in self.created:
                    self.con.execute(f'INSERT INTO "{name}" SELECT * FROM _part').fetchall()
                else:
                    self.con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _part').fetchall()
                    self.created.add(name)
            finally:
                self.con.unregister("_part")

    def close(self) -> None:
        """Wait for every part, checkpoint and close the warehouse (raises a writer error)."""
        try:
            while self.pending:
                for f in self.pending.popleft():
                    f.result()
            if self.con is not None:
                self.con.execute("CHECKPOINT").fetchall()
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop queued parts, wait for the running ones and close the warehouse (idempotent)."""
        for pair in self.pending:
            for f in pair:
                f.cancel()
        self.parquet_pool.shutdown(wait=True)
        self.duckdb_pool.shutdown(wait=True)
        self.pending.clear()
        if self.con is not None:
            self.con.close()
            self.con = None
