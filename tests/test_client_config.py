"""The clients every command makes: HealthOmics host prefixes against custom endpoints."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("endpoint", "env", "custom"),
    [
        (None, {}, False),
        ("http://127.0.0.1:5000", {}, True),
        (None, {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, True),
        (None, {"AWS_ENDPOINT_URL_OMICS": "http://127.0.0.1:5000"}, True),
        (None, {"AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}, True),
        (None, {"AWS_DISABLE_HOST_PREFIX_INJECTION": "false"}, False),
    ],
)
def test_healthomics_host_prefix_is_off_for_any_custom_endpoint(
    endpoint: str | None, env: dict[str, str], custom: bool
) -> None:
    """AWS_ENDPOINT_URL alone (as the sandbox banner exports it) must not send calls to workflows-127.0.0.1."""
    from auditor.aws import custom_endpoint

    assert custom_endpoint(endpoint, env) is custom
