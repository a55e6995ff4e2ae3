"""The margin model lives in ``crm_lib.margin`` (a base module: the overview, segmentation and the
early-warning list price balances with it too, below the CLV package); re-exported here."""

from crm_lib.margin import CLV_FILE, RATE_KEYS, ClvSettings, monthly_margin, warehouse_margin  # noqa: F401
