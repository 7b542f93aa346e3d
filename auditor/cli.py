"""Command line: ``omics-ecr-audit {scan,targets,merge,fix,rollback,gate,resolve,map,demo,report,diff,...}``.

The subcommands live in ``auditor.commands``, one registered handler each; this module assembles
their parsers and maps what a handler raises to the exit code (``auditor.errors.ExitCode``):
0 clean, 1 findings at or above the severity threshold (fix: changes pending), 2 usage,
configuration or input error, or a refused fix, 3 audit incomplete (some finding is ERROR),
4 stopped part-way (an apply, a Security Hub import), 130 interrupted. Each family module's
docstring says what its subcommands return.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import botocore.exceptions

from auditor import __version__, logs
from auditor.commands import load_commands
from auditor.commands.options import LOG_LEVELS, add_log_level
from auditor.errors import AuditError, ExitCode
from auditor.terminal import safe_for_terminal, tolerate_departing_reader


def build_parser() -> argparse.ArgumentParser:
    """The parser: one subparser per registered command (``auditor.commands``), in registry order."""
    parser = argparse.ArgumentParser(
        prog="omics-ecr-audit",
        description="Audit AWS HealthOmics container access through ECR pull-through cache.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="warning", choices=LOG_LEVELS, help="logging on stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd in load_commands().values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description)
        cmd.add_arguments(p)
        add_log_level(p)  # also after the subcommand: `scan --log-level info`
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # a real process (the console script, python -m auditor), not a test calling main()
        tolerate_departing_reader()
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level)
    try:
        return load_commands()[args.command].run(args)
    except AuditError as exc:
        return _fail(str(exc), exc.exit_code)
    except botocore.exceptions.ProfileNotFound as exc:
        return _fail(str(exc), ExitCode.USAGE)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        # Scans turn AWS errors into ERROR findings; this is the last net for fix/rollback bookkeeping calls.
        return _fail(f"AWS call failed: {exc}", ExitCode.USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", ExitCode.INTERRUPTED)


def _fail(message: str, code: int) -> int:
    """One message on stderr; it may quote file names and AWS values, so no raw control character reaches it."""
    print(safe_for_terminal(f"omics-ecr-audit: {message}"), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
