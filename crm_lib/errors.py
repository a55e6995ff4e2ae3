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
