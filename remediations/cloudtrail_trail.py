"""``cloudtrail-records-changes`` is fixed by a person: a trail needs a bucket, its policy and a retention.

Where the logs go, who may read them and how long they are kept are the account owner's decisions (and an
organisation trail belongs to the management account), so the plan shows the commands: start a trail that is not
logging, give a logging trail a selector for management events, or create a multi-region trail.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.findings import Finding
from auditor.fix import FixContext, ManualStep, PlanItem, fixer
from auditor.terminal import command_line, shell_comment

RULE_ID = "cloudtrail-records-changes"
TRAIL_NAME = "management-events"  # a suggestion; the account owner names the trail and its bucket
SELECTORS = '[{"ReadWriteType":"All","IncludeManagementEvents":true}]'


@fixer(rule_id=RULE_ID, automatic=False)
def plan(ctx: FixContext, findings: list[Finding]) -> Iterable[PlanItem]:
    for f in findings:
        region = ("--region", f.region)
        commands: list[str] = []
        for other in f.evidence.get("not_recording", []):
            arn = other.get("trail")
            if not arn:
                continue
            if other.get("why") == "not logging":
                commands.append(command_line(["aws", "cloudtrail", "start-logging", "--name", arn, *region]))
            elif not str(other.get("why", "")).startswith("single-region"):
                commands.append(
                    command_line(
                        [
                            "aws",
                            "cloudtrail",
                            "put-event-selectors",
                            "--trail-name",
                            arn,
                            *region,
                            "--event-selectors",
                            SELECTORS,
                        ],
                        comment="replaces the trail's selectors: add any data-event selectors it had",
                    )
                )
        if not commands:
            commands = [
                shell_comment("no trail to repair: create one (the bucket needs CloudTrail's bucket policy)"),
                command_line(
                    [
                        "aws",
                        "cloudtrail",
                        "create-trail",
                        "--name",
                        TRAIL_NAME,
                        "--s3-bucket-name",
                        "<your bucket>",
                        "--is-multi-region-trail",
                        *region,
                    ]
                ),
                command_line(["aws", "cloudtrail", "start-logging", "--name", TRAIL_NAME, *region]),
            ]
        yield ManualStep.for_finding(
            f,
            title=f"Record ECR and HealthOmics management events in {f.region}",
            why=f.message,
            commands=commands,
        )
