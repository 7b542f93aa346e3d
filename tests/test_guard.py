"""The real-time guard (``auditor/guard.py``): one CloudTrail API event, fed to the Lambda handler as EventBridge
delivers it, re-judges what the call changed, publishes a new FAIL to SNS and, only when enabled, fixes it.

Every scenario runs on the sandbox's demo account after a nightly run (``latest/findings.json``: the FAILs already
known), makes one change, and feeds the handler the record the sandbox's CloudTrail wrote for it; it asserts the
FAIL published and the exact AWS calls the event cost, per credentials (the collector's audit role, the fix role,
the function's own). Then: the merged fix (other statements kept, a backup first, a second identical event writes
nothing), a failed call ignored, malformed events refused in one line before any call, an IAM event judged for
its role only, a FAIL already known not sent again, the cache's own CreateRepository handled as a person's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from auditor import guard
from auditor.aws import ApiCallCounter, CollectOptions
from auditor.collect import Collector
from auditor.lambda_handler import ERROR_LIMIT, handler, parse_event
from auditor.permissions import fixer_policy, hub_policy, scanner_policy, uncovered
from auditor.sandbox.documents import OMICS, omics_statement, trust_policy
from auditor.sandbox.documents import policy_document as policy
from auditor.sandbox.ecr import simulate_ptc_pull
from auditor.sandbox.seed import DemoAccount, seed_demo_account
from tests.support import lambda_hub
from tests.support.call_kinds import Calls, counting
from tests.support.guard_events import EVENTS, envelope, recorded_event, sample
from tests.support.lambda_hub import BUCKET, Hub
from tests.support.sandbox import ACCOUNT, PULL, REGION

ROOT = Path(__file__).resolve().parents[1]
_hub_fixture = lambda_hub.hub_fixture

UBUNTU = "docker-hub/library/ubuntu"  # a cache repository whose template gave it the omics pull statement
UBUNTU_ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{UBUNTU}"
TEAM_STATEMENT = {
    "Sid": "TeamRead",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
}

# What judging one repository's policy reads in the demo account: the repository (by name), the cache rules, its
# policy, and which workflows use it (repository-policy-grants-omics' facets): 2 private workflows (ListWorkflows;
# GetWorkflow for the map and again for the definition) and the 4 runs of the look-back window (ListRuns, GetRun,
# ListRunTasks each; GetRunTask for each of their 7 tasks).
REPOSITORY_READS = {
    "ecr:DescribePullThroughCacheRules": 1,
    "ecr:DescribeRepositories": 1,
    "ecr:GetRepositoryPolicy": 1,
    "omics:GetRun": 4,
    "omics:GetRunTask": 7,
    "omics:GetWorkflow": 4,
    "omics:ListRunTasks": 4,
    "omics:ListRuns": 1,
    "omics:ListWorkflows": 1,
}
# The function's own calls for an event with one new FAIL: who am I (sts), latest/findings.json and the FAIL's
# sent-marker (s3 GET), the record and the marker (s3 PUT), the notification.
HUB_NEW_FAIL = {"s3:GetObject": 2, "s3:PutObject": 2, "sns:Publish": 1, "sts:GetCallerIdentity": 1}


@pytest.fixture(name="demo")
def demo_fixture(hub: Hub) -> DemoAccount:
    """The demo account after a nightly run: latest/findings.json holds its FAILs; the run's notification is read."""
    demo = seed_demo_account(hub.session, pause=0)
    assert handler({"action": "run"})["ok"]
    hub.messages()
    return demo


def _fail(hub: Hub, result: dict[str, Any], fid: str) -> dict[str, Any]:
    record = json.loads(hub.s3_text(result["record"].removeprefix(f"s3://{BUCKET}/")))
    (finding,) = [f for f in record["findings"] if f["id"] == fid]
    return finding


def _assert_declared(calls: Calls) -> None:
    """Every call is one the generated policy of its credentials allows (deploy/ grants nothing more)."""
    for kind, policy_doc in (("scan", scanner_policy()), ("fix", fixer_policy()), ("hub", hub_policy())):
        assert uncovered(policy_doc, calls.of(kind)) == [], kind


def _set_policy(hub: Hub, repository: str, *statements: dict[str, Any]) -> None:
    hub.session.client("ecr").set_repository_policy(repositoryName=repository, policyText=policy(*statements))


# --- the three done-when scenarios, each from a single event -----------------------------------------------------


def test_removing_the_omics_statement_from_a_repository_policy_publishes_the_fail(
    hub: Hub, demo: DemoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    _set_policy(hub, UBUNTU, TEAM_STATEMENT)  # the omics statement the template gave it is gone
    event = recorded_event(hub.session, "SetRepositoryPolicy")
    with counting(monkeypatch) as calls:
        out = handler(event)
    assert out["ok"] and out["action"] == "guard", out
    assert out["event"]["name"] == "SetRepositoryPolicy" and out["cells"] == [f"{ACCOUNT}/{REGION}"]
    (fid,) = out["new_fail_ids"]
    finding = _fail(hub, out, fid)
    assert finding["rule_id"] == "repository-policy-grants-omics" and finding["resource"] == UBUNTU_ARN
    assert out["notified"] is True and out["fix"] is None
    # only the touched repository was judged
    assert out["judged"] == {"FAIL": 1}
    (note,) = hub.messages()
    assert note["Subject"] == f"omics-ecr-audit guard: 1 new FAIL after SetRepositoryPolicy in {ACCOUNT}/{REGION}"
    assert UBUNTU_ARN in note["Message"] and out["record"] in note["Message"]
    assert calls.of("scan") == REPOSITORY_READS
    assert calls.of("hub") == HUB_NEW_FAIL
    assert calls.of("fix") == {}
    _assert_declared(calls)


def test_deleting_a_cache_rule_publishes_the_fail(hub: Hub, demo: DemoAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.session.client("ecr").delete_pull_through_cache_rule(ecrRepositoryPrefix="quay")
    event = recorded_event(hub.session, "DeletePullThroughCacheRule")
    with counting(monkeypatch) as calls:
        out = handler(event)
    assert out["ok"], out
    new = {_fail(hub, out, fid)["resource"]: _fail(hub, out, fid)["rule_id"] for fid in out["new_fail_ids"]}
    # rnaseq's registry map still sends quay.io images through the "quay" prefix; and a run was active
    assert new == {
        "upstream/quay.io": "ptc-rule-coverage",
        "pull-through-cache-rule/quay": "ptc-rule-unchanged-during-run",
    }
    (note,) = hub.messages()
    assert note["Subject"].startswith("omics-ecr-audit guard: 2 new FAILs after DeletePullThroughCacheRule")
    assert "upstream/quay.io" in note["Message"]
    # the cache rules' rules read the registry (cache rules, their credentials, the registry policy, templates,
    # scanning) and, for which upstreams and runs matter, the workflows' maps and the runs (no tasks, no images)
    assert calls.of("scan") == {
        "cloudtrail:DescribeTrails": 1,
        "cloudtrail:GetEventSelectors": 1,
        "cloudtrail:GetTrailStatus": 1,
        "cloudtrail:LookupEvents": 3,
        "ecr:DescribePullThroughCacheRules": 1,
        "ecr:DescribeRepositories": 1,
        "ecr:DescribeRepositoryCreationTemplates": 1,
        "ecr:GetRegistryPolicy": 1,
        "ecr:GetRegistryScanningConfiguration": 1,
        "ecr:ValidatePullThroughCacheRule": 2,
        "omics:GetRun": 4,
        "omics:GetWorkflow": 2,
        "omics:ListRuns": 1,
        "omics:ListWorkflows": 1,
        "secretsmanager:DescribeSecret": 3,  # the cache rules' and the registry maps' credentials
    }
    assert calls.of("hub") == {"s3:GetObject": 3, "s3:PutObject": 3, "sns:Publish": 1, "sts:GetCallerIdentity": 1}
    _assert_declared(calls)


def test_a_cache_repository_created_without_a_template_policy_publishes_the_fail(
    hub: Hub, demo: DemoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache's own CreateRepository (invokedBy ecr.amazonaws.com) is judged like anyone's."""
    repository = "ecr-public/biocontainers/fastqc"  # no creation template covers ecr-public
    simulate_ptc_pull(ACCOUNT, REGION, repository)
    event = recorded_event(hub.session, "CreateRepository")
    assert event["detail"]["userIdentity"]["invokedBy"] == "ecr.amazonaws.com"
    with counting(monkeypatch) as calls:
        out = handler(event)
    assert out["ok"], out
    assert out["event"]["invoked_by"] == "ecr.amazonaws.com"
    (fid,) = out["new_fail_ids"]
    finding = _fail(hub, out, fid)
    assert finding["resource"] == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repository}"
    assert "has no repository policy" in finding["message"]
    (note,) = hub.messages()
    assert "(through ecr.amazonaws.com)" in note["Message"]
    assert calls.of("scan") == REPOSITORY_READS
    assert calls.of("hub") == HUB_NEW_FAIL

    # a person creating a repository under the same prefix: the same rule, the same reads
    hub.session.client("ecr").create_repository(repositoryName="ecr-public/biocontainers/multiqc")
    person = recorded_event(hub.session, "CreateRepository")
    assert "invokedBy" not in person["detail"]["userIdentity"]
    with counting(monkeypatch) as calls:
        again = handler(person)
    assert len(again["new_fail_ids"]) == 1 and again["event"]["invoked_by"] is None
    assert calls.of("scan") == REPOSITORY_READS


# --- the fix, only when enabled ---------------------------------------------------------------------------------


def _enable_fix(monkeypatch: pytest.MonkeyPatch, max_changes: str = "5") -> None:
    monkeypatch.setenv("GUARD_FIX_ENABLED", "true")
    monkeypatch.setenv("GUARD_MAX_CHANGES", max_changes)
    monkeypatch.setenv("FIX_ROLE_ARN", f"arn:aws:iam::{ACCOUNT}:role/omics-ecr-audit-fix")
    monkeypatch.setenv("MEMBER_FIX_ROLE_NAME", "OmicsEcrAuditFix")


def test_with_fix_enabled_the_omics_statement_is_merged_backed_up_and_a_second_event_writes_nothing(
    hub: Hub, demo: DemoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    _enable_fix(monkeypatch)
    _set_policy(hub, UBUNTU, TEAM_STATEMENT)
    event = recorded_event(hub.session, "SetRepositoryPolicy")
    with counting(monkeypatch) as calls:
        out = handler(event)
    assert out["ok"], out
    (fid,) = out["new_fail_ids"]
    fix = out["fix"]
    assert fix["outcome"] == "applied" and fix["applied"] == 1 and fix["verified"] == {fid: "PASS"}
    # merged: the team's statement is still there, the omics pull statement beside it
    text = hub.session.client("ecr").get_repository_policy(repositoryName=UBUNTU)["policyText"]
    statements = {st["Sid"]: st for st in json.loads(text)["Statement"]}
    assert statements["TeamRead"] == TEAM_STATEMENT
    assert statements["OmicsEcrAuditPull"]["Principal"] == {"Service": OMICS}
    # backed up before the write, under the account's own prefix (the only one its member fix role may write)
    prefix = f"backups/{ACCOUNT}/guard-{event['id']}/"
    assert fix["backup"].startswith(f"s3://{BUCKET}/{prefix}")
    backup = json.loads(hub.s3_text(fix["backup"].removeprefix(f"s3://{BUCKET}/")))
    (entry,) = backup["entries"]
    assert entry["target"]["key"] == {"repositoryName": UBUNTU}
    assert json.loads(entry["before"])["Statement"] == [TEAM_STATEMENT]
    assert fix["undo"].startswith("omics-ecr-audit rollback s3://")
    (note,) = hub.messages()
    assert "Fix (GUARD_FIX_ENABLED): applied" in note["Message"] and fix["backup"] in note["Message"]
    # the fix's calls, with the fix role: read the policy (plan), read it again (stale check), the backup, the
    # one merge, and the read-back the finding is judged again on; STS for the two role hops
    assert calls.of("fix") == {
        "ecr:GetRepositoryPolicy": 3,
        "ecr:SetRepositoryPolicy": 1,
        "s3:PutObject": 1,
        "sts:GetCallerIdentity": 1,
    }
    assert calls.of("hub")["sts:AssumeRole"] == 2  # the audit fix role, then the member fix role
    _assert_declared(calls)

    # the same event again (EventBridge delivers at least once): the policy grants omics, nothing to say or do
    with counting(monkeypatch) as calls:
        again = handler(event)
    assert again["ok"] and again["new_fail_ids"] == [] and again["fix"] is None and again["notified"] is False
    assert again["judged"] == {"PASS": 1}
    assert calls.of("fix") == {} and "ecr:SetRepositoryPolicy" not in calls.of("scan")
    assert hub.messages() == []
    assert hub.session.client("ecr").get_repository_policy(repositoryName=UBUNTU)["policyText"] == text


def test_with_fix_enabled_a_new_cache_repository_gets_the_omics_statement(
    hub: Hub, demo: DemoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    _enable_fix(monkeypatch)
    repository = "ghcr.io-less/unused"  # not under a cache prefix: nobody uses it, so it is not judged
    hub.session.client("ecr").create_repository(repositoryName=repository)
    quiet = handler(recorded_event(hub.session, "CreateRepository"))
    assert quiet["ok"] and quiet["judged"] == {} and quiet["new_fail_ids"] == [] and quiet["fix"] is None

    repository = "ghcr/biocontainers/salmon"  # the ghcr prefix has no creation template
    simulate_ptc_pull(ACCOUNT, REGION, repository)
    out = handler(recorded_event(hub.session, "CreateRepository"))
    (fid,) = out["new_fail_ids"]
    assert out["fix"]["outcome"] == "applied" and out["fix"]["verified"] == {fid: "PASS"}
    text = hub.session.client("ecr").get_repository_policy(repositoryName=repository)["policyText"]
    assert [st["Sid"] for st in json.loads(text)["Statement"]] == ["OmicsEcrAuditPull"]
    backup = json.loads(hub.s3_text(out["fix"]["backup"].removeprefix(f"s3://{BUCKET}/")))
    assert backup["entries"][0]["before"] is None  # rollback deletes the policy again


def test_the_fix_stays_within_guard_max_changes(hub: Hub, demo: DemoAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    _enable_fix(monkeypatch, max_changes="0")
    _set_policy(hub, UBUNTU, TEAM_STATEMENT)
    out = handler(recorded_event(hub.session, "SetRepositoryPolicy"))
    assert out["fix"]["outcome"].startswith("refused: ") and "max-changes 0" in out["fix"]["outcome"]
    text = hub.session.client("ecr").get_repository_policy(repositoryName=UBUNTU)["policyText"]
    assert json.loads(text)["Statement"] == [TEAM_STATEMENT]  # nothing written
    (note,) = hub.messages()  # the FAIL is still published
    assert "Fix (GUARD_FIX_ENABLED): refused" in note["Message"]


def test_without_the_fix_roles_the_fix_is_skipped_and_said(
    hub: Hub, demo: DemoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUARD_FIX_ENABLED", "true")
    monkeypatch.delenv("FIX_ROLE_ARN", raising=False)
    _set_policy(hub, UBUNTU, TEAM_STATEMENT)
    out = handler(recorded_event(hub.session, "SetRepositoryPolicy"))
    assert out["fix"]["outcome"].startswith("skipped: GUARD_FIX_ENABLED needs FIX_ROLE_ARN")


# --- what is not published, and what is not judged -------------------------------------------------------------


def test_a_fail_already_known_or_already_sent_publishes_nothing(
    hub: Hub, demo: DemoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # samtools already FAILed in the nightly run: another policy without omics is not news
    _set_policy(hub, "quay/biocontainers/samtools", TEAM_STATEMENT)
    out = handler(recorded_event(hub.session, "SetRepositoryPolicy"))
    assert out["ok"] and out["judged"] == {"FAIL": 1} and out["new_fail_ids"] == [] and out["notified"] is False
    assert hub.messages() == []
    # a new FAIL is sent once; a later event about it (before the next nightly run) does not send it again
    _set_policy(hub, UBUNTU, TEAM_STATEMENT)
    first = handler(recorded_event(hub.session, "SetRepositoryPolicy"))
    assert first["notified"] is True and len(hub.messages()) == 1
    hub.session.client("ecr").delete_repository_policy(repositoryName=UBUNTU)
    second = handler(recorded_event(hub.session, "DeleteRepositoryPolicy"))
    assert second["judged"] == {"FAIL": 1} and second["new_fail_ids"] == [] and hub.messages() == []
    # the next nightly run knows it; once it passes again, a new break is news again
    assert handler({"action": "run"})["ok"]
    hub.messages()
    _set_policy(hub, UBUNTU, omics_statement(PULL, "OmicsPull", source_account=ACCOUNT))
    assert handler({"action": "run"})["ok"]
    hub.messages()
    _set_policy(hub, UBUNTU, TEAM_STATEMENT)
    third = handler(recorded_event(hub.session, "SetRepositoryPolicy"))
    assert third["notified"] is True


def test_the_nightly_run_leaves_a_small_index_and_an_older_run_still_counts(
    hub: Hub, demo: DemoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = guard.Known.model_validate_json(hub.s3_text(guard.KNOWN_KEY))
    doc = hub.document("latest/findings.json")
    assert known == guard.known_index(doc) and known.run_id == doc.run.id
    assert known.cells == [(ACCOUNT, REGION)]
    assert f"arn:aws:iam::{ACCOUNT}:role/OmicsLegacyRole".rsplit("/", 1)[-1] in known.service_roles[ACCOUNT]
    assert len(json.dumps(known.model_dump(mode="json"))) < len(hub.s3_text("latest/findings.json")) / 20
    # a nightly run of an older version wrote no index: the findings document says the same
    hub.session.client("s3").delete_object(Bucket=BUCKET, Key=guard.KNOWN_KEY)
    _set_policy(hub, "quay/biocontainers/samtools", TEAM_STATEMENT)  # a known FAIL
    out = handler(recorded_event(hub.session, "SetRepositoryPolicy"))
    assert out["judged"] == {"FAIL": 1} and out["new_fail_ids"] == [] and hub.messages() == []


def test_who_called_is_shown_never_refused(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    event = sample("ecr-set-repository-policy-failed", account=ACCOUNT, region=REGION)
    event["detail"]["userIdentity"].update(arn="arn:aws:iam::1:user/\u00e9\n", invokedBy=["x"] * 3)
    request = parse_event(event)[2]
    assert isinstance(request, guard.GuardEvent)
    assert request.detail.user_identity.arn is None and request.detail.user_identity.invoked_by is None


def test_a_failed_call_is_ignored_without_any_call(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    event = sample("ecr-set-repository-policy-failed", account=ACCOUNT, region=REGION)
    with counting(monkeypatch) as calls:
        out = handler(event)
    assert out["ok"] and out["ignored"] == "the call failed (RepositoryNotFoundException), so it changed nothing"
    assert calls.total() == 0


def test_guard_disabled_ignores_every_event(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARD_ENABLED", "false")
    with counting(monkeypatch) as calls:
        out = handler(sample("ecr-set-repository-policy", account=ACCOUNT, region=REGION))
    assert out["ok"] and out["ignored"] == "GUARD_ENABLED is false" and calls.total() == 0


def test_an_event_from_an_account_or_region_not_audited_is_ignored(hub: Hub, demo: DemoAccount) -> None:
    other_region = handler(sample("ecr-set-repository-policy", account=ACCOUNT, region="eu-west-1"))
    assert other_region["ignored"] == "region eu-west-1 is not audited"
    other_account = handler(sample("ecr-set-repository-policy", account="210987654321", region=REGION))
    assert other_account["ignored"] == "account 210987654321 was not audited by the last run"


def test_an_iam_event_judges_the_service_role_rules_for_that_role_only(
    hub: Hub, demo: DemoAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    iam = hub.session.client("iam")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/OmicsWorkflowRole"
    iam.update_assume_role_policy(RoleName="OmicsWorkflowRole", PolicyDocument=trust_policy("lambda.amazonaws.com"))
    event = recorded_event(hub.session, "UpdateAssumeRolePolicy")
    assert event["region"] == "us-east-1" and event["source"] == "aws.iam"
    with counting(monkeypatch) as calls:
        out = handler(event)
    assert out["ok"], out
    record = json.loads(hub.s3_text(out["record"].removeprefix(f"s3://{BUCKET}/")))
    assert {(f["rule_id"], f["resource"]) for f in record["findings"]} == {("service-role-trusts-omics", role_arn)}
    assert len(out["new_fail_ids"]) == 1  # its runs still name it, and it no longer trusts omics
    (note,) = hub.messages()
    assert role_arn in note["Message"] and "OmicsLegacyRole" not in note["Message"]
    # the role only: one GetRole to tell a HealthOmics role from any other (the last run judged this one, so
    # not even that), ListRoles and the runs for where service roles come from, then this role's policies
    assert calls.of("scan") == {
        "iam:GetRole": 1,
        "iam:GetRolePolicy": 1,
        "iam:ListAttachedRolePolicies": 1,
        "iam:ListRolePolicies": 1,
        "iam:ListRoles": 1,
        "omics:GetRun": 4,
        "omics:ListRuns": 1,
    }
    _assert_declared(calls)

    # an IAM change to a role HealthOmics cannot assume costs one GetRole and says so
    logs = {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}
    iam.put_role_policy(RoleName="LambdaRole", PolicyName="logs", PolicyDocument=policy(logs))
    put = recorded_event(hub.session, "PutRolePolicy")
    with counting(monkeypatch) as calls:
        other = handler(put)
    assert other["ignored"].startswith("not a role HealthOmics can assume")
    assert calls.of("scan") == {"iam:GetRole": 1}
    assert calls.of("hub") == {"s3:GetObject": 1, "sts:GetCallerIdentity": 1}  # latest/known.json, who am I
    assert hub.messages() == []


def test_a_new_workflow_is_judged_alone(hub: Hub, demo: DemoAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/not-pushed-yet:1.0"
        archive.writestr("main.nf", f"process A {{\n  container '{image}'\n  script: 'true'\n}}\n")
    workflow = hub.session.client("omics").create_workflow(
        name="new-pipeline", engine="NEXTFLOW", definitionZip=buffer.getvalue()
    )
    event = sample("omics-create-workflow", account=ACCOUNT, region=REGION)
    event["detail"]["responseElements"].update(id=workflow["id"], arn=workflow["arn"])
    with counting(monkeypatch) as calls:
        out = handler(event)
    assert out["ok"], out
    record = json.loads(hub.s3_text(out["record"].removeprefix(f"s3://{BUCKET}/")))
    assert {f["resource"] for f in record["findings"]} == {workflow["arn"]}
    new = {_fail(hub, out, fid)["rule_id"] for fid in out["new_fail_ids"]}
    assert new == {"workflow-images-resolve"}
    # GetWorkflow for this workflow only (its map, then its definition): no ListWorkflows
    assert calls.of("scan")["omics:GetWorkflow"] == 2 and "omics:ListWorkflows" not in calls.of("scan")


def test_what_each_kind_of_event_costs(hub: Hub, demo: DemoAccount, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rest of docs/guard.md's cost table: (audit-role calls, of which HealthOmics, the function's calls)."""
    ecr = hub.session.client("ecr")

    def cost(event_name: str) -> tuple[int, int, int]:
        event = recorded_event(hub.session, event_name)
        with counting(monkeypatch) as calls:
            assert handler(event)["ok"]
        scan = calls.of("scan")
        return (
            sum(scan.values()),
            sum(n for a, n in scan.items() if a.startswith("omics:")),
            sum(calls.of("hub").values()),
        )

    lifecycle = {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                 "countNumber": 100}, "action": {"type": "expire"}}]}  # fmt: skip
    ecr.put_lifecycle_policy(repositoryName="quay/biocontainers/samtools", lifecyclePolicyText=json.dumps(lifecycle))
    assert cost("PutLifecyclePolicy") == (26, 21, 3)
    logs = {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}
    hub.session.client("iam").put_role_policy(RoleName="OmicsWorkflowRole", PolicyName="l", PolicyDocument=policy(logs))
    assert cost("PutRolePolicy") == (35, 21, 3)
    ecr.create_repository_creation_template(prefix="ghcr", appliedFor=["PULL_THROUGH_CACHE"])
    assert cost("CreateRepositoryCreationTemplate") == (5, 3, 3)
    ecr.put_registry_policy(policyText=policy({**TEAM_STATEMENT, "Resource": "*"}))  # the omics grant is gone
    assert cost("PutRegistryPolicy") == (5, 3, 10)  # three new FAILs: a marker lookup and a marker each
    assert len(hub.messages()) == 1


# --- untrusted events -------------------------------------------------------------------------------------------


def _event(**detail: Any) -> dict[str, Any]:
    event = sample("ecr-set-repository-policy", account=ACCOUNT, region=REGION)
    event["detail"].update(detail)
    return event


HUGE = "r" * (300 * 1024)
MALFORMED: list[tuple[str, Any, str]] = [
    ("repository with newline", _event(requestParameters={"repositoryName": "team/x\n"}), "repositoryName"),
    ("repository path", _event(requestParameters={"repositoryName": "../../etc"}), "repositoryName"),
    ("repository too long", _event(requestParameters={"repositoryName": "a" * 300}), "repositoryName"),
    ("repository missing", _event(requestParameters={}), "repositoryName must be an ECR repository name"),
    (
        "another registry",
        _event(requestParameters={"repositoryName": "x1", "registryId": "210987654321"}),
        "registryId",
    ),
    ("source mismatch", {**_event(), "source": "aws.iam"}, "source and detail.eventSource"),
    ("region mismatch", _event(awsRegion="eu-west-1"), "region and detail.awsRegion differ"),
    ("account mismatch", _event(recipientAccountId="210987654321"), "recipientAccountId differ"),
    ("account not 12 digits", {**_event(), "account": "12345"}, "account"),
    ("event id with space", {**_event(), "id": "a b"}, "id"),
    ("unknown service", _event(eventSource="s3.amazonaws.com"), "eventSource"),
    ("event name hostile", _event(eventName="Set\nRepositoryPolicy"), "eventName"),
    ("too large", _event(requestParameters={"repositoryName": "x1", "policyText": HUGE}), "at most 262144 bytes"),
    ("extra envelope key", {**_event(), "extra": 1}, "extra: Extra inputs"),
    ("detail not an object", {**_event(), "detail": "x"}, "detail"),
    ("upstream hostile", {**sample("ecr-delete-pull-through-cache-rule", account=ACCOUNT, region=REGION)}, ""),
]
MALFORMED[-1][1]["detail"]["responseElements"]["upstreamRegistryUrl"] = "quay.io/$(reboot)"
MALFORMED[-1] = (MALFORMED[-1][0], MALFORMED[-1][1], "responseElements.upstreamRegistryUrl")


@pytest.mark.parametrize(("what", "event", "needle"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_event_is_refused_in_one_line_before_any_call(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], what: str, event: Any, needle: str
) -> None:
    with counting(monkeypatch) as calls:
        out = handler(event)
    assert out["ok"] is False, (what, out)
    error = out["error"]
    assert needle in error, error
    assert len(error) <= ERROR_LIMIT and "\n" not in error and "Traceback" not in error
    assert len(json.dumps(out)) < 1000 and "reboot" not in error and HUGE[:100] not in error
    assert calls.total() == 0
    assert "Traceback" not in capsys.readouterr().err


def test_the_documented_samples_parse_and_name_what_they_touch() -> None:
    touched = {}
    for path in sorted(EVENTS.glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        name, _registered, request = parse_event(event)
        assert name == "guard", path.name
        assert isinstance(request, guard.GuardEvent)
        d = request.detail
        if d.error_code is None:
            touched[path.stem] = guard.REACTIONS[d.event_name].names(d, request.account).describe()
    assert touched == {
        "ecr-create-repository": {"repositories": ["testrepo"]},
        "ecr-create-repository-by-cache": {"repositories": ["ecr-public/biocontainers/fastqc"]},
        "ecr-delete-pull-through-cache-rule": {"prefixes": ["quay"], "upstreams": ["quay.io"]},
        "ecr-delete-repository-policy": {"repositories": ["docker-hub/library/ubuntu"]},
        "ecr-put-registry-policy": {"registry": True},
        "ecr-set-repository-policy": {"repositories": ["docker-hub/library/ubuntu"]},
        "iam-update-assume-role-policy": {"roles": ["OmicsWorkflowRole"]},
        "omics-create-workflow": {"workflows": ["1234567"]},
    }
    # the action key makes a saved event replayable by hand; a scheduled event stays the nightly run
    replay = {**json.loads((EVENTS / "ecr-put-registry-policy.json").read_text()), "action": "guard"}
    assert parse_event(replay)[0] == "guard"
    assert parse_event({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})[0] == "run"


def test_a_recorded_event_and_its_sample_have_the_same_shape(hub: Hub, demo: DemoAccount) -> None:
    """The sandbox's record of SetRepositoryPolicy carries every field the documented sample does."""
    _set_policy(hub, UBUNTU, TEAM_STATEMENT)
    recorded = recorded_event(hub.session, "SetRepositoryPolicy")
    documented = sample("ecr-set-repository-policy", account=ACCOUNT, region=REGION)
    assert set(documented) == set(recorded)
    needed = {"eventSource", "eventName", "eventID", "eventTime", "awsRegion", "userIdentity", "requestParameters"}
    assert needed <= set(recorded["detail"]) & set(documented["detail"])
    assert recorded["detail"]["requestParameters"]["repositoryName"] == UBUNTU


# --- the collector, scoped to what one event names --------------------------------------------------------------


def test_the_collector_reads_only_the_named_repositories_roles_and_workflows(aws: boto3.Session) -> None:
    demo = seed_demo_account(aws, pause=0)
    counter = ApiCallCounter()
    options = CollectOptions(only_repositories=("quay/biocontainers/samtools", "no/such-repo"), rate_limits=None)
    snap = Collector(aws, REGION, ["repository_policies"], options, counter, account_id=ACCOUNT).collect()
    assert [r.name for r in snap.repositories.value or []] == ["quay/biocontainers/samtools"]
    assert sorted(snap.repository_policies) == ["quay/biocontainers/samtools"]
    assert counter.snapshot()["ecr:DescribeRepositories"] == 2  # by name, once each; no listing
    assert counter.snapshot()["ecr:GetRepositoryPolicy"] == 1

    options = CollectOptions(only_roles=("OmicsLegacyRole",), rate_limits=None)
    snap = Collector(aws, REGION, ["roles"], options, ApiCallCounter(), account_id=ACCOUNT).collect()
    assert sorted(snap.roles) == [f"arn:aws:iam::{ACCOUNT}:role/OmicsLegacyRole"]

    rnaseq = demo.workflows["rnaseq-pipeline"]
    counter = ApiCallCounter()
    options = CollectOptions(only_workflows=(rnaseq, "9999999"), rate_limits=None)
    snap = Collector(aws, REGION, ["workflows"], options, counter, account_id=ACCOUNT).collect()
    assert [w.id for w in snap.workflows.value or []] == [rnaseq]
    assert snap.workflows.value and snap.workflows.value[0].registry_map.value is not None
    assert counter.snapshot() == {"omics:GetWorkflow": 2}


# --- deploy: the rule, the forwarder, the bus policy; docs --------------------------------------------------------


def test_the_event_pattern_matches_exactly_the_reactions() -> None:
    pattern = guard.event_pattern()
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    assert pattern["source"] == ["aws.ecr", "aws.iam", "aws.omics"]
    assert set(pattern["detail"]["eventName"]) == set(guard.REACTIONS)
    assert pattern["detail"]["errorCode"] == [{"exists": False}]
    for name in ("CreateRepository", "SetRepositoryPolicy", "DeleteRepositoryPolicy", "PutRegistryPolicy",
                 "DeleteRegistryPolicy", "CreatePullThroughCacheRule", "UpdatePullThroughCacheRule",
                 "DeletePullThroughCacheRule", "CreateRepositoryCreationTemplate", "UpdateRepositoryCreationTemplate",
                 "DeleteRepositoryCreationTemplate", "PutLifecyclePolicy", "CreateWorkflow", "CreateWorkflowVersion",
                 "UpdateAssumeRolePolicy", "PutRolePolicy", "AttachRolePolicy"):  # fmt: skip
        assert name in guard.REACTIONS, name
    for reaction in guard.REACTIONS.values():  # every rule the table names exists
        from auditor.engine import load_builtin_rules

        assert set(reaction.rules) <= set(load_builtin_rules()), reaction
        assert set(reaction.whole) <= set(reaction.rules) and set(reaction.fix) <= set(reaction.rules)


def _template(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "deploy" / name).read_text(encoding="utf-8"))


def test_the_audit_stack_routes_the_events_to_the_function() -> None:
    sam = _template("template.yaml")
    res = sam["Resources"]
    rule = res["GuardRule"]
    assert rule["Condition"] == "GuardEnabled"
    assert rule["Properties"]["EventPattern"] == guard.event_pattern()
    assert rule["Properties"]["EventBusName"] == "default"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["AuditFunction", "Arn"]}
    permission = res["GuardInvokePermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["GuardRule", "Arn"]}
    # member accounts put events on this bus: only the organisation's accounts, only PutEvents
    bus = res["GuardBusPolicy"]
    assert bus["Condition"] == "GuardOrganisation"
    statement = bus["Properties"]["Statement"]
    assert statement["Action"] == "events:PutEvents" and statement["Principal"] == "*"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}
    env = res["AuditFunction"]["Properties"]["Environment"]["Variables"]
    assert env["GUARD_ENABLED"] == {"Ref": "EnableGuard"} and env["GUARD_FIX_ENABLED"] == {"Ref": "EnableGuardFix"}
    assert env["GUARD_MAX_CHANGES"] == {"Ref": "GuardMaxChanges"}
    params = sam["Parameters"]
    assert params["EnableGuard"]["Default"] == "true" and params["EnableGuardFix"]["Default"] == "false"
    # the guard's fix goes through the fix roles: it cannot be on without them
    (assertion,) = sam["Rules"]["GuardFixNeedsFix"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "EnableFix"}, "true"]}
    # guard records expire like runs
    rules = {r["Id"]: r for r in res["AuditBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-old-guard-records"]["Prefix"] == "guard/"


def test_the_bus_policy_lets_only_the_organisation_put_events() -> None:
    from auditor.policy import Decision, Request, evaluate_resource_policy

    statement = _template("template.yaml")["Resources"]["GuardBusPolicy"]["Properties"]["Statement"]
    bus = "arn:aws:events:us-east-1:111111111111:event-bus/default"
    resolved = {**statement, "Resource": bus, "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}}
    doc = {"Version": "2012-10-17", "Statement": [resolved]}

    def put(org: str | None, action: str = "events:PutEvents") -> Decision:
        request = Request(
            action=action,
            resource=bus,
            principal_arn="arn:aws:iam::222222222222:role/forwarder",
            context={"aws:PrincipalOrgID": [org] if org else None},
        )
        return evaluate_resource_policy(doc, request).decision

    assert put("o-abcdefghij") == Decision.ALLOWED
    assert put("o-otherorgxyz") != Decision.ALLOWED
    assert put(None) != Decision.ALLOWED
    assert put("o-abcdefghij", "events:PutRule") != Decision.ALLOWED


def test_the_forwarder_sends_exactly_the_guard_events_to_the_central_bus() -> None:
    doc = _template("guard-forwarder.yaml")
    res = doc["Resources"]
    rule = res["ForwardRule"]["Properties"]
    assert rule["EventPattern"] == guard.event_pattern()
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": "CentralEventBusArn"}
    assert target["RoleArn"] == {"Fn::GetAtt": ["ForwardRole", "Arn"]}
    role = res["ForwardRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    ((statement,),) = [p["PolicyDocument"]["Statement"] for p in role["Policies"]]
    assert statement == {"Effect": "Allow", "Action": "events:PutEvents", "Resource": {"Ref": "CentralEventBusArn"}}
    assert re.fullmatch(
        doc["Parameters"]["CentralEventBusArn"]["AllowedPattern"],
        "arn:aws:events:us-east-1:111111111111:event-bus/default",
    )
    assert not re.fullmatch(
        doc["Parameters"]["CentralEventBusArn"]["AllowedPattern"], "arn:aws:events:us-east-1:1:event-bus/x"
    )


def test_cfn_lint_is_clean_on_the_forwarder() -> None:
    from cfnlint.api import ManualArgs, lint

    text = (ROOT / "deploy" / "guard-forwarder.yaml").read_text(encoding="utf-8")
    matches = lint(text, config=ManualArgs(regions=["us-east-1", "eu-west-1"], include_checks=["I"]))
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


def test_docs_list_every_reaction() -> None:
    text = (ROOT / "docs" / "guard.md").read_text(encoding="utf-8")
    for row in guard.reaction_table():
        line = next((ln for ln in text.splitlines() if ln.startswith(f"| `{row['event']}` |")), None)
        assert line is not None, row["event"]
        for rule_id in row["rules"]:
            assert f"`{rule_id}`" in line, (row["event"], rule_id)


def test_every_sample_event_is_in_the_readme() -> None:
    readme = (EVENTS / "README.md").read_text(encoding="utf-8")
    for path in EVENTS.glob("*.json"):
        assert f"`{path.name}`" in readme, path.name


def test_envelope_round_trip() -> None:
    record = json.loads((EVENTS / "ecr-create-repository.json").read_text())["detail"]
    event = envelope(record, event_id="6a7e8feb-b491-4cf7-a9f1-bf3703467718")
    assert event == json.loads((EVENTS / "ecr-create-repository.json").read_text())
    assert parse_event(event)[0] == "guard"
