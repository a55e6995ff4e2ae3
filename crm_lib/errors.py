"""Exceptions a user can act on; each names what broke and how to fix it."""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class for errors the CLI reports without a traceback."""

    exit_code = 1


class DataContractError(WorkbenchError, ValueError):
    """Data broke a contract: the message names table, column, rule and example rows."""

    exit_code = 3

    def __init__(self, message: str, problems: list | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class ConfigError(WorkbenchError, ValueError):
    """A parameter file or override is invalid: the message names the file and key."""

    exit_code = 2


class NotEstimable(DataContractError):
    """A section's precondition fails on valid data: too few groups, events, complete rows or variance.

    Not a bug and not bad data: the section is omitted with ``reason`` (what is missing, with
    the counts) and ``remedy`` (what data would make it estimable), and the page goes on
    (``NotebookContext.section``). A ``DataContractError`` subclass, so callers that caught
    the errors these preconditions used to raise still catch them.

    Parameters
    ----------
    reason : str
        Why the quantity cannot be estimated, with the numbers that show it.
    remedy : str
        What data would make it estimable.
    """

    def __init__(self, reason: str, remedy: str = ""):
        super().__init__(f"{reason}. {remedy}".strip() if remedy else reason)
        self.reason = reason
        self.remedy = remedy


class EngineMemoryError(WorkbenchError, MemoryError):
    """The data engine ran out of its memory limit for one query (DuckDB's ``memory_limit``).

    The message names the limit; a caller that can ask for the same result another way (the whole feature table
    narrowed after the query) catches it, others let it stop the notebook with the hint to raise the limit.
    """


class EnvironmentFault(WorkbenchError):
    """The machine failed: no space, a read-only or unwritable folder, a symlink planted in it, an exposed key.

    The message says what failed, where, and what to do; nothing is published.
    """

    exit_code = 6
