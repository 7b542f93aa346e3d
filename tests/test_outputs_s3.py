"""``--out s3://bucket/prefix`` and ``--previous s3://...`` as a user runs them, against the sandbox's S3.

Every output lands under the prefix (findings.json, each report, the plan), the status lines name the S3 URIs,
no local folder named ``s3:`` appears, a missing bucket is one line and exit 2, and ``report`` reads a findings
document from S3 and writes its reports there.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from auditor.outputs import OutputFolder, split_s3
from tests.support.journeys import REGION, SandboxProcess, journey_env, run_cli

BUCKET = "audit-reports"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    sandbox = SandboxProcess(tmp_path_factory.mktemp("sandbox"))
    try:
        sandbox.wait_ready()
        s3(sandbox).create_bucket(Bucket=BUCKET)
        yield sandbox
    finally:
        sandbox.stop(signal.SIGTERM)


def s3(server: SandboxProcess) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def keys(server: SandboxProcess, prefix: str) -> list[str]:
    listed = s3(server).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def read(server: SandboxProcess, key: str) -> bytes:
    return bytes(s3(server).get_object(Bucket=BUCKET, Key=key)["Body"].read())


def cli(server: SandboxProcess, tmp: Path, *args: str) -> Any:
    env = journey_env(tmp, XDG_CONFIG_HOME=str(tmp / "xdg"))
    return run_cli([args[0], "--endpoint-url", server.url, *args[1:]], cwd=tmp, env=env)


def test_scan_writes_every_output_to_s3_and_reads_the_previous_from_there(
    server: SandboxProcess, tmp_path: Path
) -> None:
    server.clean_demo()
    first = cli(server, tmp_path, "scan", "--out", f"s3://{BUCKET}/nightly/1", "--output", "html,csv,sarif")
    assert first.returncode == 1, first.describe()
    assert keys(server, "nightly/1/") == [
        "nightly/1/findings.json",
        "nightly/1/report.csv",
        "nightly/1/report.html",
        "nightly/1/report.sarif",
    ]
    assert f"findings written to s3://{BUCKET}/nightly/1/findings.json" in first.stdout, first.describe()
    assert f"report written to s3://{BUCKET}/nightly/1/report.csv" in first.stdout
    assert not (tmp_path / "s3:").exists() and not list(tmp_path.glob("s3*"))
    doc = json.loads(read(server, "nightly/1/findings.json"))
    assert doc["findings"] and doc["run"]["mode"] == "live"

    second = cli(
        server,
        tmp_path,
        "scan",
        "--out",
        f"s3://{BUCKET}/nightly/2/",
        "--output",
        "html",
        "--previous",
        f"s3://{BUCKET}/nightly/1/findings.json",
        "--quiet",
    )
    assert second.returncode == 1, second.describe()
    assert keys(server, "nightly/2/") == ["nightly/2/findings.json", "nightly/2/report.html"]

    # report: findings from S3, reports to S3 (beside them by default), status lines on stdout
    report = cli(server, tmp_path, "report", f"s3://{BUCKET}/nightly/1/findings.json", "--format", "junit,csv")
    assert report.returncode == 0, report.describe()
    assert report.stdout.splitlines() == [
        f"report written to s3://{BUCKET}/nightly/1/report.xml",
        f"report written to s3://{BUCKET}/nightly/1/report.csv",
    ]
    one = cli(server, tmp_path, "report", f"s3://{BUCKET}/nightly/1/findings.json", "--out", f"s3://{BUCKET}/x.html")
    assert one.returncode == 0 and b"<html" in read(server, "x.html").lower(), one.describe()


def test_fix_writes_its_plan_to_s3(server: SandboxProcess, tmp_path: Path) -> None:
    server.clean_demo()
    result = cli(server, tmp_path, "fix", "--out", f"s3://{BUCKET}/fix")
    assert result.returncode == 1, result.describe()  # changes pending
    assert f"plan written to s3://{BUCKET}/fix/plan.json" in result.stdout, result.describe()
    assert "fix/plan.json" in keys(server, "fix/")
    assert json.loads(read(server, "fix/plan.json"))["changes"]


def test_a_missing_bucket_or_object_is_one_line(server: SandboxProcess, tmp_path: Path) -> None:
    inventory = tmp_path / "inv.json"
    inventory.write_text(json.dumps({"schema_version": 1, "snapshots": []}))
    for args, expected in (
        (["scan", "--inventory", "inv.json", "--out", "s3://no-such-bucket/x"], "cannot write s3://no-such-bucket/x/"),
        (["report", f"s3://{BUCKET}/absent/findings.json"], f"cannot read s3://{BUCKET}/absent/findings.json"),
    ):
        result = cli(server, tmp_path, *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.describe()
        assert result.stderr.count("\n") == 1 and expected in result.stderr, result.describe()


def test_a_bad_findings_object_is_named_by_its_uri(server: SandboxProcess, tmp_path: Path) -> None:
    s3(server).put_object(Bucket=BUCKET, Key="bad/findings.json", Body=b"{not json")
    result = cli(server, tmp_path, "report", f"s3://{BUCKET}/bad/findings.json")
    assert result.returncode == 2, result.describe()
    assert f"s3://{BUCKET}/bad/findings.json" in result.stderr and "/tmp" not in result.stderr, result.describe()


def test_locations() -> None:
    assert split_s3("s3://b/a/b/") == ("b", "a/b")
    assert split_s3("s3://b") == ("b", "")
    folder = OutputFolder("s3://b/p")
    try:
        assert folder.shown(folder.path / "findings.json") == "s3://b/p/findings.json"
        assert OutputFolder("out").shown(Path("out") / "findings.json") == "out/findings.json"
    finally:
        folder.discard()
    from auditor.errors import UsageError

    with pytest.raises(UsageError):
        split_s3("s3:///key")
