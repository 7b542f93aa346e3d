"""A logging trail (or event data store) records the region's ECR and HealthOmics management events (seed 002).

CloudTrail's event history keeps management events for 90 days in one region and nothing longer
(aws-semantics.md §6); only a trail or a CloudTrail Lake event data store keeps them beyond that. A trail counts
here when it applies to the region (multi-region, or created in it; organisation trails included, as
DescribeTrails lists them with shadow trails), is logging (GetTrailStatus), and its selectors record *write*
management events from ecr.amazonaws.com and omics.amazonaws.com: basic selectors with management events and
ReadWriteType All or WriteOnly, or an advanced selector that matches such an event (aws-semantics.md §11.2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.engine import Result, RuleContext, error_result, rule
from auditor.findings import Severity, Status
from auditor.models import CallError, Snapshot, Trail

RULE_ID = "cloudtrail-records-changes"
SOURCES = ("ecr.amazonaws.com", "omics.amazonaws.com")
WRITE = ("All", "WriteOnly")
EVENT_HISTORY_DAYS = 90
# Fields of a management event the advanced-selector evaluation knows the value of (a write event of a source).
_POSITIVE = ("Equals", "StartsWith", "EndsWith")
_NEGATIVE = ("NotEquals", "NotStartsWith", "NotEndsWith")


def _matches(operator: str, value: str, operands: Sequence[str]) -> bool:
    if operator.endswith("Equals"):
        return value in operands
    if operator.endswith("StartsWith"):
        return any(value.startswith(o) for o in operands)
    return any(value.endswith(o) for o in operands)


def advanced_selector_records(selector: Mapping[str, Any], source: str) -> tuple[bool, str]:
    """Whether one advanced event selector records every write management event of ``source``, and if not why.

    Field selectors are ANDed; within one, the value must match one of the positive operators' values (if any)
    and none of the negative ones. A field other than eventCategory, readOnly and eventSource narrows the
    events in a way that cannot be decided for *every* change (an eventName list, a user), so it does not count.
    """
    event = {"eventCategory": "Management", "readOnly": "false", "eventSource": source}
    for fs in selector.get("FieldSelectors") or []:
        name = str(fs.get("Field", ""))
        if name not in event:
            return False, f"selector {selector.get('Name') or '(unnamed)'!r} narrows on {name}"
        value = event[name]
        positives = [(op, fs[op]) for op in _POSITIVE if fs.get(op)]
        if positives and not any(_matches(op, value, vals) for op, vals in positives):
            return False, f"selector {selector.get('Name') or '(unnamed)'!r}: {name} excludes {value}"
        if any(_matches(op, value, fs[op]) for op in _NEGATIVE if fs.get(op)):
            return False, f"selector {selector.get('Name') or '(unnamed)'!r}: {name} excludes {value}"
    return True, ""


def selectors_record(
    basic: Sequence[Mapping[str, Any]], advanced: Sequence[Mapping[str, Any]], source: str
) -> tuple[bool, str]:
    """Whether basic or advanced selectors record every write management event of ``source``, and if not why."""
    if advanced:
        reasons = []
        for selector in advanced:
            ok, why = advanced_selector_records(selector, source)
            if ok:
                return True, ""
            reasons.append(why)
        return False, "; ".join(reasons)
    for selector in basic:
        if (
            selector.get("IncludeManagementEvents", True)
            and selector.get("ReadWriteType", "All") in WRITE
            and source not in (selector.get("ExcludeManagementEventSources") or [])
        ):
            return True, ""
    return False, "no event selector records write management events" if basic else "no event selector"


def _sources_missing(
    basic: Sequence[Mapping[str, Any]], advanced: Sequence[Mapping[str, Any]], sources: Sequence[str] = SOURCES
) -> list[str]:
    out = []
    for source in sources:
        ok, why = selectors_record(basic, advanced, source)
        if not ok:
            out.append(f"{source}: {why}")
    return out


@dataclass
class Recording:
    """What records the region's ECR and HealthOmics management events, and what does not (with why)."""

    recorders: list[str] = field(default_factory=list)  # trail / event data store ARNs that do
    others: list[dict[str, Any]] = field(default_factory=list)  # those that do not, with the reason
    errors: list[CallError] = field(default_factory=list)  # what could not be read

    @property
    def records(self) -> bool | None:
        """True: something records them; False: nothing does; None: undecided (a read failed)."""
        if self.recorders:
            return True
        return None if self.errors else False


def trail_recording(snap: Snapshot, trails: list[Trail], sources: Sequence[str] = SOURCES) -> Recording:
    out = Recording()
    for trail in trails:
        if not trail.multi_region and trail.home_region not in (None, snap.region):
            out.others.append({"trail": trail.arn, "why": f"single-region trail of {trail.home_region}"})
            continue
        if trail.status.error is not None:
            out.errors.append(trail.status.error)
            continue
        assert trail.status.value is not None
        if not trail.status.value.is_logging:
            out.others.append({"trail": trail.arn, "why": "not logging"})
            continue
        if trail.selectors.error is not None:
            out.errors.append(trail.selectors.error)
            continue
        assert trail.selectors.value is not None
        missing = _sources_missing(
            trail.selectors.value.event_selectors, trail.selectors.value.advanced_event_selectors, sources
        )
        if missing:
            out.others.append({"trail": trail.arn, "why": "; ".join(missing)})
        else:
            out.recorders.append(trail.arn)
    return out


def recording(snap: Snapshot, *, event_data_stores: bool = True, sources: Sequence[str] = SOURCES) -> Recording:
    """Trails (and, unless told otherwise, event data stores) that record the region's management changes of
    every one of ``sources``."""
    out = Recording()
    if snap.trails.error is not None:
        out.errors.append(snap.trails.error)
    else:
        found = trail_recording(snap, snap.trails.value or [], sources)
        out.recorders += found.recorders
        out.others += found.others
        out.errors += found.errors
    if not event_data_stores:
        return out
    if snap.event_data_stores.error is not None:
        out.errors.append(snap.event_data_stores.error)
        return out
    for store in snap.event_data_stores.value or []:
        if store.error is not None:
            out.errors.append(store.error)
            continue
        if store.status != "ENABLED":
            out.others.append({"event_data_store": store.arn, "why": f"status {store.status}"})
            continue
        missing = _sources_missing([], store.advanced_event_selectors, sources)
        if missing or not store.advanced_event_selectors:
            why = "; ".join(missing) if store.advanced_event_selectors else "no advanced event selector"
            out.others.append({"event_data_store": store.arn, "why": why})
        else:
            out.recorders.append(store.arn)
    return out


@rule(
    id=RULE_ID,
    title="A logging trail records the region's ECR and HealthOmics management events",
    severity=Severity.MEDIUM,
    rationale=(
        "The HealthOmics container registry maps guide (seed 002, Security considerations) asks to enable CloudTrail "
        "logging for ECR and HealthOmics API calls. Event history keeps management events for 90 days only, in one "
        "region; without a trail (or event data store) that records write management events of ecr.amazonaws.com "
        "and omics.amazonaws.com, who changed a cache rule, a template or a policy is lost after 90 days, and the "
        "ptc-rule-unchanged-during-run rule cannot see further back."
    ),
    remediation=(
        "Create a multi-region trail that logs management events (ReadWriteType All or WriteOnly) and start it: "
        "`aws cloudtrail create-trail --name <name> --s3-bucket-name <bucket> --is-multi-region-trail` then "
        "`aws cloudtrail start-logging --name <name>`; or, for an existing trail, "
        "`aws cloudtrail put-event-selectors --trail-name <name> --event-selectors "
        '\'[{"ReadWriteType":"All","IncludeManagementEvents":true}]\'` and start logging. The bucket, its policy '
        "and retention are the account owner's decision; an organisation trail in the management account covers "
        "every member."
    ),
    references=[
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-create-and-update-a-trail.html",
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-management-events-with-cloudtrail.html",
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/view-cloudtrail-events.html",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/logging-using-cloudtrail.html",
    ],
    facets=["trails", "event_data_stores"],
    group="hygiene",
    fixable=False,
)
def check(snap: Snapshot, ctx: RuleContext) -> Iterable[Result]:
    # One finding per event source: a trail that records ECR's changes but not HealthOmics' is half the story.
    for source in SOURCES:
        yield _judge_source(snap, source)


def _judge_source(snap: Snapshot, source: str) -> Result:
    resource = f"cloudtrail/{source}"
    found = recording(snap, sources=(source,))
    evidence: dict[str, Any] = {"recorders": found.recorders, "not_recording": found.others, "source": source}
    if found.records:
        return Result(
            status=Status.PASS,
            resource=resource,
            evidence=evidence,
            message=f"{found.recorders[0]} records write management events of {source} in {snap.region}.",
        )
    if found.errors:
        result = error_result(found.errors[0], resource, "the trails or event data stores")
        result.evidence.update(evidence, errors=[e.model_dump(exclude_none=True) for e in found.errors])
        return result
    return Result(
        status=Status.FAIL,
        resource=resource,
        evidence=evidence,
        message=f"No logging trail or event data store records write management events of {source} in "
        f"{snap.region}"
        + (f" ({len(found.others)} seen, none qualifies)" if found.others else "")
        + f": its changes are kept only in event history, for {EVENT_HISTORY_DAYS} days.",
    )
