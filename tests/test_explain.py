"""Failed runs explained: the classifier, the links to findings, ``explain RUN_ID`` as a process against the
sandbox server, and the ``failed_runs`` section of every scan (findings.json, the summary, the HTML report)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from auditor.findings import Finding, FindingsDocument, RunInfo, Severity, Status, build_document, merge_documents
from auditor.models import Collected, FailedRun, Run, RunTask, Snapshot
from auditor.reports import RenderOptions
from auditor.reports.html import render_html
from auditor.run_failures import KIND_RULES, Kind, classify, explain_failed_runs, explain_run, rules_needed
from auditor.sandbox.seed import DemoAccount, expected_failed_runs
from auditor.scan import render_summary
from tests.support.journeys import SandboxProcess, journey_env, run_cli

ACCOUNT = "123456789012"
REGION = "us-east-1"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
BWA = f"{HOST}/my-workflow/bwa:0.7.17"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/OmicsWorkflowRole"

# --- the classifier ------------------------------------------------------------------------------

CASES: list[tuple[str, Kind, str | None]] = [
    # ECS's CannotPullContainerError wordings (docs/run-failures.md)
    (f"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {BWA}: "
     f"pulling from host {HOST} failed with status code [manifests 0.7.17]: 403 Forbidden", Kind.ECR_ACCESS, BWA),
    (f"CannotPullContainerError: Error response from daemon: pull access denied for {HOST}/tools/x, repository "
     "does not exist or may require 'docker login'", Kind.ECR_ACCESS, f"{HOST}/tools/x"),
    ("AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/OmicsRole/x is not authorized to "
     f"perform: ecr:GetDownloadUrlForLayer on resource: arn:aws:ecr:{REGION}:{ACCOUNT}:repository/tools/x",
     Kind.ECR_ACCESS, None),
    ("ECR_PERMISSION_ERROR", Kind.ECR_ACCESS, None),
    ("HealthOmics doesn't have permission to access the image URI.", Kind.ECR_ACCESS, None),
    (f"CannotPullContainerError: Error response from daemon: manifest for {HOST}/tools/x:9.9 not found: "
     "manifest unknown: Requested image not found", Kind.IMAGE_NOT_FOUND, f"{HOST}/tools/x:9.9"),
    ("INVALID_ECR_IMAGE_URI", Kind.IMAGE_NOT_FOUND, None),
    (f"RepositoryNotFoundException: The repository with name 'tools/y' does not exist in the registry with id "
     f"'{ACCOUNT}'", Kind.REPOSITORY_MISSING, None),
    ("standard_init_linux.go:228: exec user process caused: exec format error", Kind.WRONG_ARCHITECTURE, None),
    ("CannotPullContainerError: image Manifest does not contain descriptor matching platform 'linux/amd64'",
     Kind.WRONG_ARCHITECTURE, None),
    (f"CANNOT_START_CONTAINER_SIZE_ERROR\nUnable to start workflow task: BIG, id: 1234567 container using image: "
     f"{HOST}/tools/huge:1. Make sure that the image size is less than 45 GiB", Kind.IMAGE_TOO_LARGE,
     f"{HOST}/tools/huge:1"),
    ("UnableToGetUpstreamImageException: the upstream registry returned toomanyrequests", Kind.PULL_THROUGH_CACHE,
     None),
    ("The pull through cache rule's secret could not be read (UnableToAccessSecret)", Kind.PULL_THROUGH_CACHE, None),
    ("ASSUME_ROLE_FAILED", Kind.ROLE_TRUST, None),
    ("CANNOT_START_CONTAINER_ERROR", Kind.CANNOT_PULL, None),
    ("CannotPullContainerError: context deadline exceeded", Kind.CANNOT_PULL, None),
    # not container-related
    ("OutOfMemoryError: Container killed due to memory usage", Kind.NOT_CONTAINER, None),
    ("OUT_OF_MEMORY_ERROR", Kind.NOT_CONTAINER, None),
    ("Essential container in task exited with exit code 137", Kind.NOT_CONTAINER, None),
    ("FILE_SYSTEM_OUT_OF_SPACE", Kind.NOT_CONTAINER, None),
    ("RUN_TIMED_OUT", Kind.NOT_CONTAINER, None),
    ("", Kind.NOT_CONTAINER, None),
]  # fmt: skip


@pytest.mark.parametrize(("message", "kind", "image"), CASES)
def test_classify(message: str, kind: Kind, image: str | None) -> None:
    got = classify(message)
    assert got.kind == kind
    assert got.container_related == (kind != Kind.NOT_CONTAINER)
    assert got.image == image
    assert got.rule_ids == KIND_RULES[kind]


def test_every_mapped_rule_exists() -> None:
    from auditor.engine import load_builtin_rules

    rules = set(load_builtin_rules())
    assert {r for ids in KIND_RULES.values() for r in ids} <= rules
    assert KIND_RULES[Kind.NOT_CONTAINER] == () and KIND_RULES[Kind.WRONG_ARCHITECTURE] == ("image-not-arm-only",)


def test_the_first_text_that_matches_wins_whatever_the_order() -> None:
    assert classify(None, "ECR_PERMISSION_ERROR").kind == Kind.ECR_ACCESS
    assert classify("OUT_OF_MEMORY_ERROR", None).kind == Kind.NOT_CONTAINER


# --- linking to findings (pure) --------------------------------------------------------------------


def _finding(rule_id: str, resource: str, status: Status = Status.FAIL, **evidence: Any) -> Finding:
    return Finding(
        id=f"oea-{rule_id}-{resource}"[:40],
        rule_id=rule_id,
        title=rule_id,
        status=status,
        severity=Severity.HIGH,
        account=ACCOUNT,
        region=REGION,
        resource=resource,
        message=f"{rule_id} on {resource}",
        evidence=evidence,
        remediation=f"fix {resource}",
        fixable=True,
    )


def _run(*tasks: RunTask, reason: str | None = "ECR_PERMISSION_ERROR", role: str = ROLE) -> Run:
    return Run(
        id="1111111",
        arn=f"arn:aws:omics:{REGION}:{ACCOUNT}:run/1111111",
        status="FAILED",
        workflow_id="2222222",
        role_arn=role,
        failure_reason=reason,
        tasks=Collected(value=list(tasks)),
    )


def _task(message: str, image: str | None = BWA, status: str = "FAILED", **kw: Any) -> RunTask:
    return RunTask(task_id="3333333", name="T", image=image, status=status, status_message=message, **kw)


def test_an_access_failure_is_linked_to_findings_on_its_repository_prefix_and_role() -> None:
    repo_arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/docker-hub/library/ubuntu"
    image = f"{HOST}/docker-hub/library/ubuntu:22.04"
    findings = [
        _finding("repository-policy-grants-omics", repo_arn),
        _finding("repository-policy-grants-omics", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/other"),
        _finding("registry-policy-allows-omics", "registry-policy/docker-hub"),
        _finding("registry-policy-allows-omics", "registry-policy/quay"),
        _finding("creation-template-grants-omics", "creation-template-coverage/docker-hub", Status.ERROR),
        _finding("service-role-can-pull", ROLE, repositories=[repo_arn]),
        _finding("service-role-can-pull", f"arn:aws:iam::{ACCOUNT}:role/Other", repositories=[repo_arn]),
        _finding("repository-policy-grants-omics", repo_arn.replace(ACCOUNT, "999999999999")),  # another account
        _finding("image-not-arm-only", f"{repo_arn}:22.04"),  # not a rule of this kind
        _finding("repository-policy-grants-omics", f"{repo_arn}x", Status.PASS),
    ]
    explained = explain_run(_run(_task("CannotPullContainerError: 403 Forbidden", image)), ACCOUNT, REGION, findings)
    (failure,) = explained.failures
    assert failure.kind == "ecr-access" and failure.image == image
    assert [(f.rule_id, f.resource, f.status) for f in failure.findings] == [
        ("repository-policy-grants-omics", repo_arn, "FAIL"),
        ("creation-template-grants-omics", "creation-template-coverage/docker-hub", "ERROR"),
        ("registry-policy-allows-omics", "registry-policy/docker-hub", "FAIL"),
        ("service-role-can-pull", ROLE, "FAIL"),
    ]
    assert failure.findings[0].remediation == f"fix {repo_arn}"


def test_a_role_finding_that_does_not_mention_the_image_is_not_linked() -> None:
    findings = [_finding("service-role-can-pull", ROLE, repositories=["arn:aws:ecr:x:1:repository/elsewhere"])]
    explained = explain_run(_run(_task("403 Forbidden")), ACCOUNT, REGION, findings)
    assert explained.failures[0].findings == []
    assert explained.container_related and explained.finding_ids == []


def test_an_arm_image_is_linked_to_the_architecture_finding_of_its_tag() -> None:
    arm = f"{HOST}/docker-hub/biocontainers/arm-tool:1.0"
    resource = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/docker-hub/biocontainers/arm-tool:1.0"
    findings = [_finding("image-not-arm-only", resource)]
    explained = explain_run(_run(_task("exec format error", arm)), ACCOUNT, REGION, findings)
    assert [f.resource for f in explained.failures[0].findings] == [resource]


def test_a_cache_failure_is_linked_to_the_upstream_of_its_source_image() -> None:
    findings = [_finding("ptc-rule-coverage", "upstream/registry.k8s.io")]
    task = _task("UnableToGetUpstreamImage", f"{HOST}/k8s/pause:3.9", source_image="registry.k8s.io/pause:3.9")
    explained = explain_run(_run(task), ACCOUNT, REGION, findings)
    assert [f.resource for f in explained.failures[0].findings] == ["upstream/registry.k8s.io"]


def test_a_run_without_failed_tasks_is_explained_by_its_own_reason() -> None:
    explained = explain_run(
        _run(reason="ASSUME_ROLE_FAILED"), ACCOUNT, REGION, [_finding("service-role-trusts-omics", ROLE)]
    )
    (failure,) = explained.failures
    assert failure.task_id is None and failure.kind == "role-trust"
    assert [f.rule_id for f in failure.findings] == ["service-role-trusts-omics"]
    assert rules_needed(_run(reason="ASSUME_ROLE_FAILED")) == ["service-role-trusts-omics"]


def test_a_failure_that_is_not_container_related_needs_no_rule() -> None:
    run = _run(_task("OutOfMemoryError: Container killed due to memory usage"), reason="OUT_OF_MEMORY_ERROR")
    assert rules_needed(run) == []
    explained = explain_run(run, ACCOUNT, REGION, [_finding("repository-policy-grants-omics", "x")])
    assert not explained.container_related and explained.failures[0].summary == "not container-related"


def test_scan_section_lists_only_failed_runs_newest_first() -> None:
    older = _run(_task("403 Forbidden"))
    older.stop_time = datetime(2026, 1, 1, tzinfo=UTC)
    newer = older.model_copy(update={"id": "4444444", "arn": older.arn.replace("1111111", "4444444")})
    newer.stop_time = datetime(2026, 1, 2, tzinfo=UTC)
    done = older.model_copy(update={"id": "5555555", "status": "COMPLETED", "failure_reason": None})
    snap = Snapshot(
        account_id=ACCOUNT,
        region=REGION,
        collected_at=datetime.now(UTC),
        runs=Collected(value=[older, done, newer]),
    )
    assert [r.run_id for r in explain_failed_runs([snap], [])] == ["4444444", "1111111"]


# --- documents: backward compatible, merged, rendered -----------------------------------------------


def _document(failed: list[FailedRun]) -> FindingsDocument:
    run = RunInfo(id="run-1", started=datetime.now(UTC), rules=["repository-policy-grants-omics"])
    finding = _finding("repository-policy-grants-omics", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/my-workflow/bwa")
    doc = build_document(run, [finding], {})
    doc.failed_runs = failed
    return doc


def test_older_documents_and_inventories_still_load() -> None:
    doc = _document([])
    data = json.loads(doc.model_dump_json())
    del data["failed_runs"]
    assert FindingsDocument.model_validate(data).failed_runs == []
    old_run = {
        "id": "1",
        "arn": "arn:aws:omics:us-east-1:1:run/1",
        "status": "FAILED",
        "tasks": {"value": [{"task_id": "2"}]},
    }
    loaded = Run.model_validate(old_run)
    assert loaded.failure_reason is None and loaded.tasks.value is not None and loaded.tasks.value[0].status is None


def test_merged_parts_list_each_failed_run_once() -> None:
    failed = explain_run(_run(_task("403 Forbidden")), ACCOUNT, REGION, [])
    merged = merge_documents([_document([failed]), _document([failed])])
    assert [r.run_id for r in merged.failed_runs] == [failed.run_id]


def test_html_and_summary_show_the_section_escaped() -> None:
    hostile = "<script>alert(1)</script> 403 Forbidden"
    failed = explain_run(_run(_task(hostile)), ACCOUNT, REGION, _document([]).findings)
    doc = _document([failed])
    html = render_html(doc, RenderOptions())
    assert 'id="failed-runs"' in html and 'href="#failed-runs"' in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "repository-policy-grants-omics" in html and "fix arn:aws:ecr" in html
    summary = render_summary(doc)
    assert "failed runs: 1 in the look-back window (1 explained by findings, 0 not container-related)" in summary
    # no failed run: no section
    assert 'id="failed-runs"' not in render_html(_document([]), RenderOptions())
    assert "failed runs:" not in render_summary(_document([]))


# --- explain as a process against the sandbox server ----------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    sandbox = SandboxProcess(tmp_path_factory.mktemp("sandbox"))
    try:
        sandbox.wait_ready()
        yield sandbox
    finally:
        assert sandbox.stop(signal.SIGTERM) == 0


@pytest.fixture(scope="module")
def demo(server: SandboxProcess) -> DemoAccount:
    seed = server.seed_info()
    return DemoAccount(seed["account"], seed["region"], seed["workflows"], seed["runs"], {})


def _explain(server: SandboxProcess, tmp: Path, *args: str) -> Any:
    result = run_cli(["explain", *args, "--endpoint-url", server.url], cwd=tmp, env=journey_env(tmp))
    assert "Traceback" not in result.stderr + result.stdout, result.describe()
    return result


def test_explain_names_the_finding_that_caused_the_demo_failure(
    server: SandboxProcess, demo: DemoAccount, tmp_path: Path
) -> None:
    run_id = demo.runs["denied"]
    (expected,) = [e for rid, e in expected_failed_runs(demo).items() if rid == run_id]
    result = _explain(server, tmp_path, run_id, "--json")
    assert result.returncode == 1, result.describe()  # a FAIL finding explains it
    out = json.loads(result.stdout)
    assert out["status"] == "FAILED" and out["explanation"]["failure_reason"] == "ECR_PERMISSION_ERROR"
    (failure,) = out["explanation"]["failures"]
    assert failure["task_name"] == "BWA_INDEX" and failure["kind"] == "ecr-access"
    linked: dict[str, set[str]] = {}
    for link in failure["findings"]:
        linked.setdefault(link["rule_id"], set()).add(link["resource"])
        assert link["status"] == "FAIL" and link["remediation"]
    assert linked == expected
    assert "repository-policy-grants-omics" in out["rules_evaluated"]
    assert {"omics:GetRun", "omics:ListRunTasks", "omics:GetRunTask"} <= set(out["api_calls"])
    # the text output says the same, with the fix
    text = _explain(server, tmp_path, run_id)
    assert text.returncode == 1
    assert "explained by 1 finding(s): repository-policy-grants-omics" in text.stdout
    assert "repository/my-workflow/bwa" in text.stdout and "fix: " in text.stdout


def test_explain_says_when_a_failure_is_not_container_related(
    server: SandboxProcess, demo: DemoAccount, tmp_path: Path
) -> None:
    run_id = demo.runs["oom"]
    assert expected_failed_runs(demo)[run_id] == {}
    result = _explain(server, tmp_path, run_id)
    assert result.returncode == 0, result.describe()
    assert "OUT_OF_MEMORY_ERROR: not container-related" in result.stdout
    assert "nothing was scanned" in result.stdout
    out = json.loads(_explain(server, tmp_path, run_id, "--json").stdout)
    assert out["verdict"] == "not container-related" and out["rules_evaluated"] == []
    assert "ecr:DescribeRepositories" not in out["api_calls"]  # no scan for a failure no rule explains


def test_explain_a_run_that_did_not_fail(server: SandboxProcess, demo: DemoAccount, tmp_path: Path) -> None:
    result = _explain(server, tmp_path, demo.runs["done"])
    assert result.returncode == 0 and "is COMPLETED: nothing to explain" in result.stdout


@pytest.mark.parametrize("run_id", ["nope", "9999999"])
def test_explain_a_bad_run_id_is_one_line_and_exit_2(server: SandboxProcess, tmp_path: Path, run_id: str) -> None:
    result = _explain(server, tmp_path, run_id)
    assert result.returncode == 2, result.describe()
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"omics-ecr-audit: no run '{run_id}' in {REGION}")


def test_explain_an_unreachable_endpoint_is_one_line_and_exit_3(tmp_path: Path) -> None:
    result = run_cli(
        ["explain", "1234567", "--endpoint-url", "http://127.0.0.1:9"], cwd=tmp_path, env=journey_env(tmp_path)
    )
    assert result.returncode == 3, result.describe()
    (line,) = result.stderr.strip().splitlines()
    assert "cannot read run 1234567" in line and "EndpointConnectionError" in line and "Traceback" not in line


# --- the section in every scan ---------------------------------------------------------------------


def test_scan_lists_the_failed_runs_in_findings_json_and_html(
    server: SandboxProcess, demo: DemoAccount, tmp_path: Path
) -> None:
    result = run_cli(
        ["scan", "--endpoint-url", server.url, "--out", "out", "--output", "html"],
        cwd=tmp_path,
        env=journey_env(tmp_path),
    )
    assert result.returncode == 1, result.describe()
    doc = json.loads((tmp_path / "out" / "findings.json").read_text())
    by_id = {r["run_id"]: r for r in doc["failed_runs"]}
    expected = expected_failed_runs(demo)
    assert set(by_id) == set(expected)
    finding_ids = {f["id"]: f for f in doc["findings"]}
    for run_id, rules in expected.items():
        links = [link for f in by_id[run_id]["failures"] for link in f["findings"]]
        assert {(link["rule_id"], link["resource"]) for link in links} == {
            (rule, resource) for rule, resources in rules.items() for resource in resources
        }
        for link in links:  # each link is a finding of the same document, with its fix
            assert finding_ids[link["finding_id"]]["remediation"] == link["remediation"]
        assert any(f["container_related"] for f in by_id[run_id]["failures"]) == bool(rules)
    assert "failed runs: 2 in the look-back window (1 explained by findings, 1 not container-related)" in result.stdout
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'id="failed-runs"' in html
    for run_id in expected:
        assert f'data-run="{run_id}"' in html
    assert "not container-related" in html
