"""Benchmark a live scan against the sandbox: wall time and API calls per operation, by account size.

    .venv/bin/python benchmarks/scan_benchmark.py                       # 10, 100, 1000 repositories
    .venv/bin/python benchmarks/scan_benchmark.py --sizes 100 --latency-ms 20 --workers 1,8
    .venv/bin/python benchmarks/scan_benchmark.py --mode server --json bench.json

For every size N the sandbox is reset and a synthetic account is seeded through real boto3 calls
(see ``seed_account``): three PTC rules (Docker Hub with a valid ``ecr-pullthroughcache/`` secret,
Quay, ECR Public), a registry policy, one creation template per prefix, N repositories spread over
the three prefixes with one or two tagged images each, three workflows, four runs with tasks and
three IAM roles. Then ``auditor.scan.scan_live`` runs with every rule (once per ``--workers``
value) and with each ``--single-rules`` rule on its own, and the script reports the scan's wall
time (seeding excluded), the split between collection and rule evaluation, the API calls per
operation and per repository, the findings by status and the peak memory.

Injected latency (``--latency-ms``): a ``before-send`` handler registered first on the *scan's*
boto3 session sleeps that long before every HTTP request botocore sends (retries included), ahead
of moto's own ``before-send`` stub in-process and of the real socket in server mode. Seeding uses
another session and is not delayed. The collector's plain ``requests`` download of image config
blobs (pre-signed URL, no botocore) is not delayed either.

This is a script, not a test: it asserts nothing beyond sanity checks it prints.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.sandbox.documents import OMICS, omics_statement, policy_document, trust_policy

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
PREFIXES = ("docker-hub", "quay", "ecr-public")
UPSTREAMS = {"docker-hub": "registry-1.docker.io", "quay": "quay.io", "ecr-public": "public.ecr.aws"}
NAMESPACE = {"docker-hub": "bench", "quay": "biocontainers", "ecr-public": "bench"}
# First image of repository i is KINDS[i % 10]: 50% Docker v2 amd64, 30% OCI index amd64+arm64,
# 10% OCI single-arch amd64, 10% arm64 only. Repositories with i % 4 == 2 get a second tag
# ("2.0") of kind SECOND[first kind]. Repositories with i % 10 == 7 are created directly, before the
# creation templates exist, so they have no repository policy.
KINDS = ("amd64", "index", "amd64", "oci-amd64", "index", "amd64", "arm64", "amd64", "index", "amd64")
SECOND = {"amd64": "index", "oci-amd64": "amd64", "index": "amd64", "arm64": "index"}


# The rules the seeded account was built for, the access group (auditor.engine.RULE_GROUPS): each must report no
# FAIL but the seeded defects (repositories without a policy, arm64-only tags). A hygiene rule may FAIL on the seed
# (no trail, no scan on push, ...): that is reported, not a sanity failure; an ERROR from any rule still is.
# org_benchmark.py also requires a hygiene rule's FAILs to be alike in every (alike) cell.
def _access_rules() -> frozenset[str]:
    from auditor.config import Config
    from auditor.scan import select_rules

    return frozenset(r.meta.id for r in select_rules(Config(), groups=["access"]))


SEEDED_FOR_RULES = _access_rules()
DEFAULT_SINGLE_RULES = "registry-policy-allows-omics,repository-policy-grants-omics"

_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIASANDBOXBENCH0000",
    "AWS_SECRET_ACCESS_KEY": "sandbox-bench-not-a-secret",
    "AWS_SESSION_TOKEN": "sandbox",
    "AWS_DEFAULT_REGION": REGION,
    # Never read the user's profiles or credentials.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def use_fake_credentials() -> None:
    """Drop every AWS_* variable and use the sandbox's fake credentials: a real profile is never read."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[key]
    os.environ.update(_FAKE_ENV)


def repo_name(i: int) -> str:
    prefix = PREFIXES[i % len(PREFIXES)]
    return f"{prefix}/{NAMESPACE[prefix]}/tool-{i:04d}"


def ecr_uri(path: str) -> str:
    return f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{path}"


# --- API call counting (seeding side) ------------------------------------------------------


class CallCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_name

        def count(model: Any, **_: Any) -> None:
            with self._lock:
                self.calls[f"{service}:{model.name}"] += 1

        client.meta.events.register("before-call", count)
        return client


def add_latency(session: Any, seconds: float) -> None:
    """Sleep ``seconds`` before every request botocore sends from clients of ``session``.

    ``register_first`` puts the handler ahead of moto's ``before-send`` stub (registered at
    session creation from botocore's built-in handlers); returning None lets the request go on.
    Clients copy the session's emitter when created, so this must run before the scan creates them.
    """

    def sleep_before_send(**_: Any) -> None:
        time.sleep(seconds)

    session.events.register_first("before-send", sleep_before_send, unique_id="benchmark-latency")


# --- seeding -----------------------------------------------------------------------------------


@dataclass
class SeedInfo:
    repositories: int = 0
    without_policy: int = 0
    tagged_images: int = 0
    images_by_kind: dict[str, int] = field(default_factory=dict)
    arm_only_tagged: int = 0
    workflows: int = 0
    runs: int = 0
    run_tasks: int = 0
    roles: int = 0
    api_calls: int = 0
    seconds: float = 0.0


def _push_salted(
    images: Any,
    ecr: Any,
    repository: str,
    *,
    tag: str | None,
    architecture: str,
    media_type: str,
    salt: str,
    variant: str | None = None,
) -> Any:
    """``images.push_image``'s one-layer image, with ``salt`` in the layer's file (so in the config's diff_ids
    too): a distinct image per salt, byte-identical for the same salt wherever it is pushed. Built from the
    sandbox's own push helpers, so the pushes are the same calls."""
    config_type, layer_type = images._CONFIG_AND_LAYER_TYPES[media_type]
    platform = images._platform(architecture, "linux", variant)
    compressed, uncompressed = images._layer_tar(f"sandbox image for {'/'.join(platform.values())}: {salt}\n".encode())
    config = platform | {"rootfs": {"type": "layers", "diff_ids": [images._digest(uncompressed)]}, "config": {}}
    config_blob = images._upload_blob(ecr, repository, images._canonical(config), config_type)
    layer_blob = images._upload_blob(ecr, repository, compressed, layer_type)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config_blob.to_json(),
        "layers": [layer_blob.to_json()],
    }
    return images._put_manifest(ecr, repository, images._canonical(manifest), media_type, tag)


def _push(images: Any, ecr: Any, repository: str, kind: str, tag: str, *, salt: str | None = None) -> str:
    """Push an image of ``kind`` as ``tag``; returns its digest.

    ``salt`` None: the sandbox's fixed image of that kind (every repository holds the same bytes). A salt makes
    the image (its layer, config, manifest and, for an index, its children) distinct per salt but identical
    for the same salt: the seeding passes the repository index and the tag, so repository i holds the same
    images in every account and Region (one upstream image cached everywhere) and other images than
    repository j, as in a real organisation.
    """
    if salt is None:
        if kind == "amd64":
            return images.push_image(ecr, repository, tag=tag, architecture="amd64")
        if kind == "oci-amd64":
            return images.push_image(ecr, repository, tag=tag, architecture="amd64", media_type=images.OCI_MANIFEST)
        if kind == "arm64":
            return images.push_image(ecr, repository, tag=tag, architecture="arm64")
        if kind == "index":
            return images.push_index(
                ecr, repository, tag=tag, platforms=["linux/amd64", "linux/arm64/v8"], media_type=images.OCI_INDEX
            )
        raise ValueError(kind)
    single = {
        "amd64": ("amd64", images.DOCKER_MANIFEST_V2),
        "oci-amd64": ("amd64", images.OCI_MANIFEST),
        "arm64": ("arm64", images.DOCKER_MANIFEST_V2),
    }
    if kind in single:
        arch, media_type = single[kind]
        pushed = _push_salted(images, ecr, repository, tag=tag, architecture=arch, media_type=media_type, salt=salt)
        return str(pushed.digest)
    if kind != "index":
        raise ValueError(kind)
    entries = []
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        child = _push_salted(
            images,
            ecr,
            repository,
            tag=None,
            architecture=arch,
            media_type=images.OCI_MANIFEST,
            salt=salt,
            variant=variant,
        )
        entries.append(child.to_json() | {"platform": images._platform(arch, "linux", variant)})
    index = {"schemaVersion": 2, "mediaType": images.OCI_INDEX, "manifests": entries}
    return str(images._put_manifest(ecr, repository, images._canonical(index), images.OCI_INDEX, tag).digest)


def seed_registry(ecr: Any, account: str, region: str, secret_arn: str) -> None:
    """The registry-level setup of every seeded cell: three PTC rules (Docker Hub with its secret), a registry
    policy letting omics create and import under the three prefixes, and a PULL_THROUGH_CACHE template each."""
    for prefix in PREFIXES:
        kwargs = {"credentialArn": secret_arn} if prefix == "docker-hub" else {}
        ecr.create_pull_through_cache_rule(ecrRepositoryPrefix=prefix, upstreamRegistryUrl=UPSTREAMS[prefix], **kwargs)
    ecr.put_registry_policy(
        policyText=policy_document(
            omics_statement(
                ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
                "AllowPTCinRegPermissions",
                source_account=account,
                Resource=[f"arn:aws:ecr:{region}:{account}:repository/{p}/*" for p in PREFIXES],
            )
        )
    )
    for prefix in PREFIXES:
        ecr.create_repository_creation_template(
            prefix=prefix,
            appliedFor=["PULL_THROUGH_CACHE"],
            description=f"{prefix} cache",
            repositoryPolicy=policy_document(omics_statement(PULL, "PTCRepoCreationTemplate", source_account=account)),
        )


def seed_account(clients: dict[str, Any], n: int, *, extra_tasks: int = 0, pause: float = 1.05) -> SeedInfo:
    """Create the synthetic account with ``n`` repositories through the public APIs (plus the
    sandbox's ``simulate_ptc_pull`` and run-state helpers, which no public API offers).

    ``extra_tasks`` adds that many tasks to one recent run (images of amd64-capable repositories,
    pinned by digest), to measure how the run-task collection scales with the size of a run."""
    from auditor.sandbox import images
    from auditor.sandbox.ecr import simulate_ptc_pull
    from auditor.sandbox.omics import add_run_task, set_run_state

    if n < 10:
        raise ValueError("sizes must be at least 10 (workflows and runs reference repositories 0-8)")
    ecr, sm, iam, omics = clients["ecr"], clients["secretsmanager"], clients["iam"], clients["omics"]
    info = SeedInfo(repositories=n)
    kinds: Counter[str] = Counter()

    secret_arn = sm.create_secret(
        Name="ecr-pullthroughcache/docker-hub",
        SecretString=json.dumps({"username": "bench-user", "accessToken": "dckr_pat_BENCH_NOT_A_SECRET"}),
    )["ARN"]

    # ~10% cached before any template existed: created directly, no repository policy.
    direct = [i for i in range(n) if i % 10 == 7]
    for i in direct:
        ecr.create_repository(repositoryName=repo_name(i))
    info.without_policy = len(direct)

    seed_registry(ecr, ACCOUNT, REGION, secret_arn)

    digests: dict[int, str] = {}
    for i in range(n):
        name = repo_name(i)
        if i % 10 != 7:
            simulate_ptc_pull(ACCOUNT, REGION, name)
        first = KINDS[i % len(KINDS)]
        digests[i] = _push(images, ecr, name, first, "1.0", salt=f"tool-{i:04d}:1.0")
        kinds[first] += 1
        if first == "arm64":
            info.arm_only_tagged += 1
        if i % 4 == 2:
            second = SECOND[first]
            _push(images, ecr, name, second, "2.0", salt=f"tool-{i:04d}:2.0")
            kinds[second] += 1
            info.arm_only_tagged += second == "arm64"
    info.images_by_kind = dict(sorted(kinds.items()))
    info.tagged_images = sum(kinds.values())

    # --- roles ---------------------------------------------------------------------------------
    iam.create_role(RoleName="OmicsBenchRole", AssumeRolePolicyDocument=trust_policy(OMICS))
    iam.put_role_policy(
        RoleName="OmicsBenchRole",
        PolicyName="omics-ecr-pull",
        PolicyDocument=policy_document(
            {"Effect": "Allow", "Action": PULL, "Resource": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*"}
        ),
    )
    iam.create_role(RoleName="OmicsBenchBatchRole", AssumeRolePolicyDocument=trust_policy(OMICS))
    managed = iam.create_policy(
        PolicyName="bench-ecr-read",
        PolicyDocument=policy_document({"Effect": "Allow", "Action": PULL, "Resource": "*"}),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="OmicsBenchBatchRole", PolicyArn=managed)
    iam.create_role(RoleName="BenchLambdaRole", AssumeRolePolicyDocument=trust_policy("lambda.amazonaws.com"))
    info.roles = 3

    # --- workflows ---------------------------------------------------------------------------------
    definition = b"PK\x05\x06" + b"\x00" * 18  # an empty zip; the sandbox stores it opaquely
    mappings = [{"upstreamRegistryUrl": UPSTREAMS[p], "ecrRepositoryPrefix": p} for p in PREFIXES]
    rnaseq = omics.create_workflow(
        name="bench-rnaseq",
        engine="NEXTFLOW",
        definitionZip=definition,
        containerRegistryMap={
            "registryMappings": mappings,
            "imageMappings": [
                {"sourceImage": "bench/tool-0000:1.0", "destinationImage": ecr_uri(f"{repo_name(0)}:1.0")},
                {"sourceImage": "biocontainers/tool-0001:1.0", "destinationImage": ecr_uri(f"{repo_name(1)}:1.0")},
            ],
        },
    )["id"]
    variant = omics.create_workflow(
        name="bench-variant",
        engine="WDL",
        definitionZip=definition,
        containerRegistryMap={
            "registryMappings": mappings,
            # repository 6 is arm64-only: the same key as its ptc-newest ref, so one finding
            "imageMappings": [
                {"sourceImage": "bench/tool-0006:1.0", "destinationImage": ecr_uri(f"{repo_name(6)}:1.0")}
            ],
        },
    )["id"]
    omics.create_workflow(name="bench-plain", engine="WDL", definitionZip=definition)
    info.workflows = 3

    # --- runs and tasks ----------------------------------------------------------------------------------
    role = f"arn:aws:iam::{ACCOUNT}:role/"
    now = datetime.now(UTC)

    def run(workflow: str, role_name: str, name: str, status: str, start: datetime, tasks: list[int]) -> None:
        run_id = omics.start_run(
            workflowId=workflow,
            roleArn=role + role_name,
            name=name,
            outputUri=f"s3://bench-omics-output/{name}/",
            requestId=f"bench-{name}",
        )["id"]
        stop = None if status == "RUNNING" else start + timedelta(hours=2)
        set_run_state(ACCOUNT, REGION, run_id, status=status, creation_time=start, start_time=start, stop_time=stop)
        for index, i in enumerate(tasks):
            add_run_task(
                ACCOUNT,
                REGION,
                run_id,
                name=f"TASK{index}",
                status="RUNNING" if status == "RUNNING" else "COMPLETED",
                image=ecr_uri(f"{repo_name(i)}:1.0"),
                image_digest=None if status == "RUNNING" else digests[i],
                source_image=f"{NAMESPACE[PREFIXES[i % 3]]}/tool-{i:04d}:1.0",
            )
        info.runs += 1
        info.run_tasks += len(tasks)

    amd64_capable = [i for i in range(n) if KINDS[i % len(KINDS)] != "arm64"]
    extra = [amd64_capable[k % len(amd64_capable)] for k in range(extra_tasks)]
    run(rnaseq, "OmicsBenchRole", "rnaseq-recent", "COMPLETED", now - timedelta(days=2), [0, 1, 2, *extra])
    run(rnaseq, "OmicsBenchRole", "rnaseq-old", "COMPLETED", now - timedelta(days=60), [3])  # outside lookback
    run(variant, "OmicsBenchBatchRole", "variant-recent", "COMPLETED", now - timedelta(days=1), [4, 5])
    time.sleep(pause)  # the active run starts strictly after the PTC rules were created (1 s grain)
    run(rnaseq, "OmicsBenchRole", "rnaseq-active", "RUNNING", datetime.now(UTC), [3, 8])
    return info


# --- timing hooks around scan_live ------------------------------------------------------------------


@dataclass
class Phases:
    collect: float = 0.0
    evaluate: float = 0.0


@contextmanager
def phase_timers() -> Iterator[Phases]:
    """Time ``collect_cell`` and ``run_rules`` inside ``scan_live`` by wrapping the module's globals
    (looked up at call time) for the duration of one scan; nothing in auditor/ is changed."""
    import auditor.scan as scan_module

    phases = Phases()
    lock = threading.Lock()
    originals = {"collect_cell": scan_module.collect_cell, "run_rules": scan_module.run_rules}

    def timed(name: str, attr: str) -> Callable[..., Any]:
        original = originals[name]

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                with lock:
                    setattr(phases, attr, getattr(phases, attr) + time.perf_counter() - start)

        return wrapper

    scan_module.collect_cell = timed("collect_cell", "collect")  # type: ignore[assignment]
    scan_module.run_rules = timed("run_rules", "evaluate")  # type: ignore[assignment]
    try:
        yield phases
    finally:
        scan_module.collect_cell = originals["collect_cell"]  # type: ignore[assignment]
        scan_module.run_rules = originals["run_rules"]  # type: ignore[assignment]


# --- one scan -----------------------------------------------------------------------------------------


@dataclass
class ScanResult:
    label: str
    rules: list[str]
    facets: list[str]
    workers: int
    latency_ms: float
    repeats: int
    wall_seconds: float  # median over the repeats
    wall_seconds_all: list[float]
    collect_seconds: float  # of the median repeat
    evaluate_seconds: float
    api_calls_total: int  # of the first repeat (the detailed counts below too)
    api_calls_totals_all: list[int]
    calls_per_repository: float
    api_calls: dict[str, int]
    findings_total: int
    findings_by_status: dict[str, int]
    findings_by_rule: dict[str, dict[str, int]]
    peak_traced_mib: float | None = None


@dataclass
class _Sample:
    wall: float
    phases: Phases
    doc: Any


def _scan_once(
    session: Any, cfg: Any, rules: list[Any], endpoint_url: str | None, digest_cache: Path | None = None
) -> _Sample:
    from auditor.scan import scan_live

    with phase_timers() as phases:
        start = time.perf_counter()
        doc = scan_live(
            cfg, rules, session=session, regions=[REGION], endpoint_url=endpoint_url, digest_cache=digest_cache
        )
        wall = time.perf_counter() - start
    return _Sample(wall, phases, doc)


def run_scan(
    session: Any,
    label: str,
    rule_ids: list[str],
    workers: int,
    n: int,
    latency_ms: float,
    endpoint_url: str | None,
    *,
    repeats: int = 1,
    trace_memory: bool = False,
    digest_cache: Path | None = None,
) -> ScanResult:
    """Scan ``repeats`` times (wall time: the median); with ``trace_memory`` once, under tracemalloc;
    ``digest_cache``: the folder of image platforms by digest the scans share (None: off)."""
    from auditor.config import parse_config
    from auditor.scan import facets_for, select_rules

    cfg = parse_config({"max_workers": workers})
    rules = select_rules(cfg, rule_ids)
    peak = None
    if trace_memory:
        tracemalloc.start()
        try:
            samples = [_scan_once(session, cfg, rules, endpoint_url)]
            peak = tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()
    else:
        samples = [_scan_once(session, cfg, rules, endpoint_url, digest_cache) for _ in range(repeats)]
    median = sorted(samples, key=lambda s: s.wall)[(len(samples) - 1) // 2]
    first = samples[0].doc
    total = sum(first.api_calls.values())
    return ScanResult(
        label=label,
        rules=[r.meta.id for r in rules],
        facets=sorted(facets_for(rules)),
        workers=workers,
        latency_ms=latency_ms,
        repeats=len(samples),
        wall_seconds=median.wall,
        wall_seconds_all=[s.wall for s in samples],
        collect_seconds=median.phases.collect,
        evaluate_seconds=median.phases.evaluate,
        api_calls_total=total,
        api_calls_totals_all=[sum(s.doc.api_calls.values()) for s in samples],
        calls_per_repository=total / n,
        api_calls=dict(first.api_calls),
        findings_total=first.summary["total"],
        findings_by_status=dict(first.summary["by_status"]),
        findings_by_rule=dict(first.summary["by_rule"]),
        peak_traced_mib=peak,
    )


# --- a whole size ---------------------------------------------------------------------------------------


@dataclass
class SizeResult:
    repositories: int
    mode: str
    seed: SeedInfo
    scans: list[ScanResult]  # [0]: the cold scan; then all rules per --workers value; then single rules
    maxrss_mib: float
    sanity: list[str]

    @property
    def main(self) -> ScanResult:
        """The first warm all-rules scan (the first --workers value)."""
        return self.scans[1]


def maxrss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB on Linux


def sanity_checks(seed: SeedInfo, scan: ScanResult) -> list[str]:
    """Compare an all-rules scan with what was seeded; returns human-readable problems."""
    problems = []
    by_rule = scan.findings_by_rule
    repo_fail = by_rule.get("repository-policy-grants-omics", {}).get("FAIL", 0)
    if repo_fail != seed.without_policy:
        problems.append(f"repository-policy-grants-omics FAIL {repo_fail} != {seed.without_policy} seeded")
    arm_fail = by_rule.get("image-not-arm-only", {}).get("FAIL", 0)
    if arm_fail != seed.arm_only_tagged:
        problems.append(f"image-not-arm-only FAIL {arm_fail} != {seed.arm_only_tagged} arm64-only tags seeded")
    other = {r: c for r, c in by_rule.items() if r not in ("repository-policy-grants-omics", "image-not-arm-only")}
    for rule_id, counts in other.items():
        if counts.get("ERROR") or (counts.get("FAIL") and rule_id in SEEDED_FOR_RULES):
            problems.append(f"{rule_id}: unexpected {counts}")
    if scan.findings_by_status.get("ERROR"):
        problems.append(f"{scan.findings_by_status['ERROR']} ERROR findings")
    return problems


def bench_size(
    n: int,
    *,
    mode: str,
    workers: list[int],
    single_rules: list[str],
    latency_ms: float,
    repeats: int,
    extra_tasks: int,
    trace_memory: bool,
    server_url: str | None,
    log: Callable[[str], None],
    digest_cache: bool = False,
) -> SizeResult:
    import boto3
    from botocore.config import Config as BotoConfig

    endpoint_url = server_url if mode == "server" else None
    if endpoint_url is None:
        from moto import mock_aws

        mock = mock_aws()
        mock.start()  # resets every backend (the sandbox's state lives on them)
    else:
        import requests

        requests.post(f"{endpoint_url}/moto-api/reset", timeout=30).raise_for_status()
    try:
        seed_session = boto3.Session(region_name=REGION)
        counter = CallCounter()
        cfg = BotoConfig(inject_host_prefix=False) if endpoint_url else None
        clients = {
            svc: counter.attach(seed_session.client(svc, endpoint_url=endpoint_url, config=cfg))
            for svc in ("ecr", "secretsmanager", "iam", "omics")
        }
        log(f"[{n} repositories] seeding ...")
        start = time.perf_counter()
        seed = seed_account(clients, n, extra_tasks=extra_tasks)
        seed.seconds = time.perf_counter() - start
        seed.api_calls = sum(counter.calls.values())
        log(f"[{n} repositories] seeded in {seed.seconds:.1f} s ({seed.api_calls} API calls)")

        scan_session = boto3.Session(region_name=REGION)
        if latency_ms:
            add_latency(scan_session, latency_ms / 1000)
        # Load the service models into the session once, so no scan is charged for reading them.
        for svc in ("ecr", "omics", "iam", "secretsmanager", "sts", "cloudtrail"):
            scan_session.client(svc, region_name=REGION, endpoint_url=endpoint_url, config=cfg)

        def scan(label: str, rule_ids: list[str], w: int, **kw: Any) -> ScanResult:
            result = run_scan(scan_session, label, rule_ids, w, n, latency_ms, endpoint_url, **kw)
            log(f"[{n} repositories] {label}, {w} workers: {result.wall_seconds:.2f} s, {result.api_calls_total} calls")
            return result

        # The first scan of a fresh account also pays one-time costs (moto creates backends lazily,
        # first-use caches in botocore and the auditor): reported, but not as the scan's time.
        scans = [scan("all rules (cold, first scan)", [], workers[0])]
        scans += [scan("all rules", [], w, repeats=repeats) for w in workers]
        scans += [scan(rule_id, [rule_id], workers[0], repeats=repeats) for rule_id in single_rules]
        if digest_cache:
            # A fresh cache folder: the first scan fills it (cold), the next ones find every unchanged digest (warm).
            with tempfile.TemporaryDirectory(prefix="bench-digests-") as folder:
                root = Path(folder)
                scans += [scan("all rules, digest cache cold", [], workers[0], digest_cache=root)]
                scans += [scan("all rules, digest cache warm", [], workers[0], repeats=repeats, digest_cache=root)]
        if trace_memory:
            # A separate pass: tracemalloc slows Python down, so it never times a reported scan.
            traced = run_scan(scan_session, "all rules", [], workers[0], n, latency_ms, endpoint_url, trace_memory=True)
            scans[1].peak_traced_mib = traced.peak_traced_mib
        return SizeResult(
            repositories=n,
            mode=mode,
            seed=seed,
            scans=scans,
            maxrss_mib=maxrss_mib(),
            sanity=sorted({p for sc in scans if sc.rules == scans[0].rules for p in sanity_checks(seed, sc)}),
        )
    finally:
        if endpoint_url is None:
            mock.stop()


# --- output -----------------------------------------------------------------------------------------------


def _status_cell(counts: dict[str, int]) -> str:
    return "/".join(str(counts.get(s, 0)) for s in ("PASS", "FAIL", "ERROR", "NOT_APPLICABLE"))


def render(results: list[SizeResult], *, mode: str, latency_ms: float, extra_tasks: int) -> str:
    lines = [
        f"omics-ecr-audit scan benchmark · mode {mode} · injected latency {latency_ms:g} ms per request · "
        f"{os.cpu_count()} CPUs · Python {platform.python_version()}",
        "",
        "Seeding (not part of the scan times):",
        f"{'repos':>6} {'no policy':>9} {'tags':>6} {'arm-only':>8} {'runs':>4} {'tasks':>5} {'seed s':>7} "
        f"{'seed calls':>10}",
    ]
    for r in results:
        s = r.seed
        lines.append(
            f"{r.repositories:>6} {s.without_policy:>9} {s.tagged_images:>6} {s.arm_only_tagged:>8} {s.runs:>4} "
            f"{s.run_tasks:>5} {s.seconds:>7.1f} {s.api_calls:>10}"
        )
    if extra_tasks:
        lines.append(f"(--extra-tasks {extra_tasks}: one recent run has {extra_tasks} more tasks)")
    lines += [
        "",
        "Scans: wall = scan_live, median of the repeats (min-max); collect/eval = time in collect_cell/run_rules;",
        "findings PASS/FAIL/ERROR/N-A; peak = tracemalloc peak of a separate all-rules scan (sandbox included).",
        f"{'repos':>6}  {'scan':<30} {'wkrs':>4} {'wall s':>7} {'min-max':>11} {'collect':>7} {'eval':>5} "
        f"{'calls':>6} {'calls/repo':>10} {'findings':>14} {'peak MiB':>8}",
    ]
    for r in results:
        for sc in r.scans:
            peak = f"{sc.peak_traced_mib:.1f}" if sc.peak_traced_mib is not None else "-"
            spread = f"{min(sc.wall_seconds_all):.2f}-{max(sc.wall_seconds_all):.2f}" if sc.repeats > 1 else "-"
            lines.append(
                f"{r.repositories:>6}  {sc.label:<30} {sc.workers:>4} {sc.wall_seconds:>7.2f} {spread:>11} "
                f"{sc.collect_seconds:>7.2f} {sc.evaluate_seconds:>5.2f} {sc.api_calls_total:>6} "
                f"{sc.calls_per_repository:>10.2f} {_status_cell(sc.findings_by_status):>14} {peak:>8}"
            )
    lines.append("")
    lines.append(
        "process max RSS after each size: " + ", ".join(f"{r.repositories}: {r.maxrss_mib:.0f} MiB" for r in results)
    )
    # Calls per operation for the first warm all-rules scan of every size.
    ops = sorted({op for r in results for op in r.main.api_calls})
    width = max((len(op) for op in ops), default=10)
    largest = results[-1]
    lines += ["", "API calls per operation (all rules, first --workers value, first repeat):"]
    lines.append(
        f"{'operation'.ljust(width)} "
        + " ".join(f"{r.repositories:>7}" for r in results)
        + f"   per repo at {largest.repositories}"
    )
    for op in ops:
        counts = [r.main.api_calls.get(op, 0) for r in results]
        lines.append(
            f"{op.ljust(width)} "
            + " ".join(f"{c:>7}" for c in counts)
            + f"   {counts[-1] / largest.repositories:>8.3f}"
        )
    lines.append(
        f"{'total'.ljust(width)} "
        + " ".join(f"{r.main.api_calls_total:>7}" for r in results)
        + f"   {largest.main.calls_per_repository:>8.3f}"
    )
    problems = [(r.repositories, p) for r in results for p in r.sanity]
    lines.append("")
    if problems:
        lines.append("SANITY CHECK PROBLEMS:")
        lines += [f"  [{n}] {p}" for n, p in problems]
    else:
        lines.append(
            "sanity: every all-rules scan found exactly the seeded defects (repositories without a policy, "
            "arm64-only tags), no other FAIL from the rules the seed was built for (SEEDED_FOR_RULES), no ERROR"
        )
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    import boto3
    import botocore
    import moto

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "moto": moto.__version__,
        "loadavg_at_end_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


# --- main ----------------------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scan_benchmark.py",
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument(
        "--sizes", type=_int_list, default=[10, 100, 1000], help="repository counts (default 10,100,1000)"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument(
        "--mode",
        choices=("inprocess", "server"),
        default="inprocess",
        help="inprocess: moto.mock_aws in this process (default); server: the sandbox HTTP server (start_server)",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="injected latency before every botocore request of the scan"
    )
    parser.add_argument(
        "--workers", type=_int_list, default=[8, 1], help="max_workers values for the all-rules scan (default 8,1)"
    )
    parser.add_argument(
        "--single-rules",
        default=DEFAULT_SINGLE_RULES,
        help=f"rules scanned alone, to show facet-based collection (default {DEFAULT_SINGLE_RULES}; '' for none)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed repeats of every warm scan; the median is reported (default 3)"
    )
    parser.add_argument(
        "--extra-tasks", type=int, default=0, help="add N tasks to one recent run (run-task collection scaling)"
    )
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="skip the extra tracemalloc pass that measures peak memory"
    )
    parser.add_argument(
        "--digest-cache",
        action="store_true",
        help="also scan with a fresh digest cache: once to fill it (cold), then --repeat times warm",
    )
    args = parser.parse_args(argv)
    if min(args.sizes) < 10:
        parser.error("--sizes: every size must be at least 10")
    if args.latency_ms < 0:
        parser.error("--latency-ms must be >= 0")
    if args.repeat < 1 or args.extra_tasks < 0:
        parser.error("--repeat must be >= 1 and --extra-tasks >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_fake_credentials()

    from auditor import logs, sandbox

    logs.configure("error")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server logs every request otherwise
    sandbox.install()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    single_rules = [r.strip() for r in args.single_rules.split(",") if r.strip()]
    from auditor.config import Config
    from auditor.errors import UsageError
    from auditor.scan import select_rules

    try:
        select_rules(Config(), single_rules)  # fail before seeding, not after
    except UsageError as exc:
        print(f"scan_benchmark.py: --single-rules: {exc}", file=sys.stderr)
        return 2
    results: list[SizeResult] = []
    total_start = time.perf_counter()
    load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    server = None
    if args.mode == "server":
        from auditor.sandbox.server import start_server

        server = start_server()  # in this process, on a free port; stopped below
    try:
        for n in args.sizes:
            results.append(
                bench_size(
                    n,
                    mode=args.mode,
                    workers=args.workers,
                    single_rules=single_rules,
                    latency_ms=args.latency_ms,
                    repeats=args.repeat,
                    extra_tasks=args.extra_tasks,
                    trace_memory=not args.no_tracemalloc,
                    server_url=server.url if server is not None else None,
                    log=log,
                    digest_cache=args.digest_cache,
                )
            )
    finally:
        if server is not None:
            server.stop()
    total = time.perf_counter() - total_start
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(render(results, mode=args.mode, latency_ms=args.latency_ms, extra_tasks=args.extra_tasks))
    print(f"\ntotal benchmark time {total:.0f} s; load average at start {load_start}, at end {load}")
    if args.json:
        doc = {
            "generated": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "arguments": {
                "sizes": args.sizes,
                "mode": args.mode,
                "latency_ms": args.latency_ms,
                "workers": args.workers,
                "single_rules": single_rules,
                "repeat": args.repeat,
                "extra_tasks": args.extra_tasks,
                "tracemalloc": not args.no_tracemalloc,
            },
            "total_seconds": total,
            "loadavg_at_start": load_start,
            "results": [asdict(r) for r in results],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, sort_keys=True)
            fh.write("\n")
        log(f"wrote {args.json}")
    return 1 if any(r.sanity for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
