"""``workflow-images-resolve`` has no automatic fix: a workflow's definition and map are its authors' to change.

The plan names each container that cannot resolve and the commands that show the way: a map entry for the
upstream (``map generate`` on the exported definition), or ``copy --workflow`` to prime the cache and copy what
no cache serves into this account's ECR (it writes the image mappings), then a new workflow version so
HealthOmics reads the new map.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.findings import Finding
from auditor.fix import FixContext, ManualStep, PlanItem, fixer
from auditor.terminal import command_line

RULE_ID = "workflow-images-resolve"


@fixer(rule_id=RULE_ID, automatic=False)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    for f in findings:
        workflow = str(f.evidence.get("workflow", f.resource))
        yield ManualStep.for_finding(
            f,
            title=f"Make every container of workflow {workflow} resolve to private ECR in {f.region}",
            why=f.message,
            commands=[
                command_line(
                    ["aws", "omics", "get-workflow", "--id", workflow, "--export", "DEFINITION", "--region", f.region],
                    comment="download the definition zip from the returned URL",
                ),
                command_line(
                    ["omics-ecr-audit", "map", "generate", "definition.zip", "--region", f.region, "--out", "map.json"],
                    comment="a registry map covering the workflow's upstreams",
                ),
                command_line(
                    ["omics-ecr-audit", "copy", "--workflow", "definition.zip", "--region", f.region],
                    comment="or prime the cache and copy what no cache serves into ECR (plan; --apply writes it "
                    "and writes the image mappings to registry-map.json)",
                ),
                command_line(
                    ["aws", "omics", "create-workflow-version", "--workflow-id", workflow, "--version-name", "<v>"],
                    comment="with --container-registry-map-uri pointing at the new map",
                ),
            ],
        )
