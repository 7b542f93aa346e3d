"""deploy/: the templates are generated from the code's declarations, lint clean, transform, and grant no more.

* drift: ``deploy/generate.py`` writes exactly the committed files, and a new declaration in the code
  (a facet permission) makes them stale;
* cfn-lint: zero errors and zero warnings (informational checks included) on every template, and the
  state machine definition validated against cfn-lint's Step Functions schema on its own;
* the SAM template transforms with aws-sam-translator;
* the state machine is well-formed ASL: every ``Next`` exists, every state is reachable, the Map is a
  DISTRIBUTED/STANDARD one over an S3 item list, every Task calls the audit function;
* trust and bucket policies, resolved for concrete parameter values and judged by the project's own
  IAM evaluator (``auditor.policy``): only the intended principals are allowed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from cfnlint.api import ManualArgs, lint

import auditor.facets
from auditor.permissions import Scope, fixer_policy, hub_policy, scanner_policy
from auditor.policy import Decision, Request, evaluate_identity_policies, evaluate_resource_policy

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
AUDIT_ACCOUNT = "111111111111"
MEMBER_ACCOUNT = "222222222222"
OTHER_MEMBER = "333333333333"
EXTERNAL_ID = "audit-ext-0123456789abcdef"
ORG_ID = "o-abcdefghij"
NO_VALUE = object()
DENIED = (Decision.IMPLICIT_DENY, Decision.EXPLICIT_DENY)  # decided, not UNKNOWN


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_generate", DEPLOY / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load_generator()


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load("template.yaml")


@pytest.fixture(scope="module")
def member() -> dict[str, Any]:
    return load("member-roles.yaml")


# --- a small CloudFormation resolver (Ref, Sub, If, GetAtt, Join, conditions) -----------------------


class Stack:
    """A template with concrete parameter values: resolves intrinsics so policies can be evaluated."""

    def __init__(self, template: Mapping[str, Any], params: Mapping[str, Any], account: str) -> None:
        self.template = template
        self.params = {k: v.get("Default") for k, v in template.get("Parameters", {}).items()}
        self.params.update(params)
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::Region": "us-east-1",
            "AWS::StackName": "omics-ecr-audit",
        }
        self.resources = template["Resources"]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            value = self.params[name]
            return ",".join(value) if isinstance(value, list) else str(value)
        kind = self.resources[name]["Type"]
        return {
            "AWS::S3::Bucket": "omics-ecr-audit-bucket",
            "AWS::SNS::Topic": f"arn:aws:sns:us-east-1:{self.pseudo['AWS::AccountId']}:omics-ecr-audit",
        }.get(kind, f"<{name}>")

    def get_att(self, name: str, attr: str) -> str:
        props = self.resources[name].get("Properties", {})
        account = self.pseudo["AWS::AccountId"]
        if self.resources[name]["Type"] == "AWS::IAM::Role":
            return f"arn:aws:iam::{account}:role/{self.resolve(props.get('RoleName', name))}"
        if self.resources[name]["Type"] == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{self.ref(name)}"
        if self.resources[name]["Type"] == "AWS::Serverless::Function":
            return f"arn:aws:lambda:us-east-1:{account}:function:{self.resolve(props['FunctionName'])}"
        return f"<{name}.{attr}>"

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(n) for n in node]
            return [i for i in items if i is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.get_att(*arg)
            if key == "Fn::Sub":
                # "${!name}" is CloudFormation's escape for a literal "${name}" (an IAM policy variable)
                return re.sub(r"\$\{(!?)([^}]+)\}", lambda m: self._sub(m.group(2), literal=bool(m.group(1))), arg)
            if key == "Fn::If":
                cond, then, otherwise = arg
                return self.resolve(then if self.condition(cond) else otherwise)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(self.resolve(items))
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Condition":
                return self.condition(arg)
        out = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _sub(self, name: str, *, literal: bool = False) -> str:
        if literal:
            return "${" + name + "}"
        if "." in name:
            return self.get_att(*name.split(".", 1))
        return str(self.ref(name))

    def role(self, logical_id: str) -> dict[str, Any]:
        return self.resolve(self.resources[logical_id]["Properties"])


def assume(trust: Mapping[str, Any], role_arn: str, caller: str, external_id: str | None = None) -> Decision:
    context: dict[str, Any] = {"sts:ExternalId": [external_id] if external_id else None}
    request = Request(action="sts:AssumeRole", resource=role_arn, principal_arn=caller, context=context)
    return evaluate_resource_policy(trust, request).decision


def _fix_params(**extra: str) -> dict[str, str]:
    """StackSet parameters with fixing enabled (the defaults for the rest)."""
    return {
        "AuditAccountId": AUDIT_ACCOUNT,
        "EnableFix": "true",
        "AuditBucketName": "audit-bucket",
        "ExternalId": EXTERNAL_ID,
        **extra,
    }


def service_assume(trust: Mapping[str, Any], role_arn: str, service: str, source_account: str | None) -> Decision:
    context = {"aws:SourceAccount": [source_account] if source_account else None}
    request = Request(action="sts:AssumeRole", resource=role_arn, principal_service=service, context=context)
    return evaluate_resource_policy(trust, request).decision


# --- generated, and in step with the code --------------------------------------------------------


def test_generated_files_are_up_to_date() -> None:
    assert generate.stale() == [], "run `python deploy/generate.py` and commit the result"


def test_a_new_declaration_makes_the_templates_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = auditor.facets.FACETS["ptc_rules"]
    more = dataclasses.replace(declared, permissions=(*declared.permissions, "ecr:DescribeRegistry"))
    monkeypatch.setitem(auditor.facets.FACETS, "ptc_rules", more)
    assert {p.name for p in generate.stale()} == {"template.yaml", "member-roles.yaml"}


def _policy(role: Mapping[str, Any], name: str) -> Any:
    for p in role["Properties"]["Policies"]:
        if isinstance(p, dict) and p.get("PolicyName") == name:
            return p["PolicyDocument"]
        if isinstance(p, dict) and "Fn::If" in p and p["Fn::If"][1].get("PolicyName") == name:
            return p["Fn::If"][1]["PolicyDocument"]
    raise AssertionError(f"no policy {name}")


def test_templates_embed_the_generated_policies(sam: dict[str, Any], member: dict[str, Any]) -> None:
    cfn = Scope(partition="${AWS::Partition}", account="${AWS::AccountId}")
    res = member["Resources"]
    assert _policy(res["AuditRole"], "omics-ecr-audit-scan") == generate.sub(scanner_policy(scope=cfn))
    assert _policy(res["FixRole"], "omics-ecr-audit-fix") == generate.sub(
        fixer_policy(
            backup_bucket="${AuditBucketName}",
            backup_prefix="backups/${AWS::AccountId}",
            scope=cfn,
            service_roles=("/${OmicsServiceRoleNamePrefix}*", "${OmicsServiceRolePath}${OmicsServiceRoleNamePrefix}*"),
            protected_roles=generate.CFN_PROTECTED_ROLES,
        )
    )
    fn_role = sam["Resources"]["AuditFunctionRole"]
    assert _policy(fn_role, "scanner") == generate.sub(scanner_policy(scope=cfn))
    assert _policy(fn_role, "hub") == generate.sub(
        hub_policy(
            member_role_name="${OrganizationAuditRoleName}",
            bucket="${AuditBucket}",
            topic_arn="${NotificationTopic}",
            scope=Scope(partition="${AWS::Partition}", account="${AWS::AccountId}", region="${AWS::Region}"),
        )
    )
    asl = json.loads((DEPLOY / "statemachine.asl.json").read_text())
    assert sam["Resources"]["AuditStateMachine"]["Properties"]["Definition"] == asl


# --- cfn-lint and the SAM transform ----------------------------------------------------------------


def _lint(text: str) -> list[str]:
    matches = lint(text, config=ManualArgs(regions=["us-east-1", "eu-west-1"], include_checks=["I"]))
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches]


@pytest.mark.parametrize("name", ["template.yaml", "member-roles.yaml"])
def test_cfn_lint_is_clean(name: str) -> None:
    assert _lint((DEPLOY / name).read_text(encoding="utf-8")) == []


def test_cfn_lint_reports_a_broken_template() -> None:
    broken = (DEPLOY / "member-roles.yaml").read_text().replace("AssumeRolePolicyDocument", "AssumeRolePolicyDoc", 1)
    assert any(m.startswith("E") for m in _lint(broken))


def _standalone_state_machine(definition: dict[str, Any]) -> str:
    text = json.dumps(definition).replace("${AuditFunctionArn}", "arn:aws:lambda:us-east-1:111111111111:function:x")
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "StateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"RoleArn": "arn:aws:iam::111111111111:role/sm", "Definition": json.loads(text)},
            }
        },
    }
    return json.dumps(template)


def test_state_machine_definition_passes_the_step_functions_schema(sam: dict[str, Any]) -> None:
    definition = sam["Resources"]["AuditStateMachine"]["Properties"]["Definition"]
    assert _lint(_standalone_state_machine(definition)) == []
    broken = json.loads(json.dumps(definition))
    broken["States"]["ScanCells"]["MaxConcurrencyPathTypo"] = "$.x"
    assert any("E3601" in m for m in _lint(_standalone_state_machine(broken)))


def test_sam_template_transforms(sam: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    template = json.loads(json.dumps(sam))
    # `sam package` replaces the local CodeUri with the uploaded artefact's S3 URI
    template["Resources"]["AuditFunction"]["Properties"]["CodeUri"] = "s3://artifacts/omics-ecr-audit.zip"
    out = transform(template, {}, NoManagedPolicies())
    types = {r["Type"] for r in out["Resources"].values()}
    assert not {t for t in types if t.startswith("AWS::Serverless::")}
    assert {"AWS::Lambda::Function", "AWS::StepFunctions::StateMachine", "AWS::Scheduler::Schedule"} <= types
    fn = out["Resources"]["AuditFunction"]["Properties"]
    assert fn["Handler"] == "auditor.lambda_handler.handler"
    assert fn["Runtime"] in ("python3.12", "python3.13")
    assert fn["Role"] == {"Fn::GetAtt": ["AuditFunctionRole", "Arn"]}  # no SAM-generated role
    assert out["Resources"]["AuditFunctionEventInvokeConfig"]["Properties"]["MaximumRetryAttempts"] == 0
    sm = out["Resources"]["AuditStateMachine"]["Properties"]
    assert sm["RoleArn"] == {"Fn::GetAtt": ["StateMachineRole", "Arn"]}
    assert sm["DefinitionSubstitutions"] == {"AuditFunctionArn": {"Fn::GetAtt": ["AuditFunction", "Arn"]}}
    # the transform added no role or policy of its own
    roles = {k for k, r in out["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert roles == {"AuditFunctionRole", "FixRole", "StateMachineRole", "SchedulerRole"}


def test_lambda_handler_named_by_the_template_exists(sam: dict[str, Any]) -> None:
    module, _, name = sam["Resources"]["AuditFunction"]["Properties"]["Handler"].rpartition(".")
    handler = getattr(importlib.import_module(module), name)
    assert callable(handler)


# --- the state machine ------------------------------------------------------------------------------


def _next_targets(state: Mapping[str, Any]) -> list[str]:
    targets = [state["Next"]] if "Next" in state else []
    targets += [c["Next"] for c in state.get("Catch", [])]
    targets += [c["Next"] for c in state.get("Choices", [])]
    if "Default" in state:
        targets.append(state["Default"])
    return targets


def _check_states(machine: Mapping[str, Any], where: str) -> list[Mapping[str, Any]]:
    """Every Next exists, every state is reachable and ends or continues; returns every state (nested too)."""
    states = machine["States"]
    assert machine["StartAt"] in states, where
    seen, todo = set(), [machine["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        targets = _next_targets(state)
        for t in targets:
            assert t in states, f"{where}.{name} -> {t} does not exist"
        terminal = state.get("End") is True or state["Type"] in ("Succeed", "Fail")
        assert terminal != ("Next" in state) or state["Type"] == "Choice", f"{where}.{name}: End xor Next"
        todo.extend(targets)
    assert seen == set(states), f"{where}: unreachable {set(states) - seen}"
    out = list(states.values())
    for name, state in states.items():
        if "ItemProcessor" in state:
            out += _check_states(state["ItemProcessor"], f"{where}.{name}")
    return out


def test_state_machine_is_plan_distributed_map_merge(sam: dict[str, Any]) -> None:
    props = sam["Resources"]["AuditStateMachine"]["Properties"]
    definition = props["Definition"]
    every = _check_states(definition, "States")
    assert definition["StartAt"] == "Plan"
    assert definition["States"]["Plan"]["Next"] == "PlanOk"
    # a configuration error in the plan fails the execution with the handler's message
    assert definition["States"]["PlanOk"]["Choices"] == [
        {"Variable": "$.ok", "BooleanEquals": True, "Next": "ScanCells"}
    ]
    assert definition["States"]["PlanFailed"] == {"Type": "Fail", "Error": "AuditPlanFailed", "CausePath": "$.error"}
    scan = definition["States"]["ScanCells"]
    assert scan["Type"] == "Map"
    assert scan["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert scan["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert scan["ItemReader"]["Parameters"] == {"Bucket.$": "$.bucket", "Key.$": "$.cells_key"}
    assert scan["ItemSelector"]["action"] == "scan_cell"
    assert scan["ToleratedFailurePercentagePath"] and scan["MaxConcurrencyPath"]
    assert scan["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    # a failed Map still merges: the merge reports the cells without a part as ERROR
    assert scan["Next"] == "Merge"
    assert [c["Next"] for c in scan["Catch"]] == ["Merge"]
    assert definition["States"]["Merge"]["Next"] == "MergeOk"
    assert definition["States"]["MergeOk"]["Choices"][0]["Next"] == "Done"
    assert definition["States"]["MergeOk"]["Default"] == "MergeFailed"
    tasks = [s for s in every if s["Type"] == "Task"]
    assert len(tasks) == 3
    assert {t["Resource"] for t in tasks} == {"${AuditFunctionArn}"}
    assert props["DefinitionSubstitutions"] == {"AuditFunctionArn": {"Fn::GetAtt": ["AuditFunction", "Arn"]}}
    actions = {t.get("Parameters", {}).get("action") for t in tasks} | {scan["ItemSelector"]["action"]}
    assert actions == {"plan", "scan_cell", "merge", None}


def test_moto_accepts_the_state_machine(aws: boto3.Session, sam: dict[str, Any]) -> None:
    sfn = aws.client("stepfunctions")
    definition = json.dumps(sam["Resources"]["AuditStateMachine"]["Properties"]["Definition"]).replace(
        "${AuditFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:omics-ecr-audit-audit"
    )
    arn = sfn.create_state_machine(
        name="omics-ecr-audit-nightly", definition=definition, roleArn="arn:aws:iam::123456789012:role/sm"
    )["stateMachineArn"]
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == json.loads(definition)


# --- the bucket, the topic, the schedule --------------------------------------------------------------


def test_bucket_is_private_encrypted_versioned_and_tls_only(sam: dict[str, Any]) -> None:
    stack = Stack(sam, {"EnableFix": "true", "OrganizationId": ORG_ID}, AUDIT_ACCOUNT)
    bucket = stack.resolve(sam["Resources"]["AuditBucket"])
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
        "SSEAlgorithm"
    ] in ("AES256", "aws:kms")
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-old-runs"]["Prefix"] == "runs/"

    policy = stack.resolve(sam["Resources"]["AuditBucketPolicy"]["Properties"]["PolicyDocument"])
    bucket_arn = "arn:aws:s3:::omics-ecr-audit-bucket"

    def decide(action: str, key: str, principal: str, tls: bool, org: str | None = ORG_ID) -> Decision:
        request = Request(
            action=action,
            resource=f"{bucket_arn}/{key}",
            principal_arn=principal,
            context={"aws:SecureTransport": [str(tls).lower()], "aws:PrincipalOrgID": [org] if org else None},
        )
        return evaluate_resource_policy(policy, request).decision

    member_fix = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/OmicsEcrAuditFix"
    function_role = f"arn:aws:iam::{AUDIT_ACCOUNT}:role/omics-ecr-audit-scan"
    own = f"backups/{MEMBER_ACCOUNT}/run-1/b/backup.json"
    # any request without TLS is denied, whoever makes it
    assert decide("s3:GetObject", "runs/x/findings.json", function_role, tls=False) == Decision.EXPLICIT_DENY
    assert decide("s3:PutObject", own, member_fix, tls=False) == Decision.EXPLICIT_DENY
    # member fix roles of this organisation may back up under backups/<their own account>/ only
    assert decide("s3:PutObject", own, member_fix, tls=True) == Decision.ALLOWED
    assert decide("s3:PutObject", f"backups/{OTHER_MEMBER}/run-1/b/backup.json", member_fix, tls=True) in DENIED
    assert decide("s3:PutObject", "backups/b.json", member_fix, tls=True) in DENIED
    assert decide("s3:PutObject", "runs/x/findings.json", member_fix, tls=True) in DENIED
    assert decide("s3:PutObject", own, member_fix, tls=True, org="o-otherorgxyz") in DENIED
    other = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/SomethingElse"
    assert decide("s3:PutObject", own, other, tls=True) in DENIED
    # without EnableFix the bucket policy grants nobody anything
    plain = Stack(sam, {"EnableFix": "false"}, AUDIT_ACCOUNT)
    statements = plain.resolve(sam["Resources"]["AuditBucketPolicy"]["Properties"]["PolicyDocument"])["Statement"]
    assert [s["Effect"] for s in statements] == ["Deny"]


def test_topic_is_encrypted_and_schedule_is_parameterised(sam: dict[str, Any]) -> None:
    res = sam["Resources"]
    assert res["NotificationTopic"]["Properties"]["KmsMasterKeyId"]
    assert res["NotificationSubscription"]["Condition"] == "HasEmail"
    schedule = res["NightlySchedule"]["Properties"]
    assert res["NightlySchedule"]["Type"] == "AWS::Scheduler::Schedule"
    assert schedule["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert sam["Parameters"]["ScheduleExpression"]["Default"].startswith("cron(")
    for mode, target, payload in (
        ("StepFunctions", "<AuditStateMachine>", {}),
        ("SingleFunction", "arn:aws:lambda:us-east-1:111111111111:function:omics-ecr-audit-audit", {"action": "run"}),
    ):
        stack = Stack(sam, {"RunMode": mode}, AUDIT_ACCOUNT)
        resolved = stack.resolve(schedule)
        assert resolved["Target"]["Arn"] == target
        assert json.loads(resolved["Target"]["Input"]) == payload
    required = {
        "OrganizationAuditRoleName",
        "ExternalId",
        "Regions",
        "ScheduleExpression",
        "EnableFix",
        "MaxFixChanges",
        "NotificationEmail",
        "MaxConcurrency",
        "FunctionMemorySize",
        "FunctionTimeout",
    }
    assert required <= set(sam["Parameters"])


# --- who may assume what -------------------------------------------------------------------------------


def test_member_audit_role_trusts_only_the_scan_role(member: dict[str, Any]) -> None:
    role_arn = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/OmicsEcrAuditReadOnly"
    scan = f"arn:aws:iam::{AUDIT_ACCOUNT}:role/omics-ecr-audit-scan"
    stack = Stack(member, {"AuditAccountId": AUDIT_ACCOUNT, "ExternalId": EXTERNAL_ID}, MEMBER_ACCOUNT)
    trust = stack.role("AuditRole")["AssumeRolePolicyDocument"]
    assert assume(trust, role_arn, scan, EXTERNAL_ID) == Decision.ALLOWED
    assert assume(trust, role_arn, scan, None) in DENIED  # the external id is always required
    assert assume(trust, role_arn, scan, "wrong") in DENIED
    assert assume(trust, role_arn, f"arn:aws:iam::{AUDIT_ACCOUNT}:role/Admin", EXTERNAL_ID) in DENIED
    assert assume(trust, role_arn, f"arn:aws:iam::{AUDIT_ACCOUNT}:role/omics-ecr-audit-fix", EXTERNAL_ID) in DENIED
    assert assume(trust, role_arn, "arn:aws:iam::333333333333:role/omics-ecr-audit-scan", EXTERNAL_ID) in DENIED
    # no fix role unless asked for
    assert not stack.condition("FixEnabled")


def test_member_fix_role_trusts_only_the_hub_fix_role(member: dict[str, Any]) -> None:
    role_arn = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/OmicsEcrAuditFix"
    stack = Stack(member, _fix_params(), MEMBER_ACCOUNT)
    assert member["Resources"]["FixRole"]["Condition"] == "FixEnabled" and stack.condition("FixEnabled")
    role = stack.role("FixRole")
    trust = role["AssumeRolePolicyDocument"]
    hub_fix = f"arn:aws:iam::{AUDIT_ACCOUNT}:role/omics-ecr-audit-fix"
    assert assume(trust, role_arn, hub_fix, EXTERNAL_ID) == Decision.ALLOWED
    assert assume(trust, role_arn, hub_fix, None) in DENIED
    assert assume(trust, role_arn, f"arn:aws:iam::{AUDIT_ACCOUNT}:role/omics-ecr-audit-scan", EXTERNAL_ID) in DENIED
    # its policy writes backups to the audit bucket's backups/<this account>/ prefix only
    doc = role["Policies"][0]["PolicyDocument"]

    def can(action: str, resource: str) -> Decision:
        return evaluate_identity_policies([doc], Request(action=action, resource=resource)).decision

    assert can("s3:PutObject", f"arn:aws:s3:::audit-bucket/backups/{MEMBER_ACCOUNT}/r/b/backup.json") == (
        Decision.ALLOWED
    )
    assert can("s3:PutObject", "arn:aws:s3:::audit-bucket/runs/x") in DENIED
    assert can("ecr:PutRegistryPolicy", "*") == Decision.ALLOWED
    assert can("ecr:SetRepositoryPolicy", f"arn:aws:ecr:us-east-1:{MEMBER_ACCOUNT}:repository/quay/x") == (
        Decision.ALLOWED
    )
    assert can("ecr:SetRepositoryPolicy", "arn:aws:ecr:us-east-1:999999999999:repository/quay/x") in DENIED
    assert can("ecr:DeleteRepository", f"arn:aws:ecr:us-east-1:{MEMBER_ACCOUNT}:repository/quay/x") in DENIED


def test_audit_account_roles_trust_only_their_service_or_role(sam: dict[str, Any]) -> None:
    stack = Stack(sam, {"EnableFix": "true", "OrganizationId": ORG_ID}, AUDIT_ACCOUNT)
    fn = stack.role("AuditFunctionRole")
    arn = f"arn:aws:iam::{AUDIT_ACCOUNT}:role/omics-ecr-audit-scan"
    assert service_assume(fn["AssumeRolePolicyDocument"], arn, "lambda.amazonaws.com", None) == Decision.ALLOWED
    assert service_assume(fn["AssumeRolePolicyDocument"], arn, "states.amazonaws.com", None) in DENIED
    assert assume(fn["AssumeRolePolicyDocument"], arn, f"arn:aws:iam::{AUDIT_ACCOUNT}:role/Admin") in DENIED

    fix = stack.role("FixRole")
    fix_arn = f"arn:aws:iam::{AUDIT_ACCOUNT}:role/omics-ecr-audit-fix"
    assert assume(fix["AssumeRolePolicyDocument"], fix_arn, arn) == Decision.ALLOWED
    assert assume(fix["AssumeRolePolicyDocument"], fix_arn, f"arn:aws:iam::{AUDIT_ACCOUNT}:role/Admin") in DENIED
    fix_doc = fix["Policies"][0]["PolicyDocument"]
    member_fix = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/OmicsEcrAuditFix"
    member_read = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/OmicsEcrAuditReadOnly"
    decide = lambda doc, res: evaluate_identity_policies([doc], Request(action="sts:AssumeRole", resource=res)).decision  # noqa: E731
    assert decide(fix_doc, member_fix) == Decision.ALLOWED
    assert decide(fix_doc, member_read) in DENIED
    hub = next(p["PolicyDocument"] for p in fn["Policies"] if p["PolicyName"] == "hub")
    assert decide(hub, member_read) == Decision.ALLOWED
    assert decide(hub, member_fix) in DENIED  # fixing goes through the fix role only

    for logical, service in (
        ("StateMachineRole", "states.amazonaws.com"),
        ("SchedulerRole", "scheduler.amazonaws.com"),
    ):
        trust = stack.role(logical)["AssumeRolePolicyDocument"]
        role_arn = f"arn:aws:iam::{AUDIT_ACCOUNT}:role/{logical}"
        assert service_assume(trust, role_arn, service, AUDIT_ACCOUNT) == Decision.ALLOWED
        assert service_assume(trust, role_arn, service, "999999999999") in DENIED  # confused deputy
        assert service_assume(trust, role_arn, "lambda.amazonaws.com", AUDIT_ACCOUNT) in DENIED

    # without EnableFix there is no fix role and nothing to assume it with
    plain = Stack(sam, {}, AUDIT_ACCOUNT)
    assert not plain.condition("FixEnabled")
    names = [p["PolicyName"] for p in plain.role("AuditFunctionRole")["Policies"]]
    assert names == ["scanner", "hub", "logs"]


def _statements(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for res in template["Resources"].values():
        if res["Type"] != "AWS::IAM::Role":
            continue
        for policy in res["Properties"].get("Policies", []):
            doc = policy["Fn::If"][1]["PolicyDocument"] if "Fn::If" in policy else policy["PolicyDocument"]
            for st in doc["Statement"]:
                out.append(st["Fn::If"][1] if "Fn::If" in st else st)
                if "Fn::If" in st:
                    out.append(st["Fn::If"][2])
    return out


@pytest.mark.parametrize("name", ["template.yaml", "member-roles.yaml"])
def test_no_role_grants_wildcard_actions(name: str) -> None:
    effects = set()
    for st in _statements(load(name)):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        effects.add(st["Effect"])
        assert "NotAction" not in st and "NotResource" not in st, st
        for action in actions:
            assert "*" not in action, (name, st)  # Deny statements list their actions too: reviewable
    # the only Deny is the fix role's belt and braces (member-roles.yaml)
    assert effects == ({"Allow", "Deny"} if name == "member-roles.yaml" else {"Allow"})


def test_member_audit_role_is_read_only(member: dict[str, Any]) -> None:
    doc = _policy(member["Resources"]["AuditRole"], "omics-ecr-audit-scan")
    for st in doc["Statement"]:
        for action in st["Action"]:
            verb = action.split(":", 1)[1]
            assert verb.startswith(("Describe", "Get", "List", "BatchGet", "Lookup", "Validate")), action


# --- the member fix role: least privilege, proven with the project's own evaluator --------------------------


def _fix_policy(member: Mapping[str, Any], account: str = MEMBER_ACCOUNT, **params: str) -> dict[str, Any]:
    return Stack(member, _fix_params(**params), account).role("FixRole")["Policies"][0]["PolicyDocument"]


def _decide(doc: Mapping[str, Any], action: str, resource: str, account: str = MEMBER_ACCOUNT) -> Decision:
    principal = f"arn:aws:iam::{account}:role/OmicsEcrAuditFix"
    request = Request(action=action, resource=resource, principal_arn=principal)
    return evaluate_identity_policies([doc], request).decision


PROTECTED = [
    "OmicsEcrAuditFix",  # itself
    "OmicsEcrAuditReadOnly",  # the audit role
    "omics-ecr-audit-scan",  # the audit account's function role (it lives beside the member roles there)
    "omics-ecr-audit-fix",
    "OrganizationAccountAccessRole",
    "some/path/OrganizationAccountAccessRole",
    "AWSControlTowerExecution",
    "AWSCloudFormationStackSetExecutionRole",
    "stacksets-exec-0123456789abcdef0123456789abcdef",
    "aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef",
]


@pytest.mark.parametrize("action", ["iam:PutRolePolicy", "iam:DeleteRolePolicy"])
def test_member_fix_role_writes_inline_policies_only_on_healthomics_service_roles(
    member: dict[str, Any], action: str
) -> None:
    doc = _fix_policy(member)
    role = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/"
    # the default pattern: OmicsWorkflow* at / or under /service-role/
    assert _decide(doc, action, role + "OmicsWorkflowRole") == Decision.ALLOWED
    assert _decide(doc, action, role + "service-role/OmicsWorkflow-20261121T020000") == Decision.ALLOWED
    # (not "every role OmicsWorkflow* names": that includes role/OmicsWorkflowX/OrganizationAccountAccessRole,
    # which the Deny rightly keeps out)
    # anything else: implicitly denied ...
    for other in ("Admin", "OmicsLegacyRole", "service-role/AWSLambdaBasicRole", "team/OmicsWorkflowRole"):
        assert _decide(doc, action, role + other) in DENIED, other
    assert _decide(doc, action, f"arn:aws:iam::{OTHER_MEMBER}:role/OmicsWorkflowRole") in DENIED
    # ... and the fix role itself, the audit roles and the organisation's admin roles explicitly
    for name in PROTECTED:
        assert _decide(doc, action, role + name) == Decision.EXPLICIT_DENY, name


def test_a_too_wide_service_role_pattern_still_cannot_reach_the_protected_roles(member: dict[str, Any]) -> None:
    """The Deny is belt and braces: even a prefix that matches the fix role cannot make it an administrator."""
    doc = _fix_policy(member, OmicsServiceRoleNamePrefix="Omics", OmicsServiceRolePath="/")
    role = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/"
    assert _decide(doc, "iam:PutRolePolicy", role + "OmicsAnything") == Decision.ALLOWED
    assert _decide(doc, "iam:PutRolePolicy", role + "OmicsEcrAuditFix") == Decision.EXPLICIT_DENY
    assert _decide(doc, "iam:PutRolePolicy", role + "OmicsEcrAuditReadOnly") == Decision.EXPLICIT_DENY
    for name in PROTECTED:
        for action in ("iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:PassRole"):
            assert _decide(doc, action, role + name) == Decision.EXPLICIT_DENY, (action, name)
    # the parameters cannot be widened to a wildcard in the first place
    params = member["Parameters"]
    assert not re.fullmatch(params["OmicsServiceRoleNamePrefix"]["AllowedPattern"], "*")
    assert not re.fullmatch(params["OmicsServiceRoleNamePrefix"]["AllowedPattern"], "O*")
    assert not re.fullmatch(params["OmicsServiceRolePath"]["AllowedPattern"], "/*/")
    assert re.fullmatch(params["OmicsServiceRolePath"]["AllowedPattern"], params["OmicsServiceRolePath"]["Default"])


def test_member_fix_role_has_no_other_iam_write(member: dict[str, Any]) -> None:
    doc = _fix_policy(member)
    any_role = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/OmicsWorkflowRole"
    for action in ("iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:CreateRole", "iam:CreatePolicyVersion"):
        assert _decide(doc, action, any_role) in DENIED, action
    allows = {a for st in doc["Statement"] if st["Effect"] == "Allow" for a in st["Action"] if a.startswith("iam:")}
    assert allows == {"iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PassRole"}


def test_each_account_backs_up_under_its_own_prefix_only(member: dict[str, Any], sam: dict[str, Any]) -> None:
    """Account A's fix role may write backups/A/ and never backups/B/: by its own policy and by the bucket's."""
    from auditor.nightly_fix import backup_location

    bucket = "audit-bucket"
    key_of = {a: backup_location(bucket, a, "20261121T020000Z-1a2b3c4d") for a in (MEMBER_ACCOUNT, OTHER_MEMBER)}
    objects = {
        a: f"arn:aws:s3:::{uri.removeprefix('s3://')}/20261121T020000Z-0a1b2c3d/backup.json"
        for a, uri in key_of.items()
    }
    assert key_of[MEMBER_ACCOUNT] == f"s3://{bucket}/backups/{MEMBER_ACCOUNT}/20261121T020000Z-1a2b3c4d"

    # the member fix role's own policy, resolved in each account
    for me, them in ((MEMBER_ACCOUNT, OTHER_MEMBER), (OTHER_MEMBER, MEMBER_ACCOUNT)):
        doc = _fix_policy(member, account=me)
        for action in ("s3:PutObject", "s3:GetObject"):
            assert _decide(doc, action, objects[me], account=me) == Decision.ALLOWED
            assert _decide(doc, action, objects[them], account=me) in DENIED
            assert _decide(doc, action, f"arn:aws:s3:::{bucket}/backups/x.json", account=me) in DENIED

    # the audit bucket's policy, for a caller from each account
    stack = Stack(sam, {"EnableFix": "true", "OrganizationId": ORG_ID, "ExternalId": EXTERNAL_ID}, AUDIT_ACCOUNT)
    policy = stack.resolve(sam["Resources"]["AuditBucketPolicy"]["Properties"]["PolicyDocument"])
    bucket_arn = "arn:aws:s3:::omics-ecr-audit-bucket"
    for me, them in ((MEMBER_ACCOUNT, OTHER_MEMBER), (OTHER_MEMBER, MEMBER_ACCOUNT)):
        principal = f"arn:aws:iam::{me}:role/OmicsEcrAuditFix"
        ctx = {"aws:SecureTransport": ["true"], "aws:PrincipalOrgID": [ORG_ID]}

        def decide(key: str, principal: str = principal, ctx: dict[str, Any] = ctx) -> Decision:
            request = Request(
                action="s3:PutObject", resource=f"{bucket_arn}/{key}", principal_arn=principal, context=ctx
            )
            return evaluate_resource_policy(policy, request).decision

        assert decide(f"backups/{me}/r/b/backup.json") == Decision.ALLOWED
        assert decide(f"backups/{them}/r/b/backup.json") in DENIED
        assert decide(f"backups/{them}/{me}/backup.json") in DENIED


def test_the_external_id_is_required_by_both_templates(sam: dict[str, Any], member: dict[str, Any]) -> None:
    for template in (sam, member):
        param = template["Parameters"]["ExternalId"]
        assert "Default" not in param  # no empty default: a deployment without one fails
        assert param["MinLength"] >= 16 and param["NoEcho"] is True
        assert not re.fullmatch(param["AllowedPattern"], "")
        assert not re.fullmatch(param["AllowedPattern"], "x" * 15)
        assert re.fullmatch(param["AllowedPattern"], "Zq3_-w9X" * 5)
    assert "HasExternalId" not in member.get("Conditions", {})
    # every member trust policy requires it (no condition that drops it)
    for logical in ("AuditRole", "FixRole"):
        trust = member["Resources"][logical]["Properties"]["AssumeRolePolicyDocument"]
        (statement,) = trust["Statement"]
        assert statement["Condition"]["StringEquals"] == {"sts:ExternalId": {"Ref": "ExternalId"}}


def test_the_makefile_generates_and_stores_an_external_id() -> None:
    import shutil
    import subprocess

    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    out = subprocess.run(
        [make, "-n", "-C", str(DEPLOY), "external-id"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "secrets.token_urlsafe(32)" in out
    assert "ssm put-parameter" in out and "SecureString" in out
    assert "--overwrite" not in out  # an existing id is kept: the StackSet already uses it
