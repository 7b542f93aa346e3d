"""``gate``, ``resolve`` and ``map generate|validate``: the CLI side of the CI gate."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import boto3

from auditor.aws import ApiCallCounter, CollectOptions, make_client
from auditor.collect import Collector
from auditor.config import Config
from auditor.errors import ExitCode, MapError, UsageError
from auditor.files import load_data
from auditor.findings import Finding, Severity, Status, exit_code
from auditor.gate.containers import Extraction
from auditor.gate.gate import (
    GATE_RULES,
    GateDocument,
    container_resource,
    evaluate,
    extract,
    gate_image_refs,
    not_read,
    workflow_folder,
)
from auditor.gate.regmap import check_against, from_api, generate, load_map, schema_problems, to_api
from auditor.gate.resolve import resolve
from auditor.gate.workspace import GateLimits, Workspace
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
        workspace = Workspace(root, GateLimits.from_env())  # one read budget for the extractors and not_read
        extractions = extract(root, values, workspace=workspace)
        unread = not_read(root, [e.language for e in extractions], workspace)
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
        "account_checks": "none (offline)" if offline else f"inventory {inventory}" if inventory else "live",
    }
    doc.not_read = unread
    return doc


def gate_sarif(doc: GateDocument) -> dict[str, Any]:
    return to_sarif(doc.findings, GATE_RULES, locations=doc.locations)


def gate_junit(doc: GateDocument, threshold: Severity = Severity.LOW) -> str:
    """JUnit XML (the reports' mapping): a test suite per gate rule, a test case per container and rule.

    A FAIL below ``threshold`` (an unpinned tag is info) does not fail the gate, so it is not a failed test
    either: it is ``<skipped type="below-threshold">`` with the finding's message, and CI dashboards count as
    failures exactly what the exit code counts.
    """
    from xml.etree import ElementTree

    from junitparser import Failure, Skipped

    from auditor.reports.junit import to_junit, xml_text

    xml = to_junit(doc)
    for suite in xml:
        meta = GATE_RULES.get(suite.name or "")
        for prop in suite.properties():  # type: ignore[no-untyped-call]
            if meta is not None and prop.name == "title":
                prop.value = xml_text(meta.title)  # a rule with no finding: its title, not its id
        if meta is not None and not any(p.name == "severity" for p in suite.properties()):  # type: ignore[no-untyped-call]
            suite.add_property("severity", meta.severity.value)
        for case in suite:
            results = case.result
            if results and isinstance(results[0], Failure) and Severity(results[0].type).rank < threshold.rank:
                message = xml_text(f"below the {threshold.value} threshold: {results[0].message or ''}")
                case.result = [Skipped(message, "below-threshold")]
        suite.update_statistics()  # type: ignore[no-untyped-call]
    xml.update_statistics()  # type: ignore[no-untyped-call]  # junitparser leaves it unannotated
    ElementTree.indent(xml._elem)
    body: bytes = xml.tostring()  # type: ignore[no-untyped-call]
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body.decode("utf-8") + "\n"


_LISTED = 5  # files named per "not read" line of the text output

# The markers of the text output, in the legend's order.
MARKERS = {
    "ok": "passes (nothing at or above the severity threshold)",
    "!!": "fails the gate (a FAIL at or above the threshold)",
    "??": "could not be checked (an ERROR: the gate cannot vouch for it)",
    "(below threshold)": "reported only, never a failure",
}


def _counts(doc: GateDocument, threshold: Severity) -> tuple[int, int, int, Counter[str]]:
    """(FAILs at or above ``threshold``, ERRORs, PASSes, FAILs below it by severity and rule)."""
    failing = errors = passing = 0
    below: Counter[str] = Counter()
    for f in doc.findings:
        if f.status == Status.FAIL and f.severity.rank >= threshold.rank:
            failing += 1
        elif f.status == Status.FAIL:
            below[f"{f.severity.value} {f.rule_id}"] += 1
        elif f.status == Status.ERROR:
            errors += 1
        elif f.status == Status.PASS:
            passing += 1
    return failing, errors, passing, below


def _finding_line(f: Finding, threshold: Severity) -> str:
    if f.status == Status.FAIL and f.severity.rank < threshold.rank:
        label = f"{f.severity.value} (below threshold)"
    else:
        label = {Status.NOT_APPLICABLE: "n/a"}.get(f.status, f.status.value)
    return f"{label}  {f.rule_id}: {f.message}"


def _error_line(f: Finding) -> str:
    """``ERROR file:line  reason`` for an ERROR that is not about one container (a file that cannot be read)."""
    file = str(f.evidence.get("file") or f.resource.removeprefix("file/"))
    line = f.evidence.get("line")
    where = "(the workflow folder)" if file == "." else f"{file}:{line}" if line else file
    return f"ERROR {where}  {f.message.removeprefix(f'{file}: ')}"


def _outcome(code: ExitCode) -> str:
    outcomes: dict[ExitCode, str] = {
        ExitCode.OK: "passed",
        ExitCode.FINDINGS: "FAILED: a FAIL at or above the severity threshold",
        ExitCode.INCOMPLETE: "INCOMPLETE: some finding is ERROR, so the gate cannot vouch for the workflow",
    }
    return outcomes.get(code, "")


def _not_read(doc: GateDocument) -> list[str]:
    lines = []
    for note in doc.not_read:
        count = len(note.files) + note.more
        shown = ", ".join(note.files[:_LISTED])
        rest = count - min(len(note.files), _LISTED)
        lines.append(f"not read ({count} file(s)): {note.reason}: {shown}{f' (+{rest} more)' if rest else ''}")
    return lines


def not_read_lines(doc: GateDocument) -> list[str]:
    """The "not read" lines of the text report, escaped, prefixed for stderr (when stdout carries JSON/SARIF)."""
    return [printable(f"omics-ecr-audit gate: {line}") for line in _not_read(doc)]


def render_gate(doc: GateDocument, threshold: Severity = Severity.LOW) -> str:
    """The text report: every ERROR with its reason and file:line, a line per container, what was not read,
    the counts (FAILs below ``threshold`` are notes, never failures), a legend and the outcome."""
    languages = ", ".join(doc.workflow.get("languages", []))
    checks = doc.workflow.get("account_checks")
    lines = [f"gate: {len(doc.containers)} container(s) in {doc.workflow.get('path')} ({languages})"]
    if checks:
        lines.append(f"account checks: {checks}; severity threshold: {threshold.value}")
    by_resource: dict[str, list[Finding]] = {}
    for f in doc.findings:
        by_resource.setdefault(f.resource, []).append(f)
    resources = [container_resource(c.file, c.line, c.raw, c.expression) for c in doc.containers]
    # What could not be read (a file that does not parse, a refused symlink): its reason and where, first.
    lines.extend(_error_line(f) for f in doc.findings if f.status == Status.ERROR and f.resource not in resources)
    for c, resource in zip(doc.containers, resources, strict=True):
        own = by_resource.get(resource, [])
        if any(f.status == Status.FAIL and f.severity.rank >= threshold.rank for f in own):
            mark = "!!"
        elif any(f.status == Status.ERROR for f in own):
            mark = "??"
        else:
            mark = "ok"
        lines.append(f"{mark} {c.file}:{c.line}  {c.raw or c.expression}  ({c.context})")
        lines.append(f"     → {c.ecr_uri or 'unresolved'}  ({c.reason})")
        for f in own:
            if f.status == Status.FAIL and f.rule_id == "gate-container-resolves" and not c.resolved:
                continue  # the line above says it
            if f.status in (Status.FAIL, Status.ERROR, Status.NOT_APPLICABLE):
                lines.append("     " + _finding_line(f, threshold))
    lines.extend(_not_read(doc))
    failing, errors, passing, below = _counts(doc, threshold)
    summary = f"findings: FAIL {failing}  ERROR {errors}  PASS {passing}"
    if below:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(below.items()))
        summary += f"  (below the {threshold.value} threshold, reported but not failures: {kinds})"
    lines.append(summary)
    lines.append("legend: " + "; ".join(f"{mark} = {meaning}" for mark, meaning in MARKERS.items()))
    code = exit_code(doc, threshold)
    lines.append(f"result: {_outcome(code)} (exit {int(code)})")
    # Container strings, paths and reasons come from workflow files: one line each, escaped.
    return terminal_text(lines)


def write_output(payload: dict[str, Any] | str, out: str | None) -> None:
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2)
    if out:
        target = Path(out)
        if not target.exists():  # /dev/stdout and other existing special files have their folder
            target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(BrokenPipeError):  # `--out /dev/stdout | head`: the reader left; the code stands
            target.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    else:
        try:
            print(text)
        except BrokenPipeError:  # `gate | head` from a caller without cli.main's guard: the reader left
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


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
