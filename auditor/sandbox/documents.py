"""Policy documents the sandbox seeds, shared by the demo, the tests and the benchmark."""

from __future__ import annotations

import json
from typing import Any

OMICS = "omics.amazonaws.com"


def policy_document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trust_policy(service: str = OMICS) -> str:
    """A role trust policy letting ``service`` assume the role."""
    return policy_document({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


def omics_statement(
    actions: list[str], sid: str = "OmicsPull", *, source_account: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An Allow for omics.amazonaws.com, optionally limited to one account (the confused-deputy guard)."""
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Principal": {"Service": OMICS}, "Action": actions}
    if source_account:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return {**statement, **extra}
