"""What a scan costs, and that it only reads.

The exact per-operation counts of a full demo scan are derived from the seeded state (queried here
through a separate, uncounted session), one comment per operation: a change that adds calls breaks
this test on purpose. The demo account is seeded once per module: scans are read-only, which the last
test proves.
"""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import requests

from auditor import upstreams
from auditor.aws import CollectOptions
from auditor.collect import PTC_EVENT_NAMES
from auditor.config import parse_config
from auditor.engine import load_builtin_rules
from auditor.facets import permissions_for_facets
from auditor.manifests import ACCEPTED_MEDIA_TYPES
from auditor.scan import facets_for, select_rules
from tests.support.sandbox import REGION, run_scan

OMICS = "omics.amazonaws.com"
# Verbs of every AWS API that changes something; a read-only scan calls none of them.
MUTATING = (
    "Put", "Set", "Create", "Delete", "Update", "Start", "Stop", "Cancel", "Tag", "Untag", "Attach", "Detach",
    "Import", "BatchImport", "BatchDelete", "Replicate", "Upload", "Complete", "Initiate", "Register", "Deregister",
    "Enable", "Disable", "Add", "Remove", "Associate", "Disassociate", "Reset", "Restore", "Rotate", "Modify",
)  # fmt: skip


class SessionCalls:
    """Every API call any client of a session makes (a before-call handler on the session, so it sees
    the collector's clients too, independently of the collector's own ApiCallCounter)."""

    def __init__(self, session: boto3.Session) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        session.events.register("before-call", self)

    def __call__(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[f"{model.service_model.signing_name}:{model.name}"] += 1


def _trusts_omics(document: dict) -> bool:
    for st in document.get("Statement", []):
        services = (st.get("Principal") or {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        if st.get("Effect") == "Allow" and OMICS in services:
            return True
    return False


def _under(prefix: str, name: str) -> bool:
    return name.startswith(prefix.rstrip("/") + "/")


def _repository(image: str, host: str) -> str:
    """The repository of "<host>/<repository>[:tag][@digest]"."""
    path = image.removeprefix(host).split("@")[0]
    return path.rsplit(":", 1)[0] if ":" in path else path


def seeded_state(session: boto3.Session) -> dict[str, Any]:
    """The facts of the seeded account the expected counts follow from, read without the auditor."""
    ecr = session.client("ecr")
    omics = session.client("omics")
    iam = session.client("iam")
    ct = session.client("cloudtrail")
    host = f"{session.client('sts').get_caller_identity()['Account']}.dkr.ecr.{REGION}.amazonaws.com/"

    repositories = [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]
    ptc_rules = ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    prefixes = [r["ecrRepositoryPrefix"] for r in ptc_rules]
    assert "ROOT" not in prefixes
    ptc_repos = {r for r in repositories if any(_under(p, r) for p in prefixes)}

    workflows = omics.list_workflows(type="PRIVATE")["items"]
    maps = [omics.get_workflow(id=w["id"]).get("containerRegistryMap") or {} for w in workflows]
    destinations = [m["destinationImage"] for crm in maps for m in crm.get("imageMappings", [])]
    mapped_repos = {_repository(d, host) for d in destinations if d.startswith(host)}
    registry_secrets = {
        m["credentialArn"] for crm in maps for m in crm.get("registryMappings", []) if "credentialArn" in m
    }

    # The definitions' own ECR references (GetWorkflow --export DEFINITION, the zip read as plain text): this
    # account's repositories used directly, and other accounts' repositories in this region.
    exported = [omics.get_workflow(id=w["id"], export=["DEFINITION"])["definition"] for w in workflows]
    texts = []
    for url in exported:
        with zipfile.ZipFile(io.BytesIO(requests.get(url, timeout=10).content)) as archive:
            texts += [archive.read(n).decode() for n in archive.namelist()]
    ecr_refs = set(re.findall(r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9/._-]+", "\n".join(texts)))
    direct_repos = {_repository(r, host) for r in ecr_refs if r.startswith(host)} & set(repositories)
    foreign_repos = {r.split("/", 1)[1] for r in ecr_refs if not r.startswith(host) and f".{REGION}." in r}

    runs = omics.list_runs()["items"]
    horizon = datetime.now(UTC) - timedelta(days=CollectOptions().run_lookback_days)
    assert all(r["creationTime"] >= horizon for r in runs), "every seeded run is within the look-back period"
    details = [omics.get_run(id=r["id"]) for r in runs]
    tasks = {r["id"]: omics.list_run_tasks(id=r["id"])["items"] for r in runs}
    task_images = [
        omics.get_run_task(id=rid, taskId=t["taskId"]).get("imageDetails") or {}
        for rid, ts in tasks.items()
        for t in ts
    ]
    task_repos = {_repository(i["image"], host) for i in task_images if i.get("image", "").startswith(host)}

    listed_roles = iam.list_roles()["Roles"]
    audited_roles = {r["RoleName"] for r in listed_roles if _trusts_omics(r["AssumeRolePolicyDocument"])}
    audited_roles |= {d["roleArn"].rsplit("/", 1)[-1] for d in details}
    inline = {n: iam.list_role_policies(RoleName=n)["PolicyNames"] for n in audited_roles}
    attached = {n: iam.list_attached_role_policies(RoleName=n)["AttachedPolicies"] for n in audited_roles}
    roles = [iam.get_role(RoleName=n)["Role"] for n in audited_roles]
    boundaries = {r["PermissionsBoundary"]["PermissionsBoundaryArn"] for r in roles if r.get("PermissionsBoundary")}
    managed = {p["PolicyArn"] for ps in attached.values() for p in ps} | boundaries

    # images: BatchGetImage per repository with a referenced image; a config blob per single-platform manifest
    inspected_repos = ptc_repos | mapped_repos | task_repos | direct_repos
    config_blobs = set()
    index_children = set()  # (repository, linux/amd64 child) of each index: its manifest is read (index_images)
    for repo in inspected_repos:
        details = ecr.describe_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})["imageDetails"]
        tagged = [d for d in details if d.get("imageTags")]  # an index's children are untagged
        assert len(tagged) <= CollectOptions().image_tags_per_repository, "all tags are the newest: all inspected"
        for image in tagged:
            got = ecr.batch_get_image(
                repositoryName=repo,
                imageIds=[{"imageDigest": image["imageDigest"]}],
                acceptedMediaTypes=list(ACCEPTED_MEDIA_TYPES),
            )["images"][0]
            manifest = json.loads(got["imageManifest"])
            if "manifests" in manifest:
                # an index whose entries all carry a platform: only its linux/amd64 image is read, for its config
                assert all("platform" in m for m in manifest["manifests"])
                child = next(m["digest"] for m in manifest["manifests"] if m["platform"]["architecture"] == "amd64")
                index_children.add((repo, child))
                child_manifest = ecr.batch_get_image(
                    repositoryName=repo,
                    imageIds=[{"imageDigest": child}],
                    acceptedMediaTypes=list(ACCEPTED_MEDIA_TYPES),
                )["images"][0]["imageManifest"]
                config_blobs.add(json.loads(child_manifest)["config"]["digest"])
            else:
                config_blobs.add(manifest["config"]["digest"])
    # images pinned by run tasks are digests of the tagged images above: no further manifests
    tagged_digests = {
        d["imageDigest"] for repo in inspected_repos for d in ecr.describe_images(repositoryName=repo)["imageDetails"]
    }
    assert {i["imageDigest"] for i in task_images if i.get("imageDigest")} <= tagged_digests

    # the repositories workflows use (image mappings, definitions, run tasks): their lifecycle policies are read,
    # and the images of those that have one are listed (lifecycle-keeps-used-images)
    used_repos = (mapped_repos | direct_repos | task_repos) & set(repositories)
    with_lifecycle = set()
    for repo in used_repos:
        try:
            ecr.get_lifecycle_policy(repositoryName=repo)
            with_lifecycle.add(repo)
        except ecr.exceptions.LifecyclePolicyNotFoundException:
            pass
    trails = ct.describe_trails(includeShadowTrails=True)["trailList"]
    event_data_stores = ct.list_event_data_stores()["EventDataStores"]

    lookback = min(CollectOptions().run_lookback_days, 90)
    events = {
        name: ct.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}],
            StartTime=datetime.now(UTC) - timedelta(days=lookback),
        )
        for name in PTC_EVENT_NAMES
    }
    assert all("NextToken" not in page for page in events.values()), "one page per event name"

    return {
        "repositories": repositories,
        "ptc_rules": ptc_rules,
        "ptc_repos": ptc_repos,
        "relevant_repos": ptc_repos | (mapped_repos & set(repositories)) | direct_repos,
        "foreign_repos": foreign_repos,
        "secrets": {r["credentialArn"] for r in ptc_rules if "credentialArn" in r} | registry_secrets,
        "workflows": workflows,
        "runs": runs,
        "tasks": tasks,
        "audited_roles": audited_roles,
        "inline": inline,
        "managed": managed,
        "inspected_repos": inspected_repos,
        "config_blobs": config_blobs,
        "index_children": index_children,
        "used_repos": used_repos,
        "with_lifecycle": with_lifecycle,
        "trails": trails,
        "event_data_stores": event_data_stores,
    }


def test_full_scan_makes_exactly_the_calls_the_seed_implies(demo) -> None:
    facts = seeded_state(boto3.Session(region_name=REGION))
    session = boto3.Session(region_name=REGION)
    seen = SessionCalls(session)
    doc = run_scan(session)

    # A rule is validated when its upstream needs a credential or when it names one (any upstream): the
    # demo's credentials are all on upstreams that need them, so this is Docker Hub and GHCR.
    validated = [
        r
        for r in facts["ptc_rules"]
        if "credentialArn" in r or upstreams.requires_credentials(r["upstreamRegistryUrl"])
    ]
    expected = {
        "sts:GetCallerIdentity": 1,  # the account id, once per cell
        # --- ECR ----------------------------------------------------------------------------------
        "ecr:DescribePullThroughCacheRules": 1,  # one page of 4 rules
        "ecr:GetRegistryPolicy": 1,  # one registry
        "ecr:DescribeRepositoryCreationTemplates": 1,  # one page of 3 templates
        "ecr:DescribeRepositories": 1,  # one page of 3 repositories
        # one per repository under a PTC prefix or named by an image mapping (all 3 repositories)
        # and one per other account's repository a definition names, asked of that registry
        "ecr:GetRepositoryPolicy": len(facts["relevant_repos"]) + len(facts["foreign_repos"]),
        # one per PTC rule naming a credential or needing one: Docker Hub and GHCR (Quay and ECR Public
        # need none and name none)
        "ecr:ValidatePullThroughCacheRule": len(validated),
        # the newest tags of each repository under a PTC prefix, one page each, and every image of each used
        # repository with a lifecycle policy (to judge what the policy would expire)
        "ecr:DescribeImages": len(facts["ptc_repos"]) + len(facts["with_lifecycle"]),
        "ecr:GetLifecyclePolicy": len(facts["used_repos"]),  # each repository a workflow uses
        "ecr:GetRegistryScanningConfiguration": 1,  # one registry
        # one call per repository with a referenced image (< 100 references each): mapped, run-task or newest
        # and one per index, for its linux/amd64 image (image-runnable judges that image's config)
        "ecr:BatchGetImage": len(facts["inspected_repos"]) + len(facts["index_children"]),
        # one per distinct config blob of a single-platform manifest or an index's linux/amd64 image (arm-tool,
        # samtools, bwa; ubuntu's amd64 image has samtools' config bytes, so it is read once); samtools by tag
        # and by digest is one manifest, read once (cache)
        "ecr:GetDownloadUrlForLayer": len(facts["config_blobs"]),
        # --- Secrets Manager: the distinct credentialArns of PTC rules (2) and registry mappings (1)
        "secretsmanager:DescribeSecret": len(facts["secrets"]),
        # --- HealthOmics ------------------------------------------------------------------------------
        "omics:ListWorkflows": 1,
        # the registry map of each private workflow, and its exported definition
        "omics:GetWorkflow": 2 * len(facts["workflows"]),
        "omics:ListRuns": 1,
        "omics:GetRun": len(facts["runs"]),  # every run in the look-back period
        "omics:ListRunTasks": len(facts["runs"]),
        # imageDetails, status and any failure message of each task, failed or not
        "omics:GetRunTask": sum(len(t) for t in facts["tasks"].values()),
        # --- IAM: roles trusting omics (from ListRoles) and roles of runs -> 2 audited roles
        "iam:ListRoles": 1,
        "iam:GetRole": len(facts["audited_roles"]),
        "iam:ListRolePolicies": len(facts["audited_roles"]),
        "iam:GetRolePolicy": sum(len(p) for p in facts["inline"].values()),  # each inline policy
        "iam:ListAttachedRolePolicies": len(facts["audited_roles"]),
        # each distinct managed policy (attached or boundary) once, cached across roles
        "iam:GetPolicy": len(facts["managed"]),
        "iam:GetPolicyVersion": len(facts["managed"]),
        # --- CloudTrail: LookupEvents takes one attribute, so one query per PTC event name, one page each
        "cloudtrail:LookupEvents": len(PTC_EVENT_NAMES),
        # the trails that apply to the region, each one's status and selectors; the event data stores, each one
        "cloudtrail:DescribeTrails": 1,
        "cloudtrail:GetTrailStatus": len(facts["trails"]),
        "cloudtrail:GetEventSelectors": len(facts["trails"]),
        "cloudtrail:ListEventDataStores": 1,
        "cloudtrail:GetEventDataStore": len(facts["event_data_stores"]),
    }
    assert doc.api_calls == expected
    # the same numbers written out for the demo, so a change in the seed is noticed here too
    # 45 before definitions were read: +2 GetWorkflow exports, +3 policies (bwa, 2 cross-account), +1 image;
    # 59 since the demo has two failed runs (docs/run-failures.md): +2 GetRun, +2 ListRunTasks, +4 GetRunTask
    # (two tasks each). Their role and images are ones the scan reads anyway: no IAM or ECR call more.
    # 71 with the hygiene rules: +4 GetLifecyclePolicy and +2 DescribeImages (bwa and samtools have lifecycle
    # policies), +1 GetRegistryScanningConfiguration, +5 CloudTrail reads (one trail, one event data store).
    # 72 since bwa's image carries its own run-time config (an ENTRYPOINT, for image-runnable): one more blob.
    # 73 since image-runnable judges the ubuntu index by its linux/amd64 image: one more BatchGetImage.
    assert sum(expected.values()) == 73
    assert len(facts["runs"]) == 4 and len(facts["audited_roles"]) == 2
    assert expected["ecr:GetRepositoryPolicy"] == 6 and expected["ecr:ValidatePullThroughCacheRule"] == 2
    assert expected["ecr:BatchGetImage"] == 5 and expected["ecr:GetDownloadUrlForLayer"] == 3
    assert len(facts["used_repos"]) == 4 and facts["with_lifecycle"] == {
        "my-workflow/bwa",
        "quay/biocontainers/samtools",
    }
    # the scan's own counter agrees with an independent one on the session
    assert dict(seen.calls) == doc.api_calls
    # every call is covered by the scanner policy generated from the facets (no AccessDenied by design)
    allowed = set(permissions_for_facets(facets_for(select_rules(parse_config({})))))
    assert set(doc.api_calls) <= allowed


def test_single_rule_scan_calls_only_what_its_facets_need(demo) -> None:
    rule_id = "registry-policy-allows-omics"
    workflows = boto3.Session(region_name=REGION).client("omics").list_workflows(type="PRIVATE")["items"]
    session = boto3.Session(region_name=REGION)
    seen = SessionCalls(session)
    doc = run_scan(session, rules=[rule_id])
    # facets ptc_rules, registry_policy, workflows (for the aws:SourceArn contexts of omics requests)
    assert doc.api_calls == {
        "sts:GetCallerIdentity": 1,
        "ecr:DescribePullThroughCacheRules": 1,
        "ecr:GetRegistryPolicy": 1,
        "omics:ListWorkflows": 1,
        "omics:GetWorkflow": len(workflows),
    }
    assert not [op for op in doc.api_calls if op.startswith("iam:")]
    assert "omics:GetRun" not in doc.api_calls and "omics:ListRuns" not in doc.api_calls
    assert "ecr:BatchGetImage" not in doc.api_calls and "cloudtrail:LookupEvents" not in doc.api_calls
    assert set(doc.api_calls) <= set(load_builtin_rules()[rule_id].meta.permissions)
    assert dict(seen.calls) == doc.api_calls


def test_registry_map_rule_alone_reads_only_the_mapping_destinations_images(demo) -> None:
    """The map rule inspects image-mapping destinations, so it lists no cache repository's images and reads no
    definition or run task: one BatchGetImage per destination repository, nothing per cache repository."""
    session = boto3.Session(region_name=REGION)
    omics = session.client("omics")
    host = f"{session.client('sts').get_caller_identity()['Account']}.dkr.ecr.{REGION}.amazonaws.com/"
    maps = [omics.get_workflow(id=w["id"]).get("containerRegistryMap") or {} for w in omics.list_workflows()["items"]]
    destinations = {_repository(m["destinationImage"], host) for crm in maps for m in crm.get("imageMappings", [])}
    doc = run_scan(session, rules=["registry-map-consistent"])
    assert doc.api_calls["ecr:BatchGetImage"] == len(destinations) == 2
    for needless in ("ecr:DescribeImages", "omics:ListRunTasks", "omics:GetRunTask", "ecr:GetRepositoryPolicy"):
        assert needless not in doc.api_calls, needless
    assert doc.api_calls["omics:GetWorkflow"] == len(maps)  # the maps only, no definition export


def test_scans_are_read_only(demo) -> None:
    session = boto3.Session(region_name=REGION)
    seen = SessionCalls(session)
    ecr = boto3.Session(region_name=REGION).client("ecr")
    before = ecr.get_registry_policy()["policyText"], ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]

    run_scan(session)
    for rule_id in sorted(load_builtin_rules()):
        run_scan(session, rules=[rule_id])

    assert seen.calls, "the handler saw the scans"
    writes = sorted(op for op in seen.calls if op.split(":", 1)[1].startswith(MUTATING))
    assert writes == []
    after = ecr.get_registry_policy()["policyText"], ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]
    assert after == before
