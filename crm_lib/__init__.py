"""Bank CRM Analytics Workbench: the helper library behind the report notebooks."""

from crm_lib.errors import ConfigError, DataContractError, WorkbenchError

__version__ = "0.1.0"
__all__ = ["ConfigError", "DataContractError", "WorkbenchError", "__version__"]
