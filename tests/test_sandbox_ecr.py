"""The sandbox's ECR extensions, through real boto3 clients (in-process and ThreadedMotoServer).

Every successful response is validated against botocore's output shape (tests/support/shapes.py).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.ecr.exceptions import RepositoryNotFoundException
from moto.server import ThreadedMotoServer

from auditor.sandbox import cloudtrail, ecr
from auditor.sandbox.images import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    DOCKER_SCHEMA1,
    IMAGE_MANIFEST_MEDIA_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    push_image,
    push_index,
    push_schema1,
)
from tests.support.shapes import attach

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "111111111111"
REGION = "us-east-1"
CREDENTIALS = {"username": "robot", "accessToken": "dckr_pat_example"}
OMICS_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PTCRepoCreationTemplate",
                "Effect": "Allow",
                "Principal": {"Service": "omics.amazonaws.com"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }
        ],
    }
)
LIFECYCLE_POLICY = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "description": "expire untagged",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 14,
                },
                "action": {"type": "expire"},
            }
        ]
    }
)


# ------------------------------------------------------------------------------------------
# Fixtures and helpers
# ------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _installed() -> None:
    ecr.install()


@pytest.fixture
def trail(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Capture record_event calls; check each against the function's fixed signature."""
    events: list[dict[str, Any]] = []
    signature = inspect.signature(cloudtrail.record_event)

    def record(*args: Any, **kwargs: Any) -> str:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        events.append(dict(bound.arguments))
        return f"event-{len(events)}"

    monkeypatch.setattr(cloudtrail, "record_event", record)
    return events


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def client(aws: None) -> Any:
    return attach(boto3.client("ecr", region_name=REGION))


@pytest.fixture
def secrets(aws: None) -> Any:
    return attach(boto3.client("secretsmanager", region_name=REGION))


def _code(exc_info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc_info.value.response["Error"]["Code"])


def _secret(secrets: Any, name: str = "ecr-pullthroughcache/docker-hub", value: Any = CREDENTIALS) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return str(secrets.create_secret(Name=name, SecretString=text)["ARN"])


def _docker_hub_rule(client: Any, secrets: Any, prefix: str = "docker-hub") -> dict[str, Any]:
    arn = _secret(secrets, f"ecr-pullthroughcache/{prefix}")
    return dict(
        client.create_pull_through_cache_rule(
            ecrRepositoryPrefix=prefix, upstreamRegistryUrl="registry-1.docker.io", credentialArn=arn
        )
    )


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _manifest(client: Any, repository: str, image_id: dict[str, str]) -> dict[str, Any]:
    response = client.batch_get_image(
        repositoryName=repository, imageIds=[image_id], acceptedMediaTypes=list(IMAGE_MANIFEST_MEDIA_TYPES)
    )
    assert response["failures"] == []
    return dict(response["images"][0])


def _fetch_blob(client: Any, repository: str, digest: str) -> bytes:
    response = client.get_download_url_for_layer(repositoryName=repository, layerDigest=digest)
    assert response["layerDigest"] == digest
    fetched = requests.get(response["downloadUrl"], timeout=10)
    assert fetched.status_code == 200
    return fetched.content


# ------------------------------------------------------------------------------------------
# Pull-through cache rules
# ------------------------------------------------------------------------------------------


def test_create_and_describe_unauthenticated_rule(client: Any) -> None:
    created = client.create_pull_through_cache_rule(
        ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws"
    )
    assert created["ecrRepositoryPrefix"] == "ecr-public"
    assert created["upstreamRegistry"] == "ecr-public"
    assert created["registryId"] == ACCOUNT
    assert "credentialArn" not in created

    (rule,) = client.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    assert rule["upstreamRegistryUrl"] == "public.ecr.aws"
    assert rule["createdAt"] == created["createdAt"]
    assert rule["updatedAt"] >= rule["createdAt"]


@pytest.mark.parametrize(
    ("url", "registry"),
    [
        ("public.ecr.aws", "ecr-public"),
        ("quay.io", "quay"),
        ("registry.k8s.io", "k8s"),
        ("210987654321.dkr.ecr.eu-west-1.amazonaws.com", "ecr"),
    ],
)
def test_upstream_registry_inferred_from_url(client: Any, url: str, registry: str) -> None:
    created = client.create_pull_through_cache_rule(ecrRepositoryPrefix="up", upstreamRegistryUrl=url)
    assert created["upstreamRegistry"] == registry


@pytest.mark.parametrize(
    ("url", "registry"),
    [
        ("registry-1.docker.io", "docker-hub"),
        ("ghcr.io", "github-container-registry"),
        ("registry.gitlab.com", "gitlab-container-registry"),
        ("myregistry.azurecr.io", "azure-container-registry"),
        ("cgr.dev", "chainguard"),
    ],
)
def test_authenticated_upstreams_need_a_secret(client: Any, secrets: Any, url: str, registry: str) -> None:
    with pytest.raises(ClientError) as exc_info:
        client.create_pull_through_cache_rule(ecrRepositoryPrefix="auth", upstreamRegistryUrl=url)
    assert _code(exc_info) == "UnsupportedUpstreamRegistryException"

    arn = _secret(secrets, "ecr-pullthroughcache/auth")
    created = client.create_pull_through_cache_rule(
        ecrRepositoryPrefix="auth", upstreamRegistryUrl=url, credentialArn=arn
    )
    assert created["upstreamRegistry"] == registry
    assert created["credentialArn"] == arn


@pytest.mark.parametrize("url", ["docker.io", "index.docker.io", "example.com", "https://quay.io"])
def test_unsupported_upstream_urls(client: Any, url: str) -> None:
    with pytest.raises(ClientError) as exc_info:
        client.create_pull_through_cache_rule(ecrRepositoryPrefix="up", upstreamRegistryUrl=url)
    assert _code(exc_info) == "UnsupportedUpstreamRegistryException"


def test_declared_upstream_registry_must_match_url(client: Any) -> None:
    with pytest.raises(ClientError) as exc_info:
        client.create_pull_through_cache_rule(
            ecrRepositoryPrefix="up", upstreamRegistryUrl="quay.io", upstreamRegistry="ecr-public"
        )
    assert _code(exc_info) == "UnsupportedUpstreamRegistryException"


@pytest.mark.parametrize(
    "arguments",
    [
        {"ecrRepositoryPrefix": "Docker-Hub"},
        {"ecrRepositoryPrefix": "a" * 31},
        {"ecrRepositoryPrefix": "/leading"},
        {"upstreamRepositoryPrefix": "BAD PREFIX"},
        {"credentialArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub-credentials-AbCdEf"},
    ],
)
def test_model_constraints_are_enforced(client: Any, arguments: dict[str, str]) -> None:
    request = {"ecrRepositoryPrefix": "ok", "upstreamRegistryUrl": "registry-1.docker.io"} | arguments
    with pytest.raises(ClientError) as exc_info:
        client.create_pull_through_cache_rule(**request)
    assert _code(exc_info) == "ValidationException"
    assert "failed to satisfy constraint" in exc_info.value.response["Error"]["Message"]


def test_root_prefix_and_trailing_slash(client: Any) -> None:
    client.create_pull_through_cache_rule(
        ecrRepositoryPrefix="ROOT", upstreamRegistryUrl="210987654321.dkr.ecr.us-east-1.amazonaws.com"
    )
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="quay/", upstreamRegistryUrl="quay.io")
    # The implied trailing '/' makes 'quay' and 'quay/' the same rule.
    with pytest.raises(ClientError) as exc_info:
        client.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    assert _code(exc_info) == "PullThroughCacheRuleAlreadyExistsException"
    assert client.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["ROOT"])["pullThroughCacheRules"]


def test_upstream_prefix_needs_a_non_root_ecr_prefix(client: Any) -> None:
    with pytest.raises(ClientError) as exc_info:
        client.create_pull_through_cache_rule(
            ecrRepositoryPrefix="ROOT",
            upstreamRegistryUrl="210987654321.dkr.ecr.us-east-1.amazonaws.com",
            upstreamRepositoryPrefix="team",
        )
    assert _code(exc_info) == "InvalidParameterException"
    created = client.create_pull_through_cache_rule(
        ecrRepositoryPrefix="mirror",
        upstreamRegistryUrl="210987654321.dkr.ecr.us-east-1.amazonaws.com",
        upstreamRepositoryPrefix="team",
        customRoleArn=f"arn:aws:iam::{ACCOUNT}:role/ecr-ptc",
    )
    assert created["upstreamRepositoryPrefix"] == "team"
    assert created["customRoleArn"].endswith("role/ecr-ptc")


def test_credential_secret_must_exist(client: Any, secrets: Any) -> None:
    missing = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/missing-AbCdEf"
    with pytest.raises(ClientError) as exc_info:
        client.create_pull_through_cache_rule(
            ecrRepositoryPrefix="docker-hub", upstreamRegistryUrl="registry-1.docker.io", credentialArn=missing
        )
    assert _code(exc_info) == "SecretNotFoundException"

    # A secret of the same name in another Region is not the registry's secret.
    elsewhere = attach(boto3.client("secretsmanager", region_name="eu-west-1"))
    foreign = _secret(elsewhere, "ecr-pullthroughcache/docker-hub")
    with pytest.raises(ClientError) as exc_info:
        client.create_pull_through_cache_rule(
            ecrRepositoryPrefix="docker-hub", upstreamRegistryUrl="registry-1.docker.io", credentialArn=foreign
        )
    assert _code(exc_info) == "SecretNotFoundException"


def test_rule_already_exists(client: Any, secrets: Any) -> None:
    _docker_hub_rule(client, secrets)
    with pytest.raises(ClientError) as exc_info:
        client.create_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub", upstreamRegistryUrl="public.ecr.aws")
    assert _code(exc_info) == "PullThroughCacheRuleAlreadyExistsException"


def test_at_most_fifty_rules(client: Any) -> None:
    for index in range(ecr.MAX_PTC_RULES):
        client.create_pull_through_cache_rule(ecrRepositoryPrefix=f"quay-{index:02d}", upstreamRegistryUrl="quay.io")
    with pytest.raises(ClientError) as exc_info:
        client.create_pull_through_cache_rule(ecrRepositoryPrefix="one-too-many", upstreamRegistryUrl="quay.io")
    assert _code(exc_info) == "LimitExceededException"


def test_describe_filter_and_missing_prefix(client: Any) -> None:
    for prefix, url in [("ecr-public", "public.ecr.aws"), ("quay", "quay.io"), ("k8s", "registry.k8s.io")]:
        client.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistryUrl=url)
    rules = client.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["quay", "k8s"])["pullThroughCacheRules"]
    assert sorted(rule["ecrRepositoryPrefix"] for rule in rules) == ["k8s", "quay"]
    with pytest.raises(ClientError) as exc_info:
        client.describe_pull_through_cache_rules(ecrRepositoryPrefixes=["quay", "docker-hub"])
    assert _code(exc_info) == "PullThroughCacheRuleNotFoundException"


def test_describe_rules_paginates(client: Any) -> None:
    prefixes = [f"quay-{index}" for index in range(7)]
    for prefix in prefixes:
        client.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistryUrl="quay.io")
    pages = list(client.get_paginator("describe_pull_through_cache_rules").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(page["pullThroughCacheRules"]) for page in pages] == [3, 3, 1]
    seen = [rule["ecrRepositoryPrefix"] for page in pages for rule in page["pullThroughCacheRules"]]
    assert sorted(seen) == prefixes

    first = client.describe_pull_through_cache_rules(maxResults=5)
    assert len(first["pullThroughCacheRules"]) == 5
    rest = client.describe_pull_through_cache_rules(maxResults=5, nextToken=first["nextToken"])
    assert len(rest["pullThroughCacheRules"]) == 2
    assert "nextToken" not in rest
    with pytest.raises(ClientError) as exc_info:
        client.describe_pull_through_cache_rules(nextToken="not-a-token")
    assert _code(exc_info) == "InvalidParameterException"


def test_update_changes_only_credentials(client: Any, secrets: Any) -> None:
    created = _docker_hub_rule(client, secrets)
    rotated = _secret(secrets, "ecr-pullthroughcache/docker-hub-rotated")
    updated = client.update_pull_through_cache_rule(
        ecrRepositoryPrefix="docker-hub", credentialArn=rotated, customRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r"
    )
    assert updated["credentialArn"] == rotated
    assert updated["updatedAt"] >= created["createdAt"]
    (rule,) = client.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    assert rule["credentialArn"] == rotated
    assert rule["upstreamRegistryUrl"] == "registry-1.docker.io"
    assert rule["createdAt"] == created["createdAt"]
    assert rule["updatedAt"] == updated["updatedAt"]


def test_update_errors(client: Any, secrets: Any) -> None:
    _docker_hub_rule(client, secrets)
    with pytest.raises(ClientError) as exc_info:
        client.update_pull_through_cache_rule(ecrRepositoryPrefix="quay", customRoleArn="arn:aws:iam::1:role/r")
    assert _code(exc_info) == "PullThroughCacheRuleNotFoundException"
    with pytest.raises(ClientError) as exc_info:
        client.update_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    assert _code(exc_info) == "InvalidParameterException"
    missing = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/gone-AbCdEf"
    with pytest.raises(ClientError) as exc_info:
        client.update_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub", credentialArn=missing)
    assert _code(exc_info) == "SecretNotFoundException"


def test_delete_returns_the_rule(client: Any, secrets: Any) -> None:
    created = _docker_hub_rule(client, secrets)
    deleted = client.delete_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    for name in ("ecrRepositoryPrefix", "upstreamRegistryUrl", "createdAt", "registryId", "credentialArn"):
        assert deleted[name] == created[name]
    assert client.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []
    with pytest.raises(ClientError) as exc_info:
        client.delete_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    assert _code(exc_info) == "PullThroughCacheRuleNotFoundException"


def test_validate_unauthenticated_rule_is_valid(client: Any) -> None:
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="k8s", upstreamRegistryUrl="registry.k8s.io")
    result = client.validate_pull_through_cache_rule(ecrRepositoryPrefix="k8s")
    assert result["isValid"] is True
    assert "failure" not in result
    assert result["upstreamRegistryUrl"] == "registry.k8s.io"


def test_validate_reads_the_secret(client: Any, secrets: Any) -> None:
    created = _docker_hub_rule(client, secrets)
    result = client.validate_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    assert result["isValid"] is True
    assert result["credentialArn"] == created["credentialArn"]

    secrets.put_secret_value(SecretId=created["credentialArn"], SecretString=json.dumps({"username": "robot"}))
    result = client.validate_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    assert result["isValid"] is False
    assert "accessToken" in result["failure"]

    secrets.put_secret_value(SecretId=created["credentialArn"], SecretString="robot:token")
    assert client.validate_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")["isValid"] is False

    secrets.put_secret_value(SecretId=created["credentialArn"], SecretString=json.dumps(CREDENTIALS))
    secrets.delete_secret(SecretId=created["credentialArn"], RecoveryWindowInDays=7)
    result = client.validate_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    assert result["isValid"] is False
    assert "deletion" in result["failure"]

    secrets.restore_secret(SecretId=created["credentialArn"])
    assert client.validate_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")["isValid"] is True
    secrets.delete_secret(SecretId=created["credentialArn"], ForceDeleteWithoutRecovery=True)
    result = client.validate_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    assert result["isValid"] is False
    assert "not found" in result["failure"]


def test_validate_reads_a_named_secret_on_an_upstream_that_needs_none(client: Any, secrets: Any) -> None:
    """A credential on a Quay rule is checked like any other (aws-semantics.md §1.2, GUESS)."""
    arn = _secret(secrets, "ecr-pullthroughcache/quay")
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io", credentialArn=arn)
    assert client.validate_pull_through_cache_rule(ecrRepositoryPrefix="quay")["isValid"] is True

    secrets.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    result = client.validate_pull_through_cache_rule(ecrRepositoryPrefix="quay")
    assert result["isValid"] is False
    assert "deletion" in result["failure"]

    secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    result = client.validate_pull_through_cache_rule(ecrRepositoryPrefix="quay")
    assert result["isValid"] is False
    assert "not found" in result["failure"]


def test_validate_missing_rule(client: Any) -> None:
    with pytest.raises(ClientError) as exc_info:
        client.validate_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    assert _code(exc_info) == "PullThroughCacheRuleNotFoundException"


def test_rules_are_per_region_and_reset_with_moto() -> None:
    with mock_aws():
        east = attach(boto3.client("ecr", region_name=REGION))
        west = attach(boto3.client("ecr", region_name="us-west-2"))
        east.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
        assert west.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []
    with mock_aws():
        east = attach(boto3.client("ecr", region_name=REGION))
        assert east.describe_pull_through_cache_rules()["pullThroughCacheRules"] == []


# ------------------------------------------------------------------------------------------
# CloudTrail
# ------------------------------------------------------------------------------------------


def test_ptc_mutations_are_recorded(client: Any, secrets: Any, trail: list[dict[str, Any]]) -> None:
    created = _docker_hub_rule(client, secrets)
    client.describe_pull_through_cache_rules()
    client.validate_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")
    client.update_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub", customRoleArn="arn:aws:iam::1:role/r")
    client.delete_pull_through_cache_rule(ecrRepositoryPrefix="docker-hub")

    assert [event["event_name"] for event in trail] == [
        "CreatePullThroughCacheRule",
        "UpdatePullThroughCacheRule",
        "DeletePullThroughCacheRule",
    ]
    create = trail[0]
    assert (create["account_id"], create["region"], create["event_source"]) == (ACCOUNT, REGION, "ecr.amazonaws.com")
    assert create["request_parameters"] == {
        "ecrRepositoryPrefix": "docker-hub",
        "upstreamRegistryUrl": "registry-1.docker.io",
        "credentialArn": created["credentialArn"],
    }
    assert create["response_elements"]["upstreamRegistry"] == "docker-hub"
    assert create["response_elements"]["createdAt"] == pytest.approx(created["createdAt"].timestamp())
    assert create["resources"] == [(ecr.PTC_RESOURCE_TYPE, "docker-hub")]
    assert create["error_code"] is None
    assert trail[2]["response_elements"]["upstreamRegistryUrl"] == "registry-1.docker.io"


def test_failed_ptc_mutations_are_recorded(client: Any, trail: list[dict[str, Any]]) -> None:
    attempts = [
        lambda: client.create_pull_through_cache_rule(ecrRepositoryPrefix="hub", upstreamRegistryUrl="docker.io"),
        lambda: client.update_pull_through_cache_rule(ecrRepositoryPrefix="hub", customRoleArn="arn:aws:iam::1:role/r"),
        lambda: client.delete_pull_through_cache_rule(ecrRepositoryPrefix="Not-Valid"),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError):
            attempt()
    assert [(event["event_name"], event["error_code"]) for event in trail] == [
        ("CreatePullThroughCacheRule", "UnsupportedUpstreamRegistryException"),
        ("UpdatePullThroughCacheRule", "PullThroughCacheRuleNotFoundException"),
        ("DeletePullThroughCacheRule", "ValidationException"),
    ]
    assert all(event["response_elements"] is None and event["error_message"] for event in trail)
    assert trail[0]["request_parameters"] == {"ecrRepositoryPrefix": "hub", "upstreamRegistryUrl": "docker.io"}


def test_recorded_events_reach_lookup_events(client: Any) -> None:
    cloudtrail.install()
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    trail_client = attach(boto3.client("cloudtrail", region_name=REGION))
    events = trail_client.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreatePullThroughCacheRule"}]
    )["Events"]
    assert len(events) == 1
    assert json.loads(events[0]["CloudTrailEvent"])["requestParameters"]["upstreamRegistryUrl"] == "quay.io"


# ------------------------------------------------------------------------------------------
# Repository creation templates
# ------------------------------------------------------------------------------------------


def _template(client: Any, prefix: str, applied_for: list[str] | None = None, **settings: Any) -> dict[str, Any]:
    return dict(
        client.create_repository_creation_template(
            prefix=prefix, appliedFor=applied_for or ["PULL_THROUGH_CACHE"], **settings
        )
    )


def test_template_round_trip(client: Any) -> None:
    settings = {
        "description": "docker hub cache",
        "encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k-1"},
        "resourceTags": [{"Key": "team", "Value": "genomics"}],
        "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "latest*"}],
        "repositoryPolicy": OMICS_POLICY,
        "lifecyclePolicy": LIFECYCLE_POLICY,
        "customRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecr-templates",
    }
    created = _template(client, "docker-hub", ["PULL_THROUGH_CACHE", "REPLICATION"], **settings)
    assert created["registryId"] == ACCOUNT
    template = created["repositoryCreationTemplate"]
    assert template["prefix"] == "docker-hub"
    assert template["appliedFor"] == ["PULL_THROUGH_CACHE", "REPLICATION"]
    for name, value in settings.items():
        assert template[name] == value
    assert json.loads(template["repositoryPolicy"])["Statement"][0]["Sid"] == "PTCRepoCreationTemplate"
    assert template["createdAt"] == template["updatedAt"]

    described = client.describe_repository_creation_templates(prefixes=["docker-hub"])
    assert described["registryId"] == ACCOUNT
    assert described["repositoryCreationTemplates"] == [template]


def test_template_defaults_and_root(client: Any) -> None:
    template = _template(client, "ROOT")["repositoryCreationTemplate"]
    assert template["prefix"] == "ROOT"
    assert template["imageTagMutability"] == "MUTABLE"
    assert template["encryptionConfiguration"] == {"encryptionType": "AES256"}
    assert "repositoryPolicy" not in template


def test_template_update_and_delete(client: Any) -> None:
    created = _template(client, "quay", description="before", repositoryPolicy=OMICS_POLICY)[
        "repositoryCreationTemplate"
    ]
    updated = client.update_repository_creation_template(
        prefix="quay", description="after", appliedFor=["PULL_THROUGH_CACHE", "CREATE_ON_PUSH"]
    )["repositoryCreationTemplate"]
    assert updated["description"] == "after"
    assert updated["appliedFor"] == ["PULL_THROUGH_CACHE", "CREATE_ON_PUSH"]
    assert updated["repositoryPolicy"] == OMICS_POLICY
    assert updated["createdAt"] == created["createdAt"]
    assert updated["updatedAt"] >= created["updatedAt"]

    deleted = client.delete_repository_creation_template(prefix="quay")
    assert deleted["registryId"] == ACCOUNT
    assert deleted["repositoryCreationTemplate"]["description"] == "after"
    assert client.describe_repository_creation_templates()["repositoryCreationTemplates"] == []


def test_template_errors(client: Any) -> None:
    _template(client, "quay")
    with pytest.raises(ClientError) as exc_info:
        _template(client, "quay/")
    assert _code(exc_info) == "TemplateAlreadyExistsException"
    for call in (
        lambda: client.update_repository_creation_template(prefix="k8s", description="x"),
        lambda: client.delete_repository_creation_template(prefix="k8s"),
    ):
        with pytest.raises(ClientError) as exc_info:
            call()
        assert _code(exc_info) == "TemplateNotFoundException"
    with pytest.raises(ClientError) as exc_info:
        _template(client, "Upper/Case")
    assert _code(exc_info) == "ValidationException"
    with pytest.raises(ClientError) as exc_info:
        _template(client, "bad-policy", repositoryPolicy="{not json")
    assert _code(exc_info) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc_info:
        _template(
            client, "bad-mutability", imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "x"}]
        )
    assert _code(exc_info) == "InvalidParameterException"


def test_describe_templates_filter_and_paginate(client: Any) -> None:
    prefixes = ["ROOT", "a", "b", "c", "d"]
    for prefix in prefixes:
        _template(client, prefix)
    filtered = client.describe_repository_creation_templates(prefixes=["b", "missing"])
    assert [template["prefix"] for template in filtered["repositoryCreationTemplates"]] == ["b"]
    pages = list(
        client.get_paginator("describe_repository_creation_templates").paginate(PaginationConfig={"PageSize": 2})
    )
    assert [len(page["repositoryCreationTemplates"]) for page in pages] == [2, 2, 1]
    assert sorted(t["prefix"] for page in pages for t in page["repositoryCreationTemplates"]) == sorted(prefixes)
    assert all(page["registryId"] == ACCOUNT for page in pages)


# ------------------------------------------------------------------------------------------
# simulate_ptc_pull
# ------------------------------------------------------------------------------------------


def _ptc_setup(client: Any) -> None:
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws")
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public/aws", upstreamRegistryUrl="public.ecr.aws")


def test_simulated_pull_applies_the_longest_matching_template(client: Any, trail: list[dict[str, Any]]) -> None:
    _ptc_setup(client)
    broad = json.loads(OMICS_POLICY)
    broad["Statement"][0] |= {"Sid": "Broad", "Principal": "*"}
    _template(client, "ecr-public", repositoryPolicy=json.dumps(broad), imageTagMutability="MUTABLE")
    _template(
        client,
        "ecr-public/aws",
        repositoryPolicy=OMICS_POLICY,
        lifecyclePolicy=LIFECYCLE_POLICY,
        imageTagMutability="IMMUTABLE",
        resourceTags=[{"Key": "source", "Value": "ptc"}],
    )
    recorded = len(trail)
    arn = ecr.simulate_ptc_pull(ACCOUNT, REGION, "ecr-public/aws/aws-cli")
    assert arn == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/ecr-public/aws/aws-cli"
    # The cache's own repository creation is a CreateRepository invoked by ECR (a GUESS at the shape, see
    # docs/aws-semantics.md); the images it imports are recorded as nothing.
    assert [event["event_name"] for event in trail[recorded:]] == ["CreateRepository"]
    assert trail[recorded]["invoked_by"] == "ecr.amazonaws.com"

    (repository,) = client.describe_repositories(repositoryNames=["ecr-public/aws/aws-cli"])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert client.get_repository_policy(repositoryName="ecr-public/aws/aws-cli")["policyText"] == OMICS_POLICY
    assert (
        client.get_lifecycle_policy(repositoryName="ecr-public/aws/aws-cli")["lifecyclePolicyText"] == LIFECYCLE_POLICY
    )
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "source", "Value": "ptc"}]

    # Templates apply only when the repository is created.
    client.update_repository_creation_template(prefix="ecr-public/aws", imageTagMutability="MUTABLE")
    assert ecr.simulate_ptc_pull(ACCOUNT, REGION, "ecr-public/aws/aws-cli") == arn
    (repository,) = client.describe_repositories(repositoryNames=["ecr-public/aws/aws-cli"])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"


def test_simulated_pull_falls_back_to_root_and_ignores_other_scenarios(client: Any) -> None:
    _ptc_setup(client)
    # 'ecr-public/aws' matches the name best but is not for pull through cache.
    _template(client, "ecr-public/aws", ["REPLICATION", "CREATE_ON_PUSH"], repositoryPolicy=OMICS_POLICY)
    _template(client, "ROOT", lifecyclePolicy=LIFECYCLE_POLICY)
    ecr.simulate_ptc_pull(ACCOUNT, REGION, "ecr-public/aws/aws-cli")
    assert (
        client.get_lifecycle_policy(repositoryName="ecr-public/aws/aws-cli")["lifecyclePolicyText"] == LIFECYCLE_POLICY
    )
    with pytest.raises(ClientError) as exc_info:
        client.get_repository_policy(repositoryName="ecr-public/aws/aws-cli")
    assert _code(exc_info) == "RepositoryPolicyNotFoundException"


def test_simulated_pull_without_template_uses_ecr_defaults(client: Any) -> None:
    _ptc_setup(client)
    _template(client, "ROOT", ["REPLICATION"], repositoryPolicy=OMICS_POLICY)
    ecr.simulate_ptc_pull(ACCOUNT, REGION, "ecr-public/nginx/nginx")
    (repository,) = client.describe_repositories(repositoryNames=["ecr-public/nginx/nginx"])["repositories"]
    assert repository["imageTagMutability"] == "MUTABLE"
    assert repository["encryptionConfiguration"] == {"encryptionType": "AES256"}
    with pytest.raises(ClientError):
        client.get_repository_policy(repositoryName="ecr-public/nginx/nginx")


def test_simulated_pull_needs_a_matching_rule(client: Any) -> None:
    _ptc_setup(client)
    # 'ecr-public' matches 'ecr-public/...' only: the '/' is implied.
    for name in ("ecr-publicity/x", "docker-hub/library/ubuntu", "ecr-public"):
        with pytest.raises(RepositoryNotFoundException):
            ecr.simulate_ptc_pull(ACCOUNT, REGION, name)
    client.create_pull_through_cache_rule(
        ecrRepositoryPrefix="ROOT", upstreamRegistryUrl="210987654321.dkr.ecr.us-east-1.amazonaws.com"
    )
    assert ecr.simulate_ptc_pull(ACCOUNT, REGION, "anything/else").endswith("repository/anything/else")


# ------------------------------------------------------------------------------------------
# GetDownloadUrlForLayer
# ------------------------------------------------------------------------------------------


def test_download_urls_serve_the_uploaded_blobs(client: Any) -> None:
    client.create_repository(repositoryName="team/app")
    digest = push_image(client, "team/app", tag="v1", architecture="arm64")
    manifest = json.loads(_manifest(client, "team/app", {"imageTag": "v1"})["imageManifest"])
    config = _fetch_blob(client, "team/app", manifest["config"]["digest"])
    assert _sha256(config) == manifest["config"]["digest"]
    assert json.loads(config)["architecture"] == "arm64"
    layer = _fetch_blob(client, "team/app", manifest["layers"][0]["digest"])
    assert _sha256(layer) == manifest["layers"][0]["digest"]
    assert digest == _manifest(client, "team/app", {"imageTag": "v1"})["imageId"]["imageDigest"]

    url = client.get_download_url_for_layer(repositoryName="team/app", layerDigest=manifest["config"]["digest"])
    assert url["downloadUrl"].startswith(f"https://{ecr.layer_bucket_name(ACCOUNT, REGION)}.s3.{REGION}.amazonaws.com/")
    assert "X-Amz-Signature=" in url["downloadUrl"]


def test_download_url_endpoint_override(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ecr.S3_ENDPOINT_ENV, f"https://s3.{REGION}.amazonaws.com")
    client.create_repository(repositoryName="team/app")
    push_image(client, "team/app", tag="v1", media_type=OCI_MANIFEST)
    manifest = json.loads(_manifest(client, "team/app", {"imageTag": "v1"})["imageManifest"])
    url = client.get_download_url_for_layer(repositoryName="team/app", layerDigest=manifest["config"]["digest"])
    assert url["downloadUrl"].startswith(f"https://s3.{REGION}.amazonaws.com/{ecr.layer_bucket_name(ACCOUNT, REGION)}/")
    assert _sha256(_fetch_blob(client, "team/app", manifest["config"]["digest"])) == manifest["config"]["digest"]


def test_download_urls_work_across_accounts(aws: None) -> None:
    sts = attach(boto3.client("sts", region_name=REGION))
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/seeder", RoleSessionName="seed")[
        "Credentials"
    ]
    other = attach(
        boto3.client(
            "ecr",
            region_name=REGION,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
    )
    assert other.create_repository(repositoryName="shared/tool")["repository"]["registryId"] == OTHER_ACCOUNT
    push_image(other, "shared/tool", tag="v1")
    manifest = json.loads(_manifest(other, "shared/tool", {"imageTag": "v1"})["imageManifest"])
    # The plain GET carries no account; moto finds the other account's bucket by name.
    assert _sha256(_fetch_blob(other, "shared/tool", manifest["config"]["digest"])) == manifest["config"]["digest"]
    buckets = boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]
    assert ecr.layer_bucket_name(OTHER_ACCOUNT, REGION) not in [bucket["Name"] for bucket in buckets]


def test_download_url_errors(client: Any) -> None:
    client.create_repository(repositoryName="team/app")
    push_image(client, "team/app", tag="v1")
    orphan = b"uploaded but never referenced"
    upload_id = client.initiate_layer_upload(repositoryName="team/app")["uploadId"]
    client.upload_layer_part(
        repositoryName="team/app",
        uploadId=upload_id,
        partFirstByte=0,
        partLastByte=len(orphan) - 1,
        layerPartBlob=orphan,
    )
    client.complete_layer_upload(repositoryName="team/app", uploadId=upload_id, layerDigests=[_sha256(orphan)])

    cases = [
        ("team/app", _sha256(b"never uploaded"), "LayersNotFoundException"),
        ("team/app", _sha256(orphan), "LayerInaccessibleException"),
        ("team/missing", _sha256(orphan), "RepositoryNotFoundException"),
        ("team/app", "not-a-digest", "InvalidParameterException"),
    ]
    for repository, digest, code in cases:
        with pytest.raises(ClientError) as exc_info:
            client.get_download_url_for_layer(repositoryName=repository, layerDigest=digest)
        assert _code(exc_info) == code, (repository, digest)


def test_complete_layer_upload_checks_the_digest(client: Any) -> None:
    client.create_repository(repositoryName="team/app")
    upload_id = client.initiate_layer_upload(repositoryName="team/app")["uploadId"]
    client.upload_layer_part(
        repositoryName="team/app", uploadId=upload_id, partFirstByte=0, partLastByte=2, layerPartBlob=b"abc"
    )
    with pytest.raises(ClientError) as exc_info:
        client.complete_layer_upload(repositoryName="team/app", uploadId=upload_id, layerDigests=[_sha256(b"xyz")])
    assert _code(exc_info) == "InvalidLayerException"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.delenv(ecr.S3_ENDPOINT_ENV, raising=False)
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    host, port = moto_server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        moto_server.stop()


def test_threaded_server(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    requests.post(f"{server}/moto-api/reset", timeout=10)
    client = attach(
        boto3.client(
            "ecr", region_name="eu-west-1", endpoint_url=server, aws_access_key_id="k", aws_secret_access_key="s"
        )
    )
    client.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    assert client.describe_pull_through_cache_rules()["pullThroughCacheRules"][0]["upstreamRegistry"] == "quay"
    _template(client, "quay", repositoryPolicy=OMICS_POLICY)

    client.create_repository(repositoryName="team/app")
    push_index(client, "team/app", tag="v1", platforms=["linux/amd64", "linux/arm64/v8"], media_type=OCI_INDEX)
    index = json.loads(_manifest(client, "team/app", {"imageTag": "v1"})["imageManifest"])
    arm_digest = next(entry["digest"] for entry in index["manifests"] if entry["platform"]["architecture"] == "arm64")
    arm = json.loads(_manifest(client, "team/app", {"imageDigest": arm_digest})["imageManifest"])

    url = client.get_download_url_for_layer(repositoryName="team/app", layerDigest=arm["config"]["digest"])[
        "downloadUrl"
    ]
    assert url.startswith(f"{server}/{ecr.layer_bucket_name(ACCOUNT, 'eu-west-1')}/")
    config = requests.get(url, timeout=10).content
    assert _sha256(config) == arm["config"]["digest"]
    assert (json.loads(config)["architecture"], json.loads(config)["variant"]) == ("arm64", "v8")

    # An explicit endpoint wins over the request's host.
    alias = server.replace("127.0.0.1", "localhost")
    monkeypatch.setenv(ecr.S3_ENDPOINT_ENV, alias)
    url = client.get_download_url_for_layer(repositoryName="team/app", layerDigest=arm["layers"][0]["digest"])[
        "downloadUrl"
    ]
    assert url.startswith(alias)
    assert _sha256(requests.get(url, timeout=10).content) == arm["layers"][0]["digest"]


# ------------------------------------------------------------------------------------------
# Manifests: all five media types
# ------------------------------------------------------------------------------------------

PUSHERS = {
    DOCKER_MANIFEST_V2: lambda c, r: push_image(c, r, tag="t", media_type=DOCKER_MANIFEST_V2),
    OCI_MANIFEST: lambda c, r: push_image(c, r, tag="t", media_type=OCI_MANIFEST),
    DOCKER_MANIFEST_LIST: lambda c, r: push_index(
        c, r, tag="t", platforms=["linux/amd64", "linux/arm64/v8"], media_type=DOCKER_MANIFEST_LIST
    ),
    OCI_INDEX: lambda c, r: push_index(
        c, r, tag="t", platforms=["linux/amd64", "linux/arm64/v8"], media_type=OCI_INDEX
    ),
    DOCKER_SCHEMA1: lambda c, r: push_schema1(c, r, tag="t", architecture="amd64"),
}


@pytest.mark.parametrize("media_type", list(PUSHERS))
def test_media_type_round_trip(client: Any, media_type: str) -> None:
    client.create_repository(repositoryName="team/app")
    digest = PUSHERS[media_type](client, "team/app")
    for image_id in ({"imageTag": "t"}, {"imageDigest": digest}):
        image = _manifest(client, "team/app", image_id)
        assert image["imageManifestMediaType"] == media_type
        assert image["imageId"]["imageDigest"] == digest
        assert _sha256(image["imageManifest"].encode()) == digest
    assert _manifest(client, "team/app", {"imageTag": "t"})["imageId"]["imageTag"] == "t"
    details = client.describe_images(repositoryName="team/app", imageIds=[{"imageTag": "t"}])["imageDetails"]
    assert details[0]["imageManifestMediaType"] == media_type

    others = [other for other in IMAGE_MANIFEST_MEDIA_TYPES if other != media_type]
    refused = client.batch_get_image(repositoryName="team/app", imageIds=[{"imageTag": "t"}], acceptedMediaTypes=others)
    assert refused["images"] == []
    assert refused["failures"][0]["failureCode"] == "ImageNotFound"
    assert refused["failures"][0]["imageId"] == {"imageTag": "t"}


@pytest.mark.parametrize(
    ("index_type", "child_type"), [(OCI_INDEX, OCI_MANIFEST), (DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2)]
)
def test_index_children_by_digest(client: Any, index_type: str, child_type: str) -> None:
    client.create_repository(repositoryName="team/app")
    push_index(
        client,
        "team/app",
        tag="multi",
        platforms=["linux/amd64", "linux/arm64/v8"],
        media_type=index_type,
        include_attestation=True,
    )
    index = json.loads(_manifest(client, "team/app", {"imageTag": "multi"})["imageManifest"])
    platforms = [entry["platform"] for entry in index["manifests"]]
    assert platforms[:2] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    assert platforms[2:] == [{"architecture": "unknown", "os": "unknown"}] * 2
    assert index["manifests"][2]["annotations"]["vnd.docker.reference.digest"] == index["manifests"][0]["digest"]
    for entry in index["manifests"]:
        child = _manifest(client, "team/app", {"imageDigest": entry["digest"]})
        assert child["imageManifestMediaType"] == entry["mediaType"]
        assert len(child["imageManifest"].encode()) == entry["size"]
        assert "imageTag" not in child["imageId"]
    assert index["manifests"][0]["mediaType"] == child_type
    untagged = client.list_images(repositoryName="team/app", filter={"tagStatus": "UNTAGGED"})["imageIds"]
    assert len(untagged) == 4


def test_manifests_with_the_same_layers_have_distinct_digests(client: Any) -> None:
    client.create_repository(repositoryName="team/app")
    docker = push_image(client, "team/app", tag="docker", media_type=DOCKER_MANIFEST_V2)
    oci = push_image(client, "team/app", tag="oci", media_type=OCI_MANIFEST)
    lists = [
        push_index(client, "team/app", tag=f"list-{n}", platforms=platforms, media_type=DOCKER_MANIFEST_LIST)
        for n, platforms in enumerate([["linux/amd64"], ["linux/arm64"], ["linux/amd64", "linux/arm64"]])
    ]
    assert len({docker, oci, *lists}) == 5


def test_batch_get_image_failures(client: Any) -> None:
    client.create_repository(repositoryName="team/app")
    digest = push_image(client, "team/app", tag="v1")
    other = push_image(client, "team/app", tag="v2", architecture="arm64")
    missing = _sha256(b"missing")
    response = client.batch_get_image(
        repositoryName="team/app",
        imageIds=[
            {"imageDigest": missing},
            {"imageTag": "nope"},
            {"imageTag": "v1", "imageDigest": other},
            {"imageTag": "v1", "imageDigest": digest},
            {"imageDigest": "bad"},
        ],
    )
    failures = [(failure["imageId"], failure["failureCode"]) for failure in response["failures"]]
    assert failures == [
        ({"imageDigest": missing}, "ImageNotFound"),
        ({"imageTag": "nope"}, "ImageNotFound"),
        ({"imageTag": "v1", "imageDigest": other}, "ImageTagDoesNotMatchDigest"),
        ({"imageDigest": "bad"}, "InvalidImageDigest"),
    ]
    assert [image["imageId"] for image in response["images"]] == [{"imageDigest": digest, "imageTag": "v1"}]
    with pytest.raises(ClientError) as exc_info:
        client.batch_get_image(repositoryName="team/missing", imageIds=[{"imageTag": "v1"}])
    assert _code(exc_info) == "RepositoryNotFoundException"


def test_put_image_errors(client: Any) -> None:
    manifest = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_V2, "config": {}, "layers": []})
    with pytest.raises(ClientError) as exc_info:
        client.put_image(repositoryName="team/missing", imageManifest=manifest, imageTag="v1")
    assert _code(exc_info) == "RepositoryNotFoundException"
    client.create_repository(repositoryName="team/app")
    with pytest.raises(ClientError) as exc_info:
        client.put_image(repositoryName="team/app", imageManifest=manifest, imageDigest=_sha256(b"other"))
    assert _code(exc_info) == "ImageDigestDoesNotMatchException"
    put = client.put_image(repositoryName="team/app", imageManifest=manifest, imageDigest=_sha256(manifest.encode()))
    assert put["image"]["imageId"]["imageDigest"] == _sha256(manifest.encode())


def test_install_is_idempotent() -> None:
    from moto.ecr.models import ECRBackend

    wrapped = ECRBackend.put_image
    ecr.install()
    ecr.install()
    assert ECRBackend.put_image is wrapped
    assert ecr._ORIGINALS["put_image"] is not wrapped
