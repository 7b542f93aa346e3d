"""Option groups the subcommands share: one name, one meaning and one help text for each option.

``--config``, ``--profile``/``--endpoint-url``, ``--out``, ``--quiet``, ``--format``, ``--regions``
(with ``--region`` for one), ``--cache``/``--no-cache`` and ``--log-level`` are declared here only; a
subcommand picks the groups it takes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.findings import Severity

LOG_LEVELS = ("debug", "info", "warning", "error")
REPORT_FORMATS = "html,sarif,junit,asff,ocsf"


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


def add_log_level(p: argparse.ArgumentParser) -> None:
    """``--log-level`` after the subcommand too; absent, the one before it (default: warning) stands."""
    p.add_argument("--log-level", choices=LOG_LEVELS, default=argparse.SUPPRESS, help="logging on stderr")


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="configuration file (YAML or JSON; its custom rules count as rules)")


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
    add_out(p, default=default, help=f"output folder for findings.json and reports (default: ./{default})")


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="do not print the summary")


def add_format(p: argparse.ArgumentParser, *, default: str, choices: Sequence[str] | None = None, help: str) -> None:
    p.add_argument("--format", default=default, choices=choices, help=f"{help} (default: {default})")


def add_severity_threshold(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--severity-threshold",
        choices=[s.value for s in Severity],
        help="lowest severity of a FAIL that makes the exit code 1 (default: config, else low)",
    )


def add_scan_options(p: argparse.ArgumentParser, out: str = "out") -> None:
    """Rule selection, threshold, output folder, quiet, suppressions: scan, fix and demo."""
    add_config(p)
    p.add_argument("--rules", type=csv, default=[], help="comma-separated rule ids to run (default: all)")
    p.add_argument("--exclude-rules", type=csv, default=[], help="comma-separated rule ids to skip")
    p.add_argument(
        "--group",
        type=csv,
        default=[],
        help="only these rule groups: access (a FAIL breaks runs), hygiene (recommended practices); default: both",
    )
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
    p.add_argument("--previous", help="the last run's findings.json: reports show new and resolved findings")


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
