"""Report formats, one module each, registered by name (``report --format NAME``, ``scan --output NAME``).

A format is a function from a findings document to text. It is registered with
:func:`report_format`, so the CLI and the Lambda handler find every format in one
place instead of an if-chain. Importing this package imports every format module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.findings import FindingsDocument

Renderer = Callable[["FindingsDocument", "RenderOptions"], str]


@dataclass(frozen=True)
class RenderOptions:
    """What a renderer may use besides the document itself."""

    previous: FindingsDocument | None = None  # the last run's document: "new" and "resolved since last run"


@dataclass(frozen=True)
class ReportFormat:
    name: str
    suffix: str  # file name suffix used by `scan --output` and the Lambda handler
    description: str
    render: Renderer


FORMATS: dict[str, ReportFormat] = {}
_MODULES = ("html", "sarif", "junit", "asff", "ocsf", "csv")


def report_format(name: str, *, suffix: str, description: str) -> Callable[[Renderer], Renderer]:
    def register(fn: Renderer) -> Renderer:
        if name in FORMATS:
            raise ValueError(f"report format {name!r} registered twice")
        FORMATS[name] = ReportFormat(name=name, suffix=suffix, description=description, render=fn)
        return fn

    return register


def load_formats() -> dict[str, ReportFormat]:
    for module in _MODULES:
        import_module(f"auditor.reports.{module}")
    return FORMATS
