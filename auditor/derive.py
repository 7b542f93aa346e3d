"""Pure derivations over a snapshot that both collection and rules need.

Keeping them in one place means the collector fetches exactly the resources
the rules will judge (e.g. the same set of "relevant" repositories).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

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
    """Repository name -> why its policy matters (under a PTC prefix, an image-mapping destination, used directly)."""
    existing = {r.name for r in snap.repositories.value or []}
    out: dict[str, list[str]] = {}
    for name in ptc_repositories(snap):
        prefix = upstreams.longest_prefix([p for p in snap.ptc_prefixes() if p != "ROOT"], name)
        out.setdefault(name, []).append(f"under PTC prefix {prefix}")
    host = snap.registry_host()
    for wf, ref in image_mapping_destinations(snap):
        if ref is not None and ref.registry == host and ref.repository in existing:
            out.setdefault(ref.repository, []).append(f"image mapping of workflow {wf.id}")
    for name, uses in used_repositories(snap).items():
        if name not in existing:
            # Not there yet: the workflow-image rule reports a missing repository; a cache repository is
            # created (with its template's policy) on the first pull.
            continue
        for use in uses:
            why = f"used by workflow {use.workflow_id} ({use.origin})"
            if why not in out.setdefault(name, []) and len(out[name]) < 6:
                out[name].append(why)
    return out


# --- what each workflow uses -------------------------------------------------------------------------

UseSource = Literal["definition", "run-task"]


class ImageUse(BaseModel):
    """One image a registered workflow uses, resolved the way HealthOmics resolves it, and where it was found.

    From the workflow's definition (``GetWorkflow --export DEFINITION``, read by the gate's extractors and
    resolved through the workflow's container registry map), or from a recent run's task
    (``GetRunTask.imageDetails.image``, the ECR URI HealthOmics actually pulled).
    """

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    workflow_arn: str
    source: UseSource
    origin: str  # "main.nf:12 (process FASTQC)" or "run 1234567 task 7654321"
    written: str | None  # the reference as written / reported; None when the definition's value is not determined
    unresolved: str | None = None  # why ``written`` is None, or why it resolves to no private ECR image
    via: str = "none"  # how it resolved: image-mapping, registry-mapping, ecr, none, invalid
    account: str | None = None  # the ECR registry HealthOmics pulls from
    region: str | None = None
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None
    ptc_prefix: str | None = None  # the cache rule prefix it is pulled through (a registry mapping's, or its own)

    @property
    def resolved(self) -> bool:
        return self.repository is not None and self.account is not None


def _use(wf: Workflow, snap: Snapshot, source: UseSource, origin: str, written: str, **resolve_args: Any) -> ImageUse:
    from auditor.gate.resolve import resolve  # the gate's resolver: one reading of maps for gate and scan

    res = resolve(written, account=snap.account_id, region=snap.region, **resolve_args)
    use = ImageUse(workflow_id=wf.id, workflow_arn=wf.arn, source=source, origin=origin, written=written, via=res.via)
    if res.ecr_uri is None:
        # e.g. a private ECR reference in another region: HealthOmics pulls only in its own region.
        return use.model_copy(update={"unresolved": res.reason})
    prefix = res.ptc_prefix
    if prefix is None and res.ecr_account == snap.account_id and res.ecr_repository:
        # A private URI written as is (seed 000: "reference these containers using ECR private URIs") goes
        # through the cache rule whose prefix it falls under, which creates the repository on the first pull.
        prefix = upstreams.longest_prefix(snap.ptc_prefixes(), res.ecr_repository)
    return use.model_copy(
        update={
            "account": res.ecr_account,
            "region": res.ecr_region,
            "repository": res.ecr_repository,
            "tag": res.pull_tag,
            "digest": res.pull_digest,
            "ptc_prefix": prefix,
        }
    )


def workflow_uses(snap: Snapshot) -> list[ImageUse]:
    """Every image each private workflow uses: its definition's containers and its recent runs' task images."""
    out: list[ImageUse] = []
    workflows = {wf.id: wf for wf in snap.workflows.value or [] if (wf.type or "PRIVATE") == "PRIVATE"}
    for wf in workflows.values():
        definition = wf.definition.value
        crm = wf.registry_map.value
        for c in definition.containers if definition else []:
            origin = f"{c.location} ({c.context})"
            if c.raw is None:
                out.append(
                    ImageUse(
                        workflow_id=wf.id,
                        workflow_arn=wf.arn,
                        source="definition",
                        origin=origin,
                        written=None,
                        unresolved=c.unresolved or "the value is not determined by the definition",
                    )
                )
                continue
            out.append(_use(wf, snap, "definition", origin, c.raw, crm=crm, default_registry=c.default_registry))
    for run in snap.runs.value or []:
        ran = workflows.get(run.workflow_id or "")
        if ran is None:
            continue
        for task in run.tasks.value or []:
            if task.image:
                # imageDetails.image is what HealthOmics pulled, after the map: resolve it as written.
                out.append(_use(ran, snap, "run-task", f"run {run.id} task {task.task_id}", task.image))
    return out


def used_repositories(snap: Snapshot) -> dict[str, list[ImageUse]]:
    """This account's repositories (in this region) that workflows use, by name, with every use."""
    out: dict[str, list[ImageUse]] = {}
    for use in workflow_uses(snap):
        if use.resolved and use.account == snap.account_id and use.region == snap.region:
            assert use.repository is not None
            out.setdefault(use.repository, []).append(use)
    return out


def foreign_repositories(snap: Snapshot) -> dict[str, list[ImageUse]]:
    """Repository ARNs in other accounts (same region) that workflows use, with every use."""
    out: dict[str, list[ImageUse]] = {}
    for use in workflow_uses(snap):
        if use.resolved and use.account != snap.account_id:
            arn = f"arn:{snap.partition}:ecr:{use.region}:{use.account}:repository/{use.repository}"
            out.setdefault(arn, []).append(use)
    return out
