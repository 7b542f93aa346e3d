"""A plan and a backup are data, not programs; an account that cannot be read is never "nothing to do".

* ``fix --apply --plan FILE`` re-plans live and writes a saved change only if the fixers plan the same
  change now (same rule, target, calls and "after" document); calls outside the target kind's declared
  writes are refused before anything is read. A tampered plan is refused whole, with zero write calls.
* ``rollback`` restores only a backup whose SHA-256 matches the digest recorded when it was written
  (the printed ``--sha256``, ``fix-report.json``, or the S3 object's ``x-amz-meta-sha256``).
* ``rollback`` and ``fix --apply --plan`` work in a fresh interpreter (the target-kind registry is
  loaded by whatever reads it), shown with separate processes against the sandbox server.
* ``fix`` whose scan could not read a cell exits 3 and names the cell.

Writes are counted on every client the auditor makes (``Spy`` from tests/support/fix_account.py), or, for the
separate processes, by comparing every document a fix can touch before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from auditor.fix import KINDS, Backup, load_kinds
from auditor.fixrun import FixReport
from auditor.policy_merge import normalized
from tests.support import fix_account
from tests.support.fix_account import (
    ACCOUNT,
    ALL_TARGETS,
    OTHER_ACCOUNT,
    REGION,
    ROLE,
    Account,
    Result,
    Spy,
    assert_clean_refusal,
    backups_written,
    cli,
    fix,
    read_report,
    rollback_lines,
)
from tests.support.sandbox import trust

# The broken account of test_fix_safety (seven planned changes) and its write spy: tests/support/fix_account.py.
acct = fix_account.acct
spy = fix_account.spy

ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def iam_users(acct: Account) -> list[str]:
    return [u["UserName"] for u in acct.iam.list_users()["Users"]]


def admin_role(acct: Account) -> None:
    acct.iam.create_role(RoleName="AdminRole", AssumeRolePolicyDocument=trust("ec2.amazonaws.com"))


def role_documents(acct: Account) -> dict[str, Any]:
    """Every inline policy of every role, with its document (state() lists only the names)."""
    out = {}
    for role in acct.iam.list_roles()["Roles"]:
        name = role["RoleName"]
        for policy in acct.iam.list_role_policies(RoleName=name)["PolicyNames"]:
            doc = acct.iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            out[f"{name}/{policy}"] = normalized(doc)
    return out


# =====================================================================================================
# the declared writes of every target kind
# =====================================================================================================


def test_every_kind_declares_its_writes_and_they_are_within_its_permissions() -> None:
    kinds = load_kinds()
    assert set(kinds) == {
        "registry_policy",
        "repository_policy",
        "creation_template",
        "role_policy",
        "ptc_rule",
        "registry_scanning_configuration",
    }
    for kind in kinds.values():
        assert kind.writes, kind.name
        for service, operation in kind.writes:
            assert f"{service}:{operation}" in kind.permissions, (kind.name, operation)
    assert kinds == KINDS


# =====================================================================================================
# tampered plans
# =====================================================================================================


def change_of(data: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in data["changes"] if c["target"]["kind"] == kind)


def extra_operation(data: dict[str, Any]) -> list[str]:
    role = change_of(data, "role_policy")
    role["api_calls"].append({"service": "iam", "operation": "CreateUser", "params": {"UserName": "mallory"}})
    return [role["id"], "iam:CreateUser"]


def extra_change_creating_a_user(data: dict[str, Any]) -> list[str]:
    evil = json.loads(json.dumps(change_of(data, "role_policy")))
    evil["id"] = "fix-evil"
    evil["before"] = evil["after"] = None
    evil["api_calls"] = [{"service": "iam", "operation": "CreateUser", "params": {"UserName": "mallory"}}]
    data["changes"].append(evil)
    return ["fix-evil", "iam:CreateUser"]


def other_account(data: dict[str, Any]) -> list[str]:
    registry = change_of(data, "registry_policy")
    registry["account"] = registry["target"]["account"] = OTHER_ACCOUNT
    return [OTHER_ACCOUNT, ACCOUNT, f"{REGION}: registry_policy)"]


def other_region(data: dict[str, Any]) -> list[str]:
    registry = change_of(data, "registry_policy")
    registry["region"] = "us-west-2"  # read in the target's region, written in another
    return [registry["id"], "another account or region"]


def other_role(data: dict[str, Any]) -> list[str]:
    role = change_of(data, "role_policy")
    role["target"]["key"]["roleName"] = "AdminRole"
    role["api_calls"][0]["params"]["RoleName"] = "AdminRole"
    return [role["id"], "roleName=AdminRole", "no such change"]


def changed_document(data: dict[str, Any]) -> list[str]:
    role = change_of(data, "role_policy")
    role["after"] = ALLOW_ALL
    role["api_calls"][0]["params"]["PolicyDocument"] = json.dumps(ALLOW_ALL)
    return [role["id"], "differ"]


def changed_call_only(data: dict[str, Any]) -> list[str]:
    registry = change_of(data, "registry_policy")
    registry["api_calls"][0]["params"]["policyText"] = json.dumps(ALLOW_ALL)  # "after" left as planned
    return [registry["id"], "calls (ecr:PutRegistryPolicy) differ"]


def changed_after_only(data: dict[str, Any]) -> list[str]:
    template = change_of(data, "creation_template")
    template["after"]["imageTagMutability"] = "IMMUTABLE"
    return [template["id"], "document differs"]


def read_call_smuggled(data: dict[str, Any]) -> list[str]:
    repo = change_of(data, "repository_policy")
    repo["api_calls"][0]["operation"] = "DeleteRepository"
    repo["api_calls"][0]["params"] = {"repositoryName": repo["target"]["key"]["repositoryName"], "force": True}
    return [repo["id"], "ecr:DeleteRepository"]


PLAN_TAMPERING: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "extra-operation-iam-CreateUser": extra_operation,
    "extra-change-iam-CreateUser": extra_change_creating_a_user,
    "other-account": other_account,
    "other-region": other_region,
    "other-role": other_role,
    "changed-after-document": changed_document,
    "changed-call-parameters-only": changed_call_only,
    "changed-after-only": changed_after_only,
    "operation-the-kind-never-makes": read_call_smuggled,
}


def saved_plan(acct: Account, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> dict[str, Any]:
    result = fix(capsys, tmp_path / "out", "--plan-out", str(tmp_path / "plan.json"))
    assert result.rc == 1, result
    return json.loads((tmp_path / "plan.json").read_text())


def assert_nothing_written(acct: Account, spy: Spy, before: dict[str, Any], roles: dict[str, Any], out: Path) -> None:
    assert spy.writes == []
    assert acct.state() == before
    assert role_documents(acct) == roles
    assert iam_users(acct) == []
    assert backups_written(out) == []
    assert not (out / "fix-report.json").exists()


@pytest.mark.parametrize("case", list(PLAN_TAMPERING))
def test_tampered_plan_is_refused_whole_with_zero_writes(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    admin_role(acct)
    data = saved_plan(acct, capsys, tmp_path)
    needles = PLAN_TAMPERING[case](data)
    (tmp_path / "tampered.json").write_text(json.dumps(data))
    before, roles = acct.state(), role_documents(acct)
    spy.reset()
    out = tmp_path / "apply"
    result = fix(capsys, out, "--apply", "--plan", str(tmp_path / "tampered.json"))
    assert_clean_refusal(result, *needles)
    assert_nothing_written(acct, spy, before, roles, out)


def test_edited_plan_cannot_create_a_user_even_within_max_changes(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The measured attack: one change, so --max-changes 1 let an iam:CreateUser through."""
    data = saved_plan(acct, capsys, tmp_path)
    role = change_of(data, "role_policy")
    role["api_calls"] = [{"service": "iam", "operation": "CreateUser", "params": {"UserName": "mallory"}}]
    data["changes"] = [role]
    (tmp_path / "one.json").write_text(json.dumps(data))
    before, roles = acct.state(), role_documents(acct)
    spy.reset()
    out = tmp_path / "apply"
    result = fix(capsys, out, "--apply", "--plan", str(tmp_path / "one.json"), "--max-changes", "1")
    assert_clean_refusal(result, "iam:CreateUser", role["id"])
    assert_nothing_written(acct, spy, before, roles, out)


def test_every_offending_change_is_named(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    admin_role(acct)
    data = saved_plan(acct, capsys, tmp_path)
    # two writes the fixers would not make now, in two different changes
    first = changed_call_only(data)
    second = other_role(data)
    (tmp_path / "two.json").write_text(json.dumps(data))
    before, roles = acct.state(), role_documents(acct)
    spy.reset()
    out = tmp_path / "apply"
    result = fix(capsys, out, "--apply", "--plan", str(tmp_path / "two.json"))
    assert_clean_refusal(result, *first, *second)
    assert_nothing_written(acct, spy, before, roles, out)
    # and two calls no kind makes
    data = saved_plan(acct, capsys, tmp_path)
    first = extra_operation(data)
    second = read_call_smuggled(data)
    (tmp_path / "calls.json").write_text(json.dumps(data))
    result = fix(capsys, out, "--apply", "--plan", str(tmp_path / "calls.json"))
    assert_clean_refusal(result, *first, *second)
    assert_nothing_written(acct, spy, before, roles, out)


def test_untampered_saved_plan_still_applies(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    saved_plan(acct, capsys, tmp_path)
    spy.reset()
    out = tmp_path / "apply"
    result = fix(capsys, out, "--apply", "--plan", str(tmp_path / "plan.json"))
    assert result.rc == 0, result
    report = read_report(out)
    assert report.applied is not None
    assert {o.target: o.outcome for o in report.applied.outcomes} == dict.fromkeys(ALL_TARGETS, "applied")
    assert len([w for w in spy.writes if not w.startswith("s3:")]) == len(ALL_TARGETS)
    assert iam_users(acct) == []


def test_plan_with_a_foreign_change_already_in_place_is_accepted_without_writing_it(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A change whose target already holds its "after" is already-applied: it writes nothing, so it may stay."""
    data = saved_plan(acct, capsys, tmp_path)
    registry = change_of(data, "registry_policy")
    acct.ecr.put_registry_policy(policyText=registry["api_calls"][0]["params"]["policyText"])  # applied by hand
    spy.reset()
    out = tmp_path / "apply"
    assert fix(capsys, out, "--apply", "--plan", str(tmp_path / "plan.json")).rc == 0
    got = {o.target: o.outcome for o in read_report(out).applied.outcomes}  # type: ignore[union-attr]
    assert got["registry_policy"] == "already-applied"
    assert "ecr:PutRegistryPolicy" not in spy.writes


# =====================================================================================================
# tampered backups
# =====================================================================================================


def applied(acct: Account, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[Path, FixReport]:
    out = tmp_path / "out"
    assert fix(capsys, out, "--apply").rc == 0
    [backup] = backups_written(out)
    report = read_report(out)
    assert report.applied is not None and report.applied.backup == str(backup)
    return backup, report


def entry_of(data: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(e for e in data["entries"] if e["target"]["kind"] == kind)


def backup_allow_all(data: dict[str, Any]) -> None:
    entry_of(data, "role_policy")["before"] = ALLOW_ALL


def backup_other_account(data: dict[str, Any]) -> None:
    for entry in data["entries"]:
        entry["target"]["account"] = OTHER_ACCOUNT


def backup_extra_role(data: dict[str, Any]) -> None:
    extra = json.loads(json.dumps(entry_of(data, "role_policy")))
    extra["change_id"] = "fix-evil"
    extra["target"]["key"] = {"roleName": "AdminRole", "policyName": "Everything"}
    extra["before"], extra["after"] = ALLOW_ALL, None
    data["entries"].append(extra)


def backup_extra_kind(data: dict[str, Any]) -> None:
    data["entries"].append(
        {
            "change_id": "fix-evil",
            "target": {"kind": "iam_user", "account": ACCOUNT, "region": REGION, "key": {"UserName": "mallory"}},
            "before": {"UserName": "mallory"},
            "after": None,
        }
    )


BACKUP_TAMPERING: dict[str, Callable[[dict[str, Any]], None]] = {
    "allow-star-on-a-role": backup_allow_all,
    "other-account": backup_other_account,
    "extra-entry-for-another-role": backup_extra_role,
    "extra-kind": backup_extra_kind,
}
# What still refuses each tampered backup when the digest check is waived with --unverified.
UNVERIFIED_NEEDLE = {"other-account": OTHER_ACCOUNT, "extra-kind": "unknown target kind(s) iam_user"}


@pytest.mark.parametrize("case", list(BACKUP_TAMPERING))
def test_tampered_backup_is_refused_with_zero_writes(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    admin_role(acct)
    backup, report = applied(acct, capsys, tmp_path)
    data = json.loads(backup.read_text())
    BACKUP_TAMPERING[case](data)
    backup.write_text(json.dumps(data, indent=2))
    after_fix, roles = acct.state(), role_documents(acct)
    spy.reset()

    # the digest fix-report.json recorded for it
    plain = cli(capsys, "rollback", str(backup))
    assert_clean_refusal(plain, "SHA-256", "fix-report.json", "nothing was restored")
    # the digest of the printed undo line
    digest = report.applied.backup_sha256  # type: ignore[union-attr]
    assert digest
    given = cli(capsys, "rollback", str(backup), "--sha256", digest)
    assert_clean_refusal(given, "SHA-256", digest, "nothing was restored")
    # the folder form is the same backup
    folder = cli(capsys, "rollback", str(backup.parent))
    assert_clean_refusal(folder, "SHA-256")
    if case in UNVERIFIED_NEEDLE:  # the other checks still hold when a person waives the digest
        waived = cli(capsys, "rollback", str(backup), "--unverified")
        assert_clean_refusal(waived, UNVERIFIED_NEEDLE[case])

    assert spy.writes == []
    assert acct.state() == after_fix
    assert role_documents(acct) == roles
    assert "AdminRole/Everything" not in roles


def test_backup_and_fix_report_forged_together_are_refused_with_the_printed_digest(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """fix-report.json sits beside the backups, so it is forgeable too; the printed --sha256 is not."""
    backup, report = applied(acct, capsys, tmp_path)
    printed = report.applied.backup_sha256  # type: ignore[union-attr]
    data = json.loads(backup.read_text())
    backup_allow_all(data)
    backup.write_text(json.dumps(data))
    forged = json.loads((tmp_path / "out" / "fix-report.json").read_text())
    forged["applied"]["backup_sha256"] = hashlib.sha256(backup.read_bytes()).hexdigest()
    (tmp_path / "out" / "fix-report.json").write_text(json.dumps(forged))
    after_fix = role_documents(acct)
    spy.reset()
    result = cli(capsys, "rollback", str(backup), "--sha256", str(printed))
    assert_clean_refusal(result, str(printed))
    assert spy.writes == []
    assert role_documents(acct) == after_fix


def test_untampered_backup_restores_from_the_printed_undo_line(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    original, roles = acct.state(), role_documents(acct)
    backup, report = applied(acct, capsys, tmp_path)
    assert report.rollback and report.applied is not None
    digest = report.applied.backup_sha256
    assert digest == hashlib.sha256(backup.read_bytes()).hexdigest()
    argv = shlex.split(report.rollback)
    assert argv[:2] == ["omics-ecr-audit", "rollback"] and argv[-2:] == ["--sha256", digest]
    spy.reset()
    result = cli(capsys, *argv[1:])
    assert result.rc == 0, result
    assert set(rollback_lines(result.out).values()) == {"restored"}
    assert acct.state() == original
    assert role_documents(acct) == roles
    # without --sha256 the digest recorded in fix-report.json is used
    again = cli(capsys, "rollback", str(backup))
    assert again.rc == 0, again
    assert set(rollback_lines(again.out).values()) == {"already-restored"}


def test_backup_without_a_recorded_digest_needs_sha256_or_unverified(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    original = acct.state()
    backup, report = applied(acct, capsys, tmp_path)
    elsewhere = tmp_path / "copied" / "backup.json"
    elsewhere.parent.mkdir()
    shutil.copy(backup, elsewhere)
    after_fix = acct.state()
    spy.reset()
    result = cli(capsys, "rollback", str(elsewhere))
    assert_clean_refusal(result, "no digest recorded", "--sha256", "--unverified")
    assert result.err.count("\n") == 1
    bad = cli(capsys, "rollback", str(elsewhere), "--sha256", "abc")
    assert_clean_refusal(bad, "64 hexadecimal digits")
    assert spy.writes == [] and acct.state() == after_fix

    ok = cli(capsys, "rollback", str(elsewhere), "--sha256", str(report.applied.backup_sha256))  # type: ignore[union-attr]
    assert ok.rc == 0, ok
    assert acct.state() == original
    assert fix(capsys, tmp_path / "again", "--apply").rc == 0
    [second] = backups_written(tmp_path / "again")
    shutil.copy(second, elsewhere)
    waived = cli(capsys, "rollback", str(elsewhere), "--unverified")
    assert waived.rc == 0, waived
    assert "without checking its digest" in waived.err
    assert acct.state() == original


def test_tampered_s3_backup_is_refused(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    acct.s3.create_bucket(Bucket="audit-backups")
    out = tmp_path / "out"
    assert fix(capsys, out, "--apply", "--backup", "s3://audit-backups/fixes").rc == 0
    location = read_report(out).applied.backup  # type: ignore[union-attr]
    assert location and location.startswith("s3://audit-backups/")
    key = location.removeprefix("s3://audit-backups/")
    head = acct.s3.head_object(Bucket="audit-backups", Key=key)
    data = json.loads(acct.s3.get_object(Bucket="audit-backups", Key=key)["Body"].read())
    backup_allow_all(data)
    # rewritten with the old metadata, as someone with s3:PutObject who copies it over would
    acct.s3.put_object(Bucket="audit-backups", Key=key, Body=json.dumps(data).encode(), Metadata=head["Metadata"])
    after_fix = role_documents(acct)
    spy.reset()
    result = cli(capsys, "rollback", location)
    assert_clean_refusal(result, "x-amz-meta-sha256", "nothing was restored")
    acct.s3.put_object(Bucket="audit-backups", Key=key, Body=json.dumps(data).encode())  # no metadata at all
    result = cli(capsys, "rollback", location)
    assert_clean_refusal(result, "no digest recorded")
    assert [w for w in spy.writes if not w.startswith("s3:")] == []
    assert role_documents(acct) == after_fix


def test_role_backup_restores_the_document_the_fix_replaced(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The role had an OmicsEcrAuditPull policy of its own: rollback gives back exactly that one."""
    theirs = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Theirs", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}
        ],
    }
    acct.iam.put_role_policy(RoleName="OmicsRunRole", PolicyName="OmicsEcrAuditPull", PolicyDocument=json.dumps(theirs))
    backup, _ = applied(acct, capsys, tmp_path)
    saved = Backup.model_validate_json(backup.read_text())
    [entry] = [e for e in saved.entries if e.target.label() == ROLE]
    assert normalized(entry.before) == normalized(theirs)
    result = cli(capsys, "rollback", str(backup))
    assert result.rc == 0, result
    doc = acct.iam.get_role_policy(RoleName="OmicsRunRole", PolicyName="OmicsEcrAuditPull")["PolicyDocument"]
    assert normalized(doc) == normalized(theirs)


# =====================================================================================================
# separate processes: rollback and fix --apply --plan in a fresh interpreter, against the sandbox server
# =====================================================================================================

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}


def child_env(**extra: str) -> dict[str, str]:
    """Only what a user would set: no developer credentials, no profile, no instance metadata lookups."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OMICS_AUDIT"))}
    env.update(AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true")
    env.update(extra)
    return env


def run(*argv: str, env: dict[str, str], cwd: Path) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def sandbox_documents(server: Any) -> dict[str, Any]:
    """Every document a fix can touch in the sandbox account, normalised."""
    ecr, iam = server.client("ecr"), server.client("iam")
    try:
        registry = normalized(ecr.get_registry_policy()["policyText"])
    except ecr.exceptions.RegistryPolicyNotFoundException:
        registry = None
    repos = {}
    for page in ecr.get_paginator("describe_repositories").paginate():
        for repo in page["repositories"]:
            try:
                repos[repo["repositoryName"]] = normalized(
                    ecr.get_repository_policy(repositoryName=repo["repositoryName"])["policyText"]
                )
            except ecr.exceptions.RepositoryPolicyNotFoundException:
                repos[repo["repositoryName"]] = None
    templates = {
        t["prefix"]: {
            k: normalized(v) if k == "repositoryPolicy" else v
            for k, v in t.items()
            if k not in ("createdAt", "updatedAt")
        }
        for t in ecr.describe_repository_creation_templates()["repositoryCreationTemplates"]
    }
    rules = sorted(
        (r["ecrRepositoryPrefix"], r["upstreamRegistryUrl"])
        for r in ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    )
    roles = {}
    for role in iam.list_roles()["Roles"]:
        for name in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
            doc = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=name)["PolicyDocument"]
            roles[f"{role['RoleName']}/{name}"] = normalized(doc)
    return {"registry": registry, "repositories": repos, "templates": templates, "rules": rules, "roles": roles}


def statuses(path: Path) -> dict[str, str]:
    return {f["id"]: f["status"] for f in json.loads(path.read_text())["findings"]}


def test_fix_apply_plan_and_rollback_work_as_separate_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditor.sandbox.seed import seed_demo_account
    from auditor.sandbox.server import start_server

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in CREDS.items():
        monkeypatch.setenv(key, value)
    with start_server() as server:
        try:
            seeder = boto3.Session(region_name=REGION)
            make_client = seeder.client
            monkeypatch.setattr(
                seeder, "client", lambda service, **kw: make_client(service, endpoint_url=server.url, **kw)
            )
            seed_demo_account(seeder)
            env = child_env(**CREDS)
            where = ("--endpoint-url", server.url, "--regions", REGION)
            original = sandbox_documents(server)

            scanned = run("scan", *where, "--out", str(tmp_path / "before"), "--quiet", env=env, cwd=tmp_path)
            assert scanned.rc == 1, scanned.err
            planned = run("fix", *where, "--out", str(tmp_path / "plan"), "--quiet", env=env, cwd=tmp_path)
            assert planned.rc == 1, planned.err  # changes pending, manual steps
            assert sandbox_documents(server) == original
            plan_file = tmp_path / "plan" / "plan.json"
            assert json.loads(plan_file.read_text())["changes"]

            out = tmp_path / "apply"
            applied_ = run("fix", *where, "--out", str(out), "--apply", "--plan", str(plan_file), env=env, cwd=tmp_path)
            assert "unknown target kind" not in applied_.err
            assert applied_.rc == 1, applied_.err  # the demo's active run blocks one cache rule; people's steps remain
            report = FixReport.model_validate_json((out / "fix-report.json").read_text())
            assert report.applied is not None and report.applied.error is None
            assert "applied" in {o.outcome for o in report.applied.outcomes}
            assert sandbox_documents(server) != original
            undo = next(line for line in applied_.out.splitlines() if line.startswith("undo with: "))
            argv = shlex.split(undo.removeprefix("undo with: "))
            assert argv[:2] == ["omics-ecr-audit", "rollback"] and "--sha256" in argv

            undone = run(*argv[1:], "--endpoint-url", server.url, env=env, cwd=tmp_path)
            assert "unknown target kind" not in undone.err
            assert undone.rc == 0, (undone.out, undone.err)
            assert set(rollback_lines(undone.out).values()) == {"restored"}
            assert sandbox_documents(server) == original
            plain = run("rollback", str(report.applied.backup), "--endpoint-url", server.url, env=env, cwd=tmp_path)
            assert plain.rc == 0, plain.err
            assert set(rollback_lines(plain.out).values()) == {"already-restored"}

            rescanned = run("scan", *where, "--out", str(tmp_path / "after"), "--quiet", env=env, cwd=tmp_path)
            assert rescanned.rc == 1, rescanned.err
            before_ids = statuses(tmp_path / "before" / "findings.json")
            after_ids = statuses(tmp_path / "after" / "findings.json")
            assert after_ids == before_ids
        finally:
            requests.post(f"{server.url}/moto-api/reset", timeout=10)


# =====================================================================================================
# incomplete means not done
# =====================================================================================================


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("apply", [False, True], ids=["plan", "apply"])
def test_fix_without_credentials_is_one_line_and_exit_2(tmp_path: Path, apply: bool) -> None:
    """No credentials at all: one line saying what to do, before any cell is read (issue 17), nothing written."""
    env = child_env(AWS_DEFAULT_REGION=REGION)
    extra = ("--apply",) if apply else ()
    result = run("fix", "--out", str(tmp_path / "out"), "--regions", REGION, *extra, env=env, cwd=tmp_path)
    assert result.rc == 2, (result.out, result.err)
    assert result.err.count("\n") == 1 and "no AWS credentials found" in result.err and "--profile" in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("apply", [False, True], ids=["plan", "apply"])
def test_fix_against_an_endpoint_where_nothing_listens_exits_3_and_names_the_cell(tmp_path: Path, apply: bool) -> None:
    env = child_env(**CREDS)
    url = f"http://127.0.0.1:{closed_port()}"
    extra = ("--apply",) if apply else ()
    result = run(
        "fix", "--out", str(tmp_path / "out"), "--regions", REGION, "--endpoint-url", url, *extra, env=env, cwd=tmp_path
    )
    assert result.rc == 3, (result.out, result.err)
    assert f"/{REGION}: could not be read" in result.err
    assert "Traceback" not in result.err
    assert not backups_written(tmp_path / "out")


def test_fix_on_a_cell_read_in_part_exits_3_and_names_the_rules(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A resource that cannot be read (here: every IAM role listing fails) is an ERROR: exit 3, rule named."""
    spy.fail["iam:ListRoles"] = "AccessDenied"
    result = fix(capsys, tmp_path / "out")
    assert result.rc == 3, result
    assert f"{ACCOUNT}/{REGION}" in result.err
    assert "service-role-can-pull" in result.err
