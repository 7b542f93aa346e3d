"""What the subcommand handlers share: printing, the findings document and its reports, sessions,
configuration overlays from the command line."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import boto3
from pydantic import ValidationError

from auditor.config import Config, load_config
from auditor.engine import Rule
from auditor.errors import UsageError
from auditor.findings import FindingsDocument, Severity, load_findings, write_findings
from auditor.suppressions import Suppression, load_suppressions
from auditor.terminal import safe_for_terminal


def out(text: str) -> None:
    """Print to stdout, never a raw control character but the newlines between lines.

    The renderers escape each value before joining lines (auditor.terminal); this is the net under
    them. Its escapes are JSON's, so JSON printed here still decodes to the same values.
    """
    try:
        print(safe_for_terminal(text))
    except BrokenPipeError:
        # `omics-ecr-audit scan | head`: the reader left; files are written, the exit code stands.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def incomplete(lines: list[str], what: str) -> None:
    """Say on stderr (even with --quiet) which cells could not be read: exit code 3, never "nothing to do"."""
    if lines:
        print(f"omics-ecr-audit: INCOMPLETE ({what}):\n  " + "\n  ".join(lines), file=sys.stderr)


def config_of(args: argparse.Namespace) -> Config:
    """The configuration file of ``--config``, with ``--severity-threshold`` laid over it when given."""
    config = load_config(args.config)
    threshold = getattr(args, "severity_threshold", None)
    if threshold:
        config = config.model_copy(update={"severity_threshold": Severity(threshold)})
    return config


def session_of(args: argparse.Namespace, config: Config | None = None) -> boto3.Session:
    return boto3.Session(profile_name=args.profile or (config.profile if config is not None else None))


def selection_of(args: argparse.Namespace) -> tuple[Config, list[Rule], list[Suppression]]:
    """What a scanning command runs: the configuration, the selected rules and the accepted risks."""
    from auditor.scan import select_rules

    config = config_of(args)
    rules = select_rules(config, args.rules, args.exclude_rules, args.group)
    return config, rules, suppressions_of(args, config)


def suppressions_of(args: argparse.Namespace, config: Config) -> list[Suppression]:
    path = args.suppressions or config.suppressions
    return load_suppressions(path) if path else []


def previous_of(args: argparse.Namespace) -> FindingsDocument | None:
    return load_findings(args.previous) if args.previous else None


def report(
    doc: FindingsDocument,
    args: argparse.Namespace,
    name: str = "findings.json",
    previous: FindingsDocument | None = None,
) -> None:
    """findings.json, then every ``--output`` format beside it (report.html for findings.json, ...)."""
    from auditor.reports.command import parse_formats, write_reports
    from auditor.scan import render_summary

    formats = parse_formats(args.output or "")
    path = write_findings(doc, args.out, name)
    stem = "report" + name.removeprefix("findings").removesuffix(".json")
    written = write_reports(doc, formats, args.out, previous, stem=stem)
    if not args.quiet:
        lines = [render_summary(doc), "", f"findings written to {path}"]
        lines += [f"report written to {p}" for p in written]
        out("\n".join(lines))


def securityhub(doc: FindingsDocument, args: argparse.Namespace, session: boto3.Session | None = None) -> bool:
    """Import into Security Hub when asked; False (and a message) when some finding was not imported."""
    if not args.to_securityhub:
        return True
    from auditor.reports.asff import push_to_securityhub

    session = session or boto3.Session(profile_name=args.profile)
    result = push_to_securityhub(
        doc,
        session,
        region=args.securityhub_region or session.region_name,
        endpoint_url=args.endpoint_url,
        previous=previous_of(args),  # problems gone since then are archived, not left open
    )
    print(safe_for_terminal(result.describe()), file=sys.stderr)  # stdout may be carrying a report (`--out -`)
    return not result.failed


def with_targets(config: Config, args: argparse.Namespace) -> Config:
    """The config with the command line's account, role and region choices laid over it."""
    from auditor.config import OrganizationTargets, Targets

    update: dict[str, Any] = {}
    if args.regions:
        update["regions"] = args.regions
    targets = config.targets
    if args.accounts or args.organization:
        if args.accounts and args.organization:
            raise UsageError("--accounts and --organization exclude each other")
        base = targets.model_dump() if targets else {}
        choice = (
            {"accounts": args.accounts, "organization": None}
            if args.accounts
            else {"accounts": None, "organization": base.get("organization") or OrganizationTargets().model_dump()}
        )
        try:
            targets = Targets.model_validate({**base, **choice})
        except ValidationError as exc:
            raise UsageError(f"--accounts: {exc.errors()[0]['msg']}") from None
    if args.role_name or args.external_id:
        if targets is None:
            raise UsageError("--role-name/--external-id need --accounts, --organization or targets: in the config")
        role = targets.role.model_copy(
            update={k: v for k, v in {"name": args.role_name, "external_id": args.external_id}.items() if v}
        )
        targets = targets.model_copy(update={"role": role})
    if targets is not config.targets:
        update["targets"] = targets
    if args.max_cells:
        update["concurrency"] = config.concurrency.model_copy(update={"max_cells": args.max_cells})
    if not update:
        return config
    try:
        return Config.model_validate({**config.model_dump(), **update})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise UsageError(f"invalid command line choice at {where}: {first['msg']}") from None
