"""Safety of ``fix --apply`` and ``rollback`` end to end against the sandbox account.

Each test builds a small broken account with real boto3 calls, then drives the CLI
(``auditor.cli.main``) or ``plan_live``/``apply_plan`` and checks what was written, what was
refused and what a rollback puts back. Every client the fixer makes is wrapped (``Spy``) so a
test can count write calls exactly, and inject a failure into a chosen write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest

from auditor.cli import main
from auditor.config import Config
from auditor.findings import FindingsDocument
from auditor.fix import Backup, Clients, Plan, apply_plan
from auditor.fixrun import plan_live
from auditor.policy_merge import normalized
from auditor.sandbox.omics import set_run_state
from auditor.scan import select_rules
from tests.support import fix_account
from tests.support.fix_account import (
    ALL_TARGETS,
    ONE,
    ORIGINAL_REGISTRY_POLICY,
    OTHER_ACCOUNT,
    PTC,
    REGISTRY,
    REPO_ONE,
    REPO_TWO,
    ROLE,
    TEMPLATE_PUBLIC,
    TEMPLATE_QUAY,
    TWO,
    Account,
    Result,
    Spy,
    assert_clean_refusal,
    backups_written,
    cli,
    fix,
    outcomes,
    read_plan,
    read_report,
    repo_arn,
    rollback_lines,
)
from tests.support.sandbox import ACCOUNT, REGION

# The broken account, its write spy and the CLI drivers are in tests/support/fix_account.py.
acct = fix_account.acct
spy = fix_account.spy


def test_the_broken_account_plans_seven_changes_with_the_cache_rule_last(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = acct.state()
    result = fix(capsys, tmp_path / "out", "--plan-out", str(tmp_path / "plan.json"))
    assert result.rc == 1  # plan only: changes pending
    plan = read_plan(tmp_path / "plan.json")
    assert [c.target.label() for c in plan.changes] == ALL_TARGETS
    assert all(c.blocked_by == [] for c in plan.changes)
    assert spy.writes == []
    assert acct.state() == before
    assert backups_written(tmp_path / "out") == []


# =====================================================================================================
# 1. active-run interlock
# =====================================================================================================


def test_active_run_blocks_only_the_cache_rule_and_the_rest_is_applied(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run_id = acct.start_run("RUNNING")
    out = tmp_path / "out"

    planned = fix(capsys, out, "--plan-out", str(tmp_path / "plan.json"))
    assert planned.rc == 1
    plan = read_plan(tmp_path / "plan.json")
    ptc = [c for c in plan.changes if c.target.kind == "ptc_rule"]
    assert len(ptc) == 1
    assert ptc[0].api_calls[0].operation == "CreatePullThroughCacheRule"
    assert ptc[0].blocked_by == [run_id]
    assert f"BLOCKED by active run(s) {run_id}" in planned.out
    assert all(c.blocked_by == [] for c in plan.changes if c.target.kind != "ptc_rule")

    applied = fix(capsys, out, "--apply")
    assert applied.rc == 1
    report = read_report(out)
    got = outcomes(report)
    assert got[PTC] == "blocked"
    assert report.applied is not None
    blocked = next(o for o in report.applied.outcomes if o.target == PTC)
    assert run_id in blocked.detail
    assert acct.ptc_prefixes() == ["ecr-public"]  # the quay rule was not created
    assert "ecr:CreatePullThroughCacheRule" not in spy.writes
    # every other change of the same plan went through
    others = {t: o for t, o in got.items() if t != PTC}
    assert others and set(others.values()) == {"applied"}
    assert acct.repository_policy(ONE) is not None
    assert acct.repository_policy(TWO) is not None
    assert "quay" in acct.templates()
    assert report.applied.error is None

    # the run ends: the next fix creates the rule, and only the rule
    set_run_state(ACCOUNT, REGION, run_id, status="COMPLETED")
    spy.reset()
    again = fix(capsys, out, "--apply")
    assert acct.ptc_prefixes() == ["ecr-public", "quay"]
    assert outcomes(read_report(out))[PTC] == "applied"
    assert spy.writes == ["ecr:CreatePullThroughCacheRule"]
    assert again.rc == 0, again


def test_saved_plan_made_with_no_run_active_is_blocked_when_a_run_starts_before_apply(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert fix(capsys, out, "--plan-out", str(tmp_path / "plan.json")).rc == 1
    plan = read_plan(tmp_path / "plan.json")
    assert all(c.blocked_by == [] for c in plan.changes)  # nothing was active when planning

    run_id = acct.start_run("RUNNING")
    result = fix(capsys, out, "--apply", "--plan", str(tmp_path / "plan.json"))
    assert result.rc == 1
    got = outcomes(read_report(out))
    assert got[PTC] == "blocked"
    assert run_id in next(o.detail for o in read_report(out).applied.outcomes if o.target == PTC)  # type: ignore[union-attr]
    assert acct.ptc_prefixes() == ["ecr-public"]
    assert "ecr:CreatePullThroughCacheRule" not in spy.writes
    assert {o for t, o in got.items() if t != PTC} == {"applied"}


@pytest.mark.parametrize("status", ["PENDING", "STARTING", "STOPPING"])
def test_every_active_run_status_blocks_the_cache_rule(acct: Account, spy: Spy, status: str, tmp_path: Path) -> None:
    plan, _ = plan_live(
        Config(),
        select_rules(Config()),
        session=acct.session,
        clients=Clients(acct.session),
        regions=[REGION],
    )
    run_id = acct.start_run(status)
    report = apply_plan(plan, Clients(acct.session), backup_to=str(tmp_path / "backups"))
    ptc = next(o for o in report.outcomes if o.target == PTC)
    assert ptc.outcome == "blocked"
    assert run_id in ptc.detail
    assert acct.ptc_prefixes() == ["ecr-public"]


def test_saved_plan_with_a_stale_blocked_by_is_applied_once_no_run_is_active(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The plan's ``blocked_by`` is only a snapshot: apply decides from ListRuns, both ways."""
    run_id = acct.start_run("RUNNING")
    out = tmp_path / "out"
    fix(capsys, out, "--plan-out", str(tmp_path / "plan.json"))
    assert next(c for c in read_plan(tmp_path / "plan.json").changes if c.target.kind == "ptc_rule").blocked_by
    set_run_state(ACCOUNT, REGION, run_id, status="COMPLETED")
    fix(capsys, out, "--apply", "--plan", str(tmp_path / "plan.json"))
    assert outcomes(read_report(out))[PTC] == "applied"
    assert acct.ptc_prefixes() == ["ecr-public", "quay"]


def test_run_starting_during_apply_still_blocks_the_cache_rule(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    fix(capsys, out, "--plan-out", str(tmp_path / "plan.json"))
    started: list[str] = []
    real_attach = spy.attach

    def attach(client: Any) -> Any:
        client = real_attach(client)
        if client.meta.service_model.service_name == "ecr":

            def start_a_run(**_: Any) -> None:
                if not started:  # a pipeline launches a run while the grants are being written
                    started.append(acct.start_run("RUNNING"))

            client.meta.events.register("before-call.ecr.SetRepositoryPolicy", start_a_run)
        return client

    spy.attach = attach  # type: ignore[method-assign]
    fix(capsys, out, "--apply", "--plan", str(tmp_path / "plan.json"))
    assert started
    assert acct.ptc_prefixes() == ["ecr-public"]  # "checked live, just before writing"
    assert outcomes(read_report(out))[PTC] == "blocked"


def test_rollback_of_a_cache_rule_is_blocked_while_a_run_is_active(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert fix(capsys, out, "--apply").rc == 0
    assert acct.ptc_prefixes() == ["ecr-public", "quay"]
    [backup] = backups_written(out)

    run_id = acct.start_run("RUNNING")
    spy.reset()
    result = cli(capsys, "rollback", str(backup))
    assert result.rc == 1
    rows = rollback_lines(result.out)
    assert rows[PTC] == "blocked"
    assert run_id in result.out
    assert acct.ptc_prefixes() == ["ecr-public", "quay"]  # the rule is still there
    assert "ecr:DeletePullThroughCacheRule" not in spy.writes
    assert {rows[t] for t in ALL_TARGETS if t != PTC} == {"restored"}


# =====================================================================================================
# 2. --max-changes
# =====================================================================================================


@pytest.mark.parametrize("limit", ["0", "1", "6"])
def test_max_changes_refuses_the_whole_plan_without_writing(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path, limit: str
) -> None:
    before = acct.state()
    registry_text = acct.registry_policy()
    out = tmp_path / "out"
    result = fix(capsys, out, "--apply", "--max-changes", limit)
    assert_clean_refusal(result, f"--max-changes {limit}", "7 change(s)", "nothing was changed")
    assert spy.writes == []
    assert acct.registry_policy() == registry_text  # byte for byte
    assert acct.state() == before
    assert not (out / "backups").exists()
    assert not (out / "fix-report.json").exists()


def test_max_changes_counts_only_what_would_be_written(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Blocked changes are not writes: 6 of the 7 changes fit in --max-changes 6."""
    acct.start_run("RUNNING")
    out = tmp_path / "out"
    result = fix(capsys, out, "--apply", "--max-changes", "6")
    assert result.rc == 1
    assert outcomes(read_report(out))[PTC] == "blocked"
    assert len([w for w in spy.writes if not w.startswith("s3:")]) == 6


# =====================================================================================================
# 3. suppressed findings are never fixed
# =====================================================================================================


def suppressions_file(tmp_path: Path, *, expires: str | None = None) -> Path:
    path = tmp_path / "suppressions.yaml"
    lines = [
        "suppressions:",
        "  - rule: repository-policy-grants-omics",
        f'    account: "{ACCOUNT}"',
        f'    resource: "{repo_arn(ONE)}"',
        "    reason: Legacy pipeline, decommissioned in Q3",
        "    owner: genomics-platform@example.org",
    ]
    if expires:
        lines.append(f"    expires: {expires}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_only_two_fixed(acct: Account, plan: Plan) -> None:
    assert acct.repository_policy(ONE) is None
    assert acct.repository_policy(TWO) is not None
    assert REPO_ONE not in [c.target.label() for c in plan.changes]
    [skip] = [s for s in plan.skipped if s.resource == repo_arn(ONE)]
    assert skip.rule_id == "repository-policy-grants-omics"
    assert "genomics-platform@example.org" in skip.reason
    assert "Legacy pipeline, decommissioned in Q3" in skip.reason


def test_suppressed_repository_is_skipped_and_only_the_other_is_fixed(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = fix(capsys, out, "--apply", "--suppressions", str(suppressions_file(tmp_path)))
    assert result.rc == 0, result
    plan = read_plan(out / "plan.json")
    assert_only_two_fixed(acct, plan)
    assert REPO_ONE not in outcomes(read_report(out))
    assert "ecr:SetRepositoryPolicy" in spy.writes
    assert spy.writes.count("ecr:SetRepositoryPolicy") == 1
    assert "suppressed by genomics-platform@example.org" in result.out


def test_suppressed_finding_is_skipped_when_planning_from_a_findings_file_with_suppressions(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sup = suppressions_file(tmp_path)
    scanned = cli(capsys, "scan", "--out", str(tmp_path / "scan"), "--regions", REGION, "--suppressions", str(sup))
    assert scanned.rc == 1
    out = tmp_path / "out"
    fix(capsys, out, "--apply", "--findings", str(tmp_path / "scan" / "findings.json"), "--suppressions", str(sup))
    assert_only_two_fixed(acct, read_plan(out / "plan.json"))


def test_finding_already_muted_in_the_findings_file_is_never_fixed(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sup = suppressions_file(tmp_path)
    scanned = cli(capsys, "scan", "--out", str(tmp_path / "scan"), "--regions", REGION, "--suppressions", str(sup))
    assert scanned.rc == 1
    doc = FindingsDocument.model_validate_json((tmp_path / "scan" / "findings.json").read_text())
    muted = [f for f in doc.findings if f.resource == repo_arn(ONE)]
    assert [f.status.value for f in muted] == ["MUTED"]

    out = tmp_path / "out"
    fix(capsys, out, "--apply", "--findings", str(tmp_path / "scan" / "findings.json"))  # no --suppressions
    assert_only_two_fixed(acct, read_plan(out / "plan.json"))


def test_suppressions_given_with_a_saved_plan_still_protect(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    fix(capsys, out, "--plan-out", str(tmp_path / "plan.json"))  # planned before the risk was accepted
    assert REPO_ONE in [c.target.label() for c in read_plan(tmp_path / "plan.json").changes]
    sup = suppressions_file(tmp_path)
    result = fix(capsys, out, "--apply", "--plan", str(tmp_path / "plan.json"), "--suppressions", str(sup))
    assert result.rc in (0, 1, 2)  # skipping the change or refusing the plan would both be safe
    assert acct.repository_policy(ONE) is None


def test_expired_suppression_does_not_protect(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = fix(capsys, out, "--apply", "--suppressions", str(suppressions_file(tmp_path, expires="2020-01-31")))
    assert result.rc == 0, result
    plan = read_plan(out / "plan.json")
    assert REPO_ONE in [c.target.label() for c in plan.changes]
    assert not [s for s in plan.skipped if s.resource == repo_arn(ONE)]
    assert acct.repository_policy(ONE) is not None
    assert acct.repository_policy(TWO) is not None


# =====================================================================================================
# 4. stale plan
# =====================================================================================================


def test_stale_plan_is_refused_whole_and_nothing_is_written(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert fix(capsys, out, "--plan-out", str(tmp_path / "plan.json")).rc == 1
    someone_else = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "SomeoneElse",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": ["ecr:ReplicateImage"],
                    "Resource": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*",
                }
            ],
        }
    )
    acct.ecr.put_registry_policy(policyText=someone_else)
    before = acct.state()
    spy.reset()

    result = fix(capsys, out, "--apply", "--plan", str(tmp_path / "plan.json"))
    assert_clean_refusal(result, "stale", "registry_policy changed since the plan was made", "SomeoneElse")
    for other in ALL_TARGETS[1:]:  # only the changed target is named
        assert other not in result.err
    assert spy.writes == []
    assert acct.state() == before
    assert normalized(acct.registry_policy()) == normalized(someone_else)
    assert acct.repository_policy(ONE) is None and acct.repository_policy(TWO) is None
    assert acct.ptc_prefixes() == ["ecr-public"]
    assert acct.templates() == {}
    assert backups_written(out) == []
    assert not (out / "fix-report.json").exists()


def test_applying_the_same_plan_twice_writes_nothing_the_second_time(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    fix(capsys, out, "--plan-out", str(tmp_path / "plan.json"))
    assert fix(capsys, out, "--apply", "--plan", str(tmp_path / "plan.json")).rc == 0
    assert len(backups_written(out)) == 1
    after = acct.state()
    spy.reset()
    again = fix(capsys, out, "--apply", "--plan", str(tmp_path / "plan.json"))
    assert again.rc == 0, again
    assert set(outcomes(read_report(out)).values()) == {"already-applied"}
    assert spy.writes == []
    assert acct.state() == after
    assert len(backups_written(out)) == 1  # no new backup either


# =====================================================================================================
# 5. a write fails half-way
# =====================================================================================================


def test_failure_on_the_second_write_stops_reports_and_rolls_back_exactly(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    original = acct.state()
    out = tmp_path / "out"
    spy.fail["ecr:CreateRepositoryCreationTemplate"] = "ServerException"  # the 2nd of 6 changes
    result = fix(capsys, out, "--apply")
    assert result.rc == 4, result

    report = read_report(out)
    assert report.applied is not None
    got = [(o.target, o.outcome) for o in report.applied.outcomes]
    assert got == [
        (REGISTRY, "applied"),
        (TEMPLATE_PUBLIC, "failed"),
        (TEMPLATE_QUAY, "not-applied"),
        (REPO_ONE, "not-applied"),
        (REPO_TWO, "not-applied"),
        (ROLE, "not-applied"),
        (PTC, "not-applied"),
    ]
    failed = report.applied.outcomes[1]
    assert "ServerException" in failed.detail or "injected failure" in failed.detail
    assert report.applied.error and TEMPLATE_PUBLIC in report.applied.error
    assert "STOPPED" in result.out
    # only the first change reached the account
    assert [w for w in spy.writes if w.startswith("ecr:")] == ["ecr:PutRegistryPolicy"]
    assert normalized(acct.registry_policy()) != normalized(ORIGINAL_REGISTRY_POLICY)
    assert acct.templates() == {} and acct.ptc_prefixes() == ["ecr-public"]
    assert acct.repository_policy(ONE) is None

    # the backup exists, and was written before the first write
    assert report.applied.backup and Path(report.applied.backup).is_file()
    # the undo line carries the backup's digest (`rollback` refuses a backup changed since)
    digest = report.applied.backup_sha256
    assert digest and hashlib.sha256(Path(report.applied.backup).read_bytes()).hexdigest() == digest
    assert report.rollback == f"omics-ecr-audit rollback {report.applied.backup} --sha256 {digest}"
    backup = Backup.model_validate_json(Path(report.applied.backup).read_text())
    assert [e.target.label() for e in backup.entries] == ALL_TARGETS

    spy.reset()
    undone = cli(capsys, "rollback", report.applied.backup)
    assert undone.rc == 0, undone
    rows = rollback_lines(undone.out)
    assert rows[REGISTRY] == "restored"
    assert {rows[t] for t in ALL_TARGETS[1:]} == {"already-restored"}
    assert spy.writes == ["ecr:PutRegistryPolicy"]
    assert normalized(acct.registry_policy()) == normalized(ORIGINAL_REGISTRY_POLICY)
    assert acct.state() == original

    spy.reset()
    twice = cli(capsys, "rollback", report.applied.backup)
    assert twice.rc == 0
    assert set(rollback_lines(twice.out).values()) == {"already-restored"}
    assert spy.writes == []
    assert acct.state() == original


def test_plan_that_stopped_half_way_can_be_applied_again_to_finish(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Targets already at "after" are skipped, the rest are written; only those go in the new backup."""
    out = tmp_path / "out"
    spy.fail["ecr:SetRepositoryPolicy"] = "ServerException"  # the 4th change
    assert fix(capsys, out, "--apply", "--plan-out", str(tmp_path / "plan.json")).rc == 4
    first = read_report(out)
    assert [o.outcome for o in first.applied.outcomes][:4] == ["applied", "applied", "applied", "failed"]  # type: ignore[union-attr]

    spy.reset()
    result = fix(capsys, out, "--apply", "--plan", str(tmp_path / "plan.json"))
    assert result.rc == 0, result
    got = outcomes(read_report(out))
    assert [got[t] for t in ALL_TARGETS] == ["already-applied"] * 3 + ["applied"] * 4
    assert [w for w in spy.writes if not w.startswith("s3:")] == [
        "ecr:SetRepositoryPolicy",
        "ecr:SetRepositoryPolicy",
        "iam:PutRolePolicy",
        "ecr:CreatePullThroughCacheRule",
    ]
    second = read_report(out).applied
    assert second is not None and second.backup is not None
    entries = Backup.model_validate_json(Path(second.backup).read_text()).entries
    assert [e.target.label() for e in entries] == ALL_TARGETS[3:]


def test_failure_injected_through_clients_call_with_apply_plan(
    acct: Account, spy: Spy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same contract through the API: ApplyReport and the error it carries."""
    clients = Clients(acct.session)
    plan, _ = plan_live(Config(), select_rules(Config()), session=acct.session, clients=clients, regions=[REGION])
    assert len(plan.changes) >= 3
    real_call = Clients.call
    seen: list[str] = []

    def call(self: Clients, region: str, api: Any) -> dict[str, Any]:
        if api.is_write:
            seen.append(api.operation)
            if len(seen) == 2:
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, api.operation
                )
        return real_call(self, region, api)

    monkeypatch.setattr(Clients, "call", call)
    report = apply_plan(plan, Clients(acct.session), backup_to=str(tmp_path / "backups"))
    assert [o.outcome for o in report.outcomes] == ["applied", "failed"] + ["not-applied"] * (len(plan.changes) - 2)
    assert "Rate exceeded" in report.outcomes[1].detail or "ThrottlingException" in report.outcomes[1].detail
    assert report.error is not None
    assert not report.complete
    assert report.backup and Path(report.backup).is_file()


# =====================================================================================================
# 6. rollback leaves later edits alone
# =====================================================================================================


def test_rollback_does_not_clobber_a_document_changed_since_the_fix(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    original = acct.state()
    out = tmp_path / "out"
    assert fix(capsys, out, "--apply").rc == 0
    [backup] = backups_written(out)
    assert acct.repository_policy(ONE) is not None

    hand_edit = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "HandEdit",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": ["ecr:BatchGetImage"],
                }
            ],
        }
    )
    acct.ecr.set_repository_policy(repositoryName=ONE, policyText=hand_edit)

    spy.reset()
    result = cli(capsys, "rollback", str(backup))
    assert result.rc == 1
    rows = rollback_lines(result.out)
    assert rows[REPO_ONE] == "changed-since"
    assert {rows[t] for t in ALL_TARGETS if t != REPO_ONE} == {"restored"}
    assert normalized(acct.repository_policy(ONE)) == normalized(hand_edit)  # left alone
    assert not any(w.endswith("RepositoryPolicy") and ONE in w for w in spy.writes)
    state = acct.state()
    assert state["repository_policies"][ONE] == normalized(hand_edit)
    assert {k: v for k, v in state.items() if k != "repository_policies"} == {
        k: v for k, v in original.items() if k != "repository_policies"
    }
    assert state["repository_policies"][TWO] is None
    assert normalized(acct.registry_policy()) == normalized(ORIGINAL_REGISTRY_POLICY)

    forced = cli(capsys, "rollback", str(backup), "--force")
    assert forced.rc == 0, forced
    rows = rollback_lines(forced.out)
    assert rows[REPO_ONE] == "restored"
    assert {rows[t] for t in ALL_TARGETS if t != REPO_ONE} == {"already-restored"}
    assert acct.state() == original


# =====================================================================================================
# 7. backups in S3
# =====================================================================================================


def test_backup_to_s3_and_rollback_from_it(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    acct.s3.create_bucket(Bucket="audit-backups")
    original = acct.state()
    out = tmp_path / "out"
    result = fix(capsys, out, "--apply", "--backup", "s3://audit-backups/fixes/prod")
    assert result.rc == 0, result
    report = read_report(out)
    assert report.applied is not None and report.applied.backup is not None
    location = report.applied.backup
    assert location.startswith("s3://audit-backups/fixes/prod/") and location.endswith("/backup.json")
    keys = [o["Key"] for o in acct.s3.list_objects_v2(Bucket="audit-backups")["Contents"]]
    assert keys == [location.removeprefix("s3://audit-backups/")]
    body = acct.s3.get_object(Bucket="audit-backups", Key=keys[0])["Body"].read()
    backup = Backup.model_validate_json(body)
    assert [e.target.label() for e in backup.entries] == ALL_TARGETS
    assert normalized(backup.entries[0].before) == normalized(ORIGINAL_REGISTRY_POLICY)
    assert not (out / "backups").exists()  # nothing local
    # the backup went out before the first change
    assert spy.writes.index("s3:PutObject") < spy.writes.index("ecr:PutRegistryPolicy")
    assert report.rollback == (
        f"omics-ecr-audit rollback {location} --sha256 {report.applied.backup_sha256} --region {REGION}"
    )
    head = acct.s3.head_object(Bucket="audit-backups", Key=keys[0])
    assert head["Metadata"] == {"sha256": report.applied.backup_sha256}

    undone = cli(capsys, "rollback", location)
    assert undone.rc == 0, undone
    assert set(rollback_lines(undone.out).values()) == {"restored"}
    assert acct.state() == original

    # the folder form fix printed works too (and is a no-op now)
    folder = location.removesuffix("/backup.json")
    again = cli(capsys, "rollback", folder, "--region", REGION)
    assert again.rc == 0
    assert set(rollback_lines(again.out).values()) == {"already-restored"}


def test_unwritable_s3_backup_means_no_change_is_made(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = acct.state()
    # how it fails is the next test's business; here only "no write" matters
    with contextlib.suppress(Exception):
        main(["fix", "--out", str(tmp_path / "out"), "--regions", REGION, "--apply", "--backup", "s3://no-such-bkt/x"])
    assert [w for w in spy.writes if not w.startswith("s3:")] == []
    assert acct.state() == before


def test_unwritable_s3_backup_is_a_clean_refusal(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = fix(capsys, tmp_path / "out", "--apply", "--backup", "s3://no-such-bkt/x")
    assert_clean_refusal(result, "no-such-bkt")


# =====================================================================================================
# 8. wrong account
# =====================================================================================================


def test_plan_for_another_account_is_refused_without_writing(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    fix(capsys, out, "--plan-out", str(tmp_path / "plan.json"))
    data = json.loads((tmp_path / "plan.json").read_text())
    for change in data["changes"]:
        change["account"] = OTHER_ACCOUNT
        change["target"]["account"] = OTHER_ACCOUNT
    (tmp_path / "foreign.json").write_text(json.dumps(data))
    before = acct.state()
    spy.reset()

    result = fix(capsys, out, "--apply", "--plan", str(tmp_path / "foreign.json"))
    assert_clean_refusal(result, OTHER_ACCOUNT, ACCOUNT)
    assert spy.writes == []
    assert acct.state() == before
    assert backups_written(out) == []


def use_other_account(acct: Account, monkeypatch: pytest.MonkeyPatch) -> Account:
    """Switch the environment's credentials to a role in OTHER_ACCOUNT (moto keys state by account)."""
    creds = acct.session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/Ops", RoleSessionName="ops"
    )["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
    other = boto3.Session(region_name=REGION)
    assert other.client("sts").get_caller_identity()["Account"] == OTHER_ACCOUNT
    return Account(other, other.client("ecr"), other.client("iam"), other.client("omics"), other.client("s3"))


def test_plan_applied_with_credentials_of_another_account_is_refused(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    fix(capsys, out, "--plan-out", str(tmp_path / "plan.json"))
    mine = acct.state()
    other = use_other_account(acct, monkeypatch)
    theirs = other.state()
    spy.reset()
    result = fix(capsys, out, "--apply", "--plan", str(tmp_path / "plan.json"))
    assert_clean_refusal(result, f"plan is for account {ACCOUNT}", f"credentials are for account {OTHER_ACCOUNT}")
    assert spy.writes == []
    assert other.state() == theirs
    assert acct.state() == mine
    assert backups_written(out) == []


def test_rollback_with_credentials_of_another_account_is_refused(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert fix(capsys, out, "--apply").rc == 0
    [backup] = backups_written(out)
    other = use_other_account(acct, monkeypatch)
    # the other account has its own quay rule, identical to the one the fix created here
    other.ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    theirs = other.state()
    spy.reset()
    result = cli(capsys, "rollback", str(backup))
    assert other.ptc_prefixes() == ["quay"]
    assert spy.writes == []
    assert other.state() == theirs
    assert_clean_refusal(result, ACCOUNT, OTHER_ACCOUNT)


# =====================================================================================================
# 9. bad input
# =====================================================================================================


def _one_line(result: Result) -> None:
    assert result.err.count("\n") == 1, result.err  # exactly one line, newline-terminated


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("this is not JSON {", "plan is not valid JSON"),  # auditor.files names the syntax error
        ('{"hello": "world"}', "not a valid plan"),
        ("[1, 2, 3]", "not a valid plan"),
        ("", "plan is not valid JSON"),
        (None, "cannot read plan"),  # no such file
    ],
    ids=["not-json", "json-not-a-plan", "json-list", "empty", "missing"],
)
def test_bad_plan_file_is_a_one_line_refusal(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, needle: str
) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    before = acct.state()
    result = fix(capsys, tmp_path / "out", "--apply", "--plan", str(path))
    assert_clean_refusal(result, needle, str(path))
    _one_line(result)
    assert spy.writes == []
    assert acct.state() == before


def test_findings_document_given_as_a_plan_is_refused(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cli(capsys, "scan", "--out", str(tmp_path / "scan"), "--regions", REGION, "--quiet")
    result = fix(capsys, tmp_path / "out", "--apply", "--plan", str(tmp_path / "scan" / "findings.json"))
    assert_clean_refusal(result, "not a valid plan")
    _one_line(result)
    assert spy.writes == []


def test_binary_plan_file_is_a_one_line_refusal(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    result = fix(capsys, tmp_path / "out", "--apply", "--plan", str(path))
    assert_clean_refusal(result, str(path))
    _one_line(result)


def test_plan_with_unknown_target_kind_is_refused(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    fix(capsys, out, "--plan-out", str(tmp_path / "plan.json"))
    data = json.loads((tmp_path / "plan.json").read_text())
    data["changes"][0]["target"]["kind"] = "bucket_policy"
    (tmp_path / "odd.json").write_text(json.dumps(data))
    spy.reset()
    result = fix(capsys, out, "--apply", "--plan", str(tmp_path / "odd.json"))
    assert_clean_refusal(result, "bucket_policy")
    assert spy.writes == []


BAD_BACKUPS = {
    "missing-file": None,
    "folder-without-backup": "",
    "not-json": "{not json",
    "not-a-backup": '{"kind": "omics-ecr-audit/plan"}',
}


@pytest.mark.parametrize("case", list(BAD_BACKUPS))
def test_bad_backup_path_is_a_one_line_refusal(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    content = BAD_BACKUPS[case]
    if content is None:
        path = tmp_path / "nowhere" / "backup.json"
    elif content == "":
        path = tmp_path  # a folder: rollback looks for backup.json inside it
    else:
        path = tmp_path / "backup.json"
        path.write_text(content)
    result = cli(capsys, "rollback", str(path))
    assert_clean_refusal(result, "backup")
    _one_line(result)
    assert spy.writes == []


def test_missing_s3_backup_is_a_one_line_refusal(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    acct.s3.create_bucket(Bucket="audit-backups")
    for location in ("s3://audit-backups/fixes/nope/backup.json", "s3://no-such-bkt/fixes/x"):
        result = cli(capsys, "rollback", location, "--region", REGION)
        assert_clean_refusal(result, location, "cannot read backup")
        _one_line(result)
    assert spy.writes == []


@pytest.mark.parametrize(
    "content",
    [None, "not json at all", '{"findings": "nope"}', '{"run": {}, "findings": []}'],
    ids=["missing", "not-json", "wrong-shape", "no-run-info"],
)
def test_malformed_findings_file_is_a_one_line_refusal(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "findings.json"
    if content is not None:
        path.write_text(content)
    before = acct.state()
    result = fix(capsys, tmp_path / "out", "--apply", "--findings", str(path))
    assert_clean_refusal(result, str(path))
    _one_line(result)
    assert spy.writes == []
    assert acct.state() == before
    assert not (tmp_path / "out" / "plan.json").exists()


def test_findings_file_of_another_account_is_refused(
    acct: Account, spy: Spy, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cli(capsys, "scan", "--out", str(tmp_path / "scan"), "--regions", REGION, "--quiet")
    path = tmp_path / "scan" / "findings.json"
    path.write_text(path.read_text().replace(ACCOUNT, OTHER_ACCOUNT))
    before = acct.state()
    result = fix(capsys, tmp_path / "out", "--apply", "--findings", str(path))
    assert_clean_refusal(result, OTHER_ACCOUNT, ACCOUNT)
    assert spy.writes == []
    assert acct.state() == before


def test_interlock_counts_an_unreadable_run_list_as_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not knowing whether a run is active must block cache-rule writes, never clear them."""
    import botocore.exceptions

    from auditor.fix import Clients, active_runs

    class Denied:
        def get_paginator(self, name: str) -> Any:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no omics:ListRuns"}}, "ListRuns"
            )

    clients = Clients(boto3.Session(region_name=REGION))
    monkeypatch.setattr(clients, "get", lambda service, region: Denied())
    runs = active_runs(clients, REGION)
    assert len(runs) == 1 and "AccessDenied" in runs[0]
