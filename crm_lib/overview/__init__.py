"""The data overview (notebook ``00_data_overview``): what period the data covers, who the customers are,
how the base moved, and what the book earns by tier.

- ``measures``: ``coverage``, ``base_movement``, ``engagement``, ``active_features``, ``customers_by_tier``,
  ``value_by_tier``, ``monthly_active`` (every count pushed to DuckDB)
- ``narrative``: ``value_md``, ``value_display`` (sentences and display tables)
- ``report``: ``record_facts``, ``record_value_facts`` (the facts)
"""

from crm_lib.overview.measures import (DATE_COLUMN, active_features, base_movement, coverage, customers_by_tier,
                                       engagement, monthly_active, value_by_tier)
from crm_lib.overview.narrative import value_display, value_md
from crm_lib.overview.report import record_facts, record_value_facts

__all__ = ["DATE_COLUMN", "active_features", "base_movement", "coverage", "customers_by_tier", "engagement",
           "monthly_active", "record_facts", "record_value_facts", "value_by_tier", "value_display", "value_md"]
