"""Option groups the subcommands share: one name, one meaning and one help text for each option.

``--config``, ``--profile``/``--endpoint-url``, ``--out``, ``--quiet``, ``--format``, ``--regions``
(with ``--region`` for one), ``--cache``/``--no-cache``, ``--severity`` and ``--log-level``/``--log-format``
are declared here only; a subcommand picks the groups it takes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.errors import UsageError
from auditor.findings import Severity

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "text", "json")
REPORT_FORMATS = "html,sarif,junit,asff,ocsf,csv"
SEVERITIES = [s.value for s in Severity]


def csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def positive(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def _one_region(value: str) -> str:
    regions = csv(value)
    if len(regions) != 1:
        raise argparse.ArgumentTypeError("this command works in one region")
    return regions[0]


class _AddRegion(argparse.Action):
    """``--region R``: one more region for a command taking ``--regions``."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), values])


LOG_FORMAT_HELP = "log lines on stderr: text for a person, json for machines; auto: json in Lambda or when stderr "
LOG_FORMAT_HELP += "is not a terminal, else text"


def add_log_level(p: argparse.ArgumentParser) -> None:
    """``--log-level``/``--log-format`` after the subcommand too; absent, the ones before it (or the defaults) stand."""
    p.add_argument("--log-level", choices=LOG_LEVELS, default=argparse.SUPPRESS, help="logging on stderr")
    p.add_argument("--log-format", choices=LOG_FORMATS, default=argparse.SUPPRESS, help=LOG_FORMAT_HELP)


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        help="configuration file, YAML or JSON (default: $OMICS_ECR_AUDIT_CONFIG, else ./omics-ecr-audit.yaml, "
        "else the user's config folder; OMICS_ECR_AUDIT_<SETTING> variables override its settings)",
    )


def add_aws(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", help="AWS profile (default: config, else the default credential chain)")
    p.add_argument("--endpoint-url", help="send every AWS call to this endpoint (e.g. the sandbox server)")


def add_regions(p: argparse.ArgumentParser) -> None:
    """Several regions: ``--regions a,b`` (and ``--region a`` for one more); ``args.regions`` is a list."""
    p.add_argument("--regions", type=csv, default=[], help="comma-separated regions (default: config/session)")
    p.add_argument("--region", dest="regions", action=_AddRegion, help="one region (may be repeated)")


def add_region(p: argparse.ArgumentParser, help: str) -> None:
    """One region: ``--region a`` (``--regions a`` is accepted too); ``args.region`` is a string or None."""
    p.add_argument("--region", help=help)
    p.add_argument("--regions", dest="region", type=_one_region, help=argparse.SUPPRESS)


def add_out(p: argparse.ArgumentParser, *, default: str | None = None, help: str) -> None:
    p.add_argument("--out", default=default, help=help)


def add_out_folder(p: argparse.ArgumentParser, default: str = "out") -> None:
    add_out(
        p,
        default=default,
        help=f"output folder for findings.json and reports, or s3://BUCKET/PREFIX (default: ./{default})",
    )


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quiet", "-q", action="store_true", help="print only FAIL and ERROR findings (no summary, no progress)"
    )


def add_format(p: argparse.ArgumentParser, *, default: str, choices: Sequence[str] | None = None, help: str) -> None:
    p.add_argument("--format", default=default, choices=choices, help=f"{help} (default: {default})")


def add_severity_threshold(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--severity-threshold",
        choices=SEVERITIES,
        help="lowest severity of a FAIL that makes the exit code 1 (default: config, else low)",
    )


def add_severity(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--severity",
        choices=SEVERITIES,
        help="run only the rules of this severity or higher (e.g. high: critical and high rules)",
    )


def add_scan_options(p: argparse.ArgumentParser, out: str = "out") -> None:
    """Rule selection (ids, groups, severity), threshold, output folder, quiet, suppressions: scan, fix and demo."""
    add_config(p)
    p.add_argument("--rules", type=csv, default=[], help="comma-separated rule ids to run (default: all)")
    p.add_argument("--exclude-rules", type=csv, default=[], help="comma-separated rule ids to skip")
    p.add_argument(
        "--group",
        type=csv,
        default=[],
        help="only these rule groups: access (a FAIL breaks runs), hygiene (recommended practices); default: both",
    )
    add_severity(p)
    add_severity_threshold(p)
    add_out_folder(p, out)
    add_quiet(p)
    p.add_argument("--suppressions", help="suppressions file (accepted risks: shown MUTED, never fixed)")


def add_outputs(p: argparse.ArgumentParser, default: str = "") -> None:
    p.add_argument(
        "--output",
        default=default,
        help=f"report formats to write beside findings.json, comma-separated: {REPORT_FORMATS} "
        f"(default: {default or 'none'})",
    )


def add_report_options(p: argparse.ArgumentParser, default: str = "") -> None:
    add_outputs(p, default)
    add_previous(p)
    add_securityhub(p)


def add_previous(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--previous",
        help="the last run's findings.json (a file or s3://BUCKET/KEY): reports show new and resolved findings",
    )


def add_securityhub(p: argparse.ArgumentParser) -> None:
    p.add_argument("--to-securityhub", action="store_true", help="import the findings into Security Hub (ASFF)")
    p.add_argument("--securityhub-region", help="Security Hub region (default: the session's)")


def add_target_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("accounts (default: config `targets:`, else the credentials' own account)")
    g.add_argument("--accounts", type=csv, default=[], help="comma-separated account ids to scan")
    g.add_argument("--organization", action="store_true", help="every ACTIVE account of the AWS Organization")
    g.add_argument("--role-name", help="role to assume in each account (default: OmicsEcrAuditReadOnly)")
    g.add_argument("--external-id", help="external id the role's trust policy requires")
    g.add_argument("--max-cells", type=positive, help="account x region cells scanned at once")


def add_cache(p: argparse.ArgumentParser) -> None:
    """``--cache DIR`` / ``--no-cache``: the on-disk cache of image platforms by digest (auditor.digest_cache)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--cache",
        metavar="DIR",
        help="cache image platforms by digest in DIR, reused by later scans "
        "(default: $XDG_CACHE_HOME/omics-ecr-audit/digests, else ~/.cache/omics-ecr-audit/digests)",
    )
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the digest cache")


def cache_of(args: argparse.Namespace) -> Path | None:
    """The digest cache folder ``add_cache``'s options choose; None with ``--no-cache``."""
    from auditor import digest_cache

    if args.no_cache:
        return None
    return Path(args.cache).expanduser() if args.cache else digest_cache.default_root()


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


# The options that take an s3:// location, per command (auditor.outputs); any other s3:// value is refused
# before the command runs, so it never becomes a local folder named "s3:".
S3_OPTIONS = {
    "scan": {"out", "previous"},
    "merge": {"out"},
    "demo": {"out"},
    "fix": {"out", "backup"},
    "rollback": {"backup"},
    "report": {"findings", "out", "previous"},
}


def refuse_s3_where_unsupported(args: argparse.Namespace) -> None:
    """UsageError for an s3:// value given to an option that takes a local path (see S3_OPTIONS)."""
    allowed = S3_OPTIONS.get(args.command, set())
    for dest, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        if dest not in allowed and any(isinstance(v, str) and v.lower().startswith("s3:") for v in values):
            option = "--" + dest.replace("_", "-")
            raise UsageError(
                f"{args.command} {option}: takes a local path, not an S3 location; "
                "write it locally, then `aws s3 cp` it"
            )


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer a shell's completion request (argcomplete prints the candidates and ends the process); return at
    once when there is none. ``omics-ecr-audit completion SHELL`` prints the shell side."""
    import os

    if "_ARGCOMPLETE" not in os.environ:
        return
    import argcomplete

    argcomplete.autocomplete(parser)


def completion_script(shell: str) -> str:
    """The registration a shell sources for completion (``omics-ecr-audit completion SHELL``)."""
    from argcomplete.shell_integration import shellcode

    return str(shellcode(["omics-ecr-audit"], shell=shell))
