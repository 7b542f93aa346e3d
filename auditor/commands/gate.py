"""``gate``, ``resolve`` and ``map generate|validate``: the CI gate over a workflow's containers.

gate: 0 clean, 1 a FAIL at or above the severity threshold, 2 usage error, 3 incomplete. A FAIL below the
threshold (``gate-image-pinned`` is info: an unpinned tag) is reported, never counted.
resolve and map: 0 every reference resolved / the map is valid and covering, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from auditor.commands import command, common, options
from auditor.findings import exit_code


def _gate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="workflow folder or zip (WDL, Nextflow, CWL)")
    p.add_argument("--params", help="parameters file (JSON/YAML inputs) used to resolve container values")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--map", help="container registry map file (JSON, API member names)")
    source.add_argument("--workflow-id", help="take the container registry map of this HealthOmics workflow")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--inventory", help="check against a saved inventory instead of calling AWS")
    state.add_argument("--offline", action="store_true", help="only extract and resolve; no account checks")
    p.add_argument("--account", help="target account (with --offline, or to pick from an inventory)")
    options.add_region(p, "target region (default: config/session)")
    options.add_format(p, default="text", choices=["text", "json", "sarif", "junit"], help="output format of --out")
    options.add_out(p, help="write the --format output here (default: stdout)")
    p.add_argument("--sarif", help="also write SARIF 2.1.0 here (for code-scanning upload)")
    p.add_argument("--junit", help="also write JUnit XML here (CI test reports: GitLab artifacts:reports:junit)")
    options.add_config(p)
    options.add_severity_threshold(p)
    options.add_aws(p)


@command(
    "gate",
    help="CI gate: extract a workflow's containers, resolve them, check the account",
    arguments=_gate_arguments,
)
def run_gate(args: argparse.Namespace) -> int:
    from auditor.gate.command import gate_junit, gate_sarif, not_read_lines, render_gate, run_gate, write_output

    config = common.config_of(args)
    doc = run_gate(
        config,
        path=args.path,
        params=args.params,
        map_file=args.map,
        workflow_id=args.workflow_id,
        inventory=args.inventory,
        offline=args.offline,
        account=args.account,
        region=args.region,
        profile=args.profile,
        endpoint_url=args.endpoint_url,
    )
    threshold = config.severity_threshold
    if args.format == "json":
        write_output(doc.model_dump(mode="json"), args.out)
    elif args.format == "sarif":
        write_output(gate_sarif(doc), args.out)
    elif args.format == "junit":
        write_output(gate_junit(doc, threshold), args.out)
    else:
        write_output(render_gate(doc, threshold), args.out)
    if args.format != "text" or args.out:
        # The text report says what was not read; a machine format on stdout, or a file, would hide it.
        for line in not_read_lines(doc):
            print(line, file=sys.stderr)
    if args.sarif:
        write_output(gate_sarif(doc), args.sarif)
    if args.junit:
        write_output(gate_junit(doc, threshold), args.junit)
    return exit_code(doc, threshold)


def _resolve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("refs", nargs="+", metavar="REF")
    p.add_argument("--map", help="container registry map file")
    p.add_argument("--account", help="account of the workflow (forms the ECR URI)")
    options.add_region(p, "region of the workflow")


@command(
    "resolve",
    help="resolve image references as HealthOmics would (one JSON line each)",
    arguments=_resolve_arguments,
)
def run_resolve(args: argparse.Namespace) -> int:
    from auditor.gate.command import run_resolve

    return run_resolve(args)


def _map_source_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inventory", help="the account's inventory file (else live with --region)")
    p.add_argument("--account", help="pick this account from the inventory")
    options.add_region(p, "region (live: read the account's rules there)")
    options.add_config(p)
    options.add_aws(p)
    options.add_log_level(p)


def _map_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="map_command", required=True)
    generate = sub.add_parser("generate", help="write a map covering every container of a workflow")
    generate.add_argument("path", help="workflow folder or zip")
    generate.add_argument("--params", help="parameters file")
    options.add_out(generate, help="write the map here (default: stdout)")
    validate = sub.add_parser("validate", help="check a map's schema and its agreement with the PTC rules")
    validate.add_argument("file")
    for each in (generate, validate):
        _map_source_arguments(each)


@command("map", help="generate or validate a container registry map", arguments=_map_arguments)
def run_map(args: argparse.Namespace) -> int:
    from auditor.gate.command import run_map

    return run_map(args, common.config_of(args))
