"""ECR extensions for the sandbox: what moto 5.2.5 lacks or gets wrong, patched in place.

``install()`` adds, without forking moto:

* pull-through cache (PTC) rules: Create/Describe/Update/Delete/ValidatePullThroughCacheRule;
* repository creation templates: Create/Describe/Update/DeleteRepositoryCreationTemplate;
* GetDownloadUrlForLayer, serving the bytes that were really uploaded;
* the push path as the model documents it: UploadLayerPart (contiguous parts, the part-size and
  part-count quotas), CompleteLayerUpload (EmptyUpload, LayerPartTooSmall, InvalidLayer,
  LayerAlreadyExists), BatchCheckLayerAvailability (the media type a manifest gives a blob), and
  PutImage (digest check, LayersNotFound, ReferencedImagesNotFound, ImageAlreadyExists,
  ImageTagAlreadyExists for immutable tags and exclusion filters; a moved tag leaves the old
  image untagged);
* fixes to image handling (manifest digests, BatchGetImage ``acceptedMediaTypes`` and failures);
* ``simulate_ptc_pull()``, which does what ECR does on the first pull through a PTC prefix, and
  the pull itself: BatchGetImage of an image a PTC repository lacks imports it from the rule's
  upstream when a source is set for it (``auditor.sandbox.upstream.set_upstream_source``);
* image scan findings: DescribeImageScanFindings (paginated, basic ``findings`` or enhanced ``enhancedFindings``
  by the registry's scan type) and StartImageScan, over scans seeded with ``set_image_scan_findings``;
* registry scanning: PutRegistryScanningConfiguration checks the model's constraints and the frequencies of
  each scan type, and repository filters match as ECR documents WILDCARD filters;
* CloudTrail management events for every call of the mutating operations
  (:data:`RECORDED_EVENT_NAMES`), moto's own handlers wrapped in place by ``install()``.

How it hooks in: moto dispatches a JSON-protocol request to the ``ECRResponse`` method named
after the ``X-Amz-Target`` operation in snake_case, so the new operations are plain functions
set on ``moto.ecr.responses.ECRResponse``; the state lives on the backend objects
(``moto.ecr.models.ecr_backends[account][region]``), as attributes created lazily, so it is per
account and region and disappears with moto's reset like everything else. Both the in-process
mock (``moto.mock_aws``) and ``ThreadedMotoServer`` use these same classes.

The bodies are written as methods of ``_BackendExtension(ECRBackend)`` and
``_ResponseExtension(ECRResponse)`` whose functions are copied onto moto's classes; offered
upstream they would simply move into those classes.

Layer download URLs (GetDownloadUrlForLayer)
--------------------------------------------
Real ECR answers with a pre-signed S3 GET URL. The sandbox keeps every uploaded blob on its
repository (keyed by digest), copies it on demand into moto's S3, in the bucket
``sandbox-ecr-layers-<account>-<region>`` owned by the registry's account, and returns a SigV4
pre-signed GET URL for it, fetchable with a plain ``requests.get(url)``. The endpoint is chosen
per request:

1. ``$OMICS_AUDIT_SANDBOX_S3_ENDPOINT`` when set (path-style URL on that endpoint);
2. otherwise, when the ECR request itself reached moto on a host that is not an AWS host (a
   ``ThreadedMotoServer``/``moto_server`` at ``http://127.0.0.1:<port>``), that same scheme and
   host, path-style: moto's server routes unsigned requests to S3 by default;
3. otherwise the real virtual-hosted S3 endpoint ``https://<bucket>.s3.<region>.amazonaws.com``,
   which ``mock_aws`` intercepts for ``requests``.

The URL carries no account, so moto resolves the bucket through ``s3_backends.bucket_accounts``
(cross-account bucket lookup, on unless ``MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS=false``). The bucket
is visible in that account's ListBuckets; real ECR uses AWS-owned buckets instead.

Behaviour that is a guess (no source found) is marked GUESS where it is implemented.
"""

from __future__ import annotations

import base64
import binascii
import copy
import fnmatch
import functools
import hashlib
import inspect
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import botocore.session
from botocore import xform_name
from botocore.model import OperationModel, Shape, StructureShape
from botocore.validate import ParamValidator
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse
from moto.ecr.exceptions import (
    ImageAlreadyExistsException,
    InvalidLayerPartException,
    InvalidParameterException,
    RepositoryNotFoundException,
    ScanNotFoundException,
    UploadNotFoundException,
    ValidationException,
)
from moto.ecr.models import ECRBackend, Image, Repository, ecr_backends
from moto.ecr.policy_validation import EcrLifecyclePolicyValidator
from moto.ecr.responses import ECRResponse
from moto.iam.exceptions import MalformedPolicyDocument
from moto.iam.policy_validation import IAMPolicyDocumentValidator
from moto.secretsmanager.models import FakeSecret, ReplicaSecret, secretsmanager_backends
from moto.utilities.utils import get_partition

from auditor.sandbox import cloudtrail, upstream
from auditor.sandbox.presign import S3_ENDPOINT_ENV, presigned_get_url, s3_endpoint_for, store_object

__all__ = [
    "EVENT_SOURCE",
    "PTC_RESOURCE_TYPE",
    "RECORDED_EVENT_NAMES",
    "REPOSITORY_RESOURCE_TYPE",
    "S3_ENDPOINT_ENV",
    "TEMPLATE_RESOURCE_TYPE",
    "PullThroughCacheRule",
    "RepositoryCreationTemplate",
    "clear_image_scan",
    "install",
    "layer_bucket_name",
    "scan_finding",
    "set_image_scan_findings",
    "simulate_ptc_pull",
]

# CloudTrail: every ECR event has this eventSource. Resource types are the CloudFormation type
# names; AWS::ECR::Repository is the type real ECR records carry, the other two are GUESSes.
EVENT_SOURCE = "ecr.amazonaws.com"
PTC_RESOURCE_TYPE = "AWS::ECR::PullThroughCacheRule"
REPOSITORY_RESOURCE_TYPE = "AWS::ECR::Repository"
TEMPLATE_RESOURCE_TYPE = "AWS::ECR::RepositoryCreationTemplate"
# moto's own ECR handlers whose calls install() records, successful or failed.
_MOTO_RECORDED = (
    "CreateRepository",
    "DeleteRepository",
    "SetRepositoryPolicy",
    "DeleteRepositoryPolicy",
    "PutImage",
    "PutLifecyclePolicy",
    "DeleteLifecyclePolicy",
    "PutRegistryPolicy",
    "DeleteRegistryPolicy",
    "PutRegistryScanningConfiguration",
    "PutImageScanningConfiguration",
)
# Every ECR event the sandbox records (the PTC and template handlers are the sandbox's own).
RECORDED_EVENT_NAMES = (
    *_MOTO_RECORDED,
    "CreatePullThroughCacheRule",
    "UpdatePullThroughCacheRule",
    "DeletePullThroughCacheRule",
    "CreateRepositoryCreationTemplate",
    "UpdateRepositoryCreationTemplate",
    "DeleteRepositoryCreationTemplate",
)

# Current quota: 50 PTC rules per registry, not adjustable (ECR user guide, service quotas).
MAX_PTC_RULES = 50
# Layer upload quotas, none adjustable (ECR user guide, service-quotas.html): a part is at most 10 MiB and, but for
# the last part of an upload, at least 5 MiB; an upload has at most 4,200 parts. CONFLICT: the UploadLayerPart doc
# (and the model's LayerPartBlob max) say 20,971,520 bytes; the sandbox keeps the quota, the stricter of the two.
MAX_LAYER_PART_SIZE = 10 * 1024 * 1024
MIN_LAYER_PART_SIZE = 5 * 1024 * 1024
MAX_LAYER_PARTS = 4200
# Page size when maxResults is not given (model docs of both Describe operations).
DEFAULT_PAGE_SIZE = 100
ROOT_PREFIX = "ROOT"
PULL_THROUGH_CACHE = "PULL_THROUGH_CACHE"
# Scan frequencies each scan type supports (PutRegistryScanningConfigurationRequest / ScanFrequency docs); MANUAL
# is what BASIC gives repositories no scan-on-push filter matches, accepted in a BASIC rule (GUESS).
SCAN_FREQUENCIES = {"BASIC": ("SCAN_ON_PUSH", "MANUAL"), "ENHANCED": ("SCAN_ON_PUSH", "CONTINUOUS_SCAN")}

# Upstream registry URL -> UpstreamRegistry enum value, per the upstreamRegistryUrl member doc of
# CreatePullThroughCacheRuleRequest. Docker Hub is only ``registry-1.docker.io``. Chainguard's URL
# is not in the model; ``cgr.dev`` is its registry host (GUESS).
_UPSTREAM_URLS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"public\.ecr\.aws"), "ecr-public"),
    (re.compile(r"registry-1\.docker\.io"), "docker-hub"),
    (re.compile(r"quay\.io"), "quay"),
    (re.compile(r"registry\.k8s\.io"), "k8s"),
    (re.compile(r"ghcr\.io"), "github-container-registry"),
    (re.compile(r"registry\.gitlab\.com"), "gitlab-container-registry"),
    # Azure registry names are 5-50 alphanumerics.
    (re.compile(r"[a-z0-9]{5,50}\.azurecr\.io"), "azure-container-registry"),
    (re.compile(r"[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com"), "ecr"),
    (re.compile(r"cgr\.dev"), "chainguard"),
)
# Upstreams that need a Secrets Manager secret (ECR user guide, pull-through-cache.html).
_AUTHENTICATED_UPSTREAMS = frozenset(
    {
        "docker-hub",
        "github-container-registry",
        "gitlab-container-registry",
        "azure-container-registry",
        "chainguard",
    }
)
_CREDENTIAL_KEYS = ("username", "accessToken")
_DIGEST_RE = re.compile(r"[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+")

_T = TypeVar("_T")
_STATE_LOCK = threading.RLock()
_INSTALL_LOCK = threading.Lock()
_INSTALLED_MARKER = "_omics_audit_sandbox_installed"
# moto's own implementations that the extension wraps; filled by install().
_ORIGINALS: dict[str, Callable[..., Any]] = {}


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------
# Errors: JSON-protocol errors whose code is the model's shape name.
# --------------------------------------------------------------------------------------------


class PullThroughCacheRuleAlreadyExistsException(ServiceException):
    code = "PullThroughCacheRuleAlreadyExistsException"


class PullThroughCacheRuleNotFoundException(ServiceException):
    code = "PullThroughCacheRuleNotFoundException"


class UnsupportedUpstreamRegistryException(ServiceException):
    code = "UnsupportedUpstreamRegistryException"


class SecretNotFoundException(ServiceException):
    code = "SecretNotFoundException"


class LimitExceededException(ServiceException):
    # moto.ecr.exceptions has one with a fixed image-scan message; this one takes the message.
    code = "LimitExceededException"


class TemplateAlreadyExistsException(ServiceException):
    code = "TemplateAlreadyExistsException"


class TemplateNotFoundException(ServiceException):
    code = "TemplateNotFoundException"


class LayersNotFoundException(ServiceException):
    code = "LayersNotFoundException"


class LayerInaccessibleException(ServiceException):
    code = "LayerInaccessibleException"


class InvalidLayerException(ServiceException):
    code = "InvalidLayerException"


class AccessDeniedException(ServiceException):
    code = "AccessDeniedException"


class ImageDigestDoesNotMatchException(ServiceException):
    code = "ImageDigestDoesNotMatchException"


class ImageTagAlreadyExistsException(ServiceException):
    code = "ImageTagAlreadyExistsException"


class ReferencedImagesNotFoundException(ServiceException):
    code = "ReferencedImagesNotFoundException"


class LayerAlreadyExistsException(ServiceException):
    code = "LayerAlreadyExistsException"


class EmptyUploadException(ServiceException):
    code = "EmptyUploadException"


class LayerPartTooSmallException(ServiceException):
    code = "LayerPartTooSmallException"


class UnableToGetUpstreamImageException(ServiceException):
    code = "UnableToGetUpstreamImageException"


class _InvalidLayerPart(InvalidLayerPartException):
    """moto's InvalidLayerPartException (with the model's registryId, repositoryName, uploadId and
    lastValidByteReceived) and the reason appended to its message."""

    def __init__(self, repository: Repository, upload_id: str, last_valid_byte_received: int, reason: str) -> None:
        super().__init__(repository.registry_id, repository.name, upload_id, last_valid_byte_received)
        self.message = f"{self.message}: {reason}"
        self.args = (self.message,)


# --------------------------------------------------------------------------------------------
# The botocore model: the source of patterns, limits and response members.
# --------------------------------------------------------------------------------------------


@functools.cache
def _operation_model(operation_name: str) -> OperationModel:
    model = botocore.session.get_session().get_service_model("ecr")
    return model.operation_model(operation_name)


def _constraint_errors(shape: Shape, value: Any, path: str) -> list[str]:
    """Check ``value`` against the model's length/pattern/enum/range constraints.

    botocore's client-side validation checks only types, required members and minimums; the
    service checks the rest, so the sandbox does too.
    """
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        return _structure_errors(shape, value, path)
    if shape.type_name == "list" and isinstance(value, list):
        errors = _bound_errors(len(value), shape.metadata, value, path, "length")
        member = cast(Any, shape).member
        for index, item in enumerate(value, start=1):
            errors += _constraint_errors(member, item, f"{path}.{index}.member")
        return errors
    if shape.type_name == "string" and isinstance(value, str):
        return _string_errors(shape, value, path)
    if shape.type_name in ("integer", "long") and isinstance(value, int):
        return _bound_errors(value, shape.metadata, value, path, "value")
    return []


def _structure_errors(shape: StructureShape, value: Mapping[str, Any], path: str) -> list[str]:
    errors = []
    for name, member in shape.members.items():
        member_path = f"{path}.{name}" if path else name
        if name in value and value[name] is not None:
            errors += _constraint_errors(member, value[name], member_path)
        elif name in shape.required_members:
            errors.append(f"Value null at '{member_path}' failed to satisfy constraint: Member must not be null")
    return errors


def _string_errors(shape: Shape, value: str, path: str) -> list[str]:
    errors = _bound_errors(len(value), shape.metadata, value, path, "length")
    enum = getattr(shape, "enum", None)
    if enum and value not in enum:
        errors.append(_constraint_message(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]"))
    pattern = shape.metadata.get("pattern")
    # Model patterns are Java regexes matched against the whole value.
    if pattern and not re.fullmatch(pattern, value):
        errors.append(_constraint_message(value, path, f"Member must satisfy regular expression pattern: {pattern}"))
    return errors


def _bound_errors(measure: int, metadata: Mapping[str, Any], value: Any, path: str, what: str) -> list[str]:
    if "max" in metadata and measure > metadata["max"]:
        return [_constraint_message(value, path, f"Member must have {what} less than or equal to {metadata['max']}")]
    if "min" in metadata and measure < metadata["min"]:
        return [_constraint_message(value, path, f"Member must have {what} greater than or equal to {metadata['min']}")]
    return []


def _constraint_message(value: Any, path: str, constraint: str) -> str:
    return f"Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"


def _validate_input(operation_name: str, params: Mapping[str, Any]) -> None:
    """Raise the operation's validation error if ``params`` break the model's constraints.

    The wording is AWS's generic model-validation message. ValidationException when the
    operation declares it, else InvalidParameterException (GetDownloadUrlForLayer has no
    ValidationException in the model). GUESS: which of the two the PTC and template
    operations really use for a constraint violation is not documented; ECR's older
    operations answer InvalidParameterException "Invalid parameter at ...".
    """
    operation = _operation_model(operation_name)
    input_shape = operation.input_shape
    if input_shape is None:
        return
    errors = _constraint_errors(input_shape, params, "")
    if not errors:
        return
    noun = "error" if len(errors) == 1 else "errors"
    message = f"{len(errors)} validation {noun} detected: " + "; ".join(errors)
    declared = {shape.name for shape in operation.error_shapes}
    if "ValidationException" in declared:
        raise ValidationException(message)
    raise InvalidParameterException(message)


def _response(operation_name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Keep exactly the members of the operation's output shape (and drop unset ones)."""
    output_shape = _operation_model(operation_name).output_shape
    members = output_shape.members if output_shape is not None else {}
    return {name: value for name, value in fields.items() if name in members and value is not None}


# --------------------------------------------------------------------------------------------
# State models.
# --------------------------------------------------------------------------------------------


@dataclass
class PullThroughCacheRule:
    ecr_repository_prefix: str
    upstream_registry_url: str
    upstream_registry: str
    registry_id: str
    credential_arn: str | None = None
    custom_role_arn: str | None = None
    upstream_repository_prefix: str | None = None
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ecrRepositoryPrefix": self.ecr_repository_prefix,
            "upstreamRegistryUrl": self.upstream_registry_url,
            "createdAt": self.created_at,
            "registryId": self.registry_id,
            "credentialArn": self.credential_arn,
            "customRoleArn": self.custom_role_arn,
            "upstreamRepositoryPrefix": self.upstream_repository_prefix,
            "upstreamRegistry": self.upstream_registry,
            "updatedAt": self.updated_at,
        }


# RepositoryCreationTemplate members a caller may set (all but prefix and timestamps).
TEMPLATE_SETTINGS = (
    "description",
    "encryptionConfiguration",
    "resourceTags",
    "imageTagMutability",
    "imageTagMutabilityExclusionFilters",
    "repositoryPolicy",
    "lifecyclePolicy",
    "appliedFor",
    "customRoleArn",
)


@dataclass
class RepositoryCreationTemplate:
    prefix: str
    applied_for: list[str]
    description: str | None = None
    # GUESS: a template created without encryptionConfiguration describes as AES256, the
    # default ECR applies to a repository without one.
    encryption_configuration: dict[str, str] = field(default_factory=lambda: {"encryptionType": "AES256"})
    resource_tags: list[dict[str, str]] = field(default_factory=list)
    image_tag_mutability: str = "MUTABLE"
    image_tag_mutability_exclusion_filters: list[dict[str, str]] | None = None
    repository_policy: str | None = None
    lifecycle_policy: str | None = None
    custom_role_arn: str | None = None
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        fields = {name: getattr(self, xform_name(name)) for name in TEMPLATE_SETTINGS}
        fields.update(prefix=self.prefix, createdAt=self.created_at, updatedAt=self.updated_at)
        return {name: value for name, value in fields.items() if value is not None}


def _attached(owner: Any, name: str) -> dict[str, Any]:
    """Extension state kept on a moto object, created on first use (and dropped with it on moto's reset)."""
    state = getattr(owner, name, None)
    if state is None:
        state = {}
        setattr(owner, name, state)
    return state


def _ptc_rules(backend: ECRBackend) -> dict[str, PullThroughCacheRule]:
    """The backend's PTC rules keyed by normalized prefix."""
    return _attached(backend, "pull_through_cache_rules")


def _templates(backend: ECRBackend) -> dict[str, RepositoryCreationTemplate]:
    return _attached(backend, "repository_creation_templates")


def _layer_blobs(repository: Repository) -> dict[str, bytes]:
    """Uploaded blob bytes by digest; moto itself keeps only sizes (``repository.layers``)."""
    return _attached(repository, "layer_blobs")


# --------------------------------------------------------------------------------------------
# Prefixes, pagination, upstreams, secrets.
# --------------------------------------------------------------------------------------------


def _prefix_key(prefix: str) -> str:
    # "There is always an assumed / applied to the end of the prefix": 'x' and 'x/' are one rule.
    return prefix if prefix == ROOT_PREFIX else prefix.rstrip("/")


def _prefix_matches(prefix: str, repository_name: str) -> bool:
    key = _prefix_key(prefix)
    return key != ROOT_PREFIX and repository_name.startswith(key + "/")


def _most_specific(candidates: Mapping[str, _T], repository_name: str) -> _T | None:
    """Longest prefix (with its implied '/') that the name starts with, else ROOT, else None."""
    matching = [key for key in candidates if _prefix_matches(key, repository_name)]
    if matching:
        return candidates[max(matching, key=len)]
    return candidates.get(ROOT_PREFIX)


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": key}).encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return str(json.loads(base64.urlsafe_b64decode(token.encode()))["after"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidParameterException(
            "Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid token'"
        ) from exc


def _paginate(
    items: Iterable[_T], key: Callable[[_T], str], max_results: int | None, next_token: str | None
) -> tuple[list[_T], str | None]:
    """One page in key order; the token names the first key of the next page."""
    ordered = sorted(items, key=key)
    start = 0
    if next_token:
        first = _decode_token(next_token)
        start = next((i for i, item in enumerate(ordered) if key(item) >= first), len(ordered))
    end = start + (max_results or DEFAULT_PAGE_SIZE)
    token = _encode_token(key(ordered[end])) if end < len(ordered) else None
    return ordered[start:end], token


def _upstream_registry_for(url: str) -> str | None:
    return next((name for pattern, name in _UPSTREAM_URLS if pattern.fullmatch(url)), None)


def _find_secret(account_id: str, region: str, arn: str) -> FakeSecret | ReplicaSecret | None:
    """The secret in the registry's own account and Region, as ECR requires, or None."""
    parts = arn.split(":", 6)
    # arn:partition:secretsmanager:region:account:secret:name
    if len(parts) != 7 or parts[3] != region or parts[4] != account_id:
        return None
    return secretsmanager_backends[account_id][region].secrets.get(arn)


def _credential_failure(secret: FakeSecret | ReplicaSecret | None) -> str | None:
    """Why a PTC credential secret cannot be used, or None when it looks usable."""
    if secret is None:
        return "The secret specified by credentialArn was not found."
    if secret.is_deleted():
        return "The secret specified by credentialArn is scheduled for deletion."
    version = secret.versions.get(secret.default_version_id or "")
    text = version.get("secret_string") if version else None
    if not text:
        return "The secret specified by credentialArn has no SecretString value."
    try:
        value = json.loads(text)
    except ValueError:
        return "The secret value is not valid JSON."
    missing = [
        key
        for key in _CREDENTIAL_KEYS
        if not (isinstance(value, dict) and isinstance(value.get(key), str) and value[key])
    ]
    if missing:
        keys = " and ".join(_CREDENTIAL_KEYS)
        return f"The secret value must be a JSON object with the keys {keys}; missing: {', '.join(missing)}."
    return None


def _validate_repository_policy(text: str) -> None:
    # The same relaxations moto's SetRepositoryPolicy applies, so a template's policy is
    # accepted exactly when the repository created from it would accept it.
    validator = IAMPolicyDocumentValidator(text)
    validator._validate_resource_exist = lambda: None  # type: ignore[method-assign]
    validator._validate_version = lambda: None  # type: ignore[method-assign]
    validator._validate_sid_uniqueness = lambda: None  # type: ignore[method-assign]
    try:
        validator.validate()
    except MalformedPolicyDocument as exc:
        raise InvalidParameterException(
            "Invalid parameter at 'repositoryPolicy' failed to satisfy constraint: 'Invalid repository policy provided'"
        ) from exc


# --------------------------------------------------------------------------------------------
# Blobs, manifests and S3 delivery.
# --------------------------------------------------------------------------------------------


def _grants_account(policy_text: str | None, account: str, action: str) -> bool:
    """Whether an Allow statement of a resource policy names ``account`` (or one of its principals, or '*')
    for ``action``; conditions are not evaluated."""
    if not policy_text:
        return False
    statements = json.loads(policy_text).get("Statement", [])
    for stmt in statements if isinstance(statements, list) else [statements]:
        if stmt.get("Effect") != "Allow" or "Principal" not in stmt:
            continue
        principal = stmt["Principal"]
        entries = ["*"] if principal == "*" else principal.get("AWS", []) if isinstance(principal, dict) else []
        entries = [entries] if isinstance(entries, str) else entries
        named = any(e in ("*", account) or f":{account}:" in e for e in entries)
        actions = stmt.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if named and any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in actions):
            return True
    return False


def _sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _manifest_document(text: str) -> dict[str, Any] | None:
    """A manifest's JSON object, or None when it is not one."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _is_foreign(descriptor: Mapping[str, Any]) -> bool:
    # Foreign layers (Windows base layers: a ``foreign`` media type, or ``urls`` to fetch them from) are never
    # pushed to the registry (distribution spec, manifest-v2-2 "urls"; OCI image-spec descriptor ``urls``).
    # GUESS: ECR does not require them to have been uploaded.
    return ".foreign." in str(descriptor.get("mediaType") or "") or bool(descriptor.get("urls"))


def _blob_descriptors(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The blobs a single-image manifest references (config and layers, foreign layers left out) as
    ``{"digest", "mediaType"}``; Docker schema 1 lists its layers as ``fsLayers[].blobSum`` and embeds the config."""
    found: list[dict[str, Any]] = []
    config = document.get("config")
    candidates = [config] if isinstance(config, dict) else []
    layers = document.get("layers")
    candidates += [layer for layer in layers if isinstance(layer, dict)] if isinstance(layers, list) else []
    for descriptor in candidates:
        if isinstance(descriptor.get("digest"), str) and not _is_foreign(descriptor):
            found.append({"digest": descriptor["digest"], "mediaType": descriptor.get("mediaType")})
    fs_layers = document.get("fsLayers")
    for layer in fs_layers if isinstance(fs_layers, list) else []:
        if isinstance(layer, dict) and isinstance(layer.get("blobSum"), str):
            found.append({"digest": layer["blobSum"], "mediaType": None})
    return found


def _blob_digests(document: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(descriptor["digest"] for descriptor in _blob_descriptors(document)))


def _child_digests(document: Mapping[str, Any]) -> list[str]:
    """The manifests an index or manifest list names (``manifests[].digest``)."""
    entries = document.get("manifests")
    if not isinstance(entries, list):
        return []
    digests = (entry.get("digest") for entry in entries if isinstance(entry, dict))
    return list(dict.fromkeys(digest for digest in digests if isinstance(digest, str)))


def _referenced_blobs(repository: Repository) -> set[str]:
    """Config and layer digests referenced by any image manifest in the repository."""
    referenced: set[str] = set()
    for image in repository.images:
        document = _manifest_document(image.image_manifest)
        if document is not None:
            referenced.update(_blob_digests(document))
    return referenced


def _blob_media_types(repository: Repository) -> dict[str, str]:
    """Blob digest -> the media type a manifest in the repository gives it (the first one found)."""
    types: dict[str, str] = {}
    for image in repository.images:
        document = _manifest_document(image.image_manifest)
        for descriptor in _blob_descriptors(document) if document is not None else []:
            if isinstance(descriptor["mediaType"], str):
                types.setdefault(descriptor["digest"], descriptor["mediaType"])
    return types


def _wildcard_match(pattern: str, value: str) -> bool:
    # ImageTagMutabilityExclusionFilter values are WILDCARD filters over [0-9a-zA-Z._*-]: '*' is any run.
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), value) is not None


def _tag_is_immutable(repository: Repository, tag: str) -> bool:
    """Whether ``tag`` may not be moved in ``repository``: IMMUTABLE, or IMMUTABLE_WITH_EXCLUSION unless a filter
    matches the tag, or MUTABLE_WITH_EXCLUSION when one does (ImageTagMutability, exclusion filters)."""
    mutability = str(getattr(repository.image_tag_mutability, "value", repository.image_tag_mutability))
    filters = repository.image_tag_mutability_exclusion_filters or []
    excluded = any(_wildcard_match(str(f.get("filter", "")), tag) for f in filters)
    if mutability == "IMMUTABLE_WITH_EXCLUSION":
        return not excluded
    if mutability == "MUTABLE_WITH_EXCLUSION":
        return excluded
    return mutability == "IMMUTABLE"


def _remove_tag(image: Image, tag: str) -> None:
    """Take ``tag`` off ``image``, which stays in the repository (untagged when it was its last tag), as ECR leaves
    the image a moved tag pointed to. moto's remove_tag keeps the removed tag as ``image_tag`` when none is left."""
    image.remove_tag(tag)
    if not image.image_tags:
        image.image_tag = None  # type: ignore[assignment]


def layer_bucket_name(account_id: str, region: str) -> str:
    """The moto S3 bucket that holds the sandbox's downloadable ECR blobs."""
    return f"sandbox-ecr-layers-{account_id}-{region}"


def _store_blob(account_id: str, region: str, repository_name: str, digest: str, data: bytes) -> tuple[str, str]:
    """Copy a blob into the sandbox bucket (created on demand); returns (bucket, key)."""
    bucket = layer_bucket_name(account_id, region)
    key = f"{repository_name}/{digest}"
    store_object(account_id, region, bucket, key, data)
    return bucket, key


def _image_digest_from_manifest(self: Image) -> None:
    """Replacement for moto's ``Image._create_digest``.

    moto hashes the concatenated layer digests (and, for manifest lists and indexes, a random
    number in 0..100), so two manifests with the same layers get one digest and index digests
    collide. A registry digest is the sha256 of the exact manifest bytes.
    """
    self._image_digest = _sha256_digest(self.image_manifest.encode("utf-8"))


def _image_failure(image_id: Mapping[str, Any], code: str, reason: str) -> dict[str, Any]:
    echoed = {key: image_id[key] for key in ("imageDigest", "imageTag") if image_id.get(key)}
    return {"imageId": echoed, "failureCode": code, "failureReason": reason}


def _resolve_image(images: Iterable[Image], image_id: Mapping[str, Any]) -> Image | dict[str, Any]:
    """The image of ``images`` an ImageIdentifier names, or the BatchGetImage failure entry."""
    images = list(images)
    tag, digest = image_id.get("imageTag"), image_id.get("imageDigest")
    if not tag and not digest:
        return _image_failure(
            image_id, "MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null"
        )
    if digest and not _DIGEST_RE.fullmatch(digest):
        return _image_failure(image_id, "InvalidImageDigest", "Invalid request parameters: invalid image digest")
    by_tag = next((image for image in images if tag in image.image_tags), None) if tag else None
    by_digest = next((image for image in images if image.image_digest == digest), None) if digest else None
    if tag and digest and by_tag is not None and by_tag is not by_digest:
        return _image_failure(
            image_id, "ImageTagDoesNotMatchDigest", "Invalid request parameters: tag does not match digest"
        )
    image = by_tag if tag else by_digest
    if image is None:
        return _image_failure(image_id, "ImageNotFound", "Requested image not found")
    return image


def _part_sizes(upload: Any) -> list[int]:
    """The sizes of the parts an upload received, in order (kept on moto's LayerUpload)."""
    sizes: list[int] | None = getattr(upload, "part_sizes", None)
    if sizes is None:
        sizes = []
        upload.part_sizes = sizes
    return sizes


def _check_references(repository: Repository, document: Mapping[str, Any]) -> None:
    """PutImage of a new manifest: the blobs it references were uploaded, the manifests it names were pushed."""
    missing = [digest for digest in _blob_digests(document) if digest not in repository.layers]
    if missing:
        raise LayersNotFoundException(
            f"Layers with digests [{', '.join(missing)}] required for pushing image into repository with name "
            f"'{repository.name}' in registry with id '{repository.registry_id}' do not exist"
        )
    present = {image.image_digest for image in repository.images}
    absent = [digest for digest in _child_digests(document) if digest not in present]
    if absent:
        raise ReferencedImagesNotFoundException(
            f"The manifest list references images that do not exist in the repository with name '{repository.name}' "
            f"in registry with id '{repository.registry_id}': {', '.join(absent)}"
        )


def _upstream_repository(rule: PullThroughCacheRule, repository_name: str) -> str:
    """The upstream repository a cache repository stands for: the name without the rule's ECR prefix, under the
    rule's upstream prefix when it has one (``my-app/image1`` -> ``upstream-app/image1`` for prefixes ``my-app`` and
    ``upstream-app``; pull-through-cache-private-wildcards.html). Nothing is added: Docker Hub's official images
    are pulled as ``<prefix>/library/<name>``, with ``library/`` written (pull-through-cache-working-pulling.html)."""
    prefix = _prefix_key(rule.ecr_repository_prefix)
    rest = repository_name if prefix == ROOT_PREFIX else repository_name[len(prefix) + 1 :]
    upstream_prefix = _prefix_key(rule.upstream_repository_prefix or ROOT_PREFIX)
    return rest if upstream_prefix == ROOT_PREFIX else f"{upstream_prefix}/{rest}"


def _upstream_problems(image: upstream.UpstreamImage, blobs: Mapping[str, int], manifests: set[str]) -> list[str]:
    """What does not add up in an image a source returned (its children included), given the blobs and
    manifests the cache repository already has."""
    problems = [problem for child in image.children for problem in _upstream_problems(child, blobs, manifests)]
    try:
        document = _manifest_document(image.manifest.decode("utf-8"))
    except UnicodeDecodeError:
        document = None
    if document is None:
        return [*problems, f"the manifest {image.digest} is not a JSON object"]
    if not image.media_type:
        problems.append(f"the manifest {image.digest} has no media type")
    problems += [
        f"the blob {digest} does not match its content"
        for digest, data in image.blobs.items()
        if _sha256_digest(bytes(data)) != digest
    ]
    missing = [digest for digest in _blob_digests(document) if digest not in image.blobs and digest not in blobs]
    if missing:
        problems.append(f"the manifest {image.digest} references blobs it does not come with: {', '.join(missing)}")
    children = {child.digest for child in image.children}
    absent = [digest for digest in _child_digests(document) if digest not in children and digest not in manifests]
    if absent:
        problems.append(f"the manifest {image.digest} names manifests it does not come with: {', '.join(absent)}")
    return problems


def _check_upstream_image(image: upstream.UpstreamImage, digest: str | None, repository: Repository | None) -> None:
    """Raise UpstreamError when the image a source returned cannot be imported as it is: not the ``digest`` asked
    for, or content that does not add up (``_upstream_problems``)."""
    problems = []
    if digest is not None and image.digest != digest:
        problems.append(f"asked for {digest}, the upstream returned the manifest {image.digest}")
    blobs = repository.layers if repository is not None else {}
    manifests = {found.image_digest for found in repository.images} if repository is not None else set()
    problems += _upstream_problems(image, blobs, manifests)
    if problems:
        raise upstream.UpstreamError("The upstream image cannot be imported: " + "; ".join(problems))


# --------------------------------------------------------------------------------------------
# Backend methods (copied onto moto's ECRBackend by install()).
# --------------------------------------------------------------------------------------------


class _BackendExtension(ECRBackend):
    def _validate_registry_policy_action(self, policy_text: str) -> None:
        # moto accepts only ecr:CreateRepository and ecr:ReplicateImage, which rejects the very
        # statement HealthOmics documents (ecr:BatchImportUpstreamImage). Registry policy scope V2,
        # the default for new registries, accepts every ECR action (docs/aws-semantics.md §3.2); anything
        # outside the ecr: namespace stays invalid.
        policy = json.loads(policy_text)
        statements = policy.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            actions = statement.get("Action", statement.get("NotAction", []))
            for action in [actions] if isinstance(actions, str) else actions:
                if not (action == "*" or str(action).lower().startswith("ecr:")):
                    raise MalformedPolicyDocument()

    def _check_registry_id(self, registry_id: str | None) -> None:
        # moto keeps one registry per account backend; another account's registry is not
        # reachable from here. GUESS: ECR answers a foreign registryId with this error.
        if registry_id and registry_id != self.account_id:
            raise InvalidParameterException(
                f"Invalid parameter at 'registryId' failed to satisfy constraint: "
                f"'Registry {registry_id} is not the caller's registry {self.account_id}'"
            )

    def get_repository_policy(self, registry_id: str, repository_name: str) -> dict[str, Any]:
        # Another account's repository (moto answers RepositoryNotFound): ECR lets the caller read the policy
        # only when that repository's own policy grants the caller's account ecr:GetRepositoryPolicy. The
        # sandbox checks exactly that (Allow statements, conditions ignored) with its own small matcher, never
        # the auditor's evaluator, so the scan's cross-account verdicts are tested against an independent answer.
        if registry_id and registry_id != self.account_id:
            owner = ecr_backends[registry_id][self.region_name]
            repo = owner._get_repository(repository_name, registry_id)
            if not _grants_account(repo.policy, self.account_id, "ecr:GetRepositoryPolicy"):
                raise AccessDeniedException(
                    f"User: arn:aws:sts::{self.account_id}:assumed-role/caller is not authorized to perform: "
                    f"ecr:GetRepositoryPolicy on resource: {repo.arn} because no resource-based policy allows "
                    "the ecr:GetRepositoryPolicy action"
                )
            return owner.get_repository_policy(registry_id, repository_name)
        return cast(dict[str, Any], _ORIGINALS["get_repository_policy"](self, registry_id, repository_name))

    def _require_secret(self, credential_arn: str) -> None:
        if _find_secret(self.account_id, self.region_name, credential_arn) is None:
            raise SecretNotFoundException(
                f"The specified secret '{credential_arn}' was not found in the registry's account and Region"
            )

    def _get_ptc_rule(self, ecr_repository_prefix: str, registry_id: str | None) -> PullThroughCacheRule:
        self._check_registry_id(registry_id)
        rule = _ptc_rules(self).get(_prefix_key(ecr_repository_prefix))
        if rule is None:
            raise PullThroughCacheRuleNotFoundException(
                f"The pull through cache rule with prefix '{ecr_repository_prefix}' does not exist "
                f"in the registry with id '{self.account_id}'"
            )
        return rule

    def create_pull_through_cache_rule(
        self,
        *,
        ecr_repository_prefix: str,
        upstream_registry_url: str,
        registry_id: str | None = None,
        upstream_registry: str | None = None,
        credential_arn: str | None = None,
        custom_role_arn: str | None = None,
        upstream_repository_prefix: str | None = None,
    ) -> PullThroughCacheRule:
        self._check_registry_id(registry_id)
        registry = self._classify_upstream(upstream_registry_url, upstream_registry, credential_arn)
        if (
            upstream_repository_prefix
            and upstream_repository_prefix != ROOT_PREFIX
            and ecr_repository_prefix == ROOT_PREFIX
        ):
            # Documented: an upstream prefix can be set only with a non-ROOT ECR prefix.
            raise InvalidParameterException(
                "Invalid parameter: upstreamRepositoryPrefix can only be set when ecrRepositoryPrefix is not ROOT"
            )
        with _STATE_LOCK:
            rules = _ptc_rules(self)
            key = _prefix_key(ecr_repository_prefix)
            if key in rules:
                raise PullThroughCacheRuleAlreadyExistsException(
                    f"A pull through cache rule with prefix '{ecr_repository_prefix}' already exists "
                    f"in the registry with id '{self.account_id}'"
                )
            if len(rules) >= MAX_PTC_RULES:
                raise LimitExceededException(
                    f"The maximum number of pull through cache rules ({MAX_PTC_RULES}) per registry has been reached"
                )
            if credential_arn:
                self._require_secret(credential_arn)
            rule = PullThroughCacheRule(
                ecr_repository_prefix=ecr_repository_prefix,
                upstream_registry_url=upstream_registry_url,
                upstream_registry=registry,
                registry_id=self.account_id,
                credential_arn=credential_arn,
                custom_role_arn=custom_role_arn,
                upstream_repository_prefix=upstream_repository_prefix,
            )
            rule.updated_at = rule.created_at
            rules[key] = rule
            return rule

    @staticmethod
    def _classify_upstream(url: str, declared: str | None, credential_arn: str | None) -> str:
        inferred = _upstream_registry_for(url)
        if inferred is None or (declared and declared != inferred):
            raise UnsupportedUpstreamRegistryException(f"The specified upstream registry '{url}' isn't supported.")
        if inferred in _AUTHENTICATED_UPSTREAMS and not credential_arn:
            # The real service's answer (seen in aws-controllers-k8s/community#2589).
            raise UnsupportedUpstreamRegistryException(
                "The specified upstream registry requires authentication. Specify a valid Secrets Manager ARN"
            )
        return inferred

    def describe_pull_through_cache_rules(
        self, registry_id: str | None = None, ecr_repository_prefixes: list[str] | None = None
    ) -> list[PullThroughCacheRule]:
        self._check_registry_id(registry_id)
        rules = _ptc_rules(self)
        if not ecr_repository_prefixes:
            return list(rules.values())
        # GUESS: a named prefix without a rule raises rather than being skipped.
        unique = {_prefix_key(prefix): prefix for prefix in ecr_repository_prefixes}
        return [self._get_ptc_rule(prefix, registry_id) for prefix in unique.values()]

    def update_pull_through_cache_rule(
        self,
        ecr_repository_prefix: str,
        registry_id: str | None = None,
        credential_arn: str | None = None,
        custom_role_arn: str | None = None,
    ) -> PullThroughCacheRule:
        with _STATE_LOCK:
            rule = self._get_ptc_rule(ecr_repository_prefix, registry_id)
            if not credential_arn and not custom_role_arn:
                # The real service's answer (pulumi/pulumi-aws#5714).
                raise InvalidParameterException(
                    "Invalid input: Please set either credential arn or role arn to update the credentials"
                )
            if credential_arn:
                self._require_secret(credential_arn)
                rule.credential_arn = credential_arn
            if custom_role_arn:
                rule.custom_role_arn = custom_role_arn
            rule.updated_at = _now()
            return rule

    def delete_pull_through_cache_rule(
        self, ecr_repository_prefix: str, registry_id: str | None = None
    ) -> PullThroughCacheRule:
        with _STATE_LOCK:
            rule = self._get_ptc_rule(ecr_repository_prefix, registry_id)
            # Cached repositories stay; deleting a rule only stops future caching.
            return _ptc_rules(self).pop(_prefix_key(rule.ecr_repository_prefix))

    def validate_pull_through_cache_rule(
        self, ecr_repository_prefix: str, registry_id: str | None = None
    ) -> tuple[PullThroughCacheRule, str | None]:
        """The rule and why its credentials are unusable (None when valid).

        A rule that names a credential, whatever its upstream, is valid when the secret is in
        this account and Region, not scheduled for deletion, and its SecretString is JSON with
        ``username`` and ``accessToken``; the upstream login itself cannot be tried here. A rule
        with no credential is valid unless its upstream requires one.

        GUESS (aws-semantics.md §1.2): the real call reads the rule's secret whenever one is
        attached, also on an upstream that needs none (Quay, ECR Public, k8s), since the rule
        will present it; no source says it skips the secret there.
        """
        rule = self._get_ptc_rule(ecr_repository_prefix, registry_id)
        if rule.credential_arn:
            return rule, _credential_failure(_find_secret(self.account_id, self.region_name, rule.credential_arn))
        if rule.upstream_registry in _AUTHENTICATED_UPSTREAMS:
            return rule, "The upstream registry requires authentication but the rule has no credentialArn."
        return rule, None

    def _get_template(self, prefix: str) -> RepositoryCreationTemplate:
        template = _templates(self).get(_prefix_key(prefix))
        if template is None:
            raise TemplateNotFoundException(
                f"The repository creation template with prefix '{prefix}' does not exist "
                f"in the registry with id '{self.account_id}'"
            )
        return template

    def _check_template(self, template: RepositoryCreationTemplate) -> None:
        if not template.applied_for:
            raise InvalidParameterException(
                "Invalid parameter at 'appliedFor' failed to satisfy constraint: 'must not be empty'"
            )
        self.validate_image_tag_mutability_params_compatibility(
            template.image_tag_mutability, cast(Any, template.image_tag_mutability_exclusion_filters)
        )
        if template.repository_policy:
            _validate_repository_policy(template.repository_policy)
        if template.lifecycle_policy:
            EcrLifecyclePolicyValidator(template.lifecycle_policy).validate()

    def create_repository_creation_template(
        self, prefix: str, applied_for: list[str], settings: Mapping[str, Any] | None = None
    ) -> RepositoryCreationTemplate:
        """``settings``: optional template members by API name (see TEMPLATE_SETTINGS)."""
        template = RepositoryCreationTemplate(prefix=prefix, applied_for=list(applied_for))
        _apply_template_settings(template, settings or {})
        template.updated_at = template.created_at
        self._check_template(template)
        with _STATE_LOCK:
            templates = _templates(self)
            if _prefix_key(prefix) in templates:
                raise TemplateAlreadyExistsException(
                    f"The repository creation template with prefix '{prefix}' already exists "
                    f"in the registry with id '{self.account_id}'"
                )
            templates[_prefix_key(prefix)] = template
            return template

    def describe_repository_creation_templates(
        self, prefixes: list[str] | None = None
    ) -> list[RepositoryCreationTemplate]:
        templates = _templates(self)
        if not prefixes:
            return list(templates.values())
        # Unlike the PTC describe, the model gives this operation no not-found error.
        wanted = {_prefix_key(prefix) for prefix in prefixes}
        return [template for key, template in templates.items() if key in wanted]

    def update_repository_creation_template(
        self, prefix: str, settings: Mapping[str, Any]
    ) -> RepositoryCreationTemplate:
        """Change only the members present in ``settings`` (GUESS: partial update)."""
        with _STATE_LOCK:
            current = self._get_template(prefix)
            candidate = RepositoryCreationTemplate(**vars(current))
            _apply_template_settings(candidate, settings)
            self._check_template(candidate)
            candidate.updated_at = _now()
            vars(current).update(vars(candidate))
            return current

    def delete_repository_creation_template(self, prefix: str) -> RepositoryCreationTemplate:
        with _STATE_LOCK:
            self._get_template(prefix)
            return _templates(self).pop(_prefix_key(prefix))

    # Layer upload (InitiateLayerUpload is moto's: a UUID uploadId and partSize 10 MiB, the value of the AWS CLI's
    # initiate-layer-upload example and the quota on a part's size).

    def upload_layer_part(
        self,
        repository_name: str,
        upload_id: str,
        part_first_byte: int,
        part_last_byte: int,
        layer_part_blob: bytes,
        registry_id: str | None = None,
    ) -> dict[str, Any]:
        """UploadLayerPart: parts arrive in order, each starting right after the last byte received.

        InvalidLayerPartException ("The layer part size is not valid, or the first byte specified is not
        consecutive to the last byte of a previous layer part upload", with lastValidByteReceived) for a part that
        does not start at lastByteReceived + 1, whose range does not span its bytes (GUESS), or that is larger than
        the 10 MiB quota (GUESS: this exception rather than a validation error). LimitExceededException past the
        4,200-part quota (GUESS: the model lists it for this operation).
        """
        repository = self._get_repository(repository_name, registry_id)
        blob = bytes(layer_part_blob or b"")
        with _STATE_LOCK:
            upload = repository.uploads.get(upload_id)
            if upload is None:
                raise UploadNotFoundException(upload_id, repository_name, repository.registry_id)
            last = upload.last_byte_received
            reason = None
            if part_first_byte != last + 1:
                reason = f"the part starts at byte {part_first_byte}, the next byte expected is {last + 1}"
            elif part_last_byte - part_first_byte + 1 != len(blob):
                reason = f"bytes {part_first_byte}-{part_last_byte} are {part_last_byte - part_first_byte + 1} bytes"
                reason += f", the part has {len(blob)}"
            elif len(blob) > MAX_LAYER_PART_SIZE:
                reason = f"the part has {len(blob)} bytes, more than the maximum of {MAX_LAYER_PART_SIZE}"
            if reason is not None:
                raise _InvalidLayerPart(repository, upload_id, last, reason)
            sizes = _part_sizes(upload)
            if len(sizes) >= MAX_LAYER_PARTS:
                raise LimitExceededException(
                    f"The upload with id '{upload_id}' already has the maximum number of layer parts "
                    f"({MAX_LAYER_PARTS})"
                )
            upload.layer_parts += blob
            sizes.append(len(blob))
            return {
                "registryId": repository.registry_id,
                "repositoryName": repository_name,
                "uploadId": upload_id,
                "lastByteReceived": upload.last_byte_received,
            }

    def complete_layer_upload(
        self,
        repository_name: str,
        upload_id: str,
        layer_digests: list[str],
        registry_id: str | None = None,
    ) -> dict[str, Any]:
        """CompleteLayerUpload: keeps the bytes (GetDownloadUrlForLayer serves them) and checks, in this order:

        * EmptyUploadException when no byte arrived, with the real service's message (seen in a CloudTrail record,
          devcontainers/cli#814); the upload stays open (GUESS);
        * LayerPartTooSmallException when a part but the last is under 5 MiB (model: "Layer parts must be at least
          5 MiB in size"; the quota "except the final layer part"); the upload stays open (GUESS);
        * InvalidLayerException when the sha256 of the bytes is not the digest given; the upload stays open (GUESS);
        * LayerAlreadyExistsException when the repository already has the layer (model doc); the upload is
          discarded (GUESS). ECR checks the digest first: AWS's containerd resolver takes this exception as
          success because "the ECR has validated that the digest provided matches ours"
          (awslabs/amazon-ecr-containerd-resolver:ecr/layer_writer.go).
        """
        repository = self._get_repository(repository_name, registry_id)
        with _STATE_LOCK:
            upload = repository.uploads.get(upload_id)
            if upload is None:
                raise UploadNotFoundException(upload_id, repository_name, repository.registry_id)
            data = bytes(upload.layer_parts)
            if not data:
                raise EmptyUploadException(
                    f"The upload with id '{upload_id}' in the repository with name '{repository_name}' in registry "
                    f"with id '{repository.registry_id}' cannot be completed because it does not have any parts"
                )
            small = [size for size in _part_sizes(upload)[:-1] if size < MIN_LAYER_PART_SIZE]
            if small:
                raise LayerPartTooSmallException(
                    f"Layer parts must be at least {MIN_LAYER_PART_SIZE} bytes (5 MiB) except the last; "
                    f"the upload with id '{upload_id}' has a part of {small[0]} bytes"
                )
            digest = _sha256_digest(data)
            if layer_digests and digest not in layer_digests:
                raise InvalidLayerException(
                    f"The layer digest {layer_digests[0]} does not match the uploaded content ({digest})"
                )
            del repository.uploads[upload_id]
            if digest in repository.layers:
                raise LayerAlreadyExistsException(
                    f"The layer with digest '{digest}' already exists in the repository with name "
                    f"'{repository_name}' in registry with id '{repository.registry_id}'"
                )
            repository.layers[digest] = len(data)
            _layer_blobs(repository)[digest] = data
            return {
                "registryId": repository.registry_id,
                "repositoryName": repository_name,
                "uploadId": upload_id,
                "layerDigest": digest,
            }

    def batch_check_layer_availability(
        self, repository_name: str, layer_digests: list[str], registry_id: str | None = None
    ) -> dict[str, Any]:
        """moto's answer, each AVAILABLE blob with the media type a manifest of the repository gives it (the AWS
        CLI's batch-check-layer-availability example shows a config blob as ``...container.image.v1+json``).
        GUESS: a blob no manifest references yet keeps moto's ``...rootfs.diff.tar.gzip``."""
        result = cast(
            dict[str, Any],
            _ORIGINALS["batch_check_layer_availability"](self, repository_name, layer_digests, registry_id=registry_id),
        )
        types = _blob_media_types(self._get_repository(repository_name, registry_id))
        for layer in result.get("layers", []):
            if layer.get("layerDigest") in types:
                layer["mediaType"] = types[layer["layerDigest"]]
        return result

    def put_image(
        self,
        repository_name: str,
        image_manifest: str,
        image_tag: str | None,
        image_manifest_mediatype: str | None = None,
        digest: str | None = None,
    ) -> Image:
        """PutImage as the model documents its errors (moto's own is replaced).

        * RepositoryNotFoundException (moto raised a bare Exception, HTTP 500);
        * ImageDigestDoesNotMatchException when ``imageDigest`` is not the sha256 of the manifest;
        * InvalidParameterException for a manifest that is not a JSON object (moto's wording) or without a media
          type (neither ``imageManifestMediaType`` nor ``mediaType``);
        * ImageAlreadyExistsException when the manifest is already there with that tag (model doc: "already been
          pushed, and there were no changes"), immutable tag or not: the ECR team's advice for the identical re-push
          to an immutable repository is to treat this exception as success (aws/aws-sdk#750);
        * ImageTagAlreadyExistsException when the tag is on another manifest and immutable in the repository
          (mutability and exclusion filters), with the real service's message (aws/containers-roadmap#862);
        * LayersNotFoundException when a config or layer blob the manifest references was never uploaded to the
          repository (foreign layers left out), ReferencedImagesNotFoundException when an index or manifest list
          names a manifest the repository does not have; both only for a manifest new to the repository. GUESS:
          the messages' wording.

        A tag moved to another manifest leaves the previous image in the repository, untagged if it was its last
        tag (moto deleted it); a known manifest pushed with a new tag gains the tag.
        """
        repository = self._get_repository(repository_name)
        computed = _sha256_digest(image_manifest.encode("utf-8"))
        if digest is not None and digest != computed:
            raise ImageDigestDoesNotMatchException(
                f"The digest {digest} does not match the digest of the provided manifest"
            )
        document = _manifest_document(image_manifest)
        if document is None:
            raise InvalidParameterException(
                "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'"
            )
        media_type = image_manifest_mediatype or document.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            raise InvalidParameterException("image manifest mediatype not provided in manifest or parameter")
        with _STATE_LOCK:
            existing = next((image for image in repository.images if image.image_digest == computed), None)
            holder = next((image for image in repository.images if image_tag in image.image_tags), None)
            if existing is not None and not image_tag:
                # GUESS: an untagged push of a manifest the repository has changes nothing and succeeds (the
                # children of two indexes that share platforms are pushed twice so); the answer names no tag.
                answer = copy.copy(existing)
                answer.image_tag = None  # type: ignore[assignment]
                return answer
            if image_tag and holder is not None and holder is existing:
                raise ImageAlreadyExistsException(
                    repository_name=repository_name,
                    registry_id=repository.registry_id,
                    digest=computed,
                    image_tag=image_tag,
                )
            if image_tag and holder is not None and _tag_is_immutable(repository, image_tag):
                raise ImageTagAlreadyExistsException(
                    f"The image tag '{image_tag}' already exists in the '{repository_name}' repository and cannot "
                    "be overwritten because the repository is immutable."
                )
            if existing is None:
                _check_references(repository, document)
            if image_tag and holder is not None:
                _remove_tag(holder, image_tag)
            if existing is not None:
                existing.update_tag(cast(str, image_tag))
                return existing
            image = Image(
                self.account_id,
                cast(str, image_tag),
                image_manifest,
                repository_name,
                media_type,
                computed,
                registry_id=repository.registry_id,
            )
            repository.images.append(image)
            return image

    def batch_get_image(
        self,
        repository_name: str,
        registry_id: str | None = None,
        image_ids: list[dict[str, Any]] | None = None,
        accepted_media_types: list[str] | None = None,
    ) -> dict[str, Any]:
        """BatchGetImage honouring acceptedMediaTypes, echoing the requested imageId, pulling through the cache.

        moto ignored acceptedMediaTypes, reported a digest lookup miss as ``imageTag: "null"``,
        and matched a tag-and-digest identifier if either matched. Stored manifests are
        returned as stored; ECR's by-tag conversions (schema 2 <-> OCI, schema 2 -> schema 1)
        are not implemented, so an image whose media type is not accepted is a failure.
        GUESS: that failure is ImageNotFound, like the registry API's 404. Without
        acceptedMediaTypes every stored type is returned, as moto did.

        Under a PTC rule whose upstream has a source (``upstream.set_upstream_source``), an image that is not in
        the repository is first imported from the upstream (``_pull_through_cache``).
        """
        ids = list(image_ids or [])
        pulled = self._pull_through_cache(repository_name, registry_id, ids)
        if pulled is not None and repository_name not in self.repositories:
            # GUESS: a name under a PTC rule is pullable; nothing came from upstream, so nothing was created.
            return {"images": [], "failures": [pulled.get(n) or _resolve_image([], i) for n, i in enumerate(ids)]}
        repository = self._get_repository(repository_name, registry_id)
        images: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for position, image_id in enumerate(ids):
            found = pulled[position] if pulled and position in pulled else _resolve_image(repository.images, image_id)
            if isinstance(found, dict):
                failures.append(found)
            elif accepted_media_types and found.image_manifest_media_type not in accepted_media_types:
                failures.append(
                    _image_failure(
                        image_id,
                        "ImageNotFound",
                        f"Requested image not found: its media type {found.image_manifest_media_type} "
                        "is not in acceptedMediaTypes",
                    )
                )
            else:
                images.append(_image_entry(repository, found, image_id))
        return {"images": images, "failures": failures}

    def _pull_through_cache(
        self, repository_name: str, registry_id: str | None, image_ids: list[dict[str, Any]]
    ) -> dict[int, dict[str, Any]] | None:
        """What ECR does when a pull through a PTC rule asks for an image the cache does not have.

        None when no pull-through applies: another registry, no PTC rule for the name, or no source for the
        rule's upstream (the sandbox then behaves as before sources existed). Otherwise, for each identifier whose
        image is not in the repository (or the repository does not exist): ask the source for the upstream
        repository (``_upstream_repository``) by tag, else by digest; when it has the image, create the
        repository as the first pull does (``simulate_ptc_pull``: creation template, CloudTrail CreateRepository)
        and import the image: blobs, the manifests an index names (untagged), the manifest, the tag. Returns the
        failure entries of the identifiers whose import failed, by position: the source's UpstreamError code, or
        UpstreamUnavailable for any other exception or for content that does not add up (GUESS). An image the
        upstream does not have is left to the usual ImageNotFound (GUESS).

        A rule whose credential would not work (``ValidatePullThroughCacheRule``'s checks) fails the whole call
        with UnableToGetUpstreamImageException, which the model documents as "usually caused because of an issue
        with the Secrets Manager secret". A cached tag is served as cached: the sandbox never re-checks upstream
        (ECR does, at most once every 24 hours).
        """
        if registry_id and registry_id != self.account_id:
            return None
        rule = _most_specific(_ptc_rules(self), repository_name)
        source = upstream.upstream_source(rule.upstream_registry_url) if rule is not None else None
        if rule is None or source is None:
            return None
        upstream_repository = _upstream_repository(rule, repository_name)
        failures: dict[int, dict[str, Any]] = {}
        for position, image_id in enumerate(image_ids):
            repository = self.repositories.get(repository_name)
            found = _resolve_image(repository.images if repository is not None else [], image_id)
            if not isinstance(found, dict) or found["failureCode"] != "ImageNotFound":
                continue
            _, credential_failure = self.validate_pull_through_cache_rule(rule.ecr_repository_prefix)
            if credential_failure is not None:
                raise UnableToGetUpstreamImageException(
                    f"The image could not be pulled from the upstream registry {rule.upstream_registry_url} "
                    f"using the pull through cache rule for '{rule.ecr_repository_prefix}': {credential_failure}"
                )
            tag = image_id.get("imageTag")
            reference = str(tag or image_id["imageDigest"])
            try:
                pulled = source(upstream_repository, reference)
                if pulled is not None:
                    _check_upstream_image(pulled, None if tag else reference, repository)
            except upstream.UpstreamError as exc:
                failures[position] = _image_failure(image_id, exc.failure_code, str(exc))
                continue
            except Exception as exc:  # a source that fails, whatever the reason, is an unavailable upstream
                reason = f"The upstream registry {rule.upstream_registry_url} could not be reached: {exc}"
                failures[position] = _image_failure(image_id, "UpstreamUnavailable", reason)
                continue
            if pulled is None:
                continue
            simulate_ptc_pull(self.account_id, self.region_name, repository_name)
            with _STATE_LOCK:
                self._import_upstream_image(self.repositories[repository_name], pulled, tag)
        return failures

    def _import_upstream_image(self, repository: Repository, image: upstream.UpstreamImage, tag: str | None) -> Image:
        """Store an upstream image (children first, untagged), its blobs and its manifest; put ``tag`` on it."""
        for child in image.children:
            self._import_upstream_image(repository, child, None)
        for digest, data in image.blobs.items():
            repository.layers[digest] = len(data)
            _layer_blobs(repository)[digest] = bytes(data)
        stored = next((found for found in repository.images if found.image_digest == image.digest), None)
        if stored is None:
            stored = Image(
                self.account_id,
                None,  # type: ignore[arg-type]
                image.manifest.decode("utf-8"),
                repository.name,
                image.media_type,
                image.digest,
                registry_id=repository.registry_id,
            )
            repository.images.append(stored)
        if tag:
            holder = next((found for found in repository.images if tag in found.image_tags), None)
            if holder is not None and holder is not stored:
                _remove_tag(holder, tag)
            stored.update_tag(tag)
        return stored

    def get_download_url_for_layer(
        self,
        repository_name: str,
        layer_digest: str,
        registry_id: str | None = None,
        s3_endpoint: str | None = None,
    ) -> str:
        """A pre-signed GET URL for a blob of the repository (see the module docstring)."""
        repository = self._get_repository(repository_name, registry_id)
        data = _layer_blobs(repository).get(layer_digest)
        if data is None:
            raise LayersNotFoundException(
                f"The layer with digest '{layer_digest}' does not exist in the repository with name "
                f"'{repository_name}' in the registry with id '{repository.registry_id}'"
            )
        if layer_digest not in _referenced_blobs(repository):
            raise LayerInaccessibleException(
                f"The layer with digest '{layer_digest}' is not available because it is not associated with an image"
            )
        bucket, key = _store_blob(self.account_id, self.region_name, repository_name, layer_digest, data)
        return presigned_get_url(bucket, key, self.region_name, s3_endpoint, signer="AKIASANDBOXECRLAYERS")

    # Registry scanning: moto matched a filter as a substring *or* an unanchored regex (``.`` unescaped), so
    # ``*prod`` matched ``prod-repo``. ECR's documented WILDCARD semantics (image-scanning-filters.html): a filter
    # without ``*`` matches every name containing it; with ``*`` it matches the whole name, ``*`` standing for zero
    # or more characters (GUESS: including ``/``; the guide's examples have no slash).
    @staticmethod
    def _match_repository_filter(filter: str, repository_name: str) -> bool:
        if "*" not in filter:
            return filter in repository_name
        pattern = ".*".join(re.escape(part) for part in filter.split("*"))
        return re.fullmatch(pattern, repository_name) is not None

    # Image scan findings: moto answered DescribeImageScanFindings with a fixed CVE-9999-9999 for any image scanned
    # once, never paginated and never in the enhanced shape. The sandbox keeps each image's scan (``_image_scans``,
    # seeded by ``set_image_scan_findings`` or made by StartImageScan) and serves it as the model defines it.
    def _scanned_image(self, repository_name: str, image_id: Mapping[str, Any], registry_id: str | None) -> Image:
        self._check_registry_id(registry_id)
        repository = self._get_repository(repository_name, registry_id)
        return repository._get_image(image_id.get("imageTag"), image_id.get("imageDigest"))

    def start_image_scan(
        self, registry_id: str | None, repository_name: str, image_id: dict[str, Any]
    ) -> dict[str, Any]:
        """A basic scan (StartImageScan's doc: "Starts a basic image vulnerability scan"), once per 24 hours per
        image (LimitExceededException, as the doc says). GUESS: under ENHANCED scanning ECR refuses a manual scan
        with ValidationException; the scan completes at once, keeping findings seeded before (none otherwise)."""
        image = self._scanned_image(repository_name, image_id, registry_id)
        if self.registry_scanning_configuration["scanType"] == "ENHANCED":
            raise ValidationException("StartImageScan is not supported when the registry uses ENHANCED scanning")
        scans = _image_scans(self)
        key = (repository_name, image.image_digest)
        previous = scans.get(key)
        now = _now()
        if previous is not None and previous.started_at is not None and now - previous.started_at < SCAN_INTERVAL:
            raise LimitExceededException(
                "The scan quota per image has been exceeded. Wait and try again."  # GUESS: ECR's wording
            )
        scans[key] = ImageScanRecord(
            findings=list(previous.findings) if previous else [],
            enhanced=False,
            status="COMPLETE",
            completed_at=now,
            started_at=now,
        )
        return {
            "registryId": self.account_id,
            "repositoryName": repository_name,
            "imageId": _scan_image_id(image, image_id),
            "imageScanStatus": {"status": "IN_PROGRESS"},
        }

    def describe_image_scan_findings(
        self,
        registry_id: str | None,
        repository_name: str,
        image_id: dict[str, Any],
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        image = self._scanned_image(repository_name, image_id, registry_id)
        record = _image_scans(self).get((repository_name, image.image_digest))
        if record is None:
            # ECR's message (moto's wording, the model's ScanNotFoundException doc: "The specified image scan could
            # not be found. Ensure that image scanning is enabled on the repository and try again.").
            raise ScanNotFoundException(
                image_id=f"{{imageDigest:'{image_id.get('imageDigest') or 'null'}', "
                f"imageTag:'{image_id.get('imageTag') or 'null'}'}}",
                repository_name=repository_name,
                registry_id=self.account_id,
            )
        start = 0
        if next_token:
            start = int(_decode_token(next_token))
        end = start + (max_results or DEFAULT_PAGE_SIZE)  # "returns up to 100 results" without maxResults
        page = record.findings[start:end]
        token = _encode_token(str(end)) if end < len(record.findings) else None
        findings: dict[str, Any] = {
            "imageScanCompletedAt": record.completed_at,
            "vulnerabilitySourceUpdatedAt": record.completed_at,
            # GUESS: every page carries the counts of all the findings, not of the page.
            "findingSeverityCounts": record.severity_counts(),
            ("enhancedFindings" if record.enhanced else "findings"): page,
        }
        return _drop_none(
            {
                "registryId": self.account_id,
                "repositoryName": repository_name,
                "imageId": _scan_image_id(image, image_id),
                "imageScanStatus": _drop_none({"status": record.status, "description": record.description()}),
                "imageScanFindings": findings,
                "nextToken": token,
            }
        )


def _apply_template_settings(template: RepositoryCreationTemplate, settings: Mapping[str, Any]) -> None:
    for name in TEMPLATE_SETTINGS:
        if settings.get(name) is not None:
            value = settings[name]
            setattr(template, xform_name(name), list(value) if isinstance(value, list) else value)


def _image_entry(repository: Repository, image: Image, image_id: Mapping[str, Any]) -> dict[str, Any]:
    identifier = {"imageDigest": image.image_digest}
    if image_id.get("imageTag"):
        identifier["imageTag"] = image_id["imageTag"]
    return {
        "registryId": repository.registry_id,
        "repositoryName": repository.name,
        "imageId": identifier,
        "imageManifest": image.image_manifest,
        "imageManifestMediaType": image.image_manifest_media_type,
    }


# --------------------------------------------------------------------------------------------
# Request handlers (copied onto moto's ECRResponse by install()).
# --------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """A JSON-ready copy; timestamps as the JSON protocol sends them (epoch seconds)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def _request_body(response: BaseResponse) -> dict[str, Any]:
    """The JSON request body exactly as the client sent it (CloudTrail's requestParameters)."""
    if not response.body:
        return {}
    try:
        params = json.loads(response.body)
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


def _api_call(
    account_id: str, region: str, event_name: str, request: dict[str, Any], invoked_by: str | None = None
) -> cloudtrail.ApiCall:
    """How CloudTrail records one ECR call: in the caller's account and region, with its resources."""
    resources: list[tuple[str, str]] = []
    record_resources: list[dict[str, str]] = []
    repository = request.get("repositoryName")
    if isinstance(repository, str) and repository:
        registry = str(request.get("registryId") or account_id)
        # LookupEvents names a repository by its name (GUESS: a third-party LookupEvents sample);
        # the record itself carries its ARN and account, as the ECR user guide's examples do.
        resources.append((REPOSITORY_RESOURCE_TYPE, repository))
        record_resources.append(
            {
                "accountId": registry,
                "type": REPOSITORY_RESOURCE_TYPE,
                "ARN": f"arn:{get_partition(region)}:ecr:{region}:{registry}:repository/{repository}",
            }
        )
    for key, resource_type in (("ecrRepositoryPrefix", PTC_RESOURCE_TYPE), ("prefix", TEMPLATE_RESOURCE_TYPE)):
        prefix = request.get(key)
        if isinstance(prefix, str) and prefix:
            # Lets LookupEvents find a rule's or template's history by ResourceType/ResourceName.
            resources.append((resource_type, prefix))
    return cloudtrail.ApiCall(
        account_id,
        region,
        EVENT_SOURCE,
        event_name,
        request or None,  # a call without parameters (DeleteRegistryPolicy) shows null, not {}
        resources=resources,
        record_resources=record_resources,
        invoked_by=invoked_by,
    )


def _served(event_name: str) -> Callable[[BaseResponse], cloudtrail.ApiCall]:
    """The ApiCall of the request an ECRResponse handler is serving."""

    def describe(response: BaseResponse) -> cloudtrail.ApiCall:
        return _api_call(response.current_account, response.region, event_name, _request_body(response))

    return describe


def _returned_fields(response: BaseResponse, result: ActionResult) -> Any:
    # PTC rule handlers build their answer as a plain dict; its timestamps are kept in the
    # epoch seconds the JSON protocol sends (as recorded before the other events were added).
    return _jsonable(result.result)


class _ResponseExtension(ECRResponse):
    @property
    def _backend(self) -> _BackendExtension:
        return cast(_BackendExtension, self.ecr_backend)

    def _request_params(self) -> dict[str, Any]:
        """The JSON request body exactly as the client sent it."""
        return _request_body(self)

    def _validated(self, operation_name: str) -> dict[str, Any]:
        params = self._request_params()
        _validate_input(operation_name, params)
        return params

    @cloudtrail.recorded(_served("CreatePullThroughCacheRule"), _returned_fields)
    def create_pull_through_cache_rule(self) -> ActionResult:
        params = self._validated("CreatePullThroughCacheRule")
        rule = self._backend.create_pull_through_cache_rule(
            ecr_repository_prefix=params["ecrRepositoryPrefix"],
            upstream_registry_url=params["upstreamRegistryUrl"],
            registry_id=params.get("registryId"),
            upstream_registry=params.get("upstreamRegistry"),
            credential_arn=params.get("credentialArn"),
            custom_role_arn=params.get("customRoleArn"),
            upstream_repository_prefix=params.get("upstreamRepositoryPrefix"),
        )
        return ActionResult(_response("CreatePullThroughCacheRule", rule.to_dict()))

    def describe_pull_through_cache_rules(self) -> ActionResult:
        params = self._validated("DescribePullThroughCacheRules")
        rules = self._backend.describe_pull_through_cache_rules(
            registry_id=params.get("registryId"), ecr_repository_prefixes=params.get("ecrRepositoryPrefixes")
        )
        page, token = _paginate(
            rules,
            lambda rule: _prefix_key(rule.ecr_repository_prefix),
            params.get("maxResults"),
            params.get("nextToken"),
        )
        items = [_drop_none(rule.to_dict()) for rule in page]
        return ActionResult(_drop_none({"pullThroughCacheRules": items, "nextToken": token}))

    @cloudtrail.recorded(_served("UpdatePullThroughCacheRule"), _returned_fields)
    def update_pull_through_cache_rule(self) -> ActionResult:
        params = self._validated("UpdatePullThroughCacheRule")
        rule = self._backend.update_pull_through_cache_rule(
            ecr_repository_prefix=params["ecrRepositoryPrefix"],
            registry_id=params.get("registryId"),
            credential_arn=params.get("credentialArn"),
            custom_role_arn=params.get("customRoleArn"),
        )
        return ActionResult(_response("UpdatePullThroughCacheRule", rule.to_dict()))

    @cloudtrail.recorded(_served("DeletePullThroughCacheRule"), _returned_fields)
    def delete_pull_through_cache_rule(self) -> ActionResult:
        params = self._validated("DeletePullThroughCacheRule")
        rule = self._backend.delete_pull_through_cache_rule(
            ecr_repository_prefix=params["ecrRepositoryPrefix"], registry_id=params.get("registryId")
        )
        return ActionResult(_response("DeletePullThroughCacheRule", rule.to_dict()))

    def validate_pull_through_cache_rule(self) -> ActionResult:
        params = self._validated("ValidatePullThroughCacheRule")
        rule, failure = self._backend.validate_pull_through_cache_rule(
            ecr_repository_prefix=params["ecrRepositoryPrefix"], registry_id=params.get("registryId")
        )
        fields = rule.to_dict() | {"isValid": failure is None, "failure": failure}
        return ActionResult(_response("ValidatePullThroughCacheRule", fields))

    @cloudtrail.recorded(_served("CreateRepositoryCreationTemplate"))
    def create_repository_creation_template(self) -> ActionResult:
        params = self._validated("CreateRepositoryCreationTemplate")
        template = self._backend.create_repository_creation_template(
            prefix=params["prefix"], applied_for=params["appliedFor"], settings=params
        )
        return self._template_result(template)

    def describe_repository_creation_templates(self) -> ActionResult:
        params = self._validated("DescribeRepositoryCreationTemplates")
        templates = self._backend.describe_repository_creation_templates(prefixes=params.get("prefixes"))
        page, token = _paginate(
            templates, lambda template: _prefix_key(template.prefix), params.get("maxResults"), params.get("nextToken")
        )
        result = {
            "registryId": self._backend.account_id,
            "repositoryCreationTemplates": [template.to_dict() for template in page],
            "nextToken": token,
        }
        return ActionResult(_drop_none(result))

    @cloudtrail.recorded(_served("UpdateRepositoryCreationTemplate"))
    def update_repository_creation_template(self) -> ActionResult:
        params = self._validated("UpdateRepositoryCreationTemplate")
        template = self._backend.update_repository_creation_template(prefix=params["prefix"], settings=params)
        return self._template_result(template)

    @cloudtrail.recorded(_served("DeleteRepositoryCreationTemplate"))
    def delete_repository_creation_template(self) -> ActionResult:
        params = self._validated("DeleteRepositoryCreationTemplate")
        return self._template_result(self._backend.delete_repository_creation_template(prefix=params["prefix"]))

    def _template_result(self, template: RepositoryCreationTemplate) -> ActionResult:
        return ActionResult({"registryId": self._backend.account_id, "repositoryCreationTemplate": template.to_dict()})

    def get_download_url_for_layer(self) -> ActionResult:  # type: ignore[override]
        params = self._validated("GetDownloadUrlForLayer")
        url = self._backend.get_download_url_for_layer(
            repository_name=params["repositoryName"],
            layer_digest=params["layerDigest"],
            registry_id=params.get("registryId"),
            s3_endpoint=s3_endpoint_for(self),
        )
        return ActionResult({"downloadUrl": url, "layerDigest": params["layerDigest"]})

    def batch_get_image(self) -> ActionResult:
        params = self._request_params()
        return ActionResult(
            self._backend.batch_get_image(
                repository_name=params.get("repositoryName", ""),
                registry_id=params.get("registryId"),
                image_ids=params.get("imageIds"),
                accepted_media_types=params.get("acceptedMediaTypes"),
            )
        )

    def put_registry_scanning_configuration(self) -> ActionResult:
        """The model's constraints (two rules, 100 filters, the filter pattern, the enums), then the frequencies
        each scan type supports (PutRegistryScanningConfiguration's member docs): BASIC scans on push only,
        ENHANCED scans on push or continuously. GUESS: ECR answers an unsupported pair with ValidationException,
        and keeps the current scan type when none is given."""
        params = self._validated("PutRegistryScanningConfiguration")
        current = self._backend.get_registry_scanning_configuration()
        scan_type = params.get("scanType") or current["scanType"]
        rules = params.get("rules") or []
        supported = SCAN_FREQUENCIES[scan_type]
        for rule in rules:
            if rule["scanFrequency"] not in supported:
                raise ValidationException(
                    f"Scan frequency {rule['scanFrequency']} is not supported for scan type {scan_type}; "
                    f"supported: {', '.join(supported)}"
                )
        self._backend.put_registry_scanning_configuration(scan_type, rules)
        config = {"scanType": scan_type, "rules": rules}
        return ActionResult(_response("PutRegistryScanningConfiguration", {"registryScanningConfiguration": config}))

    def start_image_scan(self) -> ActionResult:
        params = self._validated("StartImageScan")
        result = self._backend.start_image_scan(
            registry_id=params.get("registryId"), repository_name=params["repositoryName"], image_id=params["imageId"]
        )
        return ActionResult(_response("StartImageScan", result))

    def describe_image_scan_findings(self) -> ActionResult:
        params = self._validated("DescribeImageScanFindings")
        result = self._backend.describe_image_scan_findings(
            registry_id=params.get("registryId"),
            repository_name=params["repositoryName"],
            image_id=params["imageId"],
            max_results=params.get("maxResults"),
            next_token=params.get("nextToken"),
        )
        return ActionResult(_response("DescribeImageScanFindings", result))


def _drop_none(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


# --------------------------------------------------------------------------------------------
# Image scan findings (DescribeImageScanFindings / StartImageScan) and their seeding.
# --------------------------------------------------------------------------------------------

# StartImageScan: "A basic image scan can only be started once per 24 hours on an individual image."
SCAN_INTERVAL = timedelta(hours=24)
# ImageScanStatus descriptions. GUESS: ECR's wording for COMPLETE is moto's; the others are the sandbox's own.
_SCAN_DESCRIPTIONS = {
    "COMPLETE": "The scan was completed successfully.",
    "ACTIVE": "Continuous scan is selected for image.",
}
# The severities findingSeverityCounts counts (FindingSeverity), plus UNTRIAGED, which Amazon Inspector gives a
# finding it has not rated (enhanced scanning; the map's key is a FindingSeverity in the model, GUESS).
FINDING_SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL", "UNDEFINED", "UNTRIAGED")


@dataclass
class ImageScanRecord:
    """One image's last scan: its findings in the shape of its scan type, as DescribeImageScanFindings serves them."""

    findings: list[dict[str, Any]]
    enhanced: bool
    status: str = "COMPLETE"
    completed_at: datetime = field(default_factory=_now)
    started_at: datetime | None = None  # StartImageScan (the 24-hour limit); None: seeded

    def severity_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for finding in self.findings:
            severity = str(finding.get("severity") or "UNDEFINED")
            counts[severity] = counts.get(severity, 0) + 1
        return counts

    def description(self) -> str | None:
        return _SCAN_DESCRIPTIONS.get(self.status)


def _image_scans(backend: ECRBackend) -> dict[tuple[str, str], ImageScanRecord]:
    """(repository name, image digest) -> the image's last scan."""
    return cast(dict[tuple[str, str], ImageScanRecord], _attached(backend, "image_scans"))


def _scan_image_id(image: Image, asked: Mapping[str, Any]) -> dict[str, str]:
    """The ImageIdentifier a scan response echoes: the digest, and the tag asked for (else the image's first)."""
    tag = asked.get("imageTag") or (image.image_tags[0] if image.image_tags else None)
    return _drop_none({"imageDigest": image.image_digest, "imageTag": tag})


def scan_finding(
    name: str,
    severity: str,
    *,
    package: str | None = None,
    version: str | None = None,
    fixed_in: str | None = None,
    enhanced: bool = False,
    account_id: str = "123456789012",
    region: str = "us-east-1",
) -> dict[str, Any]:
    """One finding in the model's shape: ImageScanFinding (basic) or EnhancedImageScanFinding (Amazon Inspector).

    Basic findings carry the package in ``attributes`` (``package_name``, ``package_version``, the keys ECR's
    basic scanning uses); enhanced ones in ``packageVulnerabilityDetails.vulnerablePackages``.
    """
    if severity not in FINDING_SEVERITIES:
        raise ValueError(f"severity {severity!r} is none of {', '.join(FINDING_SEVERITIES)}")
    nvd = f"https://nvd.nist.gov/vuln/detail/{name}"
    if not enhanced:
        attributes = [
            {"key": key, "value": value}
            for key, value in (("package_name", package), ("package_version", version))
            if value
        ]
        return _drop_none(
            {
                "name": name,
                "description": f"{name} in {package or 'a package'}",
                "uri": nvd,
                "severity": severity,
                "attributes": attributes,
            }
        )
    now = _now()
    vulnerable = _drop_none({"name": package, "version": version, "fixedInVersion": fixed_in})
    return _drop_none(
        {
            "awsAccountId": account_id,
            "description": f"{name} in {package or 'a package'}",
            "findingArn": f"arn:aws:inspector2:{region}:{account_id}:finding/"
            + hashlib.sha256(f"{name}/{package}/{version}".encode()).hexdigest()[:32],
            "firstObservedAt": now,
            "lastObservedAt": now,
            "packageVulnerabilityDetails": {
                "referenceUrls": [nvd],
                "source": "NVD",
                "sourceUrl": nvd,
                "vendorSeverity": severity,
                "vulnerabilityId": name,
                "vulnerablePackages": [vulnerable] if vulnerable else [],
            },
            "severity": severity,
            "status": "ACTIVE",
            "title": f"{name} - {package}" if package else name,
            "type": "PACKAGE_VULNERABILITY",
            "updatedAt": now,
            "fixAvailable": "YES" if fixed_in else "NO",
        }
    )


def set_image_scan_findings(
    account_id: str,
    region: str,
    repository_name: str,
    image: str,
    findings: Iterable[Mapping[str, Any]] = (),
    *,
    status: str | None = None,
    enhanced: bool | None = None,
    completed_at: datetime | None = None,
) -> str:
    """Seed what no public API sets: the last scan of one image (by digest ``sha256:...`` or tag) and its findings.

    ``findings`` are ImageScanFinding or EnhancedImageScanFinding dicts (``scan_finding`` builds either); each is
    checked against the model's shape. ``enhanced`` defaults to the registry's scan type (ENHANCED: Amazon
    Inspector's shape, status ACTIVE), ``status`` to COMPLETE (basic) or ACTIVE (enhanced). Returns the digest.
    """
    backend = cast(_BackendExtension, ecr_backends[account_id][region])
    image_id = {"imageDigest": image} if image.startswith("sha256:") else {"imageTag": image}
    found = backend._scanned_image(repository_name, image_id, None)
    if enhanced is None:
        enhanced = backend.registry_scanning_configuration["scanType"] == "ENHANCED"
    shape_name = "EnhancedImageScanFinding" if enhanced else "ImageScanFinding"
    shape = _operation_model("DescribeImageScanFindings").service_model.shape_for(shape_name)
    listed = [dict(f) for f in findings]
    for finding in listed:
        report = ParamValidator().validate(finding, shape)
        if report.has_errors():
            raise ValueError(f"not an {shape_name}: {report.generate_report()}")
    record = ImageScanRecord(
        findings=listed,
        enhanced=enhanced,
        status=status or ("ACTIVE" if enhanced else "COMPLETE"),
        completed_at=completed_at or _now(),
    )
    with _STATE_LOCK:
        _image_scans(backend)[(repository_name, found.image_digest)] = record
    return str(found.image_digest)


def clear_image_scan(account_id: str, region: str, repository_name: str, image: str) -> None:
    """Forget an image's scan: DescribeImageScanFindings then answers ScanNotFoundException (never scanned)."""
    backend = cast(_BackendExtension, ecr_backends[account_id][region])
    image_id = {"imageDigest": image} if image.startswith("sha256:") else {"imageTag": image}
    found = backend._scanned_image(repository_name, image_id, None)
    with _STATE_LOCK:
        _image_scans(backend).pop((repository_name, found.image_digest), None)


# --------------------------------------------------------------------------------------------
# First pull through a PTC prefix.
# --------------------------------------------------------------------------------------------


def simulate_ptc_pull(account_id: str, region: str, repository_name: str) -> str:
    """Do what ECR does on the first pull of ``repository_name`` through a PTC rule.

    Finds the PTC rule for the name (longest prefix with its implied '/', ROOT as fallback)
    and raises RepositoryNotFoundException, as the pull would, when there is none. Creates
    the repository when absent, from the most specific repository creation template whose
    appliedFor contains PULL_THROUGH_CACHE (ROOT as fallback): its repository policy,
    lifecycle policy, tag mutability (with exclusion filters), encryption and tags. An
    existing repository is left as it is: templates apply only at creation.

    A created repository is recorded in CloudTrail as a CreateRepository call that ECR made
    for the puller (``userIdentity.invokedBy`` ``ecr.amazonaws.com``; the exact shape is a
    GUESS, aws-semantics.md §6.1). The images the cache imports are not recorded as
    PutImage: AWS documents no such event. Returns the repository ARN.
    """
    backend = cast(_BackendExtension, ecr_backends[account_id][region])
    call = _api_call(account_id, region, "CreateRepository", {"repositoryName": repository_name}, EVENT_SOURCE)
    with _STATE_LOCK:
        if _most_specific(_ptc_rules(backend), repository_name) is None:
            raise RepositoryNotFoundException(repository_name, account_id)
        existing = backend.repositories.get(repository_name)
        if existing is not None:
            return existing.arn
        ptc_templates = {key: t for key, t in _templates(backend).items() if PULL_THROUGH_CACHE in t.applied_for}
        template = _most_specific(ptc_templates, repository_name)
        repository = _create_repository_from(backend, repository_name, template)
    call.record(cloudtrail.response_elements("ecr", "CreateRepository", {"repository": repository}))
    return repository.arn


def _create_repository_from(
    backend: ECRBackend, repository_name: str, template: RepositoryCreationTemplate | None
) -> Repository:
    if template is None:
        # No template: ECR defaults (mutable tags, AES256, no policies).
        return backend.create_repository(repository_name, None, {"encryptionType": "AES256"}, None, "MUTABLE", [])
    repository = backend.create_repository(
        repository_name,
        None,
        dict(template.encryption_configuration),  # moto mutates it for KMS without a key
        None,
        template.image_tag_mutability,
        [dict(tag) for tag in template.resource_tags],
        image_tag_mutability_exclusion_filters=cast(Any, template.image_tag_mutability_exclusion_filters),
    )
    if template.repository_policy:
        backend.set_repository_policy(backend.account_id, repository_name, template.repository_policy)
    if template.lifecycle_policy:
        backend.put_lifecycle_policy(backend.account_id, repository_name, template.lifecycle_policy)
    return repository


# --------------------------------------------------------------------------------------------
# Installation.
# --------------------------------------------------------------------------------------------


def _copy_functions(source: type, target: type) -> None:
    for name, value in vars(source).items():
        if inspect.isfunction(value) or isinstance(value, (property, staticmethod)):
            setattr(target, name, value)


def install() -> None:
    """Patch moto's ECR in place; safe to call any number of times, from any thread."""
    with _INSTALL_LOCK:
        if getattr(ECRResponse, _INSTALLED_MARKER, False):
            return
        # moto's PutImage is replaced, not wrapped; kept for reference (and tests) like the wrapped ones.
        _ORIGINALS["put_image"] = ECRBackend.put_image
        _ORIGINALS["batch_check_layer_availability"] = ECRBackend.batch_check_layer_availability
        _ORIGINALS["get_repository_policy"] = ECRBackend.get_repository_policy
        _copy_functions(_BackendExtension, ECRBackend)
        _copy_functions(_ResponseExtension, ECRResponse)
        for event_name in _MOTO_RECORDED:
            handler = xform_name(event_name)
            setattr(ECRResponse, handler, cloudtrail.recorded(_served(event_name))(getattr(ECRResponse, handler)))
        Image._create_digest = _image_digest_from_manifest  # type: ignore[method-assign]
        setattr(ECRResponse, _INSTALLED_MARKER, True)
