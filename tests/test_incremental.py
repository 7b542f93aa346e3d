"""Incremental scans (``scan --since-last``): what changed between two scans is caught, the rest is carried.

Every change is made through the public API of the sandbox, which records it in CloudTrail as AWS does
(auditor/sandbox), and the incremental scan finds it with LookupEvents. The call counts are derived from
the seeded demo account: an unchanged account costs the fixed per-region listings and the CloudTrail
queries, and no read per repository, image, workflow, run or role.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from auditor import incremental
from auditor.config import parse_config
from auditor.findings import FindingsDocument, Status
from auditor.models import Snapshot
from auditor.sandbox import images
from auditor.sandbox.seed import seed_demo_account
from auditor.scan import render_summary, scan_live, select_rules
from tests.support.faults import Fault, denied, request_param
from tests.support.journeys import journey_env, run_cli
from tests.support.sandbox import ACCOUNT, REGION, sandbox_account
from tests.support.sandbox import policy as policy_document

# LookupEvents is limited to 2 calls/s per account and Region (auditor.ratelimit); the tests lift it.
CONFIG = parse_config({"concurrency": {"rate_limits": {"cloudtrail:LookupEvents": None}}})
RULES = select_rules(CONFIG, [])
UBUNTU = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/docker-hub/library/ubuntu"
WORKFLOW_ROLE = f"arn:aws:iam::{ACCOUNT}:role/OmicsWorkflowRole"
# Per-resource reads: none of them is made for an unchanged resource.
PER_RESOURCE = (
    "ecr:DescribeImages",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetLifecyclePolicy",
    "omics:GetWorkflow",
    "iam:GetRole",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
)
# The demo is seeded a moment before the first scan: without the clock-skew allowance its own seeding would
# count as changes (test_seeding_just_before_the_previous_scan_is_read_again_by_default shows it does).
SETTINGS = incremental.Settings(skew=timedelta(0))
CHANGE_QUERIES = len(incremental.ECR_CHANGE_EVENTS) + len(incremental.IAM_ROLE_EVENTS + incremental.IAM_POLICY_EVENTS)


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Any:
    with sandbox_account(monkeypatch):
        session = boto3.Session(region_name=REGION)
        yield session, seed_demo_account(session)


def _scan(
    session: boto3.Session, since: list[Snapshot] | None = None, settings: incremental.Settings = SETTINGS
) -> tuple[FindingsDocument, list[Snapshot]]:
    kept: list[Snapshot] = []
    doc = scan_live(
        CONFIG,
        RULES,
        session=session,
        regions=[REGION],
        keep_snapshots=kept,
        since=since,
        incremental_settings=settings,
    )
    return doc, kept


def _statuses(doc: FindingsDocument) -> dict[tuple[str, str], Status]:
    return {(f.rule_id, f.resource): f.status for f in doc.findings}


def _changed(before: FindingsDocument, after: FindingsDocument) -> dict[tuple[str, str], tuple[Any, Any]]:
    a, b = _statuses(before), _statuses(after)
    return {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}


def _only_about(changed: dict[tuple[str, str], Any], *resources: str) -> bool:
    """Every finding that changed is about one of these resources (other rules may judge them too)."""
    return all(resource.startswith(resources) for _, resource in changed)


def _foreign_policies(snap: Snapshot) -> int:
    return len(snap.foreign_repository_policies)


# --- an unchanged account ------------------------------------------------------------------


def test_unchanged_account_costs_only_the_fixed_calls_and_finds_the_same(account) -> None:
    session, demo = account
    full, snaps = _scan(session)
    again, snaps2 = _scan(session, since=snaps)

    assert _statuses(again) == _statuses(full)
    calls = Counter(again.api_calls)
    for operation in PER_RESOURCE:
        assert calls[operation] == 0, (operation, dict(calls))
    # Repository policies: only other accounts' (no CloudTrail of theirs is visible from here).
    assert calls["ecr:GetRepositoryPolicy"] == _foreign_policies(snaps[0])
    # CloudTrail: the cache-rule events of the mid-run rule, then one query per change event name.
    assert calls["cloudtrail:LookupEvents"] == full.api_calls["cloudtrail:LookupEvents"] + CHANGE_QUERIES
    # Active runs are read again (they may still change); the ended ones are carried with their tasks.
    runs = snaps[0].runs.value or []
    ended = [r for r in runs if r.status in incremental.ENDED_RUN_STATUSES]
    assert ended and len(ended) < len(runs)
    assert calls["omics:GetRun"] == len(runs) - len(ended)
    # Every listing is read again: that is how created and deleted resources are seen.
    for listing in (
        "ecr:DescribeRepositories",
        "ecr:DescribePullThroughCacheRules",
        "ecr:GetRegistryPolicy",
        "ecr:DescribeRepositoryCreationTemplates",
        "omics:ListWorkflows",
        "omics:ListRuns",
        "iam:ListRoles",
    ):
        assert calls[listing] == full.api_calls[listing] == 1, listing
    assert sum(calls.values()) < sum(full.api_calls.values())

    info = snaps2[0].incremental
    assert info is not None and not info.full and info.fallback is None
    assert info.reread == {}
    assert info.full_scan_at == info.previous_collected_at == snaps[0].collected_at
    # After a full scan the window starts at its start (less the skew allowance, 0 here); after a scan that
    # carried data, a margin earlier (test_a_chain_of_incremental_scans...).
    assert info.window_start == snaps[0].collected_at
    counts = info.carried_count()
    assert counts["policy"] == len(snaps[0].repository_policies)
    assert counts["workflow"] == len(demo.workflows) and counts["run"] == len(ended) and counts["role"] == 2


def test_findings_on_carried_data_say_when_it_was_read(account) -> None:
    session, _ = account
    _, snaps = _scan(session)
    again, _ = _scan(session, since=snaps)
    read_at = snaps[0].collected_at.isoformat()
    ubuntu = next(f for f in again.findings if f.rule_id == "repository-policy-grants-omics" and f.resource == UBUNTU)
    assert ubuntu.evidence["carried"]["policy"] == read_at
    role = next(f for f in again.findings if f.rule_id == "service-role-can-pull" and f.resource == WORKFLOW_ROLE)
    assert role.evidence["carried"] == {"role": read_at}
    # Data read in this scan carries no such mark: the cache-rule findings are judged on fresh reads.
    assert all("carried" not in f.evidence for f in again.findings if f.rule_id == "ptc-rule-coverage")
    assert again.run.incremental is not None and len(again.run.incremental) == 1
    summary = render_summary(again)
    assert "incremental: changes since" in summary and "carried from the previous inventory" in summary


def test_a_chain_of_incremental_scans_keeps_the_first_read_time_and_full_after_forces_a_full_read(account) -> None:
    session, _ = account
    _, first = _scan(session)
    _, second = _scan(session, since=first)
    third_doc, third = _scan(session, since=second)
    info = third[0].incremental
    assert info is not None and not info.full
    assert info.window_start == second[0].collected_at - incremental.DEFAULT_MARGIN
    assert info.full_scan_at == first[0].collected_at  # the last full scan, not the last scan
    assert info.carried[UBUNTU]["policy"] == first[0].collected_at
    full_doc, full = _scan(session, since=second, settings=incremental.Settings(full_after=timedelta(0)))
    assert full[0].incremental is not None and full[0].incremental.full
    assert "full_after" in (full[0].incremental.fallback or "")
    assert full_doc.api_calls["ecr:DescribeImages"] > 0
    assert _statuses(full_doc) == _statuses(third_doc)


def test_seeding_just_before_the_previous_scan_is_read_again_by_default(account) -> None:
    """Events within the clock-skew allowance before the previous scan began are trusted to be changes."""
    session, _ = account
    before, snaps = _scan(session)
    after, snaps2 = _scan(session, since=snaps, settings=incremental.Settings())
    assert _statuses(after) == _statuses(before)
    info = snaps2[0].incremental
    assert info is not None and info.events.get("PutImage", 0) >= 1
    assert "docker-hub/library/ubuntu:22.04" in info.reread["images"]


# --- changes between two scans -------------------------------------------------------------


def test_a_removed_repository_policy_is_caught(account) -> None:
    session, _ = account
    before, snaps = _scan(session)
    session.client("ecr").delete_repository_policy(repositoryName="docker-hub/library/ubuntu")
    after, snaps2 = _scan(session, since=snaps)
    changed = _changed(before, after)
    assert changed[("repository-policy-grants-omics", UBUNTU)] == (Status.PASS, Status.FAIL)
    assert _only_about(changed, UBUNTU), changed
    info = snaps2[0].incremental
    assert info is not None
    assert info.events["DeleteRepositoryPolicy"] == 1
    assert info.reread == {"policy": ["docker-hub/library/ubuntu"]}
    assert after.api_calls["ecr:GetRepositoryPolicy"] == 1 + _foreign_policies(snaps[0])
    finding = next(f for f in after.findings if f.resource == UBUNTU and f.rule_id == "repository-policy-grants-omics")
    assert "policy" not in finding.evidence.get("carried", {})


def test_a_pushed_image_is_caught(account) -> None:
    session, _ = account
    before, snaps = _scan(session)
    images.push_image(session.client("ecr"), "docker-hub/library/ubuntu", tag="24.04", architecture="arm64")
    after, snaps2 = _scan(session, since=snaps)
    changed = _changed(before, after)
    assert changed[("image-not-arm-only", f"{UBUNTU}:24.04")] == (None, Status.FAIL)
    assert _only_about(changed, UBUNTU), changed
    info = snaps2[0].incremental
    # The repository's newest tags are listed again, its images named by tag inspected again, and what its
    # lifecycle policy would expire judged again (a new image changes that).
    assert info is not None and info.reread == {
        "images": ["docker-hub/library/ubuntu", "docker-hub/library/ubuntu:22.04"],
        "lifecycle": ["docker-hub/library/ubuntu"],
    }
    assert after.api_calls["ecr:DescribeImages"] == 1  # the one repository an event named


def test_an_updated_cache_rule_is_caught(account) -> None:
    """Cache rules are read in full on every scan: updating one while a run is active is the mid-run FAIL."""
    session, demo = account
    before, snaps = _scan(session)
    session.client("ecr").update_pull_through_cache_rule(
        ecrRepositoryPrefix="docker-hub", credentialArn=demo.secrets["docker-hub"]
    )
    after, _ = _scan(session, since=snaps)
    resource = "pull-through-cache-rule/docker-hub"
    changed = _changed(before, after)
    assert changed == {("ptc-rule-unchanged-during-run", resource): (Status.PASS, Status.FAIL)}


@pytest.mark.parametrize("edit", ["inline deny", "managed policy version"])
def test_an_edited_role_is_caught(account, edit: str) -> None:
    session, _ = account
    iam = session.client("iam")
    # A managed policy on the role that grants nothing yet: its next version will deny.
    allow = policy_document({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    managed = iam.create_policy(PolicyName="team-extras", PolicyDocument=allow)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="OmicsWorkflowRole", PolicyArn=managed)
    before, snaps = _scan(session)
    deny = policy_document({"Effect": "Deny", "Action": "ecr:*", "Resource": "*"})
    if edit == "inline deny":
        iam.put_role_policy(RoleName="OmicsWorkflowRole", PolicyName="deny-ecr", PolicyDocument=deny)
    else:
        iam.create_policy_version(PolicyArn=managed, PolicyDocument=deny, SetAsDefault=True)
    after, snaps2 = _scan(session, since=snaps)
    changed = _changed(before, after)
    assert changed[("service-role-can-pull", WORKFLOW_ROLE)] == (Status.PASS, Status.FAIL)
    info = snaps2[0].incremental
    assert info is not None and info.reread == {"role": [WORKFLOW_ROLE]}
    assert after.api_calls["iam:GetRole"] == 1  # the other role is carried


# --- falling back to a full read -------------------------------------------------------------


def test_a_failed_event_lookup_reads_everything_and_says_why(account) -> None:
    session, _ = account
    before, snaps = _scan(session)

    def change_query(request: Any) -> bool:
        attributes = request_param(request, "LookupAttributes") or []
        return any(a.get("AttributeValue") in incremental.ECR_CHANGE_EVENTS for a in attributes)

    fault = Fault(session, "cloudtrail:LookupEvents", denied("cloudtrail"), when=change_query)
    after, snaps2 = _scan(session, since=snaps)
    assert fault.injected >= 1
    assert _statuses(after) == _statuses(before)
    info = snaps2[0].incremental
    assert info is not None and "CloudTrail lookup failed (AccessDeniedException)" in (info.fallback or "")
    assert after.api_calls["ecr:DescribeImages"] == before.api_calls["ecr:DescribeImages"]
    assert "CloudTrail lookup failed" in render_summary(after)


def test_a_cell_missing_from_the_previous_inventory_is_read_in_full(account) -> None:
    session, _ = account
    _, snaps = _scan(session)
    elsewhere = snaps[0].model_copy(update={"region": "eu-west-1"})
    doc, snaps2 = _scan(session, since=[elsewhere])
    info = snaps2[0].incremental
    assert info is not None and info.full and "no snapshot of this account and region" in (info.fallback or "")
    assert doc.api_calls["ecr:DescribeImages"] > 0


# --- the pieces -----------------------------------------------------------------------------


def _event(**params: Any) -> dict[str, Any]:
    return {"CloudTrailEvent": json.dumps({"requestParameters": params})}


def test_read_changes_attributes_each_event_and_distrusts_what_it_cannot_read() -> None:
    answers = {
        "SetRepositoryPolicy": [_event(repositoryName="a"), _event(repositoryName="b")],
        "PutImage": [{"CloudTrailEvent": "not json"}],
        "PutRolePolicy": [_event(roleName="R")],
        "CreatePolicyVersion": [_event(policyArn="arn:aws:iam::1:policy/P")],
    }

    def lookup(region: str, name: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        return answers.get(name, [])

    now = datetime.now(UTC)
    names = [*incremental.ECR_CHANGE_EVENTS, *incremental.IAM_ROLE_EVENTS, *incremental.IAM_POLICY_EVENTS]
    start = now - timedelta(hours=1)
    changes = incremental.read_changes(lookup, REGION, names, start, now)
    assert set(changes.latest) == {
        ("policy", "a"),
        ("policy", "b"),
        ("roles", "R"),
        ("managed_policies", "arn:aws:iam::1:policy/P"),
    }
    assert changes.events == {"SetRepositoryPolicy": 2, "PutImage": 1, "PutRolePolicy": 1, "CreatePolicyVersion": 1}
    # Events without a time count as the newest; one after the moment asked about is a change, one before is not.
    assert changes.changed_since("policy", "a", start) and not changes.changed_since("policy", "c", start)
    assert not changes.changed_since("policy", "a", now + timedelta(seconds=1))
    # An unreadable PutImage names no repository: no repository's images can be carried.
    assert changes.changed_since("images", "anything", start)


def test_why_full(account) -> None:
    session, _ = account
    _, snaps = _scan(session)
    prev = snaps[0]
    facets = set(prev.facets)
    now = prev.collected_at + timedelta(hours=1)
    assert incremental.Baseline([prev], now=now).why_full(ACCOUNT, REGION, facets) is None
    assert "no snapshot" in (incremental.Baseline([], now=now).why_full(ACCOUNT, REGION, facets) or "")
    assert "did not collect lifecycle_policies" in (
        incremental.Baseline([prev], now=now).why_full(ACCOUNT, REGION, facets | {"lifecycle_policies"}) or ""
    )
    late = prev.collected_at + timedelta(days=91)
    lenient = incremental.Settings(full_after=timedelta(days=365))
    assert "90 days" in (
        incremental.Baseline([prev], now=late, settings=lenient).why_full(ACCOUNT, REGION, facets) or ""
    )
    assert "full_after" in (
        incremental.Baseline([prev], now=prev.collected_at + timedelta(days=8)).why_full(ACCOUNT, REGION, facets) or ""
    )


# --- as a user runs it ------------------------------------------------------------------------


def test_cli_since_last_against_the_sandbox_server(tmp_path, monkeypatch) -> None:
    """Two `scan` processes against the sandbox server, a policy removed between them."""
    from auditor.sandbox.server import start_server

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with start_server() as server:
        seeder = _pointed_at(boto3.Session(region_name=REGION), server.url)
        seed_demo_account(seeder)
        env = journey_env(tmp_path)
        scan = ["scan", "--endpoint-url", server.url, "--quiet"]
        first = run_cli([*scan, "--out", "out1", "--save-inventory", "inv1.json"], cwd=tmp_path, env=env)
        assert first.returncode == 1, first.describe()
        seeder.client("ecr").delete_repository_policy(repositoryName="docker-hub/library/ubuntu")
        second = run_cli(
            [*scan[:-1], "--out", "out2", "--since-last", "inv1.json", "--save-inventory", "inv2.json"],
            cwd=tmp_path,
            env=env,
        )
        assert second.returncode == 1, second.describe()
        assert "incremental: changes since" in second.stdout, second.describe()
        assert "re-read because an event named them:" in second.stdout
        doc = json.loads((tmp_path / "out2" / "findings.json").read_text())
        ubuntu = next(
            f for f in doc["findings"] if f["rule_id"] == "repository-policy-grants-omics" and f["resource"] == UBUNTU
        )
        assert ubuntu["status"] == "FAIL" and "carried" not in ubuntu["evidence"]
        assert doc["run"]["incremental"][0]["events"]["DeleteRepositoryPolicy"] == 1
        saved = json.loads((tmp_path / "inv2.json").read_text())
        assert saved["snapshots"][0]["incremental"]["full_scan_at"] is not None

        # A third scan chains on the second one's inventory.
        third = run_cli([*scan, "--out", "out3", "--since-last", "inv2.json"], cwd=tmp_path, env=env)
        assert third.returncode == 1, third.describe()

    (tmp_path / "broken.json").write_text('{"schema_version": 1, "snapshots": [{"account_id": 5}]}')
    bad = run_cli(["scan", "--since-last", "broken.json", "--out", "o"], cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.describe()
    assert "broken.json" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.describe()
    both = run_cli(["scan", "--since-last", "inv1.json", "--inventory", "inv1.json"], cwd=tmp_path, env=env)
    assert both.returncode == 2 and "cannot be combined with --inventory" in both.stderr, both.describe()


def _pointed_at(session: boto3.Session, url: str) -> boto3.Session:
    make_client = session.client
    session.client = lambda service, **kw: make_client(service, endpoint_url=url, **kw)  # type: ignore[method-assign]
    return session


def test_merged_parts_keep_each_cells_incremental_record(account) -> None:
    """The Lambda's Step Functions path scans cells apart and merges the parts: the record must survive."""
    from auditor.findings import merge_documents

    session, _ = account
    _, snaps = _scan(session)
    part, _ = _scan(session, since=snaps)
    other = part.model_copy(deep=True)
    assert other.run.incremental is not None
    other.run.incremental[0].region = "eu-west-1"
    merged = merge_documents([part, other], run_id="r")
    assert merged.run.incremental is not None
    assert [(c.account, c.region) for c in merged.run.incremental] == [(ACCOUNT, "eu-west-1"), (ACCOUNT, REGION)]


def test_the_html_report_shows_what_was_carried(account) -> None:
    from auditor.reports import RenderOptions
    from auditor.reports.html import render_html

    session, _ = account
    full, snaps = _scan(session)
    session.client("ecr").delete_repository_policy(repositoryName="docker-hub/library/ubuntu")
    doc, _ = _scan(session, since=snaps)
    assert doc.run.incremental is not None
    doc.run.incremental[0].fallback = "<script>alert(1)</script>"  # data on disk is untrusted: escaped
    html = render_html(doc, RenderOptions())
    assert 'id="incremental"' in html and f"{ACCOUNT}/{REGION}" in html
    assert "1 policy" in html  # re-read after the event
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'id="incremental"' not in render_html(full, RenderOptions())
