"""Collector behaviour the benchmark exposed: shared config blobs, page sizes, tasks of large runs."""

from __future__ import annotations

import json
import threading
from collections import Counter

from auditor.aws import CollectOptions
from auditor.collect import Collector
from auditor.facets import FACETS, SNAPSHOT_METADATA, collection_order, expand_facets, permissions_for_facets
from auditor.findings import Status
from auditor.models import Snapshot
from auditor.sandbox import images
from auditor.sandbox.ecr import simulate_ptc_pull
from auditor.sandbox.omics import add_run_task, set_run_state
from tests.support.sandbox import ACCOUNT, REGION, by_resource, run_scan, trust


def _two_repos_sharing_a_config(aws) -> list[str]:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    repos = ["quay/a/tool", "quay/b/tool"]
    for repo in repos:
        simulate_ptc_pull(ACCOUNT, REGION, repo)
        images.push_image(ecr, repo, tag="1.0", architecture="amd64")  # identical content: one config digest
    return repos


def _count_calls(session) -> Counter[str]:
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def count(model, params, **_):
        with lock:
            calls[model.name] += 1

    session.events.register("before-call", count)
    return calls


def test_a_denied_config_blob_is_that_repositorys_error_only(aws) -> None:
    first, second = _two_repos_sharing_a_config(aws)

    def deny(request, **_):
        if json.loads(request.body)["repositoryName"] == first:
            from botocore.awsrequest import AWSResponse

            body = json.dumps({"__type": "AccessDeniedException", "message": "denied"}).encode()

            class Raw:
                def stream(self, **__):
                    yield body

            return AWSResponse(request.url, 400, {}, Raw())
        return None

    aws.events.register_first("before-send.ecr.GetDownloadUrlForLayer", deny)
    doc = run_scan(aws, rules=["image-not-arm-only"], config={"max_workers": 1})
    found = {r.rsplit("repository/", 1)[1]: f.status for r, f in by_resource(doc, "image-not-arm-only").items()}
    # the cache once shared the first repository's denial with every image of the same config digest
    assert found == {f"{first}:1.0": Status.ERROR, f"{second}:1.0": Status.PASS}


def test_shared_config_blob_is_fetched_once_even_in_parallel(aws) -> None:
    ecr = aws.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    for i in range(12):
        repo = f"quay/team/tool-{i}"
        simulate_ptc_pull(ACCOUNT, REGION, repo)
        images.push_image(ecr, repo, tag="1.0", architecture="amd64")
    calls = _count_calls(aws)
    Collector(aws, REGION, ["images", "ptc_image_listings"], CollectOptions(max_workers=8)).collect()
    assert calls["GetDownloadUrlForLayer"] == 1  # one distinct config digest
    assert calls["BatchGetImage"] == 12


def test_listings_ask_for_the_largest_page(aws) -> None:
    seen: dict[str, object] = {}
    aws.events.register(
        "provide-client-params.ecr.DescribeRepositories",
        lambda params, **_: seen.setdefault("maxResults", params.get("maxResults")),
    )
    Collector(aws, REGION, ["repositories"]).collect()
    assert seen["maxResults"] == 1000


def test_every_task_of_a_large_run_is_read(aws) -> None:
    iam = aws.client("iam")
    iam.create_role(RoleName="OmicsRole", AssumeRolePolicyDocument=trust())
    omics = aws.client("omics")
    wf = omics.create_workflow(name="wf", engine="WDL", definitionZip=b"PK\x05\x06" + b"\x00" * 18)["id"]
    run = omics.start_run(
        workflowId=wf,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/OmicsRole",
        name="big",
        outputUri="s3://out/",
        requestId="r1",
    )["id"]
    set_run_state(ACCOUNT, REGION, run, status="RUNNING")
    ids = [
        add_run_task(ACCOUNT, REGION, run, name=f"T{i}", image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/x:{i}")
        for i in range(40)
    ]
    snap = Collector(aws, REGION, ["run_tasks"], CollectOptions(max_workers=8)).collect()
    (got,) = snap.runs.value
    assert [t.task_id for t in got.tasks.value] == ids  # complete and in ListRunTasks order
    assert [t.image.rsplit(":", 1)[1] for t in got.tasks.value] == [str(i) for i in range(40)]


# --- facet declarations (auditor/facets.py) agree with the Snapshot and the Collector ----------------


def test_every_facet_names_snapshot_fields_and_a_collector_method() -> None:
    for facet in FACETS.values():
        for name in facet.fields:
            assert name in Snapshot.model_fields, f"facet {facet.name}: Snapshot has no field {name!r}"
        assert callable(getattr(Collector, facet.collect, None)), f"facet {facet.name}: no Collector.{facet.collect}"
        assert set(facet.depends_on) <= set(FACETS), f"facet {facet.name} depends on an unknown facet"
        assert facet.permissions, f"facet {facet.name} declares no IAM action"


def test_every_collected_snapshot_field_has_a_facet() -> None:
    filled = {name for facet in FACETS.values() for name in facet.fields}
    assert set(Snapshot.model_fields) - SNAPSHOT_METADATA == filled
    assert set(Snapshot.model_fields) >= SNAPSHOT_METADATA


def test_collection_order_follows_the_dependencies() -> None:
    listings, dependent = collection_order(FACETS)
    assert {f.name for f in listings} == {f.name for f in FACETS.values() if not f.depends_on}
    done = {f.name for f in listings}
    for facet in dependent:
        assert done.issuperset(facet.depends_on), f"{facet.name} collected before {facet.depends_on}"
        done.add(facet.name)
    assert done == set(FACETS)
    # only what was asked for and its dependencies: images needs the repositories and the workflows (their
    # image mappings); the cache listings, definitions and run tasks only order it when they are wanted too
    listings, dependent = collection_order(["images"])
    assert {f.name for f in listings} == {"repositories", "workflows"}
    assert [f.name for f in dependent] == ["images"]
    listings, dependent = collection_order(["images", "ptc_image_listings", "run_tasks"])
    assert [f.name for f in dependent] == ["ptc_image_listings", "run_tasks", "images"]
    assert expand_facets(["roles"]) == {"roles", "service_roles", "runs"}
    assert permissions_for_facets(["roles"])[0] == "iam:GetPolicy"
    assert "sts:GetCallerIdentity" in permissions_for_facets([])
