"""The Spark path: the same feature definitions run on Apache Spark.

When a bank outgrows one machine, the canonical tables live as Parquet (or Hive/Delta
tables) on a cluster; ``spark_feature_table`` registers them as views, runs the feature
query that ``crm_lib.features.feature_sql`` compiles for Spark SQL, pseudonymises
identifiers inside Spark, and brings back only the customer-level table.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from crm_lib.data.privacy import _subkeys, pseudonym_key, PSEUDONYM_HEX
from crm_lib.errors import DataContractError
from crm_lib.features import feature_sql

logger = logging.getLogger(__name__)

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


def spark_feature_table(spark, as_of, window_days: int = 365, aum_months: int = 3,
                        tier_thresholds: dict | None = None, key: str | None = None) -> pd.DataFrame:
    """The feature table as of ``as_of`` computed by Spark from the registered views.

    Same columns and values as ``crm_lib.features.feature_table`` (sorted by pseudonym).
    """
    products = sorted(r[0] for r in spark.sql("SELECT DISTINCT product FROM accounts WHERE product IS NOT NULL").collect())
    inner = feature_sql(as_of, products, window_days, aum_months, tier_thresholds, dialect="spark")
    pid = pseudonym_spark_sql("customer_id", key or pseudonym_key())
    df = spark.sql(f"SELECT {pid} AS pid, f.* FROM ({inner}) f").drop("customer_id").withColumnRenamed("pid", "customer_id")
    out = df.toPandas().sort_values("customer_id").reset_index(drop=True)
    logger.info("spark feature table as of %s: %d customers", as_of, len(out))
    return out
