"""What the subcommand handlers share: printing, the findings document and its reports, sessions,
configuration overlays from the command line.

Streams: a command's results and status lines ("findings written to ...") go to stdout, errors and logs to
stderr. Sessions are opened through ``auditor.credentials.open_session`` (one line and exit 2 when there
are no usable credentials); outputs go through ``auditor.outputs`` (a folder, or ``s3://bucket/prefix``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import structlog
from pydantic import ValidationError

from auditor.config import Config, load_cli_config
from auditor.engine import Rule
from auditor.errors import AuditError, UsageError
from auditor.findings import FindingsDocument, Severity, load_findings, write_findings
from auditor.outputs import OutputFolder, fetched, is_s3, output_folder
from auditor.suppressions import Suppression, load_suppressions
from auditor.terminal import colour_enabled, highlight, safe_for_terminal

log = structlog.get_logger("auditor.commands")


def out(text: str, *, colour: bool = False) -> None:
    """Print to stdout, never a raw control character but the newlines between lines.

    The renderers escape each value before joining lines (auditor.terminal); this is the net under
    them. Its escapes are JSON's, so JSON printed here still decodes to the same values. ``colour``:
    the summary's status markers in colour, when stdout is a terminal and NO_COLOR is not set (added
    after the escaping, so they are the only escape sequences printed).
    """
    text = safe_for_terminal(text)
    if colour and colour_enabled(sys.stdout):
        text = highlight(text)
    try:
        print(text)
    except BrokenPipeError:
        # `omics-ecr-audit scan | head`: the reader left; files are written, the exit code stands.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def incomplete(lines: list[str], what: str) -> None:
    """Say on stderr (even with --quiet) which cells could not be read: exit code 3, never "nothing to do"."""
    if lines:
        print(f"omics-ecr-audit: INCOMPLETE ({what}):\n  " + "\n  ".join(lines), file=sys.stderr)


def config_of(args: argparse.Namespace) -> Config:
    """The configuration (``--config``, else the one discovered: ``auditor.config.load_cli_config``) with the
    ``OMICS_ECR_AUDIT_*`` variables over it, and ``--severity-threshold`` over both when given."""
    config, source = load_cli_config(getattr(args, "config", None))
    log.info("configuration", source=source)
    threshold = getattr(args, "severity_threshold", None)
    if threshold:
        config = config.model_copy(update={"severity_threshold": Severity(threshold)})
    args.__dict__["_config"] = config  # the profile of outputs and inputs on S3 (_session_factory)
    return config


def session_of(args: argparse.Namespace, config: Config | None = None) -> boto3.Session:
    """The session of ``--profile`` (else the configuration's, else the default chain), its credentials
    resolved: no credentials, an unknown profile or an expired SSO session is one line and exit 2 here,
    before the first call. Opened once per command."""
    from auditor.credentials import open_session

    profile = getattr(args, "profile", None) or (config.profile if config is not None else None)
    opened: dict[str | None, boto3.Session] = args.__dict__.setdefault("_sessions", {})
    if profile not in opened:
        opened[profile] = open_session(profile)
    return opened[profile]


def scan_regions(args: argparse.Namespace, config: Config, session: boto3.Session) -> list[str]:
    """The regions a scan of the caller's account covers: ``--regions``, else the configuration's, else the
    session's own (:func:`say_region` names it once the scan has run); none at all is one line and exit 2."""
    from auditor.credentials import region_choice

    if args.regions or config.regions:
        return list(args.regions or config.regions)
    chosen = region_choice(session, getattr(args, "profile", None) or config.profile)
    args.__dict__["_region_note"] = f"region {chosen.region} (from {chosen.source}; --regions to choose)"
    return [chosen.region]


def say_region(args: argparse.Namespace) -> None:
    """On stderr, once: the region the scan chose itself (it never picks one silently)."""
    note = args.__dict__.pop("_region_note", None)
    if note:
        print(f"omics-ecr-audit: {note}", file=sys.stderr)


def refuse_rejected_credentials(doc: FindingsDocument | None, args: argparse.Namespace, config: Config) -> None:
    """A scan of the caller's account whose every cell AWS refused for its credentials (expired, invalid):
    one line saying what to do and exit 2, instead of an ERROR finding per rule and region."""
    from auditor.credentials import CredentialsError, describe_code, rejected_everywhere

    if doc is None:
        return
    found = rejected_everywhere([(t.error.code, t.error.message) if t.error else None for t in doc.run.targets])
    if found is not None:
        said = describe_code(*found, getattr(args, "profile", None) or config.profile)
        raise CredentialsError(said or f"AWS rejected the credentials: {found[0]}")


def own_region(args: argparse.Namespace, config: Config, session: boto3.Session) -> str:
    """The session's region for a one-region command given none (its output names it); none: one line, exit 2."""
    from auditor.credentials import region_choice

    return region_choice(session, getattr(args, "profile", None) or config.profile).region


def selection_of(args: argparse.Namespace) -> tuple[Config, list[Rule], list[Suppression]]:
    """What a scanning command runs: the configuration, the selected rules and the accepted risks."""
    from auditor.scan import select_rules

    config = config_of(args)
    rules = select_rules(config, args.rules, args.exclude_rules, args.group, getattr(args, "severity", None))
    return config, rules, suppressions_of(args, config)


def suppressions_of(args: argparse.Namespace, config: Config) -> list[Suppression]:
    path = args.suppressions or config.suppressions
    return load_suppressions(path) if path else []


def _session_factory(args: argparse.Namespace) -> Any:
    return lambda: session_of(args, args.__dict__.get("_config"))


def findings_of(args: argparse.Namespace, location: str) -> FindingsDocument:
    """A findings.json: a file, or an s3:// object (read with the command's session)."""
    if not is_s3(location):
        return load_findings(location)
    with fetched(location, _session_factory(args), getattr(args, "endpoint_url", None)) as path:
        try:
            return load_findings(path)
        except AuditError as exc:  # name the object, not the temporary file it was read into
            raise type(exc)(str(exc).replace(str(path), location)) from None


def previous_of(args: argparse.Namespace) -> FindingsDocument | None:
    """``--previous``: the last run's findings.json, a file or an s3:// object."""
    return findings_of(args, args.previous) if args.previous else None


@contextmanager
def outputs(args: argparse.Namespace, location: str | None = None) -> Iterator[OutputFolder]:
    """The folder of ``--out`` (or ``location``): local, or s3://bucket/prefix uploaded with the command's session."""
    with output_folder(location or args.out, _session_factory(args), getattr(args, "endpoint_url", None)) as folder:
        yield folder


def report(
    doc: FindingsDocument,
    args: argparse.Namespace,
    name: str = "findings.json",
    previous: FindingsDocument | None = None,
    folder: OutputFolder | None = None,
) -> None:
    """findings.json, then every ``--output`` format beside it (report.html for findings.json, ...), in
    ``folder`` (default: ``--out``, a local folder or s3://), then the summary on stdout; with ``--quiet``
    only the FAIL and ERROR findings."""
    from auditor.reports.command import parse_formats, write_reports
    from auditor.scan import render_problems, render_summary

    formats = parse_formats(args.output or "")
    say_region(args)
    if folder is None:
        with outputs(args) as opened:
            report(doc, args, name, previous, opened)
        return
    path = folder.publish(write_findings(doc, folder.path, name))
    stem = "report" + name.removeprefix("findings").removesuffix(".json")
    written = [folder.publish(p) for p in write_reports(doc, formats, folder.path, previous, stem=stem)]
    if args.quiet:
        problems = render_problems(doc)
        if problems:
            out(problems, colour=True)
        return
    lines = [render_summary(doc), "", f"findings written to {path}"]
    lines += [f"report written to {p}" for p in written]
    out("\n".join(lines), colour=True)


def securityhub(doc: FindingsDocument, args: argparse.Namespace, session: boto3.Session | None = None) -> bool:
    """Import into Security Hub when asked; False (and a message) when some finding was not imported."""
    if not args.to_securityhub:
        return True
    from auditor.reports.asff import push_to_securityhub

    session = session or session_of(args)
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
