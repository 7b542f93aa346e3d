"""IAM actions called per credentials while a test runs: "scan" (the collector's clients, the member audit
role), "fix" (``fix.Clients``: the member fix role) and "hub" (every other client). The guard tests count them
exactly; the permissions-coverage test checks each kind's actions against the generated policy."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.session
import pytest

import auditor.collect
import auditor.fix
from auditor.permissions import iam_action, uncovered


class Calls:
    """IAM actions called while counting, per credentials: "scan" (the collector's clients, the member audit
    role), "fix" (``fix.Clients``: the member fix role) and "hub" (every other client: the function's own)."""

    def __init__(self) -> None:
        self.by_kind: dict[str, Counter[str]] = {"scan": Counter(), "fix": Counter(), "hub": Counter()}
        self._kinds: dict[int, str] = {}
        self._clients: list[Any] = []
        self._lock = threading.Lock()
        self.active = True  # counting stops when the ``counting`` block ends

    def tag(self, client: Any, kind: str) -> Any:
        with self._lock:
            self._kinds[id(client)] = kind
        return client

    def watch(self, client: Any) -> Any:
        self._clients.append(client)  # keeps ids unique while counting

        def hook(model: Any, **_: Any) -> None:
            if not self.active:
                return
            with self._lock:
                self.by_kind[self._kinds.get(id(client), "hub")][iam_action(model.service_model, model.name)] += 1

        client.meta.events.register("before-call", hook)
        return client

    @property
    def calls(self) -> dict[str, Counter[str]]:
        """The kinds that made calls, with their actions."""
        return {kind: counter for kind, counter in self.by_kind.items() if counter}

    def actions(self, kind: str) -> set[str]:
        return set(self.by_kind.get(kind, {}))

    def undeclared(self, policies: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
        """Per kind, the called actions its policy does not cover (empty when all is declared)."""
        out = {kind: uncovered(policies[kind], self.actions(kind)) for kind in self.calls}
        return {kind: missing for kind, missing in out.items() if missing}

    def of(self, kind: str) -> dict[str, int]:
        return dict(sorted(self.by_kind[kind].items()))

    def total(self) -> int:
        return sum(sum(c.values()) for c in self.by_kind.values())

    def reset(self) -> None:
        with self._lock:
            for counter in self.by_kind.values():
                counter.clear()


@contextmanager
def counting(mp: pytest.MonkeyPatch) -> Iterator[Calls]:
    calls = Calls()
    real_create = botocore.session.Session.create_client
    real_collect = auditor.collect.make_client
    real_fix = auditor.fix.make_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        return calls.watch(real_create(self, *args, **kwargs))

    mp.setattr(botocore.session.Session, "create_client", create_client)
    mp.setattr(auditor.collect, "make_client", lambda *a, **k: calls.tag(real_collect(*a, **k), "scan"))
    mp.setattr(auditor.fix, "make_client", lambda *a, **k: calls.tag(real_fix(*a, **k), "fix"))
    try:
        yield calls
    finally:
        calls.active = False
