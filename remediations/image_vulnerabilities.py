"""``image-vulnerabilities`` has no automatic fix: only the image's owner can patch what is inside it.

A fixer that re-tagged images or started scans would change what workflows run, or only hide the finding; the plan
tells a person how to rebuild on a patched base image, re-pull a patched upstream tag, re-scan and re-pin.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.findings import Finding
from auditor.fix import FixContext, ManualStep, PlanItem, fixer
from auditor.terminal import command_line, shell_comment

RULE_ID = "image-vulnerabilities"


@fixer(rule_id=RULE_ID, automatic=False)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    for f in findings:
        repository = str(f.evidence.get("repository", f.resource.split("@")[0]))
        digest = str(f.evidence.get("digest", f.resource.partition("@")[2]))
        uri = f"{ctx.snap.registry_host()}/{repository}@{digest}"
        image_id = f"imageDigest={digest}"
        commands = [
            command_line(
                ["aws", "ecr", "describe-image-scan-findings", "--repository-name", repository, "--image-id", image_id],
                comment="the findings, with the fixed package versions",
            )
        ]
        for cve in f.evidence.get("top_findings", [])[:5]:
            fixed = f", fixed in {cve['fixed_in']}" if cve.get("fixed_in") else ""
            package = f" in {cve['package']} {cve.get('package_version') or ''}".rstrip() if cve.get("package") else ""
            commands.append(shell_comment(f"{cve['severity']} {cve['name']}{package}{fixed}"))
        if f.evidence.get("scan_status") is None and "top_findings" not in f.evidence:
            # never scanned although scanning covers the repository: scan it, then judge again
            commands.append(
                command_line(
                    ["aws", "ecr", "start-image-scan", "--repository-name", repository, "--image-id", image_id],
                    comment="basic scanning; enhanced scanning rescans continuously",
                )
            )
        else:
            commands += [
                shell_comment(f"rebuild {uri} on a patched base image (or update the packages named above) and push"),
                shell_comment(
                    "for a pull-through cache image: pull a patched upstream tag through the cache prefix instead"
                ),
                shell_comment("point the workflow (definition or image mapping) at the new digest, publish a version"),
                command_line(
                    [
                        "aws",
                        "ecr",
                        "describe-image-scan-findings",
                        "--repository-name",
                        repository,
                        "--image-id",
                        "imageDigest=<new digest>",
                    ],
                    comment="confirm the new image's scan",
                ),
            ]
        yield ManualStep.for_finding(
            f, title=f"Replace or rescan vulnerable image {repository}@{digest[:19]}", why=f.message, commands=commands
        )
