"""The in-process sandbox account (moto + our extensions) and a one-call scan helper."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auditor import sandbox
from auditor.config import Config, parse_config
from auditor.findings import Finding, FindingsDocument, Status
from auditor.sandbox.documents import OMICS, omics_statement, trust_policy
from auditor.sandbox.documents import policy_document as policy
from auditor.scan import scan_live, select_rules

ACCOUNT = "123456789012"
REGION = "us-east-1"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]

_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@contextmanager
def sandbox_account(mp: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials only (a developer's real ones must never reach the sandbox) and a fresh moto state."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            mp.delenv(key)
    for key, value in _FAKE_ENV.items():
        mp.setenv(key, value)
    sandbox.install()
    with mock_aws():
        yield


def run_scan(
    session: boto3.Session, rules: list[str] | None = None, config: dict[str, Any] | Config | None = None, **kw: Any
) -> FindingsDocument:
    cfg = config if isinstance(config, Config) else parse_config(config or {})
    selected = select_rules(cfg, rules or [])
    return scan_live(cfg, selected, session=session, regions=[session.region_name or REGION], **kw)


def by_resource(doc: FindingsDocument, rule_id: str) -> dict[str, Finding]:
    return {f.resource: f for f in doc.findings if f.rule_id == rule_id}


def statuses(doc: FindingsDocument, rule_id: str) -> dict[str, Status]:
    return {r: f.status for r, f in by_resource(doc, rule_id).items()}


def ecr_uri(path: str, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{path}"


def trust(service: str = OMICS) -> str:
    return trust_policy(service)


__all__ = [
    "ACCOUNT",
    "OMICS",
    "PULL",
    "REGION",
    "by_resource",
    "ecr_uri",
    "omics_statement",
    "policy",
    "run_scan",
    "sandbox_account",
    "statuses",
    "trust",
]
