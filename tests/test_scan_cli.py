"""Scan front ends: inventory save/re-evaluate, custom JMESPath rules, the CLI, exit codes and the sandbox server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest

from auditor.cli import main
from auditor.config import parse_config
from auditor.engine import load_builtin_rules
from auditor.findings import Severity, Status, exit_code
from auditor.sandbox.seed import DEMO_CONFIG, seed_demo_account
from auditor.scan import load_inventory, scan_inventory, select_rules
from tests.support.sandbox import run_scan


def _key(doc):
    return sorted((f.id, f.rule_id, f.status.value, f.resource) for f in doc.findings)


def test_saved_inventory_re_evaluates_to_the_same_findings(aws, tmp_path) -> None:
    seed_demo_account(aws, pause=1.05)
    inv = tmp_path / "inv.json"
    live = run_scan(aws, save_to=inv)
    snapshots = load_inventory(inv)
    assert len(snapshots) == 1 and snapshots[0].api_calls == live.api_calls
    config = parse_config({})
    offline = scan_inventory(config, select_rules(config), inv)
    assert _key(offline) == _key(live)
    assert offline.run.mode == "inventory"


def test_cli_scan_inventory_offline(aws, tmp_path, capsys) -> None:
    seed_demo_account(aws)
    inv = tmp_path / "inv.json"
    run_scan(aws, save_to=inv)
    rc = main(
        ["scan", "--inventory", str(inv), "--out", str(tmp_path / "o"), "--rules", "registry-policy-allows-omics"]
    )
    assert rc == 1
    doc = json.loads((tmp_path / "o" / "findings.json").read_text())
    assert {f["rule_id"] for f in doc["findings"]} == {"registry-policy-allows-omics"}


def test_severity_threshold_controls_exit_code(aws) -> None:
    seed_demo_account(aws)
    doc = run_scan(aws, rules=["ptc-rule-unchanged-during-run"])  # medium severity FAIL
    assert exit_code(doc, Severity.LOW) == 1
    assert exit_code(doc, Severity.MEDIUM) == 1
    assert exit_code(doc, Severity.HIGH) == 0


CUSTOM = {
    "custom_rules": [
        {
            "id": "org-ptc-lifecycle",
            "title": "Every pull-through cache repository has a lifecycle policy",
            "severity": "low",
            "facets": ["repositories", "lifecycle_policies", "ptc_rules"],
            "resources": "repositories[?ptc_prefix]",
            "resource_name": "arn",
            "condition": "lifecycle_policy != null",
            "message": "{resource} has no lifecycle policy",
        }
    ]
}


def test_custom_jmespath_rule(aws) -> None:
    seed_demo_account(aws)
    ecr = aws.client("ecr")
    ecr.put_lifecycle_policy(
        repositoryName="docker-hub/library/ubuntu",
        lifecyclePolicyText=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "selection": {
                            "tagStatus": "untagged",
                            "countType": "sinceImagePushed",
                            "countUnit": "days",
                            "countNumber": 14,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
    )
    doc = run_scan(aws, rules=["org-ptc-lifecycle"], config=CUSTOM)
    found = {f.resource.rsplit("/", 2)[-2] + "/" + f.resource.rsplit("/", 1)[-1]: f.status for f in doc.findings}
    # samtools' cache repository has a lifecycle policy in the demo (lifecycle-keeps-used-images' PASS)
    assert found == {
        "library/ubuntu": Status.PASS,
        "biocontainers/arm-tool": Status.FAIL,
        "biocontainers/samtools": Status.PASS,
    }
    assert all(f.rule_id == "org-ptc-lifecycle" and f.severity == Severity.LOW for f in doc.findings)
    assert doc.api_calls.get("ecr:GetLifecyclePolicy") == 4  # every repository's, the team's own included


def test_custom_rule_errors_when_its_data_cannot_be_read(aws) -> None:
    seed_demo_account(aws)

    def deny(**kwargs):
        from botocore.awsrequest import AWSResponse

        body = json.dumps({"__type": "AccessDeniedException", "message": "denied"}).encode()

        class Raw:
            def stream(self, **_):
                yield body

        return AWSResponse("https://x", 400, {"x-amzn-requestid": "1"}, Raw())

    aws.events.register_first("before-send.ecr.GetLifecyclePolicy", deny)
    doc = run_scan(aws, rules=["org-ptc-lifecycle"], config=CUSTOM)
    assert doc.findings and all(f.status == Status.ERROR for f in doc.findings)
    assert doc.findings[0].evidence["api_errors"][0]["code"] == "AccessDeniedException"


def test_rules_command_lists_everything(capsys) -> None:
    assert main(["rules", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["id"] for row in rows] == list(load_builtin_rules())
    assert {row["group"] for row in rows} == {"access", "hygiene"}
    for row in rows:
        assert set(row) >= {"id", "severity", "title", "fixable", "permissions"}
        assert row["permissions"]


def test_rules_command_includes_custom_rules(tmp_path, capsys) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(CUSTOM))
    assert main(["rules", "--config", str(cfg)]) == 0
    assert "org-ptc-lifecycle" in capsys.readouterr().out


def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "auditor", "rules"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "ptc-rule-coverage" in proc.stdout


def test_scan_against_the_sandbox_server(tmp_path, monkeypatch) -> None:
    """The CLI's live path over real HTTP: seed the sandbox server, then `scan --endpoint-url` from another process."""
    from auditor.sandbox.server import start_server

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    for key, value in creds.items():
        monkeypatch.setenv(key, value)
    with start_server() as server:
        seeder = boto3.Session(region_name="us-east-1")
        make_client = seeder.client
        monkeypatch.setattr(seeder, "client", lambda service, **kw: make_client(service, endpoint_url=server.url, **kw))
        seed_demo_account(seeder)
        out = tmp_path / "out"
        # The child process gets only what a user would set: credentials and the endpoint.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OMICS_AUDIT"))} | creds
        # The demo's configuration (the opt-in vulnerability rule on), as a user's config file.
        config = tmp_path / "omics-ecr-audit.json"
        config.write_text(json.dumps(DEMO_CONFIG), encoding="utf-8")
        command = ["scan", "--endpoint-url", server.url, "--out", str(out), "--quiet", "--config", str(config)]
        proc = subprocess.run(
            [sys.executable, "-m", "auditor", *command],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert proc.returncode == 1, proc.stderr
        doc = json.loads((out / "findings.json").read_text())
        # no ERROR; NOT_APPLICABLE where a hygiene rule has nothing to judge (a template with no KMS or tags)
        assert {f["status"] for f in doc["findings"]} == {"PASS", "FAIL", "NOT_APPLICABLE"}, proc.stderr
        failing_rules = {f["rule_id"] for f in doc["findings"] if f["status"] == "FAIL"}
        assert failing_rules == {r.meta.id for r in select_rules(parse_config(DEMO_CONFIG))}


def test_summary_into_a_closed_pipe_keeps_exit_code_and_findings(tmp_path) -> None:
    """`omics-ecr-audit demo | head -1`: no traceback, findings written, exit code unchanged."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", "demo", "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away, as head does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in err
    assert (tmp_path / "findings.json").exists()


def test_region_without_healthomics_audits_ecr_and_makes_no_omics_calls(aws) -> None:
    region = "ap-south-1"  # ECR yes, HealthOmics no (botocore endpoint data)
    ecr = aws.client("ecr", region_name=region)
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    session = boto3.Session(region_name=region)
    doc = run_scan(session)
    assert not [c for c in doc.api_calls if c.startswith("omics:")]
    assert not [f for f in doc.findings if f.status == Status.ERROR], [f.message for f in doc.findings]
    assert any(f.rule_id == "registry-policy-allows-omics" and f.status == Status.FAIL for f in doc.findings)


def test_unknown_region_is_a_usage_error(tmp_path, capsys) -> None:
    assert main(["scan", "--regions", "us-east-1,mars-north-1", "--out", str(tmp_path)]) == 2
    assert "mars-north-1" in capsys.readouterr().err


def test_rule_groups_select_what_runs(tmp_path) -> None:
    """`--group` picks the rules of a group (access: a FAIL breaks runs; hygiene: recommended practices)."""
    from auditor.engine import RULE_GROUPS
    from auditor.errors import UsageError

    cfg = parse_config({})
    every = select_rules(cfg)
    access, hygiene = select_rules(cfg, groups=["access"]), select_rules(cfg, groups=["hygiene"])
    assert access and hygiene and set(RULE_GROUPS) == {"access", "hygiene"}
    assert {r.meta.id for r in access} | {r.meta.id for r in hygiene} == {r.meta.id for r in every}
    assert {r.meta.group for r in access} == {"access"} and {r.meta.group for r in hygiene} == {"hygiene"}
    assert "repository-policy-grants-omics" in {r.meta.id for r in access}
    assert "ecr-scanning-on" in {r.meta.id for r in hygiene}
    with pytest.raises(UsageError, match="unknown rule group"):
        select_rules(cfg, groups=["security"])
    # as a user types it: a bad group is one line and exit 2, before any AWS call
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", "scan", "--group", "security", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 2 and "unknown rule group(s): security" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
