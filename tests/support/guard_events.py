"""The real-time guard's events in the sandbox: CloudTrail records as EventBridge delivers them.

* :func:`recorded_event`: the sandbox's CloudTrail record of the newest call of one name (LookupEvents, as the
  sandbox's ``auditor/sandbox/cloudtrail.py`` writes it) wrapped in the EventBridge envelope of an
  "AWS API Call via CloudTrail" event (``detail`` is the record: EventBridge User Guide, "AWS service events
  delivered via AWS CloudTrail");
* :func:`sample`: an event of ``tests/data/events/`` (documented shapes, see the README there), placed in an
  account and region.

The call counter the guard tests assert with (:class:`Calls`, :func:`counting`) is in ``tests/support/call_kinds.py``,
shared with the permissions-coverage test.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3

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
