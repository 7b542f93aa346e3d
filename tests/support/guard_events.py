"""The real-time guard's events in the sandbox: CloudTrail records as EventBridge delivers them, and a call counter.

* :func:`recorded_event`: the sandbox's CloudTrail record of the newest call of one name (LookupEvents, as the
  sandbox's ``auditor/sandbox/cloudtrail.py`` writes it) wrapped in the EventBridge envelope of an
  "AWS API Call via CloudTrail" event (``detail`` is the record: EventBridge User Guide, "AWS service events
  delivered via AWS CloudTrail");
* :func:`sample`: an event of ``tests/data/events/`` (documented shapes, see the README there), placed in an
  account and region;
* :class:`Calls` / :func:`counting`: every AWS API call the code makes inside the block, as IAM actions, per kind
  of credentials (the collector's audit role, the fix role, the function's own), so a test can assert the exact
  calls one event cost.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest

import auditor.collect
import auditor.fix
from auditor.permissions import iam_action

EVENTS = Path(__file__).resolve().parents[1] / "data" / "events"
DETAIL_TYPE = "AWS API Call via CloudTrail"
SOURCES = {"ecr.amazonaws.com": "aws.ecr", "omics.amazonaws.com": "aws.omics", "iam.amazonaws.com": "aws.iam"}


def envelope(record: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """The EventBridge event that carries one CloudTrail record."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCES[record["eventSource"]],
        "account": record["recipientAccountId"],
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record,
    }


def recorded_event(session: boto3.Session, event_name: str, region: str = "us-east-1") -> dict[str, Any]:
    """The newest recorded call of ``event_name`` in the session's account and ``region``, as EventBridge sends it."""
    client = session.client("cloudtrail", region_name=region)
    found = client.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": event_name}])
    events = found["Events"]
    assert events, f"no {event_name} recorded in {region}"
    return envelope(json.loads(events[0]["CloudTrailEvent"]))


def sample(name: str, *, account: str, region: str, **params: Any) -> dict[str, Any]:
    """``tests/data/events/<name>.json`` in ``account`` and ``region``; ``params`` replace request parameters."""
    event = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    text = json.dumps(event).replace("123456789012", account)
    event = json.loads(text)
    event["region"] = region
    detail = event["detail"]
    detail["awsRegion"] = region
    if params:
        detail["requestParameters"] = {**(detail.get("requestParameters") or {}), **params}
    return event


class Calls:
    """IAM actions called while counting, per credentials: "scan" (the collector's clients, the member audit
    role), "fix" (``fix.Clients``: the member fix role) and "hub" (every other client: the function's own)."""

    def __init__(self) -> None:
        self.by_kind: dict[str, Counter[str]] = {"scan": Counter(), "fix": Counter(), "hub": Counter()}
        self._kinds: dict[int, str] = {}
        self._clients: list[Any] = []
        self._lock = threading.Lock()
        self.active = True  # counting stops when the ``counting`` block ends

    def tag(self, client: Any, kind: str) -> Any:
        with self._lock:
            self._kinds[id(client)] = kind
        return client

    def watch(self, client: Any) -> Any:
        self._clients.append(client)  # keeps ids unique while counting

        def hook(model: Any, **_: Any) -> None:
            if not self.active:
                return
            with self._lock:
                self.by_kind[self._kinds.get(id(client), "hub")][iam_action(model.service_model, model.name)] += 1

        client.meta.events.register("before-call", hook)
        return client

    def of(self, kind: str) -> dict[str, int]:
        return dict(sorted(self.by_kind[kind].items()))

    def total(self) -> int:
        return sum(sum(c.values()) for c in self.by_kind.values())

    def reset(self) -> None:
        with self._lock:
            for counter in self.by_kind.values():
                counter.clear()


@contextmanager
def counting(mp: pytest.MonkeyPatch) -> Iterator[Calls]:
    calls = Calls()
    real_create = botocore.session.Session.create_client
    real_collect = auditor.collect.make_client
    real_fix = auditor.fix.make_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        return calls.watch(real_create(self, *args, **kwargs))

    mp.setattr(botocore.session.Session, "create_client", create_client)
    mp.setattr(auditor.collect, "make_client", lambda *a, **k: calls.tag(real_collect(*a, **k), "scan"))
    mp.setattr(auditor.fix, "make_client", lambda *a, **k: calls.tag(real_fix(*a, **k), "fix"))
    try:
        yield calls
    finally:
        calls.active = False
