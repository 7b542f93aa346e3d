# PYTHON_ARGCOMPLETE_OK  (argcomplete: `register-python-argcomplete omics-ecr-audit` completes this parser)
"""Command line: ``omics-ecr-audit {scan,targets,merge,fix,rollback,gate,resolve,map,demo,report,diff,...}``.

The subcommands live in ``auditor.commands``, one registered handler each; this module assembles
their parsers and maps what a handler raises to the exit code (``auditor.errors.ExitCode``):
0 clean, 1 findings at or above the severity threshold (fix: changes pending), 2 usage,
configuration or input error, or a refused fix, 3 audit incomplete (some finding is ERROR),
4 stopped part-way (an apply, a Security Hub import), 130 interrupted. Each family module's
docstring says what its subcommands return.

It is also the one place that makes the terminal behave: logs configured (text on a terminal, JSON in
Lambda or a pipe), progress drawn on stderr only when it is a terminal, stdout and stderr tolerant of a
reader that leaves (``| head``), shell completion (argcomplete), and every credential, profile, region
and endpoint problem that escapes a command said in one line with what to do (``auditor.credentials``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import botocore.exceptions

from auditor import __version__, logs
from auditor.commands import load_commands
from auditor.commands.options import (
    LOG_FORMAT_HELP,
    LOG_FORMATS,
    LOG_LEVELS,
    add_log_level,
    autocomplete,
    refuse_s3_where_unsupported,
)
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
    parser.add_argument("--log-format", default="auto", choices=LOG_FORMATS, help=LOG_FORMAT_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd in load_commands().values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description)
        cmd.add_arguments(p)
        add_log_level(p)  # also after the subcommand: `scan --log-level info`
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if argv is None:  # a real process (the console script, python -m auditor), not a test calling main()
        tolerate_departing_reader()
        autocomplete(parser)  # a shell asking for completions is answered here (the process then ends)
    args = parser.parse_args(argv)
    logs.configure(args.log_level, args.log_format)
    try:
        from auditor import progress

        refuse_s3_where_unsupported(args)
        with progress.display(enabled=False if getattr(args, "quiet", False) else None):
            return load_commands()[args.command].run(args)
    except AuditError as exc:
        return _fail(str(exc), exc.exit_code)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        from auditor.credentials import describe

        # No credentials, an unknown profile, an expired SSO session, no region, an endpoint out of reach:
        # one line saying what to do. Scans turn other AWS errors into ERROR findings; this is the last net
        # for the calls outside them (fix/rollback bookkeeping, the gate's and map's own sessions).
        said = describe(exc, getattr(args, "profile", None))
        return _fail(said or f"AWS call failed: {exc}", ExitCode.USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", ExitCode.INTERRUPTED)


def _fail(message: str, code: int) -> int:
    """One message on stderr; it may quote file names and AWS values, so no raw control character reaches it."""
    print(safe_for_terminal(f"omics-ecr-audit: {message}"), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
