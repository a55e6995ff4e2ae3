"""NumPy and Arrow helpers of the synthetic bank: seeded streams, grouped draws, id and label columns.

Tables are assembled directly as Arrow arrays (identifiers written into Arrow buffers
from their numbers, categories by ``take`` from their labels), never as pandas object
columns; ``_table`` attaches the pandas metadata ``pa.Table.from_pandas`` would.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from crm_lib.data._synth.spec import DAY


# --------------------------------------------------------------------------- helpers

def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


def _choice_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """One categorical draw per row of ``probs[rows]`` (rows sum to 1).

    With ``rows`` the cumulative sums are taken once per distinct row of ``probs`` and
    gathered column by column: the same numbers as ``_choice_rows(rng, probs[rows])``
    without materialising the gathered matrix.
    """
    cum = np.cumsum(probs, axis=1)
    if rows is None:
        u = rng.random(len(probs))[:, None] * cum[:, -1:]
        return (u > cum).sum(axis=1)
    u = rng.random(len(rows)) * cum[:, -1][rows]
    out = np.zeros(len(rows), dtype=np.int64)
    for j in range(cum.shape[1]):
        out += u > cum[:, j][rows]
    return out


def _expand(counts: np.ndarray) -> np.ndarray:
    """Row index repeated ``counts`` times (the 'explode' of a count vector)."""
    return np.repeat(np.arange(len(counts)), counts)


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0-based position of each element within its run of equal, sorted ``groups``."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)


def _order_by(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The permutation ``np.lexsort((values, groups))`` for non-negative integer ``groups``.

    Integer ``values`` (timestamps in seconds) are packed with the group into one int64
    key and sorted stably, which is exactly lexsort's order and ~10x faster. Float
    ``values`` are replaced by their rank first; elements tied on both keys may then
    come out in another order than lexsort's, which cannot change any output because
    they are equal.
    """
    groups = np.asarray(groups, dtype=np.int64)
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64)
    if np.issubdtype(values.dtype, np.floating):
        rank = np.empty(len(values), dtype=np.int64)
        rank[np.argsort(values)] = np.arange(len(values))
        values = rank
    v = values.astype(np.int64)
    lo, span = v.min(), int(v.max() - v.min()) + 1
    if int(groups.max()) * span + span >= 2**63:
        return np.lexsort((values, groups))
    return np.argsort(groups * span + (v - lo), kind="stable")


def _month_ends(start: np.datetime64, end: np.datetime64) -> np.ndarray:
    months = np.arange(start.astype("datetime64[M]"), end.astype("datetime64[M]") + 1)
    return ((months + 1).astype("datetime64[D]") - DAY)


_DIGITS4 = np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode("ascii"), dtype=np.uint32)


def _id_array(prefix: str, nums: np.ndarray, width: int) -> pa.Array:
    """Arrow strings ``prefix + str(k).zfill(width)`` for each ``k`` in ``nums``.

    Written straight into Arrow's buffers, four digits at a time; per-element Python or
    ``np.char`` string building costs ~10x more time and memory. Numbers wider than
    ``width`` (which ``zfill`` keeps whole) take the slow path.
    """
    nums = np.asarray(nums, dtype=np.int64)
    n = len(nums)
    if n and (nums.min() < 0 or nums.max() >= 10 ** width):
        return pa.array([prefix + str(k).zfill(width) for k in nums.tolist()], type=pa.string())
    head = prefix.encode("utf-8")
    length = len(head) + width
    limit = (2**31 - 1) // length - 1           # int32 offsets
    if n > limit:
        return pa.chunked_array([_id_array(prefix, nums[i:i + limit], width) for i in range(0, n, limit)])
    x = nums.astype(np.uint32 if n == 0 or nums.max() < 2**32 else np.uint64)
    buf = np.empty((n, length), dtype=np.uint8)
    for i, byte in enumerate(head):
        buf[:, i] = byte
    j = length
    while j > len(head):
        k = min(4, j - len(head))
        x, r = np.divmod(x, x.dtype.type(10_000))
        buf[:, j - k:j] = _DIGITS4[r].view(np.uint8).reshape(n, 4)[:, 4 - k:]
        j -= k
    offsets = np.arange(0, (n + 1) * length, length, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))


def _ids(prefix: str, start: int, n: int, width: int = 8) -> pa.Array:
    """Sequential identifiers ``prefix`` + zero-padded ``start .. start + n - 1``."""
    return _id_array(prefix, np.arange(start, start + n), width)


def _customer_ids(positions: np.ndarray) -> pa.Array:
    """``customer_id`` of 0-based customer positions (``CUS00000001`` is position 0)."""
    return _id_array("CUS", np.asarray(positions) + 1, 8)


def _labels(labels, codes: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Arrow strings ``labels[codes]``, null where ``null`` is True."""
    codes = np.asarray(codes, dtype=np.int64)
    if null is not None:
        codes = np.where(null, 0, codes)
    return pa.array(list(labels), type=pa.string()).take(pa.array(codes, mask=null))


def _col(x) -> pa.Array:
    """An Arrow column as ``pa.Table.from_pandas`` makes it (NaN and NaT become null)."""
    return x if isinstance(x, (pa.Array, pa.ChunkedArray)) else pa.array(x, from_pandas=True)


_PANDAS_META: dict = {}


def _table(columns: dict, nullable_int: tuple = ()) -> pa.Table:
    """An Arrow table with the pandas metadata ``pa.Table.from_pandas`` would attach.

    Columns must be in their final Arrow types (strings, timestamp[s], int8/int64,
    float64, bool); ``nullable_int`` names integer columns pandas reads back as ``Int64``.
    """
    t = pa.table({k: _col(v) for k, v in columns.items()})
    key = (t.schema, nullable_int)
    if key not in _PANDAS_META:
        empty = t.schema.empty_table().to_pandas()
        for c in nullable_int:
            empty[c] = empty[c].astype("Int64")
        _PANDAS_META[key] = pa.Table.from_pandas(empty, schema=t.schema, preserve_index=False).schema.metadata
    return t.replace_schema_metadata(_PANDAS_META[key])
