"""What an extractor reports: every container a workflow names, with the file and line it came from.

Extractors (``wdl``, ``nextflow``, ``cwl``) read a workflow folder and return an
:class:`Extraction`. They never guess: a value they cannot determine (an
interpolation of a required input, a Groovy closure) is reported with
``raw=None`` and ``unresolved`` saying why, and a file they cannot read is an
:class:`ExtractionError`, not an exception.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Language = Literal["wdl", "nextflow", "cwl"]


class ContainerRef(BaseModel):
    """One place a workflow names a task container."""

    file: str  # path relative to the workflow root, POSIX separators
    line: int  # 1-based line of the value
    language: Language
    context: str  # what uses it: "task bwa_mem", "process FASTQC", "tool tools/bwa.cwl"
    expression: str  # the value as written in the source (e.g. "~{docker}", "params.x", "'quay.io/a:1'")
    raw: str | None = None  # the image reference after substituting known values; None when unresolved
    unresolved: str | None = None  # why ``raw`` could not be determined (never guessed)
    default_registry: str | None = None  # Nextflow docker.registry applied to bare names


class ExtractionError(BaseModel):
    file: str
    line: int | None = None
    message: str


class Extraction(BaseModel):
    language: Language
    root: str
    containers: list[ContainerRef] = Field(default_factory=list)
    errors: list[ExtractionError] = Field(default_factory=list)
