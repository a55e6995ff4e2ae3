"""Facts, notebook context, the Papermill runner, HTML rendering and the reports index."""

from crm_lib.reporting.context import NotebookContext, open_context
from crm_lib.reporting.facts import Fact, FactBook

__all__ = ["Fact", "FactBook", "NotebookContext", "open_context"]
