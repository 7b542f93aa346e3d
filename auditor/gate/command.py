"""``gate``, ``resolve`` and ``map generate|validate``: the CLI side of the CI gate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import boto3

from auditor.aws import ApiCallCounter, CollectOptions, make_client
from auditor.collect import Collector
from auditor.config import Config
from auditor.errors import MapError, UsageError
from auditor.files import load_data
from auditor.gate.containers import Extraction
from auditor.gate.gate import GATE_RULES, GateDocument, evaluate, extract, gate_image_refs, workflow_folder
from auditor.gate.regmap import check_against, from_api, generate, load_map, schema_problems, to_api
from auditor.gate.resolve import resolve
from auditor.models import ContainerRegistryMap, Snapshot
from auditor.refs import ImageReference, try_parse_reference
from auditor.reports.sarif import to_sarif
from auditor.scan import load_inventory
from auditor.terminal import printable, terminal_text

GATE_FACETS = {"ptc_rules", "registry_policy", "templates", "repositories", "repository_policies", "images"}


def load_params(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    p = Path(path)
    data = load_data(p, "parameters file", error=UsageError)
    if not isinstance(data, dict):
        raise UsageError(f"{p}: a parameters file is a mapping of names to values")
    return data


def _pick_snapshot(snapshots: list[Snapshot], account: str | None, region: str | None) -> Snapshot:
    chosen = [s for s in snapshots if (account in (None, s.account_id)) and (region in (None, s.region))]
    if len(chosen) != 1:
        cells = ", ".join(f"{s.account_id}/{s.region}" for s in snapshots) or "none"
        raise UsageError(f"the inventory holds {cells}; choose one with --account and --region")
    return chosen[0]


def _workflow_map(
    map_file: str | None,
    workflow_id: str | None,
    region: str | None,
    endpoint_url: str | None,
    session: boto3.Session | None,
    snap: Snapshot | None,
) -> ContainerRegistryMap | None:
    if map_file:
        try:
            return load_map(map_file)
        except MapError as exc:
            raise UsageError(str(exc)) from None
    if not workflow_id:
        return None
    if snap is not None and snap.workflows.value is not None:
        for wf in snap.workflows.value:
            if wf.id == workflow_id:
                return wf.registry_map.value
    if session is None:
        raise UsageError(f"workflow {workflow_id} is not in the inventory; run live to read its map")
    if region is None:
        raise UsageError(f"reading workflow {workflow_id}'s map needs --region")
    client = make_client(session, "omics", region, CollectOptions(endpoint_url=endpoint_url), ApiCallCounter())
    got = client.get_workflow(id=workflow_id)
    data = got.get("containerRegistryMap")
    return from_api(data) if data else None


def _live_snapshot(
    session: boto3.Session,
    region: str,
    extractions: list[Extraction],
    crm: ContainerRegistryMap | None,
    endpoint_url: str | None,
) -> Snapshot:
    options = CollectOptions(endpoint_url=endpoint_url, image_tags_per_repository=0)
    collector = Collector(session, region, GATE_FACETS, options)
    options.extra_images = gate_image_refs(extractions, crm, collector.account_id, region)
    return collector.collect()


def run_gate(
    config: Config,
    *,
    path: str | Path,
    params: str | None = None,
    map_file: str | None = None,
    workflow_id: str | None = None,
    inventory: str | None = None,
    offline: bool = False,
    account: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> GateDocument:
    """Extract the workflow's containers at ``path``, resolve them with the map (``map_file``, or the map of
    HealthOmics workflow ``workflow_id``), and check them against the account: a saved ``inventory``, the
    live account (``profile``, ``region``), or nothing (``offline``)."""
    path = Path(path)
    values = load_params(params)
    with workflow_folder(path) as root:
        extractions = extract(root, values)
    session = None if inventory or offline else boto3.Session(profile_name=profile or config.profile)
    snap: Snapshot | None = None
    if inventory:
        snap = _pick_snapshot(load_inventory(inventory), account, region)
    if session is not None:
        # Settled before --workflow-id reads the map, so both calls go to the same region.
        region = region or (config.regions[0] if config.regions else session.region_name)
        if not region:
            raise UsageError("give --region (or --offline to resolve without an account)")
    crm = _workflow_map(map_file, workflow_id, region, endpoint_url, session, snap)
    if session is not None:
        assert region is not None
        snap = _live_snapshot(session, region, extractions, crm, endpoint_url)
    root_uri = ""
    if path.is_dir():
        try:
            rel = path.resolve().relative_to(Path.cwd().resolve())
            root_uri = "" if str(rel) == "." else rel.as_posix() + "/"
        except ValueError:
            root_uri = ""
    doc = evaluate(extractions, crm, snap=snap, account=account, region=region, root_uri=root_uri)
    doc.workflow = {
        "path": str(path),
        "languages": [e.language for e in extractions],
        "containers": len(doc.containers),
        "map": map_file or (f"workflow {workflow_id}" if workflow_id else None),
    }
    return doc


def gate_sarif(doc: GateDocument) -> dict[str, Any]:
    return to_sarif(doc.findings, GATE_RULES, locations=doc.locations)


def render_gate(doc: GateDocument) -> str:
    languages = ", ".join(doc.workflow.get("languages", []))
    lines = [f"gate: {len(doc.containers)} container(s) in {doc.workflow.get('path')} ({languages})"]
    for c in doc.containers:
        mark = "ok " if c.resolved and not any(v.startswith("FAIL") for v in c.checks.values()) else "!! "
        lines.append(f"{mark}{c.file}:{c.line}  {c.raw or c.expression}")
        lines.append(f"     → {c.ecr_uri or 'unresolved'}  ({c.reason})")
        bad = {k: v for k, v in c.checks.items() if not v.startswith("PASS")}
        if bad:
            lines.append("     " + "; ".join(f"{k}: {v}" for k, v in bad.items()))
    s = doc.summary["by_status"]
    lines.append(f"findings: FAIL {s['FAIL']}  ERROR {s['ERROR']}  PASS {s['PASS']}")
    # Container strings, paths and reasons come from workflow files: one line each, escaped.
    return terminal_text(lines)


def write_output(payload: dict[str, Any] | str, out: str | None) -> None:
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    else:
        print(text)


def run_resolve(args: Any) -> int:
    crm = None
    if args.map:
        try:
            crm = load_map(args.map)
        except MapError as exc:
            raise UsageError(str(exc)) from None
    worst = 0
    for ref in args.refs:
        res = resolve(ref, crm, account=args.account, region=args.region)
        row = {
            "input": res.input,
            "normalized": res.normalized,
            "registry": res.registry,
            "repository": res.repository,
            "tag": res.tag,
            "digest": res.digest,
            "ecr_uri": res.ecr_uri,
            "pull_tag": res.pull_tag,  # what HealthOmics pulls: an image mapping's destination tag/digest
            "pull_digest": res.pull_digest,
            "reason": res.reason,
            "via": res.via,
            "warnings": res.warnings,
        }
        print(json.dumps(row))
        if not res.resolved:
            worst = 1
    return worst


def run_map(args: Any, config: Config) -> int:
    if args.map_command == "validate":
        p = Path(args.file)
        data = load_data(p, "registry map", error=UsageError, yaml_ok=False)
        problems = schema_problems(data)
        if problems:
            for problem in problems:
                print(printable(f"schema: {problem}"))  # problems quote the file's values
            return 1
        print(
            f"{p}: schema OK ({len(data.get('registryMappings') or [])} registry, "
            f"{len(data.get('imageMappings') or [])} image mapping(s))"
        )
        crm = from_api(data)
        snap = _map_snapshot(args, config, crm)
        if snap is None:
            return 0
        findings = check_against(crm, snap)
        bad = [f for f in findings if f.status.value in ("FAIL", "ERROR")]
        for f in findings:
            print(printable(f"{f.status.value}: {f.message}"))
        return 1 if bad else 0
    path = Path(args.path)
    with workflow_folder(path) as root:
        extractions = extract(root, load_params(args.params))
    snap = _map_snapshot(args, config)
    if snap is None:
        raise UsageError("map generate needs the account's cache rules: give --inventory FILE or --region (live)")
    refs = [(c.raw, c.default_registry) for e in extractions for c in e.containers if c.raw]
    crm, notes = generate(refs, snap)
    write_output(to_api(crm), args.out)
    for note in notes:
        print(printable(f"not covered: {note}"), file=sys.stderr)
    return 1 if notes else 0


def _map_snapshot(args: Any, config: Config, crm: ContainerRegistryMap | None = None) -> Snapshot | None:
    if args.inventory:
        return _pick_snapshot(load_inventory(args.inventory), args.account, args.region)
    if not args.region:
        return None
    session = boto3.Session(profile_name=args.profile or config.profile)
    options = CollectOptions(endpoint_url=args.endpoint_url, image_tags_per_repository=0)
    from auditor.engine import load_builtin_rules
    from auditor.rules.registry_map import RULE_ID

    facets = set(load_builtin_rules()[RULE_ID].meta.facets)
    collector = Collector(session, args.region, facets, options)
    if crm is not None:
        # the file's own destinations in this account and region: read them, or they are "not inspected"
        options.extra_images = _destinations(crm, collector.account_id, args.region)
    return collector.collect()


def _destinations(crm: ContainerRegistryMap, account: str, region: str) -> list[tuple[str, str | None, str | None]]:
    out = []
    for mapping in crm.image_mappings:
        dest = try_parse_reference(mapping.destination_image or "")
        ecr = dest.ecr if isinstance(dest, ImageReference) else None
        if isinstance(dest, ImageReference) and ecr is not None and (ecr.account, ecr.region) == (account, region):
            out.append((dest.repository, None if dest.digest else dest.tag, dest.digest))
    return sorted(set(out), key=lambda x: (x[0], x[1] or "", x[2] or ""))
