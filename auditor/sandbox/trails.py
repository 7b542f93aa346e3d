"""CloudTrail trails and event data stores for moto 5.2.5: what it gets wrong or lacks, patched in place.

* **Default event selectors.** A trail created without selectors logs all read and write management events
  (botocore cloudtrail/EventSelector: "By default, trails created without specific event selectors will be
  configured to log all read and write management events"), so GetEventSelectors answers that selector; moto
  answered none. Setting basic selectors clears advanced ones and the reverse ("You cannot apply both"), and
  DescribeTrails' ``HasCustomEventSelectors`` says whether selectors were set.
* **Shadow trails**: GetEventSelectors with the ARN of another region's multi-region trail answers with that
  trail (moto looked only in the caller's region; GetTrailStatus already resolved it).
* **Event data stores** (CloudTrail Lake): CreateEventDataStore, ListEventDataStores and GetEventDataStore, per
  account and region, with the members of botocore's output shapes. Only what the auditor reads is modelled:
  name, status (ENABLED on creation), advanced event selectors (default: all management events, GUESS from the
  console's default), multi-region and organisation flags, retention (default 2557 days, GUESS), timestamps.

Organisation trails are modelled only as a flag on a trail of the same account: moto does not replicate a
management account's organisation trail into member accounts' DescribeTrails.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import botocore.session
from moto.cloudtrail.models import CloudTrailBackend, Trail
from moto.cloudtrail.responses import CloudTrailResponse
from moto.core.exceptions import ServiceException
from moto.utilities.utils import get_partition

DEFAULT_EVENT_SELECTORS = (
    {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [], "ExcludeManagementEventSources": []},
)
# GUESS: what a store created without selectors collects (the console's default: all management events).
DEFAULT_STORE_SELECTORS = (
    {"Name": "Management events", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
)
DEFAULT_RETENTION_DAYS = 2557  # GUESS: the console's default (seven years)
_STORES_ATTRIBUTE = "sandbox_event_data_stores"
_lock = threading.Lock()
_installed = False


class EventDataStoreNotFoundException(ServiceException):
    code = "EventDataStoreNotFoundException"


class EventDataStoreAlreadyExistsException(ServiceException):
    code = "EventDataStoreAlreadyExistsException"


class InvalidParameterException(ServiceException):
    code = "InvalidParameterException"


@dataclass
class EventDataStore:
    arn: str
    name: str
    advanced_event_selectors: list[dict[str, Any]]
    multi_region: bool = True
    organization: bool = False
    retention: int = DEFAULT_RETENTION_DAYS
    termination_protection: bool = True
    status: str = "ENABLED"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_output(self) -> dict[str, Any]:
        return {
            "EventDataStoreArn": self.arn,
            "Name": self.name,
            "Status": self.status,
            "AdvancedEventSelectors": self.advanced_event_selectors,
            "MultiRegionEnabled": self.multi_region,
            "OrganizationEnabled": self.organization,
            "RetentionPeriod": self.retention,
            "TerminationProtectionEnabled": self.termination_protection,
            "CreatedTimestamp": self.created.timestamp(),
            "UpdatedTimestamp": self.created.timestamp(),
        }


def _stores(backend: CloudTrailBackend) -> dict[str, EventDataStore]:
    with _lock:
        stores: dict[str, EventDataStore] | None = getattr(backend, _STORES_ATTRIBUTE, None)
        if stores is None:
            stores = {}
            setattr(backend, _STORES_ATTRIBUTE, stores)
        return stores


def _find(backend: CloudTrailBackend, ident: str) -> EventDataStore:
    for store in _stores(backend).values():
        if ident in (store.arn, store.arn.rsplit("/", 1)[-1]):
            return store
    raise EventDataStoreNotFoundException(f"Event data store {ident} not found")


# --- trails: selectors -------------------------------------------------------------------------


def _get_event_selectors(self: Trail) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not self.event_selectors and not self.advanced_event_selectors:
        return [dict(s) for s in DEFAULT_EVENT_SELECTORS], []
    return self.event_selectors, self.advanced_event_selectors


def _put_event_selectors(
    self: Trail, event_selectors: list[dict[str, Any]] | None, advanced_event_selectors: list[dict[str, Any]] | None
) -> None:
    if event_selectors and advanced_event_selectors:
        raise InvalidParameterException("You cannot apply both event selectors and advanced event selectors.")
    if event_selectors:
        self.event_selectors, self.advanced_event_selectors = list(event_selectors), []
    elif advanced_event_selectors:
        self.event_selectors, self.advanced_event_selectors = [], list(advanced_event_selectors)
    self.custom_selectors = True  # type: ignore[attr-defined]


_moto_description = Trail.description
_moto_backend_get_event_selectors = CloudTrailBackend.get_event_selectors


def _backend_get_event_selectors(
    self: CloudTrailBackend, trail_name: str
) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """A shadow trail asked for by ARN from another region (DescribeTrails lists it there): answer with the home
    region's trail, as GetTrailStatus already does in moto. GUESS: the service resolves the ARN the same way."""
    from moto.cloudtrail.models import cloudtrail_backends

    if trail_name.startswith("arn:") and trail_name not in {t.arn for t in self.trails.values()}:
        for backend in cloudtrail_backends[self.account_id].values():
            for trail in backend.trails.values():
                if trail.arn == trail_name and (trail.is_multi_region or trail.is_org_trail):
                    basic, advanced = trail.get_event_selectors()
                    return trail.arn, basic, advanced
    result: tuple[str, list[dict[str, Any]], list[dict[str, Any]]] = _moto_backend_get_event_selectors(self, trail_name)
    return result


def _description(self: Trail, include_region: bool = False) -> dict[str, Any]:
    desc: dict[str, Any] = _moto_description(self, include_region)
    desc["HasCustomEventSelectors"] = bool(getattr(self, "custom_selectors", False))
    return desc


# --- event data stores: request handlers ----------------------------------------------------------


def _backend(response: CloudTrailResponse) -> CloudTrailBackend:
    return response.cloudtrail_backend


def _create_event_data_store(self: CloudTrailResponse) -> str:
    params = json.loads(self.body or "{}")
    name = params.get("Name")
    if not isinstance(name, str) or not name:
        raise InvalidParameterException("Name is required")
    stores = _stores(_backend(self))
    if name in stores:
        raise EventDataStoreAlreadyExistsException(f"Event data store {name} already exists")
    arn = f"arn:{get_partition(self.region)}:cloudtrail:{self.region}:{self.current_account}:eventdatastore/{uuid4()}"
    store = EventDataStore(
        arn=arn,
        name=name,
        advanced_event_selectors=list(
            params.get("AdvancedEventSelectors") or [dict(s) for s in DEFAULT_STORE_SELECTORS]
        ),
        multi_region=bool(params.get("MultiRegionEnabled", True)),
        organization=bool(params.get("OrganizationEnabled", False)),
        retention=int(params.get("RetentionPeriod", DEFAULT_RETENTION_DAYS)),
        termination_protection=bool(params.get("TerminationProtectionEnabled", True)),
        status="ENABLED" if params.get("StartIngestion", True) else "CREATED",
    )
    stores[name] = store
    return json.dumps(_shaped("CreateEventDataStore", store.to_output()))


def _list_event_data_stores(self: CloudTrailResponse) -> str:
    stores = sorted(_stores(_backend(self)).values(), key=lambda s: s.created)
    return json.dumps({"EventDataStores": [s.to_output() for s in stores]})


def _get_event_data_store(self: CloudTrailResponse) -> str:
    params = json.loads(self.body or "{}")
    store = _find(_backend(self), str(params.get("EventDataStore", "")))
    return json.dumps(_shaped("GetEventDataStore", store.to_output()))


def _shaped(operation: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Exactly the members of the operation's output shape (botocore's model is the final word)."""
    shape = botocore.session.get_session().get_service_model("cloudtrail").operation_model(operation).output_shape
    return {k: v for k, v in fields.items() if shape is not None and k in shape.members}


def set_event_data_store_status(account_id: str, region: str, name: str, status: str) -> None:
    """Seed a store's status (StopEventDataStoreIngestion is not modelled)."""
    from moto.cloudtrail.models import cloudtrail_backends

    _stores(cloudtrail_backends[account_id][region])[name].status = status


def install() -> None:
    """Patch moto's CloudTrail trails and add event data stores. Idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        Trail.get_event_selectors = _get_event_selectors  # type: ignore[method-assign]
        Trail.put_event_selectors = _put_event_selectors  # type: ignore[method-assign]
        Trail.description = _description  # type: ignore[method-assign]
        CloudTrailBackend.get_event_selectors = _backend_get_event_selectors  # type: ignore[method-assign]
        CloudTrailResponse.create_event_data_store = _create_event_data_store  # type: ignore[attr-defined]
        CloudTrailResponse.list_event_data_stores = _list_event_data_stores  # type: ignore[attr-defined]
        CloudTrailResponse.get_event_data_store = _get_event_data_store  # type: ignore[attr-defined]
        _installed = True
