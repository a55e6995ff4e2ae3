"""A deterministic synthetic bank with planted ground truth.

All eight canonical tables are generated with vectorised NumPy, customer chunk by
customer chunk (``CHUNK`` customers at a time), and written as Parquet parts, so memory
stays bounded for a million customers. The same seed, size and end date give the same
bytes. The truth the generator plants (``personas.py``) is written to
``ground_truth.json`` and, per customer, to ``truth_customers.parquet``; neither is
part of the warehouse an analysis reads.

Time conventions: dates are days; churn time is in years since onboarding (365.25 days);
the BG/NBD purchase clock is in weeks.

Speed and memory (target: 1M customers in under two minutes and 4 GB on 2 cores): tables
are assembled directly as Arrow arrays, never as pandas object columns; string columns
are built from integer codes (identifiers from their numbers, categories by ``take``
from their labels) rather than per element; and two background threads write each
chunk's Parquet parts and append it to ``warehouse.duckdb`` while the main thread draws
the next chunk. The random draws, their order and the arithmetic on them are those of
the earlier pandas implementation; only how tables are assembled and written changed.

The code is split into private modules under ``crm_lib/data/_synth/``: ``spec.py``
(sizes, labels, ``BankSpec``), ``arrays.py`` (NumPy and Arrow helpers), ``people.py``
(population, exits, PII, campaigns), ``activity.py`` (the per-chunk tables) and
``writer.py`` (Parquet and DuckDB). This module runs them (``generate``) and re-exports
their public names.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from crm_lib.data import personas as P
from crm_lib.data._synth.activity import PERSONA_AUM, PERSONA_AUM_SD, PERSONA_DRIFT, PERSONA_MIX, PERSONA_TXN_AMOUNT  # noqa: F401
from crm_lib.data._synth.activity import PERSONA_TXN_RATE, PERSONA_VOL, _chunk_tables, expected_action_lift  # noqa: F401
from crm_lib.data._synth.adoption import adoption_accounts, adoption_inputs
from crm_lib.data._synth.adoption import truth_dict as adoption_truth
from crm_lib.data._synth import truth_clv
from crm_lib.data._synth.arrays import _table
from crm_lib.data._synth.people import _campaigns, _contacts_table, _customers, _truth_table, make_campaigns  # noqa: F401
from crm_lib.data._synth.people import make_customers  # noqa: F401
from crm_lib.data._synth.spec import ACQ_CHANNELS, ACQ_COST, AGE_BANDS, ARMS, BRANCHES_PER_REGION, CHUNK  # noqa: F401
from crm_lib.data._synth.spec import CLOSE_REASONS, CORPORATE_PRODUCTS, DAY, DEFAULT_SEED, GENERATOR_VERSION  # noqa: F401
from crm_lib.data._synth.spec import HISTORY_YEARS, INDIVIDUAL_PRODUCTS, INDUSTRIES, INVESTMENT_SHARE, LOAN_PROB  # noqa: F401
from crm_lib.data._synth.spec import LOAN_SIZE, OCCUPATIONS, PARQUET_OPTIONS, RATINGS, REGION_P, REGIONS, ROW_IDS  # noqa: F401
from crm_lib.data._synth.spec import SIZES, TABLES, TOUCHPOINTS, TXN_TYPES, WAREHOUSE_MEMORY_LIMIT  # noqa: F401
from crm_lib.data._synth.spec import WAREHOUSE_THREADS, YEAR_DAYS, BankSpec, _history_start, last_closed_quarter_end  # noqa: F401
from crm_lib.data._synth.spec import resolve_size  # noqa: F401
from crm_lib.data._synth.writer import _PartWriter
from crm_lib.errors import WorkbenchError

logger = logging.getLogger(__name__)


def generate(out: str | Path, size: str | int = "small", seed: int = DEFAULT_SEED,
             end_date: str | None = None, force: bool = False, warehouse: bool = True) -> dict:
    """Generate the synthetic bank into folder ``out`` and build its DuckDB warehouse.

    The folder gets ``parquet/<table>/part-*.parquet`` (the source of truth),
    ``warehouse.duckdb`` (the same tables), ``ground_truth.json``,
    ``truth_customers.parquet``, ``truth_complaints.parquet`` and ``metadata.json``.
    Everything is built in a sibling temporary folder and moved into place at the end;
    an existing ``out`` is only replaced with ``force=True``. ``warehouse=False`` writes the
    Parquet parts only (a bank of 10M customers: the Parquet folder is the source, read by
    DuckDB or Spark, and the disk holds one copy of it, not two).

    Returns the metadata dict (row counts, dates, seed, timings).
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise WorkbenchError(f"{out} already holds data; pass --force to replace it")
    n = resolve_size(size)
    spec = BankSpec(n_customers=n, seed=seed, end_date=end_date)
    end = spec.resolved_end()
    hs = _history_start(end)
    t0 = time.perf_counter()
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    writer = None
    try:
        writer = _PartWriter(tmp, warehouse=warehouse)
        customers, t = _customers(spec)
        adopt_rates = adoption_inputs(customers)["adoption_rates"]   # planted adoption (_synth/adoption.py)
        campaigns, contacts = _campaigns(spec, t["onboard"], t["closed_date"], t["retention_arm"],
                                         t["retention_contact"])
        contacts_table = _contacts_table(contacts)
        counts = {"customers": len(customers), "campaigns": len(campaigns), "campaign_contacts": len(contacts_table)}
        realised = _realised(t, contacts)
        writer.submit(0, {"customers": customers, "campaigns": pa.Table.from_pandas(campaigns, preserve_index=False),
                          "campaign_contacts": contacts_table})
        del customers, contacts_table
        offsets = {"accounts": 1, "transactions": 1, "complaints": 1, "surveys": 1}
        truth_parts, cmp_parts = [], []
        for ci, lo in enumerate(range(0, n, CHUNK)):
            hi = min(lo + CHUNK, n)
            chunk = {k: v[lo:hi] for k, v in t.items()}
            tables, ttx, tcmp = _chunk_tables(spec, ci, lo, chunk, contacts, offsets)
            tables["accounts"] = adoption_accounts(spec, ci, lo, chunk, adopt_rates[lo:hi], tables["accounts"],
                                                   offsets["accounts"])
            for name, tbl in tables.items():
                counts[name] = counts.get(name, 0) + len(tbl)
                if name in offsets:
                    offsets[name] += len(tbl)
            writer.submit(ci, tables)
            del tables, chunk
            truth_parts.append(ttx)
            cmp_parts.append(tcmp)
            logger.info("chunk %d: %d customers done", ci, hi - lo)
        extra = {k: np.concatenate([p[k] for p in truth_parts]) for k in truth_parts[0]}
        pq.write_table(_truth_table(t, extra), tmp / "truth_customers.parquet", compression="zstd")
        del extra, truth_parts
        cmp = _table({"complaint_id": pa.concat_arrays([p["complaint_id"] for p in cmp_parts]),
                      "true_resolution_days": np.concatenate([p["true_resolution_days"] for p in cmp_parts])})
        pq.write_table(cmp, tmp / "truth_complaints.parquet", compression="zstd")
        del cmp, cmp_parts
        gt = P.truth_dict()
        gt["improvement_action"]["expected"] = expected_action_lift()
        gt["realised"] = realised
        gt["relationship_clv"] = truth_clv.describe()
        gt["adoption"] = adoption_truth()
        meta = {"generator_version": GENERATOR_VERSION, "seed": seed, "n_customers": n,
                "size": str(size), "history_start": str(hs), "end_date": str(end),
                "rows": counts, "chunk_size": CHUNK, "warehouse": warehouse}
        (tmp / "ground_truth.json").write_text(json.dumps(gt, indent=2, default=_json_default) + "\n")
        writer.close()
        writer = None
        meta["seconds"] = round(time.perf_counter() - t0, 2)
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
        (tmp / "README.md").write_text(_readme(meta))
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    except BaseException:
        if writer is not None:
            writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("synthetic bank: %d customers in %.1fs -> %s", n, meta["seconds"], out)
    return meta


def _realised(t: dict, contacts: dict) -> dict:
    """Facts of this draw (not parameters): persona counts, arm sizes, closures."""
    names = [p.name for p in P.PERSONAS]
    persona_n = np.bincount(t["persona_id"], minlength=len(names))
    closed = t["closed"]
    reason_n = np.bincount(t["closed_reason"][closed], minlength=len(CLOSE_REASONS))
    camp, group = contacts["campaign"], contacts["group"]
    arms = pd.DataFrame({"n": np.bincount(camp * len(ARMS) + group, minlength=len(contacts["campaign_ids"]) * len(ARMS)),
                         "responded": np.bincount(camp * len(ARMS) + group, weights=contacts["responded"],
                                                  minlength=len(contacts["campaign_ids"]) * len(ARMS)).astype(np.int64)})
    arms["campaign_id"] = np.repeat(contacts["campaign_ids"], len(ARMS))
    arms["group"] = np.tile(ARMS, len(contacts["campaign_ids"]))
    arms = arms[arms["n"] > 0].sort_values(["campaign_id", "group"])
    return {
        "persona_counts": {k: int(persona_n[names.index(k)]) for k in sorted(names) if persona_n[names.index(k)]},
        "closed": int(closed.sum()),
        "closed_by_reason": {k: int(reason_n[CLOSE_REASONS.index(k)]) for k in sorted(CLOSE_REASONS)
                             if reason_n[CLOSE_REASONS.index(k)]},
        "campaign_arms": {f"{r.campaign_id}/{r.group}": {"n": int(r.n), "responded": int(r.responded)}
                          for r in arms.itertuples()},
    }


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def _readme(meta: dict) -> str:
    return (
        "# Synthetic bank (generated)\n\n"
        f"{meta['n_customers']:,} customers, history {meta['history_start']} to {meta['end_date']}, "
        f"seed {meta['seed']}. Made by `crm-workbench demo-data`; regenerate rather than edit.\n\n"
        + ("- `warehouse.duckdb`: the eight canonical tables (what analyses read)\n"
           "- `parquet/<table>/part-*.parquet`: the same tables as Parquet\n" if meta.get("warehouse", True) else
           "- `parquet/<table>/part-*.parquet`: the eight canonical tables (what analyses read)\n") +
        "- `ground_truth.json`, `truth_*.parquet`: the planted truth, for tests only\n"
        "- `metadata.json`: seed, dates, row counts\n\n"
        "All names, phones, e-mails and national IDs are fake.\n")
