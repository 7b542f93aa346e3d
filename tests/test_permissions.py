"""Least privilege from code: the generated policies cover every API call the code really makes.

Every botocore client the process creates gets a ``before-call`` hook (``botocore.session.Session.create_client``
is wrapped), so no call escapes, whichever session or module made it. Each call is attributed to the
credentials that make it in production:

* clients made by ``auditor.collect.make_client`` (the collector): the member account's read-only audit
  role -> :func:`scanner_policy`;
* clients made by ``auditor.fix.make_client`` (``fix.Clients``: plan reads, apply, backups, rollback): the
  fix role -> :func:`fixer_policy`;
* any other client (the Lambda handler's S3/SNS, Organizations discovery, STS AssumeRole): the audit
  account's function -> :func:`hub_policy`.

A call not covered by its policy fails the test with the action's name; ``test_an_undeclared_call_is_reported``
shows the check can fail.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
import yaml

import auditor.collect
import auditor.fix
from auditor.cli import main
from auditor.config import parse_config
from auditor.engine import load_builtin_rules
from auditor.facets import FACETS, permissions_for_facets
from auditor.fix import APPLY_PERMISSIONS, S3_BACKUP_PERMISSIONS, fix_permissions
from auditor.permissions import (
    KINDS,
    Scope,
    covers,
    declared_actions,
    fixer_policy,
    hub_policy,
    iam_action,
    policy_document,
    render_permissions,
    scanner_policy,
    uncovered,
)
from auditor.sandbox.omics import set_run_state
from auditor.sandbox.seed import DEMO_CONFIG, seed_demo_account
from tests.support import lambda_hub
from tests.support.call_kinds import counting
from tests.support.sandbox import REGION, run_scan

BACKUP_BUCKET = "omics-audit-backups"
# the Lambda tests' fixtures "hub" and "org" (registered under their declared names)
_hub_fixture, _org_fixture = lambda_hub.hub_fixture, lambda_hub.org_fixture


def policies(config: Any = None) -> dict[str, dict[str, Any]]:
    return {"scan": scanner_policy(config), "fix": fixer_policy(), "hub": hub_policy()}


# --- the generated documents ----------------------------------------------------------------------


def test_scanner_policy_is_the_union_of_rule_permissions() -> None:
    rules = load_builtin_rules()
    union = {p for r in rules.values() for p in r.meta.permissions}
    assert declared_actions("scan") == union
    assert "sts:GetCallerIdentity" in union
    doc = scanner_policy()
    assert {a for st in doc["Statement"] for a in st["Action"]} == union
    # read-only: nothing that writes, never a secret value
    for action in union:
        verb = action.split(":", 1)[1]
        assert verb.startswith(("Describe", "Get", "List", "BatchGet", "Lookup", "Validate")), action
    assert "secretsmanager:GetSecretValue" not in union


def test_scanner_policy_includes_custom_rule_facets_from_a_config() -> None:
    config = parse_config(
        {
            "custom_rules": [
                {
                    "id": "org-lifecycle",
                    "title": "lifecycle",
                    "facets": ["lifecycle_policies"],
                    "resources": "repositories",
                    "resource_name": "arn",
                    "condition": "lifecycle_policy != null",
                }
            ]
        }
    )
    # What the custom rule's facet needs is added to the built-in rules' actions, and nothing else is: derived, as
    # a built-in rule may need the same action (lifecycle-keeps-used-images reads used repositories' policies).
    custom = set(permissions_for_facets(["lifecycle_policies"]))
    assert declared_actions("scan", config) == declared_actions("scan") | custom
    assert "ecr:GetLifecyclePolicy" in declared_actions("scan", config)
    assert covers(scanner_policy(config), "ecr:GetLifecyclePolicy")
    every_facet = set(permissions_for_facets(FACETS))
    assert declared_actions("scan", config) <= every_facet


def test_fixer_policy_is_fix_permissions_plus_apply_and_backups() -> None:
    expected = set(fix_permissions()) | set(APPLY_PERMISSIONS) | set(S3_BACKUP_PERMISSIONS)
    assert declared_actions("fix") == expected
    doc = fixer_policy(backup_bucket="audit-bucket", backup_prefix="backups/")
    s3 = [st for st in doc["Statement"] if st["Action"][0].startswith("s3:")]
    assert s3 == [
        {
            "Sid": "S3Objects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": "arn:aws:s3:::audit-bucket/backups/*",
        }
    ]
    pass_role = [st for st in doc["Statement"] if "iam:PassRole" in st["Action"] and st["Effect"] == "Allow"]
    assert pass_role == [
        {
            "Sid": "IamPassRole",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": "arn:aws:iam::*:role/*",
            "Condition": {"StringEquals": {"iam:PassedToService": "ecr.amazonaws.com"}},
        }
    ]


def test_hub_policy_scopes_assume_role_bucket_and_topic() -> None:
    topic = "arn:aws:sns:us-east-1:111122223333:omics-ecr-audit"
    doc = hub_policy(
        member_role_name="AuditRead", member_fix_role_name="AuditFix", bucket="runs-bucket", topic_arn=topic
    )
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    assert by_sid["StsRole"] == {
        "Sid": "StsRole",
        "Effect": "Allow",
        "Action": ["sts:AssumeRole"],
        "Resource": ["arn:aws:iam::*:role/AuditRead", "arn:aws:iam::*:role/AuditFix"],
    }
    assert by_sid["S3Objects"]["Resource"] == "arn:aws:s3:::runs-bucket/*"
    assert by_sid["S3Objects"]["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert by_sid["S3Bucket"] == {
        "Sid": "S3Bucket",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": "arn:aws:s3:::runs-bucket",
    }
    assert by_sid["SnsTopic"]["Resource"] == topic
    assert all(
        a.startswith(("organizations:List", "organizations:Describe"))
        for a in by_sid["OrganizationsAnyResource"]["Action"]
    )
    assert "securityhub:BatchImportFindings" in declared_actions("hub")
    without = hub_policy(securityhub=False)
    assert not covers(without, "securityhub:BatchImportFindings")


def test_documents_are_grouped_by_service_sorted_and_narrowed() -> None:
    for kind in KINDS:
        doc = json.loads(render_permissions(kind))
        assert doc["Version"] == "2012-10-17"
        sids = [st["Sid"] for st in doc["Statement"]]
        assert len(sids) == len(set(sids)), sids
        services = [st["Action"][0].split(":")[0] for st in doc["Statement"]]
        assert services == sorted(services), kind
        for st in doc["Statement"]:
            assert st["Action"] == sorted(st["Action"])
            assert len({a.split(":")[0] for a in st["Action"]}) == 1, st
            assert all(c.isalnum() for c in st["Sid"]), st["Sid"]
        assert yaml.safe_load(render_permissions(kind, "yaml")) == doc
    scan = {a: st["Resource"] for st in scanner_policy()["Statement"] for a in st["Action"]}
    assert scan["ecr:GetRepositoryPolicy"] == "arn:aws:ecr:*:*:repository/*"
    assert scan["ecr:BatchGetImage"] == "arn:aws:ecr:*:*:repository/*"
    assert scan["omics:GetRunTask"] == "arn:aws:omics:*:*:run/*"
    assert scan["omics:GetWorkflow"] == "arn:aws:omics:*:*:workflow/*"
    assert scan["iam:GetRolePolicy"] == "arn:aws:iam::*:role/*"
    # registry-level and listing calls have no resource type: "*" is the honest answer
    assert scan["ecr:DescribePullThroughCacheRules"] == "*"
    assert scan["cloudtrail:LookupEvents"] == "*"
    assert scan["sts:GetCallerIdentity"] == "*"
    with pytest.raises(ValueError, match="unknown permission kind"):
        declared_actions("admin")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="json or yaml"):
        render_permissions("scan", "toml")


def test_scope_fills_in_partition_and_account() -> None:
    doc = scanner_policy(scope=Scope(partition="${AWS::Partition}", account="${AWS::AccountId}"))
    resources = {a: st["Resource"] for st in doc["Statement"] for a in st["Action"]}
    assert resources["ecr:GetRepositoryPolicy"] == "arn:${AWS::Partition}:ecr:*:${AWS::AccountId}:repository/*"
    assert resources["iam:GetPolicy"] == [
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/*",
        "arn:${AWS::Partition}:iam::aws:policy/*",
    ]


def test_iam_action_names() -> None:
    session = botocore.session.get_session()

    def model(service: str) -> Any:
        return session.get_service_model(service)

    assert iam_action(model("omics"), "GetRunTask") == "omics:GetRunTask"
    assert iam_action(model("ecr"), "BatchGetImage") == "ecr:BatchGetImage"  # endpoint prefix is api.ecr
    assert iam_action(model("cloudtrail"), "LookupEvents") == "cloudtrail:LookupEvents"
    assert iam_action(model("stepfunctions"), "StartExecution") == "states:StartExecution"
    assert iam_action(model("cloudwatch"), "PutMetricData") == "cloudwatch:PutMetricData"
    assert iam_action(model("s3"), "HeadObject") == "s3:GetObject"
    assert iam_action(model("s3"), "ListObjectsV2") == "s3:ListBucket"
    assert iam_action(model("s3"), "PutObject") == "s3:PutObject"


def test_covers_matches_wildcards_case_insensitively() -> None:
    doc = policy_document(["ecr:Describe*", "iam:GetRole"])
    assert covers(doc, "ecr:DescribeRepositories")
    assert covers(doc, "IAM:getrole")
    assert not covers(doc, "ecr:GetRegistryPolicy")
    deny = {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    assert not covers(deny, "ecr:DescribeRepositories")
    assert uncovered(doc, ["iam:GetRole", "s3:GetObject", "s3:GetObject"]) == ["s3:GetObject"]


# --- coverage: what the code really calls ---------------------------------------------------------


def test_demo_scan_calls_only_declared_actions(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_demo_account(aws)
    config = {
        **DEMO_CONFIG,  # the opt-in vulnerability rule on, as `demo` scans
        "custom_rules": [
            {
                "id": "org-lifecycle",
                "title": "PTC repositories have a lifecycle policy",
                "facets": ["lifecycle_policies", "repositories"],
                "resources": "repositories",
                "resource_name": "arn",
                "condition": "lifecycle_policy != null",
            }
        ],
    }
    cfg = parse_config(config)
    with counting(monkeypatch) as rec:
        doc = run_scan(aws, config=cfg)
    assert not [f for f in doc.findings if f.status == "ERROR"], "the demo scan must read everything"
    assert set(rec.calls) == {"scan"}, "a scan makes every call through the collector's clients"
    assert rec.undeclared(policies(cfg)) == {}
    # least privilege the other way round: the full demo scan exercises every action it declares
    assert rec.actions("scan") == declared_actions("scan", cfg)
    # and the findings document counts the same calls
    assert set(doc.api_calls) == rec.actions("scan")


def test_fix_apply_and_rollback_call_only_declared_actions(
    aws: boto3.Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    demo = seed_demo_account(aws)
    # end the active run so that the cache-rule fixer really creates (and rollback deletes) a rule
    set_run_state(demo.account, REGION, demo.runs["active"], status="COMPLETED", stop_time=datetime.now(UTC))
    aws.client("s3").create_bucket(Bucket=BACKUP_BUCKET)
    out = tmp_path / "fix"
    with counting(monkeypatch) as rec:
        assert main(["fix", "--apply", "--quiet", "--out", str(out), "--backup", f"s3://{BACKUP_BUCKET}/backups"]) == 1
        report = json.loads((out / "fix-report.json").read_text())
        backup = report["applied"]["backup"]
        assert backup.startswith(f"s3://{BACKUP_BUCKET}/backups/")
        assert main(["rollback", backup]) == 0
    outcomes = {o["target"]: o["outcome"] for o in report["applied"]["outcomes"]}
    assert outcomes["ptc_rule(ecrRepositoryPrefix=k8s)"] == "applied"
    assert set(rec.calls) <= {"scan", "fix"}
    assert rec.undeclared(policies()) == {}
    fix_calls = rec.actions("fix")
    # the writes of every automatic fixer were exercised, and the backup went to S3
    for action in (
        "ecr:CreatePullThroughCacheRule",
        "ecr:DeletePullThroughCacheRule",
        "ecr:PutRegistryPolicy",
        "ecr:SetRepositoryPolicy",
        "ecr:CreateRepositoryCreationTemplate",
        "ecr:UpdateRepositoryCreationTemplate",
        "iam:PutRolePolicy",
        "s3:PutObject",
        "s3:GetObject",
        "omics:ListRuns",
        "sts:GetCallerIdentity",
    ):
        assert action in fix_calls, action
    assert not {a for a in rec.actions("scan") if a.split(":")[1].startswith(("Put", "Set", "Create", "Delete"))}


def test_an_undeclared_call_is_reported(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: a collector that also calls ecr:DescribeRegistry (declared nowhere) is caught."""
    seed_demo_account(aws, pause=0)
    real = auditor.collect.Collector._registry_policy

    def sneaky(self: Any) -> Any:
        with contextlib.suppress(Exception):  # the call is recorded before it is sent; its outcome does not matter
            self.client("ecr").describe_registry()
        return real(self)

    monkeypatch.setattr(auditor.collect.Collector, "_registry_policy", sneaky)
    with counting(monkeypatch) as rec:
        run_scan(aws, rules=["registry-policy-allows-omics"])
    assert rec.undeclared(policies()) == {"scan": ["ecr:DescribeRegistry"]}
    assert "ecr:DescribeRegistry" not in declared_actions("scan")


def test_an_unattributed_client_counts_against_the_hub_policy(
    monkeypatch: pytest.MonkeyPatch, aws: boto3.Session
) -> None:
    with counting(monkeypatch) as rec:
        aws.client("ecr").describe_repositories()  # not through make_client: judged as the hub function
    assert rec.undeclared(policies()) == {"hub": ["ecr:DescribeRepositories"]}


def test_rules_json_and_generated_policy_agree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {p for row in rows for p in row["permissions"]} == declared_actions("scan")
    fix_rows = {p for row in rows for p in row["fix_permissions"]}
    assert fix_rows <= declared_actions("fix")
    assert declared_actions("fix") - fix_rows <= set(S3_BACKUP_PERMISSIONS)


# --- the Lambda handler: the audit account's own calls ------------------------------------------------------


def test_lambda_runs_call_only_declared_actions(hub: Any, org: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """plan -> scan_cell -> merge over an organisation, then a run with fixes and a Security Hub import."""
    from auditor.lambda_handler import handler

    monkeypatch.setenv("SECURITYHUB_IMPORT", "true")
    hub.session.client("securityhub").enable_security_hub()
    with counting(monkeypatch) as rec:
        planned = handler({"action": "plan"})
        for cell in planned["cells"]:
            assert handler({"action": "scan_cell", "run_id": planned["run_id"], **cell})["ok"]
        merged = handler({"action": "merge", "run_id": planned["run_id"], "cells_key": planned["cells_key"]})
        assert merged["ok"], merged
        monkeypatch.setenv("FIX_ENABLED", "true")
        monkeypatch.setenv("FIX_ROLE_ARN", "arn:aws:iam::123456789012:role/omics-ecr-audit-fix")
        monkeypatch.setenv("MEMBER_FIX_ROLE_NAME", "OmicsEcrAuditFix")
        monkeypatch.setenv("MAX_FIX_CHANGES", "50")
        fixed = handler({"action": "run"})
        assert fixed["ok"], fixed
        assert fixed["fixes"]["applied"] > 0
    assert rec.undeclared(policies()) == {}
    hub_calls = rec.actions("hub")
    for action in (
        "organizations:ListRoots",
        "organizations:ListAccountsForParent",
        "sts:AssumeRole",
        "s3:PutObject",
        "s3:GetObject",
        "sns:Publish",
        "securityhub:BatchImportFindings",
    ):
        assert action in hub_calls, action
    # the function never writes to an audited account itself: every write goes through the fix role
    writes = {a for a in hub_calls if a.split(":")[1].startswith(("Put", "Set", "Create", "Delete", "Update"))}
    assert writes == {"s3:PutObject"}
    assert {"ecr:PutRegistryPolicy", "s3:PutObject"} <= rec.actions("fix")


# --- the fix role's IAM writes: service roles only, never the protected roles ----------------------------------


def test_fixer_policy_limits_inline_policy_writes_to_service_roles_and_denies_protected_roles() -> None:
    # derived from the code: exactly what the service-role fixer's state kind declares
    from auditor.remediations.service_role import KIND

    from auditor.permissions import (
        DEFAULT_SERVICE_ROLES,
        PROTECTED_ROLE_NAMES,
        ROLE_CHANGE_ACTIONS,
        role_policy_actions,
    )
    from auditor.policy import Decision, Request, evaluate_identity_policies

    assert role_policy_actions() == set(KIND.permissions)
    assert set(KIND.permissions) - {"iam:GetRolePolicy"} <= set(ROLE_CHANGE_ACTIONS)

    acct = "123456789012"
    scoped = fixer_policy(service_roles=DEFAULT_SERVICE_ROLES, scope=Scope(account=acct))
    default = fixer_policy()

    def decide(doc: dict[str, Any], action: str, role: str) -> Decision:
        request = Request(action=action, resource=f"arn:aws:iam::{acct}:role/{role}")
        return evaluate_identity_policies([doc], request).decision

    assert decide(scoped, "iam:PutRolePolicy", "OmicsWorkflowRole") == Decision.ALLOWED
    assert decide(scoped, "iam:PutRolePolicy", "service-role/OmicsWorkflow-1") == Decision.ALLOWED
    assert decide(scoped, "iam:PutRolePolicy", "OmicsLegacyRole") == Decision.IMPLICIT_DENY
    assert decide(default, "iam:PutRolePolicy", "OmicsLegacyRole") == Decision.ALLOWED  # the CLI's: any role
    for doc in (scoped, default):
        for name in (*PROTECTED_ROLE_NAMES, "OmicsEcrAuditFix", "OmicsEcrAuditReadOnly"):
            role = name.replace("*", "x")
            assert decide(doc, "iam:PutRolePolicy", role) == Decision.EXPLICIT_DENY, name
            assert decide(doc, "iam:PutRolePolicy", f"a/b/{role}") == Decision.EXPLICIT_DENY, name
        # the Deny is the only one, beside the IAM statements, and names its actions (no wildcard)
        (deny,) = [st for st in doc["Statement"] if st["Effect"] == "Deny"]
        assert deny["Action"] == sorted(ROLE_CHANGE_ACTIONS)
    with pytest.raises(ValueError, match="at least one role pattern"):
        fixer_policy(service_roles=())
