"""Exit codes and the errors that end a command with one of them.

Every error a person can fix (a bad option, file, configuration, or a fix that cannot go ahead
safely) is an :class:`AuditError`; ``auditor.cli.main`` prints its message on one line and exits
with its ``exit_code``. Nothing else decides what a command's exit code means.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The process exit codes every subcommand shares (README: "Exit codes")."""

    OK = 0  # clean / nothing left to do / written
    FINDINGS = 1  # a FAIL at or above the threshold, changes pending, something not restored
    USAGE = 2  # usage, configuration or input error, or a refused fix
    INCOMPLETE = 3  # the audit could not read everything: some finding is ERROR
    PARTIAL = 4  # stopped part-way (an apply, a Security Hub import)
    INTERRUPTED = 130  # Ctrl-C


class AuditError(Exception):
    """An error a person can fix; the message says what and where."""

    exit_code: ExitCode = ExitCode.USAGE


class UsageError(AuditError):
    """Bad input from the user (unknown rule, unreadable inventory...): exit code 2."""


class ConfigError(AuditError):
    """A configuration problem a person can fix; the message says where and what."""


class InputError(AuditError):
    """A bad input file: the message is one line naming the file; exit code 2."""


class FixRefused(AuditError):
    """The fix cannot go ahead safely (stale plan, too many changes, wrong account...): exit code 2."""


class MapError(AuditError):
    """The file is not a valid container registry map; the message lists every problem with its path."""
