"""Validate every parsed response a boto3 client receives against botocore's output shape.

Used by the sandbox conformance tests: if the extension returns a field the
real API does not have, or a value of the wrong type, the test fails.
"""

from __future__ import annotations

from typing import Any

from botocore.validate import ParamValidator


class ShapeViolation(AssertionError):
    pass


def _strip_metadata(parsed: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in parsed.items() if k not in ("ResponseMetadata", "Error")}


def validate_output(operation_model: Any, parsed: dict[str, Any]) -> None:
    shape = operation_model.output_shape
    body = _strip_metadata(parsed)
    if shape is None:
        if body:
            raise ShapeViolation(f"{operation_model.name}: expected empty output, got {sorted(body)}")
        return
    report = ParamValidator().validate(body, shape)
    if report.has_errors():
        raise ShapeViolation(
            f"{operation_model.name} output does not match botocore shape:\n{report.generate_report()}"
        )


def attach(client: Any, seen: list[str] | None = None) -> Any:
    """Hook ``client`` so every successful response is validated; returns the client."""

    def _after_call(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if http_response.status_code >= 300:
            return
        validate_output(model, parsed)
        if seen is not None:
            seen.append(model.name)

    client.meta.events.register("after-call", _after_call)
    return client
