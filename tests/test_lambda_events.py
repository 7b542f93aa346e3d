"""Every Lambda event is validated before any AWS call (Hardening, item 8).

A malformed event — a trailing newline in an id, a 10 MB run_id, a wrong type, an unknown action, an
extra key — gets ``{"ok": false, "error": ...}``: one line, at most ``ERROR_LIMIT`` characters, never
the hostile value itself, and ZERO AWS calls (every botocore API call is counted). A ``cells_key``
object that is not JSON, not a cell list, or too large gets the same answer after the one S3 read,
and nothing is scanned or written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.client
import pytest

import auditor.lambda_handler as lh
from auditor.lambda_handler import ERROR_LIMIT, handler, parse_event
from tests.support.sandbox import REGION

BUCKET = "omics-ecr-audit-runs"
ACCOUNT = "123456789012"
HUGE = "r" * (10 * 1024 * 1024)  # 10 MB
NL = "\n"


class Calls(list[tuple[str, str]]):
    """(service, operation) of every AWS API call made while the fixture is active."""


@pytest.fixture(name="calls")
def calls_fixture(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    for key, value in {
        "AUDIT_BUCKET": BUCKET,
        "AUDIT_CONFIG": "{}",
        "AUDIT_REGIONS": REGION,
        "REPORT_FORMATS": "html",
        "LOG_LEVEL": "warning",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AUDIT_CONFIG_S3", "FIX_ENABLED", "SNS_TOPIC_ARN", "MEMBER_ROLE_NAME", "EXTERNAL_ID"):
        monkeypatch.delenv(key, raising=False)
    calls = Calls()
    real = botocore.client.BaseClient._make_api_call

    def counted(self: Any, operation_name: str, api_params: Any) -> Any:
        calls.append((self.meta.service_model.service_name, operation_name))
        return real(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    yield calls


def _put(aws: boto3.Session, key: str, body: bytes) -> None:
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)


def _assert_refused(result: dict[str, Any], *, hostile: str | None = None) -> None:
    assert result["ok"] is False, result
    error = result["error"]
    assert isinstance(error, str) and error
    assert len(error) <= ERROR_LIMIT, len(error)
    assert "\n" not in error and "\r" not in error
    assert "Traceback" not in error
    assert len(json.dumps(result)) < 1000  # the whole answer is small, whatever came in
    if hostile is not None:
        assert hostile not in error


CELL = {"action": "scan_cell", "run_id": "r1", "account": ACCOUNT, "region": REGION}
MALFORMED: list[tuple[str, Any, str]] = [
    # trailing newlines: Python's "$" would have let these through
    ("run_id newline", {**CELL, "run_id": "r1\n"}, "run_id"),
    ("account newline", {**CELL, "account": ACCOUNT + NL}, "account"),
    ("region newline", {**CELL, "region": REGION + NL}, "region"),
    ("plan run_id newline", {"action": "plan", "run_id": "r1\n"}, "run_id"),
    ("merge run_id newline", {"action": "merge", "run_id": "r1\n", "cells_key": "runs/r1/cells.json"}, "run_id"),
    (
        "cell account newline",
        {"action": "merge", "run_id": "r1", "cells": [{"account": ACCOUNT + NL, "region": REGION}]},
        "account",
    ),
    # Unicode digits are \d but not an account id
    ("arabic-indic digits", {**CELL, "account": "\u0661\u0662\u0663\u0664\u0665\u0666" * 2}, "account"),
    ("fullwidth digits", {**CELL, "account": "".join(chr(0xFF10 + int(d)) for d in ACCOUNT)}, "account"),
    # sizes
    ("10 MB run_id", {**CELL, "run_id": HUGE}, "run_id"),
    ("10 MB plan run_id", {"action": "plan", "run_id": HUGE}, "run_id"),
    ("10 MB action", {"action": HUGE}, "unknown action"),
    ("10 MB extra key", {**CELL, HUGE: 1}, "Extra inputs"),
    ("10 MB cells_key", {"action": "merge", "run_id": "r1", "cells_key": "runs/r1/" + HUGE}, "cells_key"),
    ("10 MB execution", {"action": "plan", "execution": HUGE}, "execution"),
    (
        "too many cells",
        {"action": "merge", "run_id": "r1", "cells": [{"account": ACCOUNT, "region": REGION}] * 10_001},
        "cells",
    ),
    ("huge detail", {"source": "aws.events", "detail": {"x": HUGE}}, "detail"),
    ("too many resources", {"source": "aws.events", "resources": ["arn:aws:events:::x"] * 21}, "resources"),
    # wrong types (strict: no coercion)
    ("run_id int", {**CELL, "run_id": 7}, "run_id"),
    ("account int", {**CELL, "account": 123456789012}, "account"),
    ("region list", {**CELL, "region": [REGION]}, "region"),
    ("cells dict", {"action": "merge", "run_id": "r1", "cells": {"account": ACCOUNT}}, "cells"),
    ("cell string", {"action": "merge", "run_id": "r1", "cells": [f"{ACCOUNT}/{REGION}"]}, "cells"),
    ("action int", {"action": 7}, "action must be a string"),
    ("action list", {"action": ["run"]}, "action must be a string"),
    ("detail list", {"source": "aws.events", "detail": []}, "detail"),
    ("null run_id", {**CELL, "run_id": None}, "run_id"),
    # unknown modes, extra keys
    ("unknown action", {"action": "launch"}, "unknown action 'launch'"),
    ("action with newline", {"action": "run\n"}, "unknown action"),
    ("extra key scan_cell", {**CELL, "role": "arn:aws:iam::123456789012:role/Admin"}, "role: Extra inputs"),
    ("extra key merge", {"action": "merge", "run_id": "r1", "cell_key": "runs/r1/cells.json"}, "cell_key"),
    ("extra key run", {"action": "run", "fix": True}, "fix: Extra inputs"),
    ("extra key plan", {"action": "plan", "regions": ["us-east-1"]}, "regions"),
    ("scheduled with extra", {"source": "aws.events", "detail-type": "Scheduled Event", "x": 1}, "x: Extra inputs"),
    ("control char in source", {"source": "aws.events\n"}, "source"),
    # paths
    (
        "cells_key traversal",
        {"action": "merge", "run_id": "r1", "cells_key": "runs/r1/../../latest/findings.json"},
        "cells_key",
    ),
    ("cells_key other run", {"action": "merge", "run_id": "r1", "cells_key": "runs/r2/cells.json"}, "cells_key"),
    (
        "cells and cells_key",
        {
            "action": "merge",
            "run_id": "r1",
            "cells_key": "runs/r1/cells.json",
            "cells": [{"account": ACCOUNT, "region": REGION}],
        },
        "not both",
    ),
    ("execution with slash", {"action": "plan", "execution": "a/b"}, "execution"),
    # not an object at all
    ("list event", ["run"], "must be a JSON object"),
    ("string event", "run", "must be a JSON object"),
    ("null event", None, "must be a JSON object"),
]


@pytest.mark.parametrize(("event", "needle"), [(e, n) for _, e, n in MALFORMED], ids=[i for i, _, _ in MALFORMED])
def test_a_malformed_event_is_refused_before_any_aws_call(calls: Calls, event: Any, needle: str) -> None:
    result = handler(event)
    _assert_refused(result, hostile=HUGE[:100])
    assert needle in result["error"], result["error"]
    assert calls == [], calls  # not even sts:GetCallerIdentity or an S3 read


def test_the_action_name_is_echoed_only_when_known(calls: Calls) -> None:
    assert handler({**CELL, "run_id": "r1\n"})["action"] == "scan_cell"
    assert handler({"action": HUGE})["action"] == "?"
    assert handler({"action": "launch"})["action"] == "?"
    assert calls == []


def test_errors_never_quote_the_hostile_value(calls: Calls) -> None:
    secretish = "AKIA" + "X" * 400 + "\n$(reboot)"
    for event in (
        {**CELL, "run_id": secretish},
        {**CELL, "account": secretish},
        {**CELL, secretish: "x"},
        {"action": secretish},
        {"action": "merge", "run_id": "r1", "cells_key": secretish},
    ):
        result = handler(event)
        _assert_refused(result, hostile="X" * 50)
        assert "$(reboot)" not in result["error"] and "reboot" not in result["error"]
    assert calls == []


def test_the_error_is_logged_as_one_line(calls: Calls, capsys: pytest.CaptureFixture[str]) -> None:
    handler({**CELL, "run_id": HUGE})
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [ln for ln in err.splitlines() if '"event_rejected"' in ln]
    assert len(line) < 1000 and HUGE[:100] not in line


# --- what a good event looks like: the models accept exactly what the state machine sends -----------------


@pytest.mark.parametrize(
    "event",
    [
        {"action": "run"},
        {},  # a bare invocation is the nightly run
        {
            "version": "0",
            "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": "2026-11-21T02:00:00Z",
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/nightly"],
            "detail": {},
        },
        {"action": "plan"},
        {"action": "plan", "execution": "5b7a0b3e-1b7e-4c7e-9c1e-0d5f2a8e6c11"},
        {"action": "plan", "run_id": "20261121T020000Z-1a2b3c4d"},
        {"action": "scan_cell", "run_id": "20261121T020000Z-1a2b3c4d", "account": ACCOUNT, "region": "us-gov-west-1"},
        {"action": "merge", "run_id": "r1", "cells_key": "runs/r1/cells.json"},
        {"action": "merge", "run_id": "r1"},
        {"action": "merge", "run_id": "r1", "cells": [{"account": ACCOUNT, "region": "eu-central-2"}]},
    ],
)
def test_well_formed_events_parse(event: dict[str, Any]) -> None:
    name, registered, request = parse_event(event)
    assert name == event.get("action", "run")
    assert isinstance(request, registered.model)


def test_the_state_machine_sends_only_what_the_models_accept() -> None:
    """Plan's and Merge's Parameters and the Map's ItemSelector, filled in as Step Functions would."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "deploy" / "generate.py"
    spec = importlib.util.spec_from_file_location("deploy_generate_events", path)
    assert spec and spec.loader
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    states = generate.state_machine_definition()["States"]
    values = {
        "$$.Execution.Name": "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9",
        "$.run_id": "20261121T020000Z-1a2b3c4d",
        "$.cells_key": "runs/20261121T020000Z-1a2b3c4d/cells.json",
        "$$.Map.Item.Value.account": ACCOUNT,
        "$$.Map.Item.Value.region": REGION,
    }

    def fill(params: dict[str, Any]) -> dict[str, Any]:
        return {k.removesuffix(".$"): values[v] if k.endswith(".$") else v for k, v in params.items()}

    for params in (
        states["Plan"]["Parameters"],
        states["ScanCells"]["ItemSelector"],
        states["Merge"]["Parameters"],
    ):
        parse_event(fill(params))


# --- the cells_key object: read with a bound, validated like an event ---------------------------------------

KEY = "runs/r1/cells.json"
MERGE = {"action": "merge", "run_id": "r1", "cells_key": KEY}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"not json at all", "is not JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'{"account": "123456789012", "region": "us-east-1"}', "not a plan's cell list"),
        (b"[]", "not a plan's cell list"),
        (b'["123456789012/us-east-1"]', "not a plan's cell list"),
        (b'[{"account": "123456789012\\n", "region": "us-east-1"}]', "account"),
        (b'[{"account": "123456789012", "region": "us-east-1", "role": "Admin"}]', "Extra inputs"),
        (b'[{"account": 123456789012, "region": "us-east-1"}]', "account"),
        (b"[" * 100_000 + b"]" * 100_000, "is not JSON"),  # nesting deep enough to blow the parser's stack
    ],
    ids=["not-json", "not-utf8", "object", "empty", "strings", "newline", "extra", "int", "deep"],
)
def test_a_bad_cells_object_is_refused_after_one_read(
    aws: boto3.Session, calls: Calls, body: bytes, needle: str
) -> None:
    _put(aws, KEY, body)
    calls.clear()
    result = handler(MERGE)
    _assert_refused(result)
    assert needle in result["error"], result["error"]
    assert calls == [("s3", "GetObject")]  # nothing scanned, nothing written


def test_a_huge_cells_object_is_refused_without_reading_it(
    aws: boto3.Session, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lh, "CELLS_OBJECT_LIMIT", 1024)
    cells = [{"account": ACCOUNT, "region": REGION}] * 100  # valid, but ~4 KB
    _put(aws, KEY, json.dumps(cells).encode())
    calls.clear()
    result = handler(MERGE)
    _assert_refused(result)
    assert "larger than 1024 bytes" in result["error"]
    assert calls == [("s3", "GetObject")]


def test_the_default_cells_object_limit_holds_a_large_organisation() -> None:
    one = len(json.dumps([{"account": ACCOUNT, "region": "ap-southeast-4"}])) - 2
    assert lh.MAX_CELLS * (one + 2) <= lh.CELLS_OBJECT_LIMIT


def test_a_missing_cells_object_is_a_clear_error(calls: Calls) -> None:
    result = handler({"action": "merge", "run_id": "never-planned"})
    _assert_refused(result)
    assert "was run never-planned planned?" in result["error"]
    assert calls == [("s3", "GetObject")]
