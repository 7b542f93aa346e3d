"""Counting every write call any client of the process makes (scans, plans, applies and verifications alike)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import auditor.collect
import auditor.fix
from auditor.fix import WRITE_VERBS


def count_writes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Write calls per operation name, made through any client the collector or the fixer creates from now on."""
    counted: Counter[str] = Counter()
    real = auditor.collect.make_client

    def counting(*args: Any, **kwargs: Any) -> Any:
        client = real(*args, **kwargs)

        def hook(model: Any, **_: Any) -> None:
            if model.name.startswith(WRITE_VERBS):
                counted[model.name] += 1

        client.meta.events.register("before-call", hook)
        return client

    monkeypatch.setattr(auditor.collect, "make_client", counting)
    monkeypatch.setattr(auditor.fix, "make_client", counting)
    return counted
