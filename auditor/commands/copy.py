"""``copy``: prime cache repositories and copy into ECR what no cache rule serves (auditor.copy).

Exit codes: 0 every image is (or, in a plan, can be) in ECR; 2 usage error or refused (--max-changes, a
manifest file that is not one); 3 some image failed (each says why).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from auditor.commands import command, common, options
from auditor.errors import UsageError


def _copy_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image references (as a workflow writes them)")
    p.add_argument("--manifest", help='a JSON file {"manifest": [image, ...]} (the ECR helper\'s format) or a list')
    p.add_argument("--workflow", help="a workflow folder or zip: copy every container it names")
    options.add_region(p, "the region of the workflow (default: config, else the session's)")
    p.add_argument("--apply", action="store_true", help="make the changes (default: only show the plan)")
    p.add_argument("--max-changes", type=options.positive, help="refuse to apply if more writes than this would happen")
    p.add_argument("--map-out", help="write the container registry map here (default: <out>/registry-map.json)")
    p.add_argument("--backup", help="backup folder for replaced repository policies (default: <out>/backups)")
    options.add_out(p, default="copy-out", help="output folder for copy-report.json and the map (default: ./copy-out)")
    options.add_config(p)
    options.add_aws(p)


@command(
    "copy",
    help="prime cache repositories and copy into ECR the images no cache serves (plan; --apply to write)",
    arguments=_copy_arguments,
)
def run_copy(args: argparse.Namespace) -> int:
    from auditor.copy import Copier, CopyError, references_from_manifest, references_from_workflow, render_report

    config = common.config_of(args)
    sources: list[str] = list(args.images)
    try:
        if args.manifest:
            sources += references_from_manifest(args.manifest)
        if args.workflow:
            sources += references_from_workflow(args.workflow)
    except CopyError as exc:
        raise UsageError(str(exc)) from None
    if not sources:
        raise UsageError("nothing to copy: give IMAGE references, --manifest FILE or --workflow PATH")
    session = common.session_of(args, config)
    region = args.region or (config.regions[0] if config.regions else None) or session.region_name or "us-east-1"
    copier = Copier(session, region, config.copy_settings, endpoint_url=args.endpoint_url)
    out = Path(args.out)
    report = copier.plan(sources)
    if args.apply:
        try:
            report = copier.apply(report, max_changes=args.max_changes, backup_to=args.backup or str(out / "backups"))
        except CopyError as exc:
            raise UsageError(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    (out / "copy-report.json").write_text(report.model_dump_json(indent=2) + "\n")
    map_path = Path(args.map_out) if args.map_out else out / "registry-map.json"
    map_path.parent.mkdir(parents=True, exist_ok=True)
    map_path.write_text(json.dumps(report.registry_map, indent=2) + "\n")
    common.out(render_report(report, map_path))
    return 3 if report.failed else 0
