"""Pure derivations over a snapshot that both collection and rules need.

Keeping them in one place means the collector fetches exactly the resources
the rules will judge (e.g. the same set of "relevant" repositories).
"""

from __future__ import annotations

from auditor import upstreams
from auditor.models import Snapshot, Workflow
from auditor.refs import ImageReference, InvalidReference, parse_reference


def image_mapping_destinations(snap: Snapshot) -> list[tuple[Workflow, ImageReference | None]]:
    """(workflow, parsed destination, or None when missing/unparsable) for every image mapping."""
    out: list[tuple[Workflow, ImageReference | None]] = []
    for wf in snap.workflows.value or []:
        crm = wf.registry_map.value
        for mapping in crm.image_mappings if crm else []:
            try:
                out.append((wf, parse_reference(mapping.destination_image or "")))
            except InvalidReference:
                out.append((wf, None))
    return out


def ptc_repositories(snap: Snapshot) -> list[str]:
    """Existing repositories under a (non-ROOT) PTC prefix."""
    prefixes = [p for p in snap.ptc_prefixes() if p != "ROOT"]
    return sorted(
        r.name for r in snap.repositories.value or [] if any(upstreams.prefix_matches(p, r.name) for p in prefixes)
    )


def relevant_repositories(snap: Snapshot) -> dict[str, list[str]]:
    """Repository name -> why its policy matters (under a PTC prefix / destination of an image mapping)."""
    existing = {r.name for r in snap.repositories.value or []}
    out: dict[str, list[str]] = {}
    for name in ptc_repositories(snap):
        prefix = upstreams.longest_prefix([p for p in snap.ptc_prefixes() if p != "ROOT"], name)
        out.setdefault(name, []).append(f"under PTC prefix {prefix}")
    host = snap.registry_host()
    for wf, ref in image_mapping_destinations(snap):
        if ref is not None and ref.registry == host and ref.repository in existing:
            out.setdefault(ref.repository, []).append(f"image mapping of workflow {wf.id}")
    return out
