"""ECR lifecycle policies, evaluated as the ECR user guide documents them. Pure: no AWS call.

Sources (docs/aws-semantics.md §12; the judgement calls are in docs/judgement-calls.md):

* https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html ("Lifecycle policy
  evaluation rules"): all rules are evaluated at once and applied by priority, lowest number first; an image
  is expired by exactly one or zero rules; an image that matches the *tagging requirements* of a rule cannot
  be expired by a rule of lower priority, but that lower rule still *counts* it ("can still identify them as
  if they haven't been expired"); ``imageCountMoreThan`` sorts images youngest to oldest by push time and
  marks every image beyond the count; ``sinceImagePushed`` marks images pushed more than ``countNumber``
  days ago; ``sinceImagePulled`` uses the last recorded pull time, else the push time; a prefix or pattern
  list matches an image when *every* entry of the list matches *some* tag of the image; ``*`` is the only
  documented wildcard in a pattern.
* https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html: the properties
  (``rulePriority``, ``description``, ``selection.tagStatus`` tagged/untagged/any, ``tagPrefixList``,
  ``tagPatternList``, ``storageClass``, ``countType``, ``countUnit`` days, ``countNumber``, ``action.type``
  expire/transition).
* The examples page's "Example A" (lifecycle_policy_examples.html): rule 2 counts an image rule 1 already
  claimed, and skips expiring it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

TAG_STATUSES = ("tagged", "untagged", "any")
COUNT_TYPES = ("imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned")
ACTIONS = ("expire", "transition")


class LifecyclePolicyError(ValueError):
    """The text is not a lifecycle policy this evaluator can read."""


@dataclass(frozen=True)
class LifecycleImage:
    """One image of the repository: what a lifecycle rule selects on."""

    digest: str
    tags: tuple[str, ...] = ()
    pushed_at: datetime | None = None  # None: not known (an image not cached yet): treated as pushed ``now``
    last_pulled_at: datetime | None = None


@dataclass(frozen=True)
class LifecycleRule:
    priority: int
    description: str | None
    tag_status: str
    tag_prefixes: tuple[str, ...]
    tag_patterns: tuple[str, ...]
    count_type: str
    count_number: int
    count_unit: str | None = None
    storage_class: str = "standard"
    action: str = "expire"
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        return f"rule {self.priority}" + (f" ({self.description!r})" if self.description else "")

    def selects(self, image: LifecycleImage) -> bool:
        """Whether the image meets this rule's tagging requirements (its count criterion aside)."""
        if self.tag_status == "any":
            return True
        if self.tag_status == "untagged":
            return not image.tags
        if not image.tags:
            return False
        if self.tag_prefixes:
            return all(any(tag.startswith(p) for tag in image.tags) for p in self.tag_prefixes)
        return all(any(pattern_matches(p, tag) for tag in image.tags) for p in self.tag_patterns)


def pattern_matches(pattern: str, tag: str) -> bool:
    """A ``tagPatternList`` entry against one tag: ``*`` is any run of characters (also none); everything else,
    ``?`` included, is literal; the whole tag must match; case-sensitive (tags are)."""
    regex = "".join(".*" if ch == "*" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, tag, flags=re.DOTALL) is not None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise LifecyclePolicyError(f"{where} must be a list of non-empty strings")
    return tuple(value)


def parse_lifecycle_policy(text: str | Mapping[str, Any]) -> list[LifecycleRule]:
    """The rules of a lifecycle policy, by priority; LifecyclePolicyError for what ECR would not accept either."""
    try:
        doc = json.loads(text) if isinstance(text, str) else dict(text)
    except (ValueError, TypeError) as exc:
        raise LifecyclePolicyError(f"not JSON: {exc}") from exc
    raw_rules = doc.get("rules") if isinstance(doc, dict) else None
    if not isinstance(raw_rules, list) or not raw_rules:
        raise LifecyclePolicyError("a lifecycle policy holds a non-empty 'rules' list")
    rules: list[LifecycleRule] = []
    for i, raw in enumerate(raw_rules):
        where = f"rules[{i}]"
        if not isinstance(raw, dict):
            raise LifecyclePolicyError(f"{where} is not an object")
        priority = raw.get("rulePriority")
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise LifecyclePolicyError(f"{where}.rulePriority must be an integer")
        sel = raw.get("selection")
        if not isinstance(sel, dict):
            raise LifecyclePolicyError(f"{where}.selection is missing")
        status = str(sel.get("tagStatus", "")).lower()
        if status not in TAG_STATUSES:
            raise LifecyclePolicyError(f"{where}.selection.tagStatus must be one of {', '.join(TAG_STATUSES)}")
        prefixes = _strings(sel.get("tagPrefixList"), f"{where}.selection.tagPrefixList")
        patterns = _strings(sel.get("tagPatternList"), f"{where}.selection.tagPatternList")
        if status == "tagged" and bool(prefixes) == bool(patterns):
            raise LifecyclePolicyError(f"{where}: a tagged rule needs exactly one of tagPrefixList and tagPatternList")
        if status != "tagged" and (prefixes or patterns):
            raise LifecyclePolicyError(f"{where}: tag lists are only allowed with tagStatus 'tagged'")
        count_type = sel.get("countType")
        if count_type not in COUNT_TYPES:
            raise LifecyclePolicyError(f"{where}.selection.countType must be one of {', '.join(COUNT_TYPES)}")
        number = sel.get("countNumber")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise LifecyclePolicyError(f"{where}.selection.countNumber must be a positive integer")
        unit = sel.get("countUnit")
        if count_type != "imageCountMoreThan" and unit != "days":
            raise LifecyclePolicyError(f"{where}.selection.countUnit must be 'days' for {count_type}")
        action = raw.get("action")
        action_type = str(action.get("type", "")).lower() if isinstance(action, dict) else ""
        if action_type not in ACTIONS:
            raise LifecyclePolicyError(f"{where}.action.type must be one of {', '.join(ACTIONS)}")
        description = raw.get("description")
        rules.append(
            LifecycleRule(
                priority=priority,
                description=description if isinstance(description, str) and description else None,
                tag_status=status,
                tag_prefixes=prefixes,
                tag_patterns=patterns,
                count_type=count_type,
                count_number=number,
                count_unit=unit if isinstance(unit, str) else None,
                storage_class=str(sel.get("storageClass", "standard")).lower(),
                action=action_type,
                raw=raw,
            )
        )
    priorities = [r.priority for r in rules]
    if len(set(priorities)) != len(priorities):
        raise LifecyclePolicyError("rulePriority values must be unique")
    return sorted(rules, key=lambda r: r.priority)


@dataclass(frozen=True)
class Outcome:
    """What one rule does to one image: ``kind`` now, or on ``due`` (an age criterion not met yet)."""

    image: LifecycleImage
    rule: LifecycleRule
    kind: Literal["expire", "transition"]
    due: datetime | None  # None: count-based, acts at the next evaluation; else when the age criterion is met

    def now(self, now: datetime) -> bool:
        return self.due is None or self.due <= now

    def describe(self, now: datetime) -> str:
        verb = "expires" if self.kind == "expire" else "archives"
        if self.due is None:
            return f"{self.rule.label} {verb} it now (more than {self.rule.count_number} images match)"
        when = "now" if self.due <= now else f"on {self.due:%Y-%m-%d %H:%M} UTC"
        basis = {"sinceImagePulled": "last pull"}.get(self.rule.count_type, "push")
        return f"{self.rule.label} {verb} it {when} ({self.rule.count_number} days after its {basis})"


def _age_base(rule: LifecycleRule, image: LifecycleImage, now: datetime) -> datetime:
    pushed = image.pushed_at or now
    if rule.count_type == "sinceImagePulled":
        return image.last_pulled_at or pushed
    return pushed


def evaluate(rules: Sequence[LifecycleRule], images: Iterable[LifecycleImage], now: datetime) -> dict[str, Outcome]:
    """Digest -> what the policy does to it (images absent from the result are kept).

    Rules apply lowest priority number first. Each rule looks at every image that meets its tagging
    requirements (also those a higher-priority rule claimed: they still count towards ``imageCountMoreThan``)
    and acts only on images no higher-priority rule claimed. Age criteria are projected: an image younger than
    ``countNumber`` days gets the date it will qualify. Rules on the ``archive`` storage class act only on
    archived images, which DescribeImages does not list by default and HealthOmics cannot pull anyway: they
    neither act nor claim here.
    """
    pool = list(images)
    claimed: set[str] = set()
    out: dict[str, Outcome] = {}
    for rule in sorted(rules, key=lambda r: r.priority):
        if rule.storage_class != "standard" or rule.count_type == "sinceImageTransitioned":
            continue
        selected = [im for im in pool if rule.selects(im)]
        marked: list[tuple[LifecycleImage, datetime | None]]
        if rule.count_type == "imageCountMoreThan":
            # Youngest first; equal push times: by digest (ECR does not say how it breaks ties).
            ordered = sorted(selected, key=lambda im: (im.pushed_at or now, im.digest), reverse=True)
            marked = [(im, None) for im in ordered[rule.count_number :]]
        else:
            marked = [(im, _age_base(rule, im, now) + timedelta(days=rule.count_number)) for im in selected]
        for image, due in marked:
            if image.digest not in claimed:
                kind: Literal["expire", "transition"] = "transition" if rule.action == "transition" else "expire"
                out[image.digest] = Outcome(image=image, rule=rule, kind=kind, due=due)
        claimed.update(im.digest for im in selected)
    return out
