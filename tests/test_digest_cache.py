"""The digest cache (auditor/digest_cache.py): platforms by digest reused across scans, never about existence.

Against the sandbox: a second scan of an unchanged account answers every listed digest from the cache
(no BatchGetImage, no config blob) with the same findings; a new digest is fetched; a corrupt entry is
one warning and a refetch; the bounds evict the oldest entries; the CLI's ``--no-cache`` makes every call;
concurrent writers of one digest never leave a broken entry.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest
from structlog.testing import capture_logs

from auditor import digest_cache
from auditor.aws import CollectOptions
from auditor.cli import main
from auditor.config import parse_config
from auditor.digest_cache import DigestCache, manifest_is_cacheable
from auditor.findings import FindingsDocument, Status
from auditor.models import ImagePlatforms, Snapshot
from auditor.sandbox import images
from auditor.sandbox.ecr import simulate_ptc_pull
from auditor.sandbox.seed import seed_demo_account
from auditor.scan import collect_options, scan_live, select_rules
from tests.support.sandbox import ACCOUNT, REGION, by_resource, run_scan

ARCH_RULE = "image-not-arm-only"


def _digest(i: int) -> str:
    return f"sha256:{i:064x}"


def _scan(session: boto3.Session, cache: Path | None, **kw) -> tuple[FindingsDocument, Snapshot]:
    kept: list[Snapshot] = []
    doc = run_scan(session, keep_snapshots=kept, digest_cache=cache, **kw)
    return doc, kept[0]


def _key(doc: FindingsDocument) -> list[tuple[str, str, str, str]]:
    return sorted((f.id, f.rule_id, f.status.value, f.resource) for f in doc.findings)


def _entries(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json"))


def _quay_account(session: boto3.Session, arch: str = "amd64") -> str:
    ecr = session.client("ecr")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    simulate_ptc_pull(ACCOUNT, REGION, "quay/team/tool")
    images.push_image(ecr, "quay/team/tool", tag="1.0", architecture=arch)
    return "quay/team/tool"


def test_library_default_is_off(aws, tmp_path) -> None:
    assert CollectOptions().digest_cache is None
    assert collect_options(parse_config({})).digest_cache is None
    assert collect_options(parse_config({}), digest_cache=tmp_path).digest_cache == tmp_path


def test_second_scan_answers_unchanged_digests_from_the_cache(aws, tmp_path) -> None:
    seed_demo_account(aws)
    plain, plain_snap = _scan(aws, None)
    cold, _ = _scan(aws, tmp_path)
    warm, warm_snap = _scan(aws, tmp_path)
    assert _entries(tmp_path), "the cold scan stored what it read"
    assert cold.api_calls == plain.api_calls  # the cache costs no call
    # Only repositories this scan did not list (DescribeImages) still need BatchGetImage: the cache knows
    # what a digest offers, never whether a repository holds it.
    unlisted = {r.repository for r in warm_snap.image_refs if r.repository not in warm_snap.image_listings}
    assert warm.api_calls.get("ecr:BatchGetImage", 0) == len(unlisted)
    assert "ecr:GetDownloadUrlForLayer" not in warm.api_calls
    assert plain.api_calls["ecr:BatchGetImage"] > len(unlisted)
    assert _key(warm) == _key(plain)
    assert warm_snap.images == plain_snap.images  # the same digests, media types, platforms and sources


def test_an_image_with_a_new_digest_is_fetched(aws, tmp_path) -> None:
    repo = _quay_account(aws)
    first, _ = _scan(aws, tmp_path, rules=[ARCH_RULE])
    assert [f.status for f in first.findings] == [Status.PASS]
    again, _ = _scan(aws, tmp_path, rules=[ARCH_RULE])
    assert "ecr:BatchGetImage" not in again.api_calls
    images.push_image(aws.client("ecr"), repo, tag="1.0", architecture="arm64")  # the tag moves: a new digest
    moved, snap = _scan(aws, tmp_path, rules=[ARCH_RULE])
    assert moved.api_calls["ecr:BatchGetImage"] == 1 and moved.api_calls["ecr:GetDownloadUrlForLayer"] == 1
    assert [f.status for f in moved.findings] == [Status.FAIL]
    assert snap.images[f"{repo}:1.0"].value.platforms == ["linux/arm64"]


def test_a_deleted_image_is_not_answered_from_the_cache(aws, tmp_path) -> None:
    """A run pulled a digest that is gone now: the cache knows its platforms, the scan must still say it is gone."""
    repo = _quay_account(aws)
    _scan(aws, tmp_path, rules=[ARCH_RULE])
    ecr = aws.client("ecr")
    ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "1.0"}])
    doc, snap = _scan(aws, tmp_path, rules=[ARCH_RULE])
    assert not snap.images or all(not c.value or not c.value.exists for c in snap.images.values())
    assert Status.PASS not in {f.status for f in doc.findings}


def test_a_corrupt_entry_is_one_warning_and_is_fetched_again(aws, tmp_path) -> None:
    _quay_account(aws)
    ecr = aws.client("ecr")
    for i, arch in enumerate(["arm64", "ppc64le"]):  # three tags: all of them the newest three
        images.push_image(ecr, "quay/team/tool", tag=f"2.{i}", architecture=arch)
    baseline, _ = _scan(aws, tmp_path, rules=[ARCH_RULE])
    entries = _entries(tmp_path)
    assert len(entries) == 6  # three manifests, three config blobs
    manifests = [p for p in entries if p.parent.parent.name == "m"]
    manifests[0].write_bytes(b"{not json")
    manifests[1].write_text(json.dumps({"schema": 1, "digest": _digest(7), "image": {"digest": _digest(7)}}))
    manifests[2].write_bytes(b"[" * 100_000)  # larger than an entry may be
    with capture_logs() as logs:
        doc, _ = _scan(aws, tmp_path, rules=[ARCH_RULE])
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [e["event"] for e in warnings] == ["digest_cache_problem"], warnings
    assert "Traceback" not in json.dumps(warnings, default=str)
    assert doc.api_calls["ecr:BatchGetImage"] == 1  # the three broken ones, in one batch
    assert "ecr:GetDownloadUrlForLayer" not in doc.api_calls  # their config blobs were still good
    assert _key(doc) == _key(baseline)
    with capture_logs() as logs:
        healed, _ = _scan(aws, tmp_path, rules=[ARCH_RULE])
    assert not [e for e in logs if e["log_level"] == "warning"]
    assert "ecr:BatchGetImage" not in healed.api_calls


def test_an_unusable_cache_folder_is_one_warning_and_the_scan_goes_on(aws, tmp_path) -> None:
    _quay_account(aws)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    plain, _ = _scan(aws, None, rules=[ARCH_RULE])
    with capture_logs() as logs:
        doc, _ = _scan(aws, blocked / "digests", rules=[ARCH_RULE])
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["digest_cache_problem"]
    assert _key(doc) == _key(plain) and doc.api_calls == plain.api_calls


def test_hostile_digests_and_entries_stay_inside_the_cache(tmp_path) -> None:
    cache = DigestCache(tmp_path / "c")
    for bad in ["sha256:../../../etc/passwd", "sha256:" + "A" * 64, "md5:abc", "", None]:
        assert cache.image(bad) is None
        cache.put_image(ImagePlatforms(digest=bad, platforms=["linux/amd64"]))
    assert not (tmp_path / "c").exists()
    good = _digest(1)
    entry = tmp_path / "c" / "m" / good[7:9] / f"{good[7:]}.json"
    entry.parent.mkdir(parents=True)
    os.mkfifo(entry)  # a FIFO must not hang the read
    with capture_logs() as logs:
        assert cache.image(good) is None
    assert len(logs) == 1 and cache.stats["ignored"] == 1
    entry.unlink()
    cache.put_image(ImagePlatforms(digest=good, platforms=["linux/amd64"], source="config-blob"))
    assert cache.image(good) == ImagePlatforms(digest=good, platforms=["linux/amd64"], source="config-blob")
    cache.put_image(ImagePlatforms(digest=_digest(2), exists=False))  # only what exists is stored
    assert cache.image(_digest(2)) is None


def test_an_index_whose_children_were_fetched_is_not_stored() -> None:
    """Its platforms depend on which children this repository holds (a pull-through cache may hold some)."""
    child = _digest(9)
    declared = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": child, "size": 1}],
        }
    )
    from auditor.manifests import manifest_digest

    digest = manifest_digest(declared)
    resp = {"images": [{"imageId": {"imageDigest": digest}, "imageManifest": declared}]}
    assert not manifest_is_cacheable(resp, ImagePlatforms(digest=digest, platforms=["linux/amd64"], source="index"))
    resp_lying = {"images": [{"imageId": {"imageDigest": _digest(3)}, "imageManifest": declared}]}
    assert not manifest_is_cacheable(resp_lying, ImagePlatforms(digest=_digest(3), platforms=["linux/amd64"]))


def test_the_bounds_evict_the_oldest_entries(tmp_path) -> None:
    cache = DigestCache(tmp_path, max_entries=20)
    for i in range(60):
        cache.put_image(ImagePlatforms(digest=_digest(i), platforms=["linux/amd64"], source="config-blob"))
        os.utime(cache._path("m", _digest(i)), (1_000_000 + i, 1_000_000 + i))  # written one second apart
    cache.enforce_bounds()
    left = _entries(tmp_path)
    assert 0 < len(left) <= 20
    assert cache.image(_digest(59)) is not None and cache.image(_digest(0)) is None  # the newest stay
    size = sum(p.stat().st_size for p in left)
    by_bytes = DigestCache(tmp_path, max_bytes=size // 2)
    assert by_bytes.enforce_bounds() > 0
    assert sum(p.stat().st_size for p in _entries(tmp_path)) <= size // 2


def test_threads_writing_the_same_digest_leave_one_whole_entry(tmp_path) -> None:
    cache = DigestCache(tmp_path)
    image = ImagePlatforms(digest=_digest(5), platforms=[f"linux/arch{i}" for i in range(50)], source="index")
    seen: list[ImagePlatforms | None] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(50):
            cache.put_image(image)
            seen.append(cache.image(image.digest))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.stats["ignored"] == 0 and set(map(str, seen)) == {str(image)}
    assert len(_entries(tmp_path)) == 1 and not list(tmp_path.rglob(".tmp-*"))


def _write_in_process(root: str, rounds: int) -> None:
    cache = DigestCache(Path(root))
    image = ImagePlatforms(digest=_digest(6), platforms=["linux/amd64", "linux/arm64"], source="index")
    for _ in range(rounds):
        cache.put_image(image)
        got = cache.image(image.digest)
        if got != image or cache.stats["ignored"]:
            raise SystemExit(1)


def test_two_processes_writing_the_same_digest(tmp_path) -> None:
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_write_in_process, args=(str(tmp_path), 200)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert DigestCache(tmp_path).image(_digest(6)) is not None


def test_cache_and_no_cache_exclude_each_other(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["scan", "--cache", str(tmp_path), "--no-cache", "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_the_cli_caches_by_default_and_no_cache_makes_every_call(tmp_path, monkeypatch) -> None:
    from auditor.sandbox.server import start_server

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    for key, value in creds.items():
        monkeypatch.setenv(key, value)
    xdg = tmp_path / "xdg"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | creds | {"XDG_CACHE_HOME": str(xdg)}

    def scan(name: str, *flags: str) -> dict[str, int]:
        out = tmp_path / name
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "auditor",
                "scan",
                "--endpoint-url",
                server.url,
                "--out",
                str(out),
                "--quiet",
                *flags,
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        calls: dict[str, int] = json.loads((out / "findings.json").read_text())["api_calls"]
        return calls

    with start_server() as server:
        seeder = boto3.Session(region_name=REGION)
        make_client = seeder.client
        monkeypatch.setattr(seeder, "client", lambda service, **kw: make_client(service, endpoint_url=server.url, **kw))
        seed_demo_account(seeder)
        cold = scan("cold")  # the default: $XDG_CACHE_HOME/omics-ecr-audit/digests
        default_root = xdg / "omics-ecr-audit" / "digests"
        stored = _entries(default_root)
        assert stored
        warm = scan("warm")
        assert warm["ecr:BatchGetImage"] < cold["ecr:BatchGetImage"] and "ecr:GetDownloadUrlForLayer" not in warm
        uncached = scan("uncached", "--no-cache")
        assert uncached == cold
        assert _entries(default_root) == stored
        elsewhere = tmp_path / "elsewhere"
        assert scan("elsewhere", "--cache", str(elsewhere)) == cold and _entries(elsewhere)


@pytest.mark.parametrize("xdg", ["", "relative/path"])
def test_default_root_without_a_usable_xdg_cache_home(xdg, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    assert digest_cache.default_root() == Path.home() / ".cache" / "omics-ecr-audit" / "digests"


def test_a_cached_arm_only_image_still_fails(aws, tmp_path) -> None:
    repo = _quay_account(aws, arch="arm64")
    _scan(aws, tmp_path, rules=[ARCH_RULE])
    doc, _ = _scan(aws, tmp_path, rules=[ARCH_RULE])
    found = by_resource(doc, ARCH_RULE)
    assert [f.status for f in found.values()] == [Status.FAIL]
    assert any(repo in r for r in found)


def test_fix_uses_the_cache_it_is_given_and_plans_the_same(aws, tmp_path, monkeypatch) -> None:
    """`fix` scans like `scan`: --cache DIR fills and reuses the folder, --no-cache leaves the default alone,
    and the plan is the same either way."""
    seed_demo_account(aws)
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    cache = tmp_path / "digests"

    def changes(out: Path) -> list[tuple[str, str]]:
        plan = json.loads((out / "plan.json").read_text())
        return sorted((c["rule_id"], c["resource"]) for c in plan["changes"])

    assert main(["fix", "--cache", str(cache), "--out", str(tmp_path / "a"), "--quiet"]) == 1
    assert _entries(cache), "the planning scan filled the cache it was given"
    assert main(["fix", "--cache", str(cache), "--out", str(tmp_path / "b"), "--quiet"]) == 1
    assert main(["fix", "--no-cache", "--out", str(tmp_path / "c"), "--quiet"]) == 1
    assert not xdg.exists() or not _entries(xdg), "--no-cache wrote the default cache"
    assert changes(tmp_path / "a") == changes(tmp_path / "b") == changes(tmp_path / "c") != []


def test_one_fetch_per_digest_at_a_time(tmp_path) -> None:
    """claim_image: the first caller owns a digest, the others get its answer (single-flight)."""
    cache = DigestCache(tmp_path)
    digest = _digest(11)
    image = ImagePlatforms(digest=digest, platforms=["linux/amd64"], source="config-blob")
    owners: list[int] = []
    answers: list[ImagePlatforms | None] = []
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        barrier.wait()
        claim = cache.claim_image(digest)
        if claim is None:
            owners.append(i)
            cache.settle_image(digest, image)
            answers.append(image)
        elif isinstance(claim, ImagePlatforms):
            answers.append(claim)
        else:
            answers.append(claim.result(timeout=10))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(owners) == 1 and answers == [image] * 8
    assert cache.stats["stored"] == 1
    assert cache.claim_image(digest) == image  # stored: a later caller reads it, owns nothing


def test_a_claim_that_found_nothing_hands_nothing_on(tmp_path) -> None:
    cache = DigestCache(tmp_path)
    digest = _digest(12)
    assert cache.claim_image(digest) is None  # owned
    waiter = cache.claim_image(digest)
    assert waiter is not None and not isinstance(waiter, ImagePlatforms)
    cache.settle_image(digest, None)  # the fetch failed, or its answer may not be stored
    assert waiter.result(timeout=1) is None
    assert cache.claim_image(digest) is None  # the next caller owns it and fetches it
    # an answer for another digest (the tag moved between DescribeImages and BatchGetImage) is not stored
    cache.settle_image(digest, ImagePlatforms(digest=_digest(13), platforms=["linux/amd64"]))
    assert not _entries(tmp_path)


def test_cells_sharing_digests_fetch_each_once(aws, tmp_path) -> None:
    """Three regions hold the same images (one upstream cached everywhere) and are scanned at once with one
    cache: each distinct manifest and config blob is read once in all, the findings are those without cache."""
    regions = ["us-east-1", "us-west-2", "eu-west-1"]
    for region in regions:
        ecr = aws.client("ecr", region_name=region)
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
        for i, kind in enumerate(["amd64", "amd64", "index", "arm64"]):
            name = f"quay/team/tool{i}"
            simulate_ptc_pull(ACCOUNT, region, name)
            if kind == "index":
                images.push_index(ecr, name, tag="1.0", platforms=["linux/amd64", "linux/arm64"])
            else:
                images.push_image(ecr, name, tag="1.0", architecture=kind)
    cfg = parse_config({})
    selected = select_rules(cfg, [ARCH_RULE])
    plain = scan_live(cfg, selected, session=aws, regions=regions)
    cached = scan_live(cfg, selected, session=aws, regions=regions, digest_cache=tmp_path / "cache")
    assert plain.api_calls["ecr:BatchGetImage"] == 12
    assert cached.api_calls["ecr:BatchGetImage"] == 3  # amd64, the index, arm64: once each in all
    assert cached.api_calls["ecr:GetDownloadUrlForLayer"] == 2  # the amd64 and arm64 config blobs
    assert _key(cached) == _key(plain)


def test_entries_of_the_previous_schema_are_silent_misses(tmp_path: Path) -> None:
    """Schema 1 entries predate the image-runnable facts: read as misses (fetched again), never as "no entrypoint"."""
    cache = DigestCache(tmp_path)
    digest = _digest(41)
    for kind, entry in (
        ("m", {"schema": 1, "digest": digest, "image": {"digest": digest, "platforms": ["linux/amd64"]}}),
        ("c", {"schema": 1, "digest": digest, "platform": "linux/amd64"}),
    ):
        path = tmp_path / kind / digest[7:9] / f"{digest[7:]}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entry))
    with capture_logs() as logs:
        assert cache.image(digest) is None
        assert cache.config_facts(digest) is None
    assert logs == [] and cache.stats["ignored"] == 0 and cache.stats["misses"] == 2


def test_config_facts_round_trip_without_values(tmp_path: Path) -> None:
    from auditor.manifests import config_facts

    blob = (
        '{"os":"linux","architecture":"amd64","config":{"Entrypoint":["/opt/tool"],'
        '"Env":["AWS_WORKFLOW_KEY=hunter2","JAVA_TOOL_OPTIONS=-Xmx4g"]}}'
    )
    cache = DigestCache(tmp_path)
    cache.put_config_facts(_digest(42), config_facts(blob))
    stored = next((tmp_path / "c").rglob("*.json")).read_text()
    assert "hunter2" not in stored and "4g" not in stored and "AWS_WORKFLOW_KEY" in stored
    facts = DigestCache(tmp_path).config_facts(_digest(42))
    assert facts is not None and facts.entrypoint == ["/opt/tool"] and facts.platform == "linux/amd64"
    assert DigestCache(tmp_path).config_platform(_digest(42)) == "linux/amd64"
