"""Workflow definitions for sandbox tests: small real zips HealthOmics would accept, built in memory."""

from __future__ import annotations

import io
import zipfile


def definition_zip(files: dict[str, str]) -> bytes:
    """A workflow definition zip holding ``files`` (path -> text)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buf.getvalue()


def nextflow_processes(*images: str) -> str:
    """A main.nf with one process per image; process ``P<i>``'s ``container`` is on line ``4 + 6*i``."""
    blocks = [
        f"process P{i} {{\n    container '{image}'\n    script:\n    \"echo {i}\"\n}}\n"
        for i, image in enumerate(images)
    ]
    return (
        "nextflow.enable.dsl = 2\n\n"
        + "\n".join(blocks)
        + "\nworkflow {\n"
        + "".join(f"    P{i}()\n" for i in range(len(images)))
        + "}\n"
    )


def nextflow_definition(*images: str) -> bytes:
    """A Nextflow definition zip whose main.nf runs one process per image."""
    return definition_zip({"main.nf": nextflow_processes(*images)})
