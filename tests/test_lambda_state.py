"""What the nightly Lambda keeps in its bucket between runs (auditor/lambda_state.py), end to end on the sandbox.

The digest cache travels as one bundle: a second run in a fresh execution environment (an empty /tmp)
restores it and needs no BatchGetImage for the images it already knows, with the same findings. A damaged
bundle is ignored with a warning and never written outside the cache folder. With
INCREMENTAL_FULL_AFTER_DAYS the function keeps each cell's inventory and the next run is incremental.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from auditor import lambda_state
from auditor.findings import FindingsDocument, Status
from auditor.lambda_handler import handler
from auditor.sandbox.seed import seed_demo_account
from tests.support import lambda_hub
from tests.support.lambda_hub import BUCKET, Hub
from tests.support.sandbox import ACCOUNT, REGION

_hub_fixture = lambda_hub.hub_fixture
UBUNTU = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/docker-hub/library/ubuntu"


@pytest.fixture
def fresh_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The function's /tmp: emptied between runs to stand for a new execution environment."""
    folder = tmp_path / "lambda-tmp" / "digests"
    monkeypatch.setattr(lambda_state, "digest_folder", lambda: folder)
    return folder


def _run(hub: Hub) -> FindingsDocument:
    result = handler({"action": "run"})
    assert result["ok"] is True, result
    return hub.document(f"runs/{result['run_id']}/findings.json")


def _statuses(doc: FindingsDocument) -> dict[tuple[str, str], Status]:
    return {(f.rule_id, f.resource): f.status for f in doc.findings}


def _bundle(hub: Hub) -> dict[str, str]:
    raw = hub.session.client("s3").get_object(Bucket=BUCKET, Key=lambda_state.DIGEST_BUNDLE_KEY)["Body"].read()
    doc = json.loads(gzip.decompress(raw))
    assert doc["schema"] == 1
    return dict(doc["entries"])


def _empty(folder: Path) -> None:
    for file in sorted(folder.rglob("*"), reverse=True):
        file.unlink() if file.is_file() else file.rmdir()


def test_the_digest_cache_survives_a_new_execution_environment(hub: Hub, fresh_tmp: Path) -> None:
    seed_demo_account(hub.session, pause=0)
    first = _run(hub)
    entries = _bundle(hub)
    assert entries and all(lambda_state._ENTRY_PATH.fullmatch(p) for p in entries)
    _empty(fresh_tmp)
    second = _run(hub)
    assert _statuses(second) == _statuses(first)
    # Every image of the first run is known: only those named by digest in repositories the scan does not
    # list still need BatchGetImage (it says whether they exist), and no config blob is downloaded again.
    assert second.api_calls.get("ecr:BatchGetImage", 0) < first.api_calls["ecr:BatchGetImage"]
    assert second.api_calls.get("ecr:GetDownloadUrlForLayer", 0) == 0
    assert fresh_tmp.is_dir() and any(fresh_tmp.rglob("*.json"))


def test_the_digest_cache_can_be_turned_off(hub: Hub, fresh_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_CACHE", "false")
    seed_demo_account(hub.session, pause=0)
    _run(hub)
    assert lambda_state.DIGEST_BUNDLE_KEY not in hub.keys("digest-cache/")
    assert not fresh_tmp.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"not gzip at all",
        gzip.compress(b"{not json"),
        gzip.compress(json.dumps({"schema": 2, "entries": {}}).encode()),
        gzip.compress(json.dumps({"schema": 1, "entries": {"../../escape.json": "{}", "m/zz/x.json": "{}"}}).encode()),
    ],
    ids=["not-gzip", "not-json", "other-schema", "bad-paths"],
)
def test_a_damaged_bundle_is_ignored_and_replaced(hub: Hub, fresh_tmp: Path, body: bytes, capsys) -> None:
    seed_demo_account(hub.session, pause=0)
    hub.session.client("s3").put_object(Bucket=BUCKET, Key=lambda_state.DIGEST_BUNDLE_KEY, Body=body)
    doc = _run(hub)
    assert not [f for f in doc.findings if f.status == Status.ERROR]
    assert not (fresh_tmp.parent.parent / "escape.json").exists() and not list(fresh_tmp.parent.rglob("escape.json"))
    assert _bundle(hub)  # written anew from this run's entries
    assert "digest_bundle" in capsys.readouterr().err


def test_nightly_incremental_catches_a_change_and_keeps_each_cells_inventory(
    hub: Hub, fresh_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INCREMENTAL_FULL_AFTER_DAYS", "7")
    seed_demo_account(hub.session, pause=0)
    first = _run(hub)
    key = lambda_state.inventory_key(ACCOUNT, REGION)
    assert key in hub.keys("inventory/")
    assert first.run.incremental is not None and first.run.incremental[0].full  # nothing to start from
    hub.session.client("ecr").delete_repository_policy(repositoryName="docker-hub/library/ubuntu")
    second = _run(hub)
    assert second.run.incremental is not None
    cell = second.run.incremental[0]
    assert not cell.full and cell.events["DeleteRepositoryPolicy"] == 1
    assert cell.carried["workflow"] == 2
    assert _statuses(second)[("repository-policy-grants-omics", UBUNTU)] == Status.FAIL
    assert second.api_calls.get("omics:GetWorkflow", 0) == 0

    # A damaged inventory costs a full read of its cell, with a warning, never the run.
    hub.session.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b'{"account_id": 1}')
    third = _run(hub)
    assert third.run.incremental is not None and third.run.incremental[0].full
    assert _statuses(third) == _statuses(second)
