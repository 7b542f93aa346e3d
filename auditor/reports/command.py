"""The report side of the CLI: ``report``, ``diff``, ``scan --output`` and ``--to-securityhub``.

Kept out of cli.py so the Lambda handler and the demo write reports the same way.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from auditor.errors import UsageError
from auditor.findings import FindingsDocument
from auditor.reports import RenderOptions, load_formats
from auditor.terminal import is_terminal, safe_for_terminal

REPORT_STEM = "report"  # report.html, report.sarif, ... beside findings.json


def parse_formats(value: str | Sequence[str]) -> list[str]:
    """``html,sarif`` → ["html", "sarif"], checked against the registry (one clear error for a typo)."""
    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    if not names:
        return []
    known = load_formats()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown report format(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return list(dict.fromkeys(names))


def report_path(out_dir: str | Path, fmt: str, stem: str = REPORT_STEM) -> Path:
    return Path(out_dir) / f"{stem}{load_formats()[fmt].suffix}"


def render(doc: FindingsDocument, fmt: str, previous: FindingsDocument | None = None) -> str:
    return load_formats()[fmt].render(doc, RenderOptions(previous=previous))


def write_reports(
    doc: FindingsDocument,
    formats: Sequence[str],
    out_dir: str | Path,
    previous: FindingsDocument | None = None,
    *,
    stem: str = REPORT_STEM,
) -> list[Path]:
    """Write each format as ``<out_dir>/<stem><suffix>``; returns the paths in the order asked."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = report_path(out_dir, fmt, stem)
        path.write_text(render(doc, fmt, previous), encoding="utf-8")
        written.append(path)
    return written


def write_to(doc: FindingsDocument, formats: Sequence[str], out: str, previous: FindingsDocument | None) -> list[str]:
    """``report --out``: ``-`` is stdout (one format), a folder gets report.<suffix> files, else one file."""
    if out == "-":
        if len(formats) != 1:
            raise UsageError("--out - (stdout) takes exactly one --format")
        text = render(doc, formats[0], previous)
        # A terminal gets no raw control character from the data (a pipe or a file gets the exact bytes).
        sys.stdout.write(safe_for_terminal(text.replace("\r\n", "\n")) if is_terminal(sys.stdout) else text)
        return []
    target = Path(out)
    if len(formats) > 1 or target.is_dir() or out.endswith(("/", "\\")):
        return [str(p) for p in write_reports(doc, formats, target, previous)]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(doc, formats[0], previous), encoding="utf-8")
    return [str(target)]
