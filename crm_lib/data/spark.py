"""The Spark path's data side: a local session, the canonical tables as views, pseudonyms in Spark SQL.

When a bank outgrows one machine, the canonical tables live as Parquet (or Hive/Delta
tables) on a cluster; ``register_parquet`` registers them as views and
``crm_lib.features.spark_feature_table`` runs the feature query that
``crm_lib.features.feature_sql`` compiles for Spark SQL on them, pseudonymises identifiers
inside Spark, and brings back only the customer-level table.
"""

from __future__ import annotations

from pathlib import Path

from crm_lib.data.privacy import PSEUDONYM_HEX, _subkeys
from crm_lib.errors import DataContractError

TABLES = ("customers", "accounts", "balances", "transactions", "complaints", "surveys", "campaign_contacts")

def local_session(app: str = "crm-workbench", cores: int = 2):
    """A local Spark session (``local[cores]``), quiet and small, for a laptop or a test."""
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(f"local[{cores}]").appName(app)
             .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", str(cores * 2))
             .config("spark.sql.session.timeZone", "UTC").config("spark.driver.memory", "2g")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark

def pseudonym_spark_sql(column: str, key: str) -> str:
    """Spark SQL twin of ``crm_lib.data.privacy.pseudonym_sql`` (same pseudonyms)."""
    k_in, k_out = _subkeys(key)
    return (f"concat('P', substr(sha2(concat('{k_out}', sha2(concat('{k_in}', CAST({column} AS STRING)), 256)), 256), "
            f"1, {PSEUDONYM_HEX}))")

def register_parquet(spark, folder: str | Path) -> list[str]:
    """Register ``folder/<table>`` (Parquet file or folder of parts) as temporary views."""
    folder = Path(folder)
    found = []
    for t in TABLES:
        cands = [folder / t, folder / f"{t}.parquet"]
        path = next((c for c in cands if c.exists()), None)
        if path is None:
            raise DataContractError(f"{t}: table is missing from Spark source {folder}")
        spark.read.parquet(str(path)).createOrReplaceTempView(t)
        found.append(t)
    return found
