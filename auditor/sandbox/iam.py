"""CloudTrail events for the IAM calls that change a role's or a managed policy's permissions.

moto 5.2.5 serves IAM (``moto.iam.responses.IamResponse``, query protocol) but records nothing
in CloudTrail. ``install()`` wraps the handlers of the mutating role and policy operations
listed in :data:`RECORDED_EVENT_NAMES` with :func:`auditor.sandbox.cloudtrail.recorded`, so
every call, successful or failed, leaves the management event real CloudTrail records:
eventSource ``iam.amazonaws.com``, requestParameters with the camelCase member names CloudTrail
uses (``roleName``, ``policyArn``, ``policyDocument``...), null responseElements for operations
without output.

IAM is a global service: CloudTrail records its events in us-east-1 (the partition's home
region) whatever region the client was created for, so that is the event history (and the
``awsRegion``) they land in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore import xform_name
from moto.core.responses import BaseResponse
from moto.iam.responses import IamResponse

from auditor.sandbox import cloudtrail

__all__ = ["EVENT_SOURCE", "POLICY_RESOURCE_TYPE", "RECORDED_EVENT_NAMES", "ROLE_RESOURCE_TYPE", "install"]

EVENT_SOURCE = "iam.amazonaws.com"
# LookupEvents resource types (the CloudFormation type names). Which resources real LookupEvents
# lists for these IAM events is not documented: GUESS, the role by name and the managed policy by ARN.
ROLE_RESOURCE_TYPE = "AWS::IAM::Role"
POLICY_RESOURCE_TYPE = "AWS::IAM::Policy"

RECORDED_EVENT_NAMES = (
    "CreateRole",
    "DeleteRole",
    "UpdateAssumeRolePolicy",
    "PutRolePolicy",
    "DeleteRolePolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "PutRolePermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "CreatePolicyVersion",
    "SetDefaultPolicyVersion",
    "DeletePolicyVersion",
)

_INSTALL_LOCK = threading.Lock()


def _resources(request: dict[str, Any]) -> list[tuple[str, str]]:
    resources: list[tuple[str, str]] = []
    role = request.get("roleName")
    if isinstance(role, str) and role:
        resources.append((ROLE_RESOURCE_TYPE, role))
    # policyArn (attach/detach, policy versions) or permissionsBoundary (PutRolePermissionsBoundary).
    for key in ("policyArn", "permissionsBoundary"):
        arn = request.get(key)
        if isinstance(arn, str) and arn:
            resources.append((POLICY_RESOURCE_TYPE, arn))
    return resources


def _served(event_name: str) -> Callable[[BaseResponse], cloudtrail.ApiCall]:
    """The ApiCall of the request an IamResponse handler is serving."""

    def describe(response: BaseResponse) -> cloudtrail.ApiCall:
        request = cloudtrail.served_request_parameters(response)
        return cloudtrail.ApiCall(
            response.current_account,
            cloudtrail.global_service_region(response.region),
            EVENT_SOURCE,
            event_name,
            request,
            resources=_resources(request or {}),
        )

    return describe


def install() -> None:
    """Record the calls of :data:`RECORDED_EVENT_NAMES` in CloudTrail. Idempotent and thread-safe."""
    with _INSTALL_LOCK:
        for event_name in RECORDED_EVENT_NAMES:
            handler = xform_name(event_name)
            # recorded() leaves an already wrapped handler as it is.
            setattr(IamResponse, handler, cloudtrail.recorded(_served(event_name))(getattr(IamResponse, handler)))
