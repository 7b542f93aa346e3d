"""A cache rule that names a credential is checked whatever its upstream (docs/judgement-calls.md).

End to end through boto3 against the in-process sandbox, as tests/test_rules_e2e.py: a Quay rule whose
secret was deleted used to PASS as "usable" because Quay needs no credential. Now any rule with a
``credentialArn`` has its secret described (exists, not scheduled for deletion, ``ecr-pullthroughcache/``
name) and is validated (ValidatePullThroughCacheRule); a rule with no credential on an upstream that
needs none is still neither described nor validated.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from auditor.engine import load_builtin_rules
from auditor.findings import FindingsDocument, Status
from tests.support.sandbox import by_resource, run_scan, statuses

RULE = "ptc-rule-coverage"
DESCRIBE = "secretsmanager:DescribeSecret"
VALIDATE = "ecr:ValidatePullThroughCacheRule"
CREDENTIALS = {"username": "u", "accessToken": "TEST_NOT_A_SECRET"}

# (ECR prefix, upstream URL): upstreams that need no credential, and one that does
NO_AUTH = [("quay", "quay.io"), ("ecr-public", "public.ecr.aws")]
DOCKER_HUB = ("docker-hub", "registry-1.docker.io")


def _secret(session: boto3.Session, name: str) -> str:
    return str(session.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(CREDENTIALS))["ARN"])


def _rule(session: boto3.Session, prefix: str, url: str, credential_arn: str | None = None) -> None:
    kwargs: dict[str, Any] = {"credentialArn": credential_arn} if credential_arn else {}
    session.client("ecr").create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistryUrl=url, **kwargs)


def _scan(session: boto3.Session) -> FindingsDocument:
    doc = run_scan(session, rules=[RULE])
    needed = set(load_builtin_rules()[RULE].meta.permissions)
    assert set(doc.api_calls) <= needed, f"calls outside {RULE}'s facets: {set(doc.api_calls) - needed}"
    return doc


@pytest.mark.parametrize(("prefix", "url"), [*NO_AUTH, DOCKER_HUB])
def test_secret_scheduled_for_deletion_fails_whatever_the_upstream(aws: boto3.Session, prefix: str, url: str) -> None:
    name = f"ecr-pullthroughcache/{prefix}"
    arn = _secret(aws, name)
    _rule(aws, prefix, url, arn)
    aws.client("secretsmanager").delete_secret(SecretId=arn, RecoveryWindowInDays=7)

    doc = _scan(aws)
    resource = f"pull-through-cache-rule/{prefix}"
    assert statuses(doc, RULE) == {resource: Status.FAIL}
    finding = by_resource(doc, RULE)[resource]
    assert f"secret {name!r} is scheduled for deletion on " in finding.message
    assert any(p.startswith("ValidatePullThroughCacheRule says invalid") for p in finding.evidence["problems"])
    assert "deletion" in finding.evidence["validation"]["failure"]
    assert not finding.fixable
    assert doc.api_calls[DESCRIBE] == 1 and doc.api_calls[VALIDATE] == 1


@pytest.mark.parametrize(("prefix", "url"), [*NO_AUTH, DOCKER_HUB])
def test_force_deleted_secret_fails_whatever_the_upstream(aws: boto3.Session, prefix: str, url: str) -> None:
    arn = _secret(aws, f"ecr-pullthroughcache/{prefix}")
    _rule(aws, prefix, url, arn)
    aws.client("secretsmanager").delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)

    doc = _scan(aws)
    resource = f"pull-through-cache-rule/{prefix}"
    assert statuses(doc, RULE) == {resource: Status.FAIL}
    finding = by_resource(doc, RULE)[resource]
    assert f"credential secret {arn} does not exist" in finding.message
    assert "not found" in finding.evidence["validation"]["failure"]
    assert doc.api_calls[DESCRIBE] == 1 and doc.api_calls[VALIDATE] == 1


@pytest.mark.parametrize(("prefix", "url"), NO_AUTH)
def test_valid_credential_on_an_upstream_that_needs_none_passes(aws: boto3.Session, prefix: str, url: str) -> None:
    _rule(aws, prefix, url, _secret(aws, f"ecr-pullthroughcache/{prefix}"))

    doc = _scan(aws)
    resource = f"pull-through-cache-rule/{prefix}"
    assert statuses(doc, RULE) == {resource: Status.PASS}
    assert "is usable" in by_resource(doc, RULE)[resource].message
    # checked, not waved through
    assert doc.api_calls[DESCRIBE] == 1 and doc.api_calls[VALIDATE] == 1


def test_quay_rule_without_credential_passes_with_no_secret_or_validation_call(aws: boto3.Session) -> None:
    _rule(aws, "quay", "quay.io")

    doc = _scan(aws)
    assert statuses(doc, RULE) == {"pull-through-cache-rule/quay": Status.PASS}
    assert DESCRIBE not in doc.api_calls
    assert VALIDATE not in doc.api_calls


def test_only_the_rules_naming_or_needing_a_credential_are_checked(aws: boto3.Session) -> None:
    """A mix: the deleted Quay credential FAILs, the anonymous ECR Public rule and a good Docker Hub rule PASS."""
    quay_arn = _secret(aws, "ecr-pullthroughcache/quay")
    _rule(aws, "quay", "quay.io", quay_arn)
    _rule(aws, "ecr-public", "public.ecr.aws")
    _rule(aws, *DOCKER_HUB, _secret(aws, "ecr-pullthroughcache/docker-hub"))
    aws.client("secretsmanager").delete_secret(SecretId=quay_arn, RecoveryWindowInDays=7)

    doc = _scan(aws)
    assert statuses(doc, RULE) == {
        "pull-through-cache-rule/quay": Status.FAIL,
        "pull-through-cache-rule/ecr-public": Status.PASS,
        "pull-through-cache-rule/docker-hub": Status.PASS,
    }
    assert doc.api_calls[DESCRIBE] == 2 and doc.api_calls[VALIDATE] == 2
