"""Organisation-scale benchmark: omics-ecr-audit ``scan_org`` against Cloud Custodian, on one sandbox server.

    .venv/bin/python benchmarks/org_benchmark.py                       # 50 accounts x 3 regions x 200 repositories
    .venv/bin/python benchmarks/org_benchmark.py --accounts 10 --repos 50 --skip-c7n
    .venv/bin/python benchmarks/org_benchmark.py --json org.json

1. Starts the sandbox server (``auditor.sandbox.server.start_server()``) in this process and wraps its WSGI app in
   ``server_meter.ServerMeter``: every AWS request either tool sends is delayed ``--latency-ms`` on the server side
   and counted there, per operation and per (account, region). Latency is off while seeding.
2. Builds an organisation through boto3 against the server: Organizations with ``--accounts`` member accounts;
   in each (through moto's cross-account AssumeRole) a read-only audit role and a HealthOmics service role; in
   each region: three PTC rules, a registry policy, three creation templates, ``--repos`` repositories (10% without
   a policy), their images, two workflows and a run. See ``seed_organization``.
   Repository i holds the same images in every account and Region, and other images than repository j
   (``scan_benchmark._push`` with a salt): one upstream image cached everywhere, as in a real organisation.
3. Scans it with ``auditor.scan.scan_org`` in a child process (every account, the audit role, the regions) as the
   CLI's ``scan`` does by default: the digest cache on, in a fresh, empty folder (cold). Then once with the cache
   off (``--no-cache``), once more under tracemalloc, then each rule alone over the first ``--per-rule-accounts``
   accounts.
4. Runs Cloud Custodian (``c7n-org run``, policy ``benchmarks/c7n/policy.yml``: ``aws.ecr`` with the
   ``cross-account`` filter, one GetRepositoryPolicy per repository) over the same accounts and regions, from its
   own virtualenv ``.venv-c7n`` (created if missing), through ``AWS_ENDPOINT_URL``.
5. Runs Prowler (``prowler aws --service ecr``, one process per account with ``--role`` the audit role, from
   ``.venv-prowler``, created if missing) against the same server through ``AWS_ENDPOINT_URL``.
6. Prints a Markdown comparison, writes ``--json``; exits 1 if a sanity check fails, 2 on a setup error.

Both tools run as child processes of this one, so neither shares the server's GIL, and both are measured the same
way: wall time (process spawn to exit, and the server's first to last request), API calls as the server counted
them, CPU (``os.wait4``), peak RSS of the largest process (``VmHWM`` from /proc: not ``ru_maxrss``, which Linux
carries over from this large process into every child across fork + exec) and the peak summed PSS of the process
tree (sampled from /proc). Fake credentials only: every ``AWS_*`` variable is dropped and ``AWS_CONFIG_FILE`` /
``AWS_SHARED_CREDENTIALS_FILE`` point at /dev/null.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, benchmarks/ is sys.path[0]: the shared seeding helpers and the server meter live there.
from scan_benchmark import (
    _FAKE_ENV,
    KINDS,
    NAMESPACE,
    PREFIXES,
    PULL,
    SECOND,
    SEEDED_FOR_RULES,
    UPSTREAMS,
    _push,
    repo_name,
    seed_registry,
)
from server_meter import PhaseCounts, ServerMeter, install_meter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

AUDIT_ROLE = "OmicsEcrAuditReadOnly"
ORG_ACCESS_ROLE = "OrganizationAccountAccessRole"  # what Organizations creates in an account it creates
SERVICE_ROLE = "OmicsBenchRole"
REPOSITORY_RULE = "repository-policy-grants-omics"
ARM_RULE = "image-not-arm-only"
C7N_PINS = {"c7n": "0.9.53", "c7n-org": "0.6.52"}
C7N_POLICY = HERE / "c7n" / "policy.yml"
C7N_POLICY_NAME = "ecr-repository-policy"
PROWLER_PIN = "5.46.0"
PROWLER_POLICY_CHECK = "ecr_repositories_not_publicly_accessible"  # reads every repository's policy
DEFAULT_REGIONS = "us-east-1,us-west-2,eu-west-1"
# What the audit role may do (moto does not enforce IAM; the role is there to be assumed, as in a real org).
READ_ONLY_ACTIONS = [
    "ecr:Describe*",
    "ecr:Get*",
    "ecr:List*",
    "ecr:BatchGetImage",
    "ecr:BatchCheckLayerAvailability",
    "ecr:ValidatePullThroughCacheRule",
    "omics:Get*",
    "omics:List*",
    "iam:Get*",
    "iam:List*",
    "secretsmanager:DescribeSecret",
    "cloudtrail:LookupEvents",
    "sts:GetCallerIdentity",
]


class BenchmarkError(Exception):
    """A setup problem (missing scan_org, c7n install failed, a child crashed): exit code 2, no traceback."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _mib(kib: float) -> float:
    return kib / 1024


def _arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:ecr:{region}:{account}:repository/{name}"


def _ecr_uri(account: str, region: str, path: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{path}"


# --- seeding ---------------------------------------------------------------------------------------------------


class DirectEcr:
    """The five ECR calls ``auditor.sandbox.images`` makes to push an image, answered by moto's ECR backend in this
    process (the methods the server's HTTP handlers call, with the sandbox's patches) instead of over HTTP.

    Pushing over HTTP costs ~9 calls per single-arch image and ~19 per index: about 47 ms per repository (one image)
    against the server, 25 minutes or more for 30,000 repositories. This way it is ~0.3 ms. ``--seed-images api``
    pushes over HTTP."""

    def __init__(self, account: str, region: str) -> None:
        from moto.ecr.models import ecr_backends

        self._backend = ecr_backends[account][region]
        self.writes = 0

    def batch_check_layer_availability(self, *, repositoryName: str, layerDigests: list[str]) -> dict[str, Any]:
        self.writes += 1
        return dict(self._backend.batch_check_layer_availability(repositoryName, layerDigests))

    def initiate_layer_upload(self, *, repositoryName: str) -> dict[str, Any]:
        self.writes += 1
        return dict(self._backend.initiate_layer_upload(repositoryName))

    def upload_layer_part(
        self, *, repositoryName: str, uploadId: str, partFirstByte: int, partLastByte: int, layerPartBlob: bytes
    ) -> dict[str, Any]:
        self.writes += 1
        return dict(
            self._backend.upload_layer_part(repositoryName, uploadId, partFirstByte, partLastByte, layerPartBlob)
        )

    def complete_layer_upload(self, *, repositoryName: str, uploadId: str, layerDigests: list[str]) -> dict[str, Any]:
        self.writes += 1
        return dict(self._backend.complete_layer_upload(repositoryName, uploadId, layerDigests))

    def put_image(
        self,
        *,
        repositoryName: str,
        imageManifest: str,
        imageManifestMediaType: str | None = None,
        imageDigest: str | None = None,
        imageTag: str | None = None,
    ) -> dict[str, Any]:
        self.writes += 1
        self._backend.put_image(repositoryName, imageManifest, imageTag, imageManifestMediaType, imageDigest)
        return {}


@dataclass
class SeedResult:
    management_account: str
    accounts: list[str]
    regions: list[str]
    repos_per_cell: int
    image_seeding: str
    cells: int = 0
    repositories: int = 0
    without_policy: int = 0
    tagged_images: int = 0
    arm_only_tagged: int = 0
    workflows: int = 0
    runs: int = 0
    run_tasks: int = 0
    roles: int = 0
    seconds_total: float = 0.0
    seconds_organization: float = 0.0  # organisation, accounts, AssumeRole check, IAM roles
    seconds_cells: float = 0.0  # per (account, region) API work: rules, policies, templates, repos, workflows, runs
    seconds_images: float = 0.0  # image pushes (and simulate_ptc_pull)
    direct_backend_writes: int = 0
    server_calls: int = 0
    server_calls_by_operation: dict[str, int] = field(default_factory=dict)


@dataclass
class Expected:
    """What a correct scan must report, per cell; ARNs of the repositories seeded without a policy."""

    no_policy: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    arm_only: dict[tuple[str, str], int] = field(default_factory=dict)
    repositories: dict[tuple[str, str], int] = field(default_factory=dict)

    def for_accounts(self, accounts: list[str]) -> Expected:
        keep = set(accounts)
        return Expected(
            no_policy={k: v for k, v in self.no_policy.items() if k[0] in keep},
            arm_only={k: v for k, v in self.arm_only.items() if k[0] in keep},
            repositories={k: v for k, v in self.repositories.items() if k[0] in keep},
        )

    @property
    def no_policy_arns(self) -> set[str]:
        return {arn for arns in self.no_policy.values() for arn in arns}


def _client(session: Any, service: str, region: str, url: str) -> Any:
    from botocore.config import Config as BotoConfig

    config = BotoConfig(inject_host_prefix=False, retries={"mode": "standard", "max_attempts": 3})
    return session.client(service, region_name=region, endpoint_url=url, config=config)


def _assume(base: Any, url: str, account: str, role: str) -> Any:
    import boto3

    sts = _client(base, "sts", "us-east-1", url)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="org-benchmark-seed")
    c = creds["Credentials"]
    return boto3.Session(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name="us-east-1",
    )


def _seed_account_roles(member: Any, url: str, account: str, management: str, regions: list[str]) -> int:
    from auditor.sandbox.documents import OMICS, policy_document, trust_policy

    iam = _client(member, "iam", "us-east-1", url)
    trust_management = policy_document(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{management}:root"}, "Action": "sts:AssumeRole"}
    )
    iam.create_role(
        RoleName=AUDIT_ROLE,
        AssumeRolePolicyDocument=trust_management,
        Description="omics-ecr-audit read-only scans from the management account",
    )
    iam.put_role_policy(
        RoleName=AUDIT_ROLE,
        PolicyName="omics-ecr-audit-read-only",
        PolicyDocument=policy_document({"Effect": "Allow", "Action": READ_ONLY_ACTIONS, "Resource": "*"}),
    )
    iam.create_role(RoleName=SERVICE_ROLE, AssumeRolePolicyDocument=trust_policy(OMICS))
    iam.put_role_policy(
        RoleName=SERVICE_ROLE,
        PolicyName="omics-ecr-pull",
        PolicyDocument=policy_document(
            {
                "Effect": "Allow",
                "Action": PULL,
                "Resource": [f"arn:aws:ecr:{r}:{account}:repository/*" for r in regions],
            }
        ),
    )
    return 2


def _seed_cell(
    member: Any, url: str, account: str, region: str, n: int, image_seeding: str, seed: SeedResult, expected: Expected
) -> None:
    """One (account, region): like scan_benchmark's seed_account, minus the active run (it needs a 1 s pause)."""
    from auditor.sandbox import images
    from auditor.sandbox.ecr import simulate_ptc_pull
    from auditor.sandbox.omics import add_run_task, set_run_state

    started = time.perf_counter()
    ecr = _client(member, "ecr", region, url)
    sm = _client(member, "secretsmanager", region, url)
    omics = _client(member, "omics", region, url)
    secret_arn = sm.create_secret(
        Name="ecr-pullthroughcache/docker-hub",
        SecretString=json.dumps({"username": "bench-user", "accessToken": "dckr_pat_BENCH_NOT_A_SECRET"}),
    )["ARN"]
    # ~10% cached before any template existed: created directly, no repository policy.
    direct = [i for i in range(n) if i % 10 == 7]
    for i in direct:
        ecr.create_repository(repositoryName=repo_name(i))
    seed_registry(ecr, account, region, secret_arn)

    images_started = time.perf_counter()
    writer: Any = DirectEcr(account, region) if image_seeding == "direct" else ecr
    digests: dict[int, str] = {}
    arm_only = tagged = 0
    for i in range(n):
        name = repo_name(i)
        if i % 10 != 7:
            simulate_ptc_pull(account, region, name)  # creates it from its template, with the omics policy
        first = KINDS[i % len(KINDS)]
        digests[i] = _push(images, writer, name, first, "1.0", salt=f"tool-{i:04d}:1.0")
        tagged += 1
        arm_only += first == "arm64"
        if i % 4 == 2:
            second = SECOND[first]
            _push(images, writer, name, second, "2.0", salt=f"tool-{i:04d}:2.0")
            tagged += 1
            arm_only += second == "arm64"
    images_seconds = time.perf_counter() - images_started
    if isinstance(writer, DirectEcr):
        seed.direct_backend_writes += writer.writes

    definition = b"PK\x05\x06" + b"\x00" * 18  # an empty zip; the sandbox stores it opaquely
    mappings = [{"upstreamRegistryUrl": UPSTREAMS[p], "ecrRepositoryPrefix": p} for p in PREFIXES]
    rnaseq = omics.create_workflow(
        name="bench-rnaseq",
        engine="NEXTFLOW",
        definitionZip=definition,
        containerRegistryMap={
            "registryMappings": mappings,
            "imageMappings": [
                {
                    "sourceImage": f"{NAMESPACE[PREFIXES[i]]}/tool-{i:04d}:1.0",
                    "destinationImage": _ecr_uri(account, region, f"{repo_name(i)}:1.0"),
                }
                for i in (0, 1)  # amd64 and a multi-arch index, both with a policy
            ],
        },
    )["id"]
    omics.create_workflow(name="bench-plain", engine="WDL", definitionZip=definition)
    run_id = omics.start_run(
        workflowId=rnaseq,
        roleArn=f"arn:aws:iam::{account}:role/{SERVICE_ROLE}",
        name="rnaseq-recent",
        outputUri="s3://bench-omics-output/rnaseq-recent/",
        requestId=f"bench-{account}-{region}",
    )["id"]
    start = datetime.now(UTC) - timedelta(days=2)
    set_run_state(
        account,
        region,
        run_id,
        status="COMPLETED",
        creation_time=start,
        start_time=start,
        stop_time=start + timedelta(hours=2),
    )
    tasks = [0, 1, 2]
    for index, i in enumerate(tasks):
        add_run_task(
            account,
            region,
            run_id,
            name=f"TASK{index}",
            status="COMPLETED",
            image=_ecr_uri(account, region, f"{repo_name(i)}:1.0"),
            image_digest=digests[i],
            source_image=f"{NAMESPACE[PREFIXES[i % 3]]}/tool-{i:04d}:1.0",
        )

    seed.cells += 1
    seed.repositories += n
    seed.without_policy += len(direct)
    seed.tagged_images += tagged
    seed.arm_only_tagged += arm_only
    seed.workflows += 2
    seed.runs += 1
    seed.run_tasks += len(tasks)
    seed.seconds_images += images_seconds
    seed.seconds_cells += time.perf_counter() - started - images_seconds
    expected.no_policy[(account, region)] = {_arn(account, region, repo_name(i)) for i in direct}
    expected.arm_only[(account, region)] = arm_only
    expected.repositories[(account, region)] = n


def seed_organization(
    url: str, meter: ServerMeter, *, accounts: int, regions: list[str], repos: int, image_seeding: str
) -> tuple[SeedResult, Expected]:
    """Organisation + member accounts + roles through boto3, then every (account, region) cell."""
    import boto3

    meter.phase = "seed"
    started = time.perf_counter()
    management_session = boto3.Session(region_name="us-east-1")
    org = _client(management_session, "organizations", "us-east-1", url)
    org.create_organization(FeatureSet="ALL")
    management = org.describe_organization()["Organization"]["MasterAccountId"]
    members: list[str] = []
    for i in range(accounts):
        status = org.create_account(AccountName=f"omics-team-{i + 1:03d}", Email=f"omics-team-{i + 1:03d}@example.com")
        state = status["CreateAccountStatus"]
        if state.get("State") != "SUCCEEDED":
            raise BenchmarkError(f"organizations:CreateAccount did not succeed: {state}")
        members.append(state["AccountId"])
    listed = {a["Id"] for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]}
    if not set(members) <= listed or management not in listed:
        raise BenchmarkError("organizations:ListAccounts does not list every account created")

    seed = SeedResult(
        management_account=management,
        accounts=members,
        regions=regions,
        repos_per_cell=repos,
        image_seeding=image_seeding,
    )
    expected = Expected()
    member_sessions = {}
    for account in members:
        member = _assume(management_session, url, account, ORG_ACCESS_ROLE)
        # moto maps the assumed role's access key to the account in the role ARN: verify it does.
        seen = _client(member, "sts", "us-east-1", url).get_caller_identity()["Account"]
        if seen != account:
            raise BenchmarkError(f"assumed a role in {account} but moto answers as account {seen}")
        seed.roles += _seed_account_roles(member, url, account, management, regions)
        member_sessions[account] = member
    seed.seconds_organization = time.perf_counter() - started
    log(f"[seed] organisation {management} with {len(members)} member accounts in {seed.seconds_organization:.1f} s")

    for index, account in enumerate(members, 1):
        for region in regions:
            _seed_cell(member_sessions[account], url, account, region, repos, image_seeding, seed, expected)
        if index % 10 == 0 or index == len(members):
            log(
                f"[seed] {index}/{len(members)} accounts, {seed.repositories} repositories, "
                f"{time.perf_counter() - started:.0f} s"
            )
    seed.seconds_total = time.perf_counter() - started
    counts = meter.counts("seed")
    seed.server_calls = counts.total
    seed.server_calls_by_operation = dict(sorted(counts.calls.items()))
    meter.phase = "idle"
    return seed, expected


# --- child processes: wall time, rusage, sampled memory of the process tree -----------------------------------


@dataclass
class ProcessStats:
    command: str
    exit_code: int
    wall_seconds: float  # spawn to exit
    # The largest VmHWM (peak RSS of the process image since exec) of any process in the tree, sampled from
    # /proc every 0.25 s; VmHWM is a high-water mark, so sampling loses only growth in a process's last 0.25 s.
    # Not ru_maxrss: Linux carries the parent's high-water mark into a child across fork + exec, so wait4's
    # ru_maxrss (and RUSAGE_CHILDREN) would report this process's RSS, the sandbox server's, for every child.
    maxrss_mib: float | None
    ru_maxrss_mib: float  # from wait4, for reference only (see above)
    cpu_user_seconds: float  # the whole tree, from wait4
    cpu_system_seconds: float
    peak_tree_mib: float | None  # the highest sum over the tree, sampled every second
    peak_tree_measure: str  # "PSS" (shared pages split between processes) or "RSS"
    max_processes: int
    server_cpu_seconds: float  # this process (the sandbox server) meanwhile: user + system, sampler excluded
    sampler_cpu_seconds: float  # what the /proc sampling above cost this process


def _process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children[ppid].append(int(entry.name))
    tree, stack = [], [root]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


def _hwm_kib(pid: int) -> int | None:
    """VmHWM (peak RSS since exec) of a process in KiB, from /proc/PID/status."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _memory_kib(pid: int) -> tuple[int | None, int | None]:
    """(PSS, RSS) of a process in KiB from /proc/PID/smaps_rollup (None when unreadable)."""
    pss = rss = None
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return pss, rss


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_process(cmd: list[str], *, env: dict[str, str], log_path: Path, timeout: float) -> ProcessStats:
    """Run ``cmd`` in its own process group, sample its tree's memory, and collect its rusage with wait4.

    Every 0.25 s: the process tree and each process's VmHWM (cheap); every 1 s: each process's PSS
    (``smaps_rollup`` walks the page tables: a few ms per process). The sampler's own CPU time is
    measured and left out of ``server_cpu_seconds``.
    """
    sampling = Path("/proc/self/smaps_rollup").exists()
    peak_tree = 0
    measure = "PSS"
    max_processes = 0
    hwm: dict[int, int] = {}
    sampler_cpu = 0.0
    tick = 0
    cpu_before = _self_cpu()
    started = time.perf_counter()
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if sampling:
                sample_start = time.thread_time()
                tree = _process_tree(proc.pid)
                max_processes = max(max_processes, len(tree))
                for p in tree:
                    peak = _hwm_kib(p)
                    if peak is not None:
                        hwm[p] = max(hwm.get(p, 0), peak)
                if tick % 4 == 0:
                    total = 0
                    for p in tree:
                        pss, rss = _memory_kib(p)
                        if pss is None:
                            measure = "RSS" if rss is not None else measure
                        total += pss if pss is not None else (rss or 0)
                    peak_tree = max(peak_tree, total)
                sampler_cpu += time.thread_time() - sample_start
                tick += 1
            if time.perf_counter() - started > timeout:
                raise BenchmarkError(
                    f"{Path(cmd[1]).name if len(cmd) > 1 else cmd[0]}: no result after {timeout:.0f} s"
                )
            time.sleep(0.25)
    finally:
        if proc.returncode is None:  # interrupted or timed out: stop the group we started, then reap it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            os.wait4(proc.pid, 0)
            proc.returncode = -9
    wall = time.perf_counter() - started
    rss_unit = 2**20 if sys.platform == "darwin" else 2**10  # ru_maxrss: bytes on macOS, KiB on Linux
    return ProcessStats(
        command=" ".join(cmd),
        exit_code=proc.returncode,
        wall_seconds=wall,
        maxrss_mib=_mib(max(hwm.values())) if hwm else None,
        ru_maxrss_mib=usage.ru_maxrss / rss_unit,
        cpu_user_seconds=usage.ru_utime,
        cpu_system_seconds=usage.ru_stime,
        peak_tree_mib=_mib(peak_tree) if sampling else None,
        peak_tree_measure=measure,
        max_processes=max_processes,
        server_cpu_seconds=_self_cpu() - cpu_before - sampler_cpu,
        sampler_cpu_seconds=sampler_cpu,
    )


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class ServerSide:
    """What the server saw during one phase (see server_meter)."""

    calls: int
    calls_by_operation: dict[str, int]
    request_span_seconds: float  # first request in to last answer out, server clock
    busy_seconds: float  # summed time inside moto
    max_in_flight: int
    cells_touched: int  # (account, region) pairs that received ECR calls
    get_repository_policy_per_cell_min: int
    get_repository_policy_per_cell_max: int
    # "service:Operation" -> (first request's arrival, last answer's end), seconds after the phase's first request
    operation_windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    connections: int = 0  # TCP connections the requests came on (distinct client ports)

    @classmethod
    def of(cls, counts: PhaseCounts) -> ServerSide:
        per_cell = counts.per_cell("ecr:GetRepositoryPolicy")
        return cls(
            calls=counts.total,
            calls_by_operation=dict(sorted(counts.calls.items())),
            request_span_seconds=(counts.last - counts.first) if counts.first is not None and counts.last else 0.0,
            busy_seconds=counts.busy_seconds,
            max_in_flight=counts.max_in_flight,
            cells_touched=len({(a, r) for a, r, op in counts.cells if op.startswith("ecr:")}),
            get_repository_policy_per_cell_min=min(per_cell.values(), default=0),
            get_repository_policy_per_cell_max=max(per_cell.values(), default=0),
            connections=len(counts.connections),
            operation_windows={
                op: (round(w[0] - counts.first, 3), round(w[1] - counts.first, 3))
                for op, w in sorted(counts.windows.items())
                if counts.first is not None
            },
        )


# --- omics-ecr-audit: scan_org in a child process ------------------------------------------------------------


def build_scan_config(spec: dict[str, Any]) -> dict[str, Any]:
    """The configuration scan_org reads (``targets:``, ``concurrency:``; see the auditor/config.py docstring)."""
    concurrency: dict[str, Any] = {}
    if spec.get("max_cells"):
        concurrency["max_cells"] = spec["max_cells"]
    if spec.get("rate_limits") == "off":
        from auditor.ratelimit import DEFAULT_RATE_LIMITS

        concurrency["rate_limits"] = dict.fromkeys(DEFAULT_RATE_LIMITS)  # null switches a default off
    return {
        "regions": spec["regions"],
        "max_workers": spec["max_workers"],
        "targets": {"accounts": spec["accounts"], "role": {"name": spec["role"]}},
        "concurrency": concurrency,
    }


def _rss_now_mib() -> float | None:
    _, rss = _memory_kib(os.getpid())
    return _mib(rss) if rss is not None else None


def child_scan(spec_path: str) -> int:
    """Runs in the child: one scan_org, results to spec['out'] as JSON."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    logging.getLogger("botocore").setLevel(logging.ERROR)
    import boto3

    from auditor import logs
    from auditor.config import parse_config
    from auditor.findings import Status
    from auditor.scan import facets_for, scan_org, select_rules

    logs.configure("error")
    config = parse_config(build_scan_config(spec), "org-benchmark config")
    rules = select_rules(config, spec["rules"])
    session = boto3.Session(region_name=spec["regions"][0])
    session.client("sts", region_name=spec["regions"][0], endpoint_url=spec["endpoint_url"])  # load botocore's data
    rss_before = _rss_now_mib()
    if spec["tracemalloc"]:
        tracemalloc.start()
    cache_root = Path(spec["digest_cache"]) if spec.get("digest_cache") else None
    started = time.perf_counter()
    doc = scan_org(config, rules, session=session, endpoint_url=spec["endpoint_url"], digest_cache=cache_root)
    wall = time.perf_counter() - started
    cache_stats = None
    if cache_root is not None:
        from auditor.digest_cache import open_cache

        cache_stats = dict(open_cache(cache_root).stats)
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if spec["tracemalloc"] else None
    if spec["tracemalloc"]:
        tracemalloc.stop()
    fails: dict[str, list[str]] = defaultdict(list)
    fails_by_cell: dict[str, Counter[str]] = defaultdict(Counter)
    errors: list[str] = []
    repositories: set[str] = set()
    for f in doc.findings:
        if f.status == Status.FAIL:
            fails[f.rule_id].append(f.resource)
            fails_by_cell[f.rule_id][f"{f.account}/{f.region}"] += 1
        elif f.status == Status.ERROR and len(errors) < 10:
            errors.append(f"{f.rule_id} {f.account}/{f.region} {f.resource}: {f.message}")
        if f.rule_id == REPOSITORY_RULE and f.status in (Status.PASS, Status.FAIL):
            repositories.add(f.resource)
    result = {
        "wall_seconds": wall,
        "max_cells": config.concurrency.max_cells,
        "rules": [r.meta.id for r in rules],
        "facets": sorted(facets_for(rules)),
        "api_calls": dict(sorted(doc.api_calls.items())),
        "findings_total": doc.summary["total"],
        "findings_by_status": doc.summary["by_status"],
        "findings_by_rule": doc.summary["by_rule"],
        "fail_resources": {k: sorted(v) for k, v in fails.items()},
        "fails_by_cell": {k: dict(v) for k, v in fails_by_cell.items()},
        "error_examples": errors,
        "targets": Counter(t.status for t in doc.run.targets),
        "target_cells": sorted({(t.account, t.region) for t in doc.run.targets}),
        "repositories_in_findings": len(repositories),
        "tracemalloc_peak_mib": peak,
        "rss_before_scan_mib": rss_before,
        "rss_after_scan_mib": _rss_now_mib(),
        "vmhwm_mib": _mib(_hwm_kib(os.getpid()) or 0) or None,  # exact peak RSS of this process since exec
        "digest_cache_stats": cache_stats,
    }
    Path(spec["out"]).write_text(json.dumps(result, indent=1, default=list), encoding="utf-8")
    return 0


@dataclass
class OursResult:
    label: str
    max_cells: int  # concurrency.max_cells in effect
    rate_limits: str  # "default" (the tool's, from published quotas) or "off"
    accounts: int
    cells: int
    repositories: int
    rules: list[str]
    facets: list[str]
    tracemalloc: bool
    scan_seconds: float  # scan_org alone, timed inside the child
    process: ProcessStats
    server: ServerSide
    api_calls_tool: int  # the scan's own count (doc.api_calls: botocore before-call, retries not counted)
    api_calls_tool_by_operation: dict[str, int]
    findings_total: int
    findings_by_status: dict[str, int]
    findings_by_rule: dict[str, dict[str, int]]
    targets_by_status: dict[str, int]
    repositories_in_findings: int
    tracemalloc_peak_mib: float | None
    rss_before_scan_mib: float | None
    rss_after_scan_mib: float | None
    error_examples: list[str]
    # the CLI's default: the digest cache on, here in a fresh empty folder (cold); False: as with --no-cache
    digest_cache: bool = True
    digest_cache_stats: dict[str, int] | None = None  # DigestCache.stats at the end of the scan
    newer_rule_fails: dict[str, int] = field(default_factory=dict)  # FAILs of rules not in SEEDED_FOR_RULES
    sanity: list[str] = field(default_factory=list)


@dataclass
class Bench:
    """What every phase needs: the server, its meter, the arguments, a work folder."""

    url: str
    meter: ServerMeter
    args: argparse.Namespace
    workdir: Path
    env: dict[str, str]


def run_ours(
    bench: Bench,
    label: str,
    accounts: list[str],
    rules: list[str],
    *,
    trace: bool,
    expected: Expected,
    max_cells: int | None = None,
    rate_limits: str | None = None,
    cache: bool = True,
) -> OursResult:
    """One scan_org in a child process; ``max_cells`` / ``rate_limits`` default to the command line's.

    ``cache``: the digest cache on, as the CLI's ``scan`` has it by default, in a fresh empty folder of the work
    folder (cold: nothing from an earlier run; the cells of this scan share it); False: ``scan --no-cache``.
    """
    args = bench.args
    max_cells = args.max_cells if max_cells is None else max_cells
    rate_limits = rate_limits or args.rate_limits
    slug = label.replace(" ", "-").replace("/", "-")
    spec_path, out_path, log_path = (
        bench.workdir / f"ours-{slug}.{ext}" for ext in ("spec.json", "result.json", "log")
    )
    spec = {
        "endpoint_url": bench.url,
        "accounts": accounts,
        "regions": args.regions,
        "role": AUDIT_ROLE,
        "rules": rules,
        "tracemalloc": trace,
        "max_workers": args.workers,
        "max_cells": max_cells,
        "rate_limits": rate_limits,
        "out": str(out_path),
    }
    cache_root = bench.workdir / f"digest-cache-{slug}"
    shutil.rmtree(cache_root, ignore_errors=True)  # cold: never an earlier run's entries
    spec["digest_cache"] = str(cache_root) if cache else None
    spec_path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    phase = f"ours:{label}"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-scan", str(spec_path)]
    server_profiler = None
    if args.profile_ours:  # a diagnosis aid, not a measurement: py-spy samples the child and this process
        folder = Path(args.profile_ours)
        folder.mkdir(parents=True, exist_ok=True)
        spy = [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--gil",
            "--nonblocking",
            "--rate",
            "200",
            "--format",
            "raw",
        ]
        cmd = [*spy, "-o", str(folder / f"client-{slug}.txt"), "--", *cmd]
        server_profiler = subprocess.Popen(
            [*spy, "-o", str(folder / f"server-{slug}.txt"), "--pid", str(os.getpid())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    bench.meter.phase = phase
    try:
        stats = run_process(cmd, env=bench.env, log_path=log_path, timeout=args.timeout)
    finally:
        bench.meter.phase = "idle"
        if server_profiler is not None:
            server_profiler.send_signal(signal.SIGINT)
            server_profiler.wait(60)
    if stats.exit_code != 0 or not out_path.exists():
        raise BenchmarkError(f"scan '{label}' exited {stats.exit_code}; last lines of {log_path}:\n{_tail(log_path)}")
    r = json.loads(out_path.read_text(encoding="utf-8"))
    cells = len(accounts) * len(args.regions)
    if r["vmhwm_mib"] is not None:  # the child's own high-water mark is exact; sampling may miss the very end
        stats.maxrss_mib = max(stats.maxrss_mib or 0.0, r["vmhwm_mib"])
    result = OursResult(
        label=label,
        max_cells=max_cells or r["max_cells"],
        rate_limits=rate_limits,
        accounts=len(accounts),
        cells=cells,
        repositories=cells * args.repos,
        rules=r["rules"],
        facets=r["facets"],
        tracemalloc=trace,
        scan_seconds=r["wall_seconds"],
        process=stats,
        server=ServerSide.of(bench.meter.counts(phase)),
        api_calls_tool=sum(r["api_calls"].values()),
        api_calls_tool_by_operation=r["api_calls"],
        findings_total=r["findings_total"],
        findings_by_status=r["findings_by_status"],
        findings_by_rule=r["findings_by_rule"],
        targets_by_status=r["targets"],
        repositories_in_findings=r["repositories_in_findings"],
        tracemalloc_peak_mib=r["tracemalloc_peak_mib"],
        rss_before_scan_mib=r["rss_before_scan_mib"],
        rss_after_scan_mib=r["rss_after_scan_mib"],
        error_examples=r["error_examples"],
        digest_cache=cache,
        digest_cache_stats=r.get("digest_cache_stats"),
    )
    result.sanity = ours_sanity(result, r, expected.for_accounts(accounts), accounts, args.regions)
    log(
        f"[ours] {label}: scan {result.scan_seconds:.1f} s, process {stats.wall_seconds:.1f} s, "
        f"{result.server.calls} calls (server) on {result.server.connections} connections, "
        f"{result.api_calls_tool} (tool), "
        f"findings {result.findings_by_status}"
        + (f", tracemalloc peak {result.tracemalloc_peak_mib:.0f} MiB" if trace else "")
    )
    busy = {op: w for op, w in result.server.operation_windows.items() if result.server.calls_by_operation[op] >= 50}
    log(
        f"[ours] {label}: from the first request (s): "
        + ", ".join(f"{op} {a:.1f}-{b:.1f}" for op, (a, b) in busy.items())
    )
    for problem in result.sanity:
        log(f"[ours] {label}: SANITY: {problem}")
    return result


def ours_sanity(
    result: OursResult, raw: dict[str, Any], expected: Expected, accounts: list[str], regions: list[str]
) -> list[str]:
    problems = []
    cells = {(a, r) for a in accounts for r in regions}
    scanned = result.targets_by_status.get("scanned", 0)
    if scanned != len(cells) or set(result.targets_by_status) - {"scanned"}:
        problems.append(f"targets {dict(result.targets_by_status)}, expected {len(cells)} scanned")
    got_cells = {tuple(c) for c in raw["target_cells"]}
    if got_cells != cells:
        problems.append(f"scanned cells differ from the seeded ones: {len(got_cells ^ cells)} mismatching")
    by_rule = result.findings_by_rule
    fails = raw["fail_resources"]
    if REPOSITORY_RULE in result.rules:
        got = set(fails.get(REPOSITORY_RULE, []))
        want = expected.no_policy_arns
        if got != want:
            problems.append(
                f"{REPOSITORY_RULE}: FAIL on {len(got)} repositories, seeded {len(want)} without a policy "
                f"({len(got - want)} unexpected, {len(want - got)} missed)"
            )
        total = sum(expected.repositories.values())
        if result.repositories_in_findings != total:
            problems.append(f"{REPOSITORY_RULE}: judged {result.repositories_in_findings} repositories, seeded {total}")
    if ARM_RULE in result.rules:
        got_arm = by_rule.get(ARM_RULE, {}).get("FAIL", 0)
        want_arm = sum(expected.arm_only.values())
        if got_arm != want_arm:
            problems.append(f"{ARM_RULE}: FAIL {got_arm}, seeded {want_arm} arm64-only tags")
    for rule_id, counts in by_rule.items():
        if rule_id in (REPOSITORY_RULE, ARM_RULE) or not counts.get("FAIL"):
            continue
        if rule_id in SEEDED_FOR_RULES:
            problems.append(f"{rule_id}: unexpected FAIL {counts['FAIL']}")
            continue
        per_cell = raw.get("fails_by_cell", {}).get(rule_id, {})
        if len(per_cell) != len(cells) or len(set(per_cell.values())) != 1:
            problems.append(f"{rule_id} (newer than the seed): FAIL differs between alike cells: {per_cell}")
        else:
            result.newer_rule_fails[rule_id] = counts["FAIL"]
    if result.findings_by_status.get("ERROR"):
        problems.append(f"{result.findings_by_status['ERROR']} ERROR findings, e.g. {raw['error_examples'][:3]}")
    return problems


# --- Prowler ---------------------------------------------------------------------------------------------------


def ensure_prowler(venv: Path, workdir: Path) -> dict[str, str]:
    """Create ``venv`` with Prowler if it lacks the ``prowler`` command; return the versions installed in it."""
    return _tool_venv(venv, workdir, "prowler", "prowler", {"prowler": PROWLER_PIN}, "--prowler-venv")


def child_prowler(spec_path: str) -> int:
    """Runs in a child: one ``prowler aws`` per account, at most ``parallel`` at once; exit codes to spec['out'].

    Prowler scans one account per process (``--role`` assumes a role in it); this is the loop an
    organisation runs it in, with the accounts side by side as c7n-org runs its workers."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    queue = list(spec["commands"])
    running: list[tuple[subprocess.Popen[bytes], Any]] = []
    codes: list[int] = []
    while queue or running:
        while queue and len(running) < spec["parallel"]:
            item = queue.pop(0)
            out = open(item["log"], "wb")  # noqa: SIM115 - closed when the process ends
            running.append((subprocess.Popen(item["cmd"], stdout=out, stderr=subprocess.STDOUT), out))
        time.sleep(0.05)
        for proc, out in list(running):
            if proc.poll() is not None:
                codes.append(proc.returncode)
                out.close()
                running.remove((proc, out))
    Path(spec["out"]).write_text(json.dumps({"exit_codes": codes}), encoding="utf-8")
    return 0 if all(c == 0 for c in codes) else 1


@dataclass
class ProwlerResult:
    versions: dict[str, str]
    parallel: int
    accounts: int
    cells: int
    repositories: int
    process: ProcessStats
    server: ServerSide
    exit_codes: list[int]
    checks: list[str]
    findings_by_status: dict[str, int]
    repositories_seen: int  # distinct repository ARNs in the findings of PROWLER_POLICY_CHECK
    cells_with_output: int
    errors_logged: int  # ERROR lines in Prowler's logs (a call the sandbox could not answer, say)
    sanity: list[str] = field(default_factory=list)


def run_prowler(bench: Bench, seed: SeedResult, versions: dict[str, str]) -> ProwlerResult:
    args = bench.args
    venv = Path(args.prowler_venv)
    root = bench.workdir / "prowler"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    parallel = int(args.prowler_parallel or c7n_workers(args))
    commands = []
    for account in seed.accounts:
        out_dir = root / account
        commands.append(
            {
                "cmd": [
                    str(venv / "bin" / "prowler"),
                    "aws",
                    "--service",
                    "ecr",
                    "--region",
                    *args.regions,
                    "--role",
                    f"arn:aws:iam::{account}:role/{AUDIT_ROLE}",
                    "--output-directory",
                    str(out_dir),
                    "--output-formats",
                    "csv",
                    "--no-banner",
                    "--no-color",
                    "--ignore-exit-code-3",  # failed checks are findings, not a failed run
                ],
                "log": str(root / f"prowler-{account}.log"),
            }
        )
    spec_path, result_path = root / "spec.json", root / "result.json"
    spec_path.write_text(
        json.dumps({"commands": commands, "parallel": parallel, "out": str(result_path)}, indent=1), encoding="utf-8"
    )
    env = dict(bench.env)
    env["AWS_ENDPOINT_URL"] = bench.url
    log_path = root / "driver.log"
    log(
        f"[prowler] prowler aws --service ecr over {len(seed.accounts)} accounts x {len(args.regions)} regions, "
        f"{parallel} at once ..."
    )
    bench.meter.phase = "prowler"
    try:
        stats = run_process(
            [sys.executable, str(Path(__file__).resolve()), "--child-prowler", str(spec_path)],
            env=env,
            log_path=log_path,
            timeout=args.timeout,
        )
    finally:
        bench.meter.phase = "idle"
    server = ServerSide.of(bench.meter.counts("prowler"))
    codes = json.loads(result_path.read_text(encoding="utf-8"))["exit_codes"] if result_path.exists() else []
    by_status: Counter[str] = Counter()
    checks: set[str] = set()
    seen: set[str] = set()
    cells: set[tuple[str, str]] = set()
    for path in root.rglob("*.csv"):
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh, delimiter=";"):
                by_status[row.get("STATUS", "")] += 1
                checks.add(row.get("CHECK_ID", ""))
                if row.get("CHECK_ID") == PROWLER_POLICY_CHECK:
                    arn = row.get("RESOURCE_UID", "")
                    seen.add(arn)
                    parts = arn.split(":", 5)
                    if len(parts) == 6:
                        cells.add((parts[4], parts[3]))
    errors = 0
    for path in root.glob("prowler-*.log"):
        errors += sum(1 for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if "ERROR" in line)
    result = ProwlerResult(
        versions=versions,
        parallel=parallel,
        accounts=len(seed.accounts),
        cells=seed.cells,
        repositories=seed.repositories,
        process=stats,
        server=server,
        exit_codes=codes,
        checks=sorted(checks),
        findings_by_status=dict(sorted(by_status.items())),
        repositories_seen=len(seen),
        cells_with_output=len(cells),
        errors_logged=errors,
    )
    problems = []
    if stats.exit_code != 0 or len(codes) != len(seed.accounts):
        problems.append(f"prowler exit codes {codes}; see {root}/prowler-*.log")
    if len(seen) != seed.repositories or len(cells) != seed.cells:
        problems.append(
            f"{PROWLER_POLICY_CHECK} judged {len(seen)} repositories in {len(cells)} cells, "
            f"seeded {seed.repositories} in {seed.cells}"
        )
    if server.calls_by_operation.get("ecr:GetRepositoryPolicy", 0) < seed.repositories:
        problems.append("fewer GetRepositoryPolicy calls than repositories")
    result.sanity = problems
    log(
        f"[prowler] {stats.wall_seconds:.1f} s, {server.calls} calls (server), {len(seen)} repositories judged by "
        f"{PROWLER_POLICY_CHECK}, findings {result.findings_by_status}, {errors} ERROR log lines, exit {codes}"
    )
    for problem in problems:
        log(f"[prowler] SANITY: {problem}")
    return result


def _measured(server: ServerSide, p: ProcessStats, repos: int) -> dict[str, str]:
    """The cells every tool's column shares: what the server counted and what its processes cost."""
    span = server.request_span_seconds
    return {
        "per_repo": _n(server.calls / repos, 2),
        "grp": _n(server.calls_by_operation.get("ecr:GetRepositoryPolicy", 0)),
        "rate": _n(server.calls / span if span else None),
        "in_flight": str(server.max_in_flight),
        "connections": _n(server.connections),
        "inside": _n(1000 * server.busy_seconds / server.calls if server.calls else None, 1),
        "server_cpu": _n(p.server_cpu_seconds, 1),
        "client_cpu": _n(p.cpu_user_seconds + p.cpu_system_seconds, 1),
        "maxrss": _n(p.maxrss_mib),
        "tree": _n(p.peak_tree_mib),
        "procs": str(p.max_processes),
    }


def _prowler_column(pr: ProwlerResult, repos: int) -> dict[str, str]:
    span = pr.server.request_span_seconds
    p = pr.process
    return {
        "checks": f"{len(pr.checks)} ECR checks: policy public?, lifecycle policy, scan on push, tag immutability, "
        "latest image's scan findings, ...",
        "wall": _n(p.wall_seconds, 1),
        "span": _n(span, 1),
        "calls": _n(pr.server.calls),
        **_measured(pr.server, p, repos),
        "seen": f"{pr.repositories_seen:,} judged by `{PROWLER_POLICY_CHECK}`",
        "result": f"findings {', '.join(f'{k} {v:,}' for k, v in pr.findings_by_status.items())}; "
        f"{pr.errors_logged:,} ERROR log lines",
    }


# --- Cloud Custodian ---------------------------------------------------------------------------------------------


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def ensure_c7n(venv: Path, workdir: Path) -> dict[str, str]:
    """Create ``venv`` with c7n + c7n-org if it lacks c7n-org; return the versions installed in it."""
    return _tool_venv(venv, workdir, "c7n", "c7n-org", C7N_PINS, "--c7n-venv")


def _tool_venv(venv: Path, workdir: Path, tool: str, command: str, pins: dict[str, str], option: str) -> dict[str, str]:
    """A peer tool's own virtualenv: created with ``pins`` if it lacks ``command``; the versions installed in it.

    The tool's botocore must honour ``AWS_ENDPOINT_URL`` (1.31+), or it would reach AWS instead of the server."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / command).exists():
        if venv.exists() and not python.exists():
            raise BenchmarkError(f"{venv} exists but is not a virtualenv; remove it or pass {option} elsewhere")
        log(f"[{tool}] creating {venv} ({', '.join(f'{k} {v}' for k, v in pins.items())}) ...")
        install_log = workdir / f"{tool}-install.log"
        with open(install_log, "wb") as out:
            steps = [
                [sys.executable, "-m", "venv", str(venv)],
                [str(python), "-m", "pip", "install", "--quiet", *(f"{k}=={v}" for k, v in pins.items())],
            ]
            for step in steps:
                if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=False).returncode != 0:
                    raise BenchmarkError(f"{' '.join(step)} failed; last lines of {install_log}:\n{_tail(install_log)}")
    packages = (*pins, "boto3", "botocore")
    probe = f"import json, importlib.metadata as m; print(json.dumps({{p: m.version(p) for p in {packages!r}}}))"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchmarkError(f"cannot read the package versions in {venv}:\n{done.stderr[-2000:]}")
    versions: dict[str, str] = json.loads(done.stdout)
    if _version_tuple(versions["botocore"]) < (1, 31):
        raise BenchmarkError(f"{venv}: botocore {versions['botocore']} predates AWS_ENDPOINT_URL support (1.31)")
    for package, pin in pins.items():
        if versions.get(package) != pin:
            log(f"[{tool}] note: {venv} has {package} {versions.get(package)}, the benchmark was written for {pin}")
    return versions


@dataclass
class C7nResult:
    versions: dict[str, str]
    workers: int
    accounts: int
    cells: int
    repositories: int
    process: ProcessStats
    server: ServerSide
    resources_seen: int
    cells_with_output: int
    resources_per_cell_min: int
    resources_per_cell_max: int
    with_policy: int
    without_policy: int
    cross_account_matches: int
    sanity: list[str] = field(default_factory=list)


def c7n_workers(args: argparse.Namespace) -> int:
    return int(args.c7n_workers or (os.cpu_count() or 1) * 4)  # c7n-org's own default: 4 x CPUs


def run_c7n(bench: Bench, seed: SeedResult, expected: Expected, versions: dict[str, str]) -> C7nResult:
    args = bench.args
    venv = Path(args.c7n_venv)
    out_dir, cache_dir = bench.workdir / "c7n-output", bench.workdir / "c7n-cache"
    for folder in (out_dir, cache_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    accounts_file = bench.workdir / "c7n-accounts.yml"
    accounts_doc = {
        "accounts": [
            {
                "account_id": account,
                "name": f"member-{account}",
                "regions": args.regions,
                "role": f"arn:aws:iam::{account}:role/{AUDIT_ROLE}",
            }
            for account in seed.accounts
        ]
    }
    accounts_file.write_text(json.dumps(accounts_doc, indent=1), encoding="utf-8")  # JSON is YAML
    workers = c7n_workers(args)
    env = dict(bench.env)
    env.update({"AWS_ENDPOINT_URL": bench.url, "C7N_ORG_PARALLEL": str(workers)})
    env.pop("C7N_USE_STS_REGIONAL", None)  # would send AssumeRole to sts.<region>.amazonaws.com
    cmd = [
        str(venv / "bin" / "c7n-org"),
        "run",
        "-c",
        str(accounts_file),
        "-u",
        str(C7N_POLICY),
        "-s",
        str(out_dir),
        "--cache-period",
        "0",  # no resource cache: every run asks the server
        "--cache-path",
        str(cache_dir),
    ]
    log_path = bench.workdir / "c7n-org.log"
    log(f"[c7n] c7n-org run over {len(seed.accounts)} accounts x {len(args.regions)} regions, {workers} workers ...")
    bench.meter.phase = "c7n"
    try:
        stats = run_process(cmd, env=env, log_path=log_path, timeout=args.timeout)
    finally:
        bench.meter.phase = "idle"
    server = ServerSide.of(bench.meter.counts("c7n"))

    per_cell: Counter[tuple[str, str]] = Counter()
    seen_without_policy: set[str] = set()
    with_policy = cross = 0
    for path in out_dir.rglob("resources.json"):
        if path.parent.name != C7N_POLICY_NAME:
            continue
        for r in json.loads(path.read_text(encoding="utf-8")):
            arn = r["repositoryArn"]
            _, _, _, region, account, _ = arn.split(":", 5)
            per_cell[(account, region)] += 1
            if r.get("Policy"):
                with_policy += 1
            else:
                seen_without_policy.add(arn)
            cross += bool(r.get("CrossAccountViolations"))
    total = sum(per_cell.values())
    result = C7nResult(
        versions=versions,
        workers=workers,
        accounts=len(seed.accounts),
        cells=seed.cells,
        repositories=seed.repositories,
        process=stats,
        server=server,
        resources_seen=total,
        cells_with_output=len(per_cell),
        resources_per_cell_min=min(per_cell.values(), default=0),
        resources_per_cell_max=max(per_cell.values(), default=0),
        with_policy=with_policy,
        without_policy=len(seen_without_policy),
        cross_account_matches=cross,
    )
    problems = []
    if stats.exit_code != 0:
        problems.append(f"c7n-org exited {stats.exit_code}; last lines of {log_path}:\n{_tail(log_path)}")
    if total != seed.repositories or len(per_cell) != seed.cells:
        problems.append(
            f"resources.json lists {total} repositories in {len(per_cell)} cells, "
            f"seeded {seed.repositories} in {seed.cells}"
        )
    if seen_without_policy != expected.no_policy_arns:
        problems.append(
            f"{len(seen_without_policy)} repositories came back without a policy, seeded {len(expected.no_policy_arns)}"
        )
    if server.calls_by_operation.get("ecr:GetRepositoryPolicy", 0) < seed.repositories:
        problems.append("fewer GetRepositoryPolicy calls than repositories")
    result.sanity = problems
    log(
        f"[c7n] {stats.wall_seconds:.1f} s, {server.calls} calls (server), {total} repositories in resources.json, "
        f"exit {stats.exit_code}"
    )
    for problem in problems:
        log(f"[c7n] SANITY: {problem}")
    return result


# --- output ------------------------------------------------------------------------------------------------------


NA = "-"


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return NA
    return f"{value:,.{digits}f}"


def _status(counts: dict[str, int]) -> str:
    return "/".join(f"{counts.get(s, 0):,}" for s in ("PASS", "FAIL", "ERROR", "NOT_APPLICABLE"))


def _ours_column(r: OursResult, repos: int) -> dict[str, str]:
    span = r.server.request_span_seconds
    p = r.process
    return {
        "checks": f"{len(r.rules)} rules: policy grants omics pull, image architecture (+ per-cell checks)",
        "wall": _n(p.wall_seconds, 1),
        "span": _n(span, 1),
        "call": _n(r.scan_seconds, 1),
        "calls": _n(r.server.calls),
        "own": f"{r.api_calls_tool:,}",
        **_measured(r.server, p, repos),
        "rss_delta": f"{_n(r.rss_before_scan_mib)} -> {_n(r.rss_after_scan_mib)}",
        "seen": f"{r.repositories_in_findings:,} judged by {REPOSITORY_RULE}",
        "cache": _cache_cell(r),
        "result": f"findings P/F/E/NA {_status(r.findings_by_status)}; {REPOSITORY_RULE} FAIL "
        f"{r.findings_by_rule.get(REPOSITORY_RULE, {}).get('FAIL', 0):,}"
        + "".join(
            f"; {rule} FAIL {n:,} (newer than the seed, alike in every cell)" for rule, n in r.newer_rule_fails.items()
        ),
    }


def _cache_cell(r: OursResult) -> str:
    if not r.digest_cache:
        return "off (`--no-cache`)"
    st = r.digest_cache_stats or {}
    return (
        f"on, empty at the start: {st.get('hits', 0):,} hits, {st.get('stored', 0):,} entries stored, "
        f"{st.get('shared', 0):,} waits on another cell's fetch"
    )


def _ours_title(r: OursResult) -> str:
    limits = "default rate limits" if r.rate_limits == "default" else "no rate limits"
    cache = "digest cache on (CLI default), cold" if r.digest_cache else "`--no-cache`"
    return f"omics-ecr-audit `scan_org`, max_cells {r.max_cells}, {limits}, {cache}"


def _c7n_column(c: C7nResult, repos: int) -> dict[str, str]:
    span = c.server.request_span_seconds
    p = c.process
    return {
        "checks": "fetches the policy (`cross-account` filter) and the tags",
        "wall": _n(p.wall_seconds, 1),
        "span": _n(span, 1),
        "calls": _n(c.server.calls),
        **_measured(c.server, p, repos),
        "seen": f"{c.resources_seen:,} in resources.json, {c.with_policy:,} with a policy",
        "result": f"{c.cross_account_matches:,} cross-account matches; {c.without_policy:,} repositories without "
        "a policy",
    }


_ROWS = [
    ("checks", "checks per repository"),
    ("wall", "wall time, process spawn to exit (s)"),
    ("span", "wall time, first request to last answer at the server (s)"),
    ("call", "`scan_org` call alone, timed in the child (s)"),
    ("calls", "API calls received by the server"),
    ("own", "API calls, the tool's own count (`doc.api_calls`)"),
    ("per_repo", "API calls per repository (server count)"),
    ("grp", "GetRepositoryPolicy calls"),
    ("rate", "calls per second (server calls / request span)"),
    ("in_flight", "most requests inside moto at once"),
    ("connections", "TCP connections the requests came on"),
    ("inside", "mean time inside moto per request (ms; grows when the server is saturated)"),
    ("server_cpu", "server CPU while it ran, user+sys, sampler excluded (s)"),
    ("client_cpu", "client CPU, user+sys, whole process tree (s)"),
    ("maxrss", "peak RSS, largest process (MiB, VmHWM)"),
    ("tree", "peak PSS, whole process tree (MiB, sampled)"),
    ("procs", "processes (most at once)"),
    ("tracemalloc", "tracemalloc peak during the scan (MiB)"),
    ("rss_delta", "RSS before -> after `scan_org` (MiB)"),
    ("seen", "repositories seen"),
    ("cache", "digest cache (`auditor/digest_cache.py`)"),
    ("result", "result"),
]


def render(
    args: argparse.Namespace,
    seed: SeedResult,
    ours: OursResult,
    unlimited: OursResult | None,
    traced: OursResult | None,
    per_rule: list[OursResult],
    c7n: C7nResult | None,
    no_cache: OursResult | None = None,
    prowler: ProwlerResult | None = None,
) -> str:
    repos = seed.repositories
    lines = [
        f"## Organisation benchmark: {len(seed.accounts)} accounts x {len(seed.regions)} regions x "
        f"{seed.repos_per_cell} repositories = {repos:,} repositories, {args.latency_ms:g} ms per request",
        "",
        f"Seeding (latency off): {seed.seconds_total:.1f} s: organisation, accounts and roles "
        f"{seed.seconds_organization:.1f} s, per-cell API work {seed.seconds_cells:.1f} s, images "
        f"({seed.image_seeding}) {seed.seconds_images:.1f} s; {seed.server_calls:,} HTTP calls"
        + (f" + {seed.direct_backend_writes:,} direct backend writes" if seed.direct_backend_writes else "")
        + f"; {seed.tagged_images:,} tagged images, {seed.without_policy:,} repositories without a policy, "
        f"{seed.arm_only_tagged:,} arm64-only tags.",
        "",
    ]
    columns: list[tuple[str, dict[str, str]]] = []
    default = _ours_column(ours, repos)
    default["tracemalloc"] = _n(traced.tracemalloc_peak_mib, 1) if traced else "not measured"
    columns.append((_ours_title(ours), default))
    for extra in (no_cache, unlimited):
        if extra is not None:
            columns.append((_ours_title(extra), _ours_column(extra, repos)))
    if c7n is not None:
        columns.append((f"Cloud Custodian `c7n-org run`, {c7n.workers} worker processes", _c7n_column(c7n, repos)))
    if prowler is not None:
        columns.append(
            (
                f"Prowler `prowler aws --service ecr`, one process per account, {prowler.parallel} at once",
                _prowler_column(prowler, repos),
            )
        )
    lines.append("| | " + " | ".join(title for title, _ in columns) + " |")
    lines.append("|---|" + "---:|" * len(columns))
    for key, label in _ROWS:
        lines.append(f"| {label} | " + " | ".join(col.get(key, NA) for _, col in columns) + " |")

    c = c7n
    tools = [("omics-ecr-audit", ours.server.calls_by_operation)]
    tools += [("`--no-cache`", no_cache.server.calls_by_operation)] if no_cache is not None else []
    tools += [("Custodian", c.server.calls_by_operation)] if c else []
    tools += [("Prowler", prowler.server.calls_by_operation)] if prowler else []
    ops = sorted({op for _, by_op in tools for op in by_op})
    lines += [
        "",
        "API calls per operation, as the server counted them (and per repository)"
        + (" (the no-rate-limits scan made the same calls)" if unlimited is not None else "")
        + ":",
        "",
        "| operation | " + " | ".join(name for name, _ in tools) + " |",
        "|---|" + "---:|" * len(tools),
    ]
    for op in ops:
        cells = [f"{by_op.get(op, 0):,} ({by_op.get(op, 0) / repos:.3f})" for _, by_op in tools]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    if unlimited is not None and unlimited.server.calls_by_operation != ours.server.calls_by_operation:
        lines.append("")
        lines.append(
            f"(The no-rate-limits scan's calls differ: {unlimited.server.calls:,} in total; see the JSON for each.)"
        )

    if per_rule:
        base = per_rule[0]
        lines += [
            "",
            f"Per rule: `scan_org` with only that rule selected, over the first {base.accounts} accounts x "
            f"{len(seed.regions)} regions ({base.repositories:,} repositories), same latency and settings as the "
            "first column:",
            "",
            "| rules | facets collected | API calls | calls/repo | wall s | findings P/F/E/NA |",
            "|---|---|---:|---:|---:|---|",
        ]
        for r in per_rule:
            label = "all rules" if len(r.rules) > 1 else f"`{r.rules[0]}`"
            lines.append(
                f"| {label} | {', '.join(r.facets)} | {r.server.calls:,} | {r.server.calls / r.repositories:.2f} | "
                f"{r.scan_seconds:.1f} | {_status(r.findings_by_status)} |"
            )
    problems = [(r.label, p) for r in (ours, no_cache, unlimited, traced, *per_rule) if r is not None for p in r.sanity]
    problems += [("c7n", p) for p in c.sanity] if c else []
    problems += [("prowler", p) for p in prowler.sanity] if prowler else []
    lines.append("")
    if problems:
        lines.append("SANITY CHECK PROBLEMS:")
        lines += [f"- [{label}] {p}" for label, p in problems]
    else:
        lines.append(
            f"Sanity: every scan reported exactly the seeded defects ({REPOSITORY_RULE} FAIL on each repository "
            f"seeded without a policy, {ARM_RULE} FAIL on each arm64-only tag), no other FAIL from the rules the seed "
            "was built for (rules added since FAIL alike in every cell), no ERROR"
            + (
                "; Custodian listed every repository, and exactly the seeded ones came back without a policy."
                if c
                else "."
            )
        )
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    import boto3
    import botocore
    import moto

    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_mib": mem_total,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "moto": moto.__version__,
        "loadavg_at_end_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


# --- main ----------------------------------------------------------------------------------------------------------


def _regions(text: str) -> list[str]:
    regions = [r.strip() for r in text.split(",") if r.strip()]
    if not regions:
        raise argparse.ArgumentTypeError("expected comma-separated region names")
    return regions


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="org_benchmark.py",
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("--accounts", type=int, default=50, help="member accounts (default 50)")
    parser.add_argument(
        "--regions", type=_regions, default=_regions(DEFAULT_REGIONS), help=f"default {DEFAULT_REGIONS}"
    )
    parser.add_argument(
        "--repos", type=int, default=200, help="repositories per account and region (default 200, min 10)"
    )
    parser.add_argument("--latency-ms", type=float, default=50.0, help="server-side delay per request during the scans")
    parser.add_argument("--skip-c7n", action="store_true", help="do not run Cloud Custodian")
    parser.add_argument(
        "--rules",
        type=lambda text: [r for r in text.split(",") if r],
        default=[],
        help="comma-separated rule ids for the main scans (default: every rule, as `scan` runs them)",
    )
    parser.add_argument(
        "--skip-no-cache",
        action="store_true",
        help="skip the extra scan_org with the digest cache off (scan --no-cache); the first scan has it on, cold",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every number as JSON")
    parser.add_argument("--workers", type=int, default=8, help="omics-ecr-audit max_workers (per-cell pool; default 8)")
    parser.add_argument(
        "--max-cells", type=int, default=0, help="omics-ecr-audit concurrency.max_cells (0: the tool's default, 4)"
    )
    parser.add_argument(
        "--rate-limits",
        choices=("default", "off"),
        default="default",
        help="omics-ecr-audit's client-side rate limits: its defaults (published quotas) or none, like c7n",
    )
    parser.add_argument("--c7n-workers", type=int, default=0, help="C7N_ORG_PARALLEL (0: c7n-org's default, 4 x CPUs)")
    parser.add_argument(
        "--per-rule-accounts",
        type=int,
        default=2,
        help="single-rule scans over the first N accounts (default 2; 0 skips them)",
    )
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the extra scan under tracemalloc")
    parser.add_argument(
        "--no-unlimited",
        action="store_true",
        help="skip the extra scan without rate limits and with max_cells = c7n-org's workers",
    )
    parser.add_argument(
        "--seed-images",
        choices=("direct", "api"),
        default="direct",
        help="direct: push images through moto's backend in-process (fast, default); api: over HTTP (slow)",
    )
    parser.add_argument("--c7n-venv", default=str(ROOT / ".venv-c7n"), help="Cloud Custodian's virtualenv")
    parser.add_argument("--skip-prowler", action="store_true", help="do not run Prowler")
    parser.add_argument(
        "--moto-dispatch",
        choices=["cached", "moto"],
        default="cached",
        help="cached: the server meter reuses moto's choice of backend app per (service, Region) (default); "
        "moto: moto's dispatcher for every request (see server_meter.py)",
    )
    parser.add_argument("--prowler-venv", default=str(ROOT / ".venv-prowler"), help="Prowler's virtualenv")
    parser.add_argument(
        "--prowler-parallel",
        type=int,
        default=0,
        help="Prowler processes (one per account) at once (0: as many as c7n-org's workers)",
    )
    parser.add_argument("--workdir", help="keep specs, logs and c7n output here (default: a temporary folder, removed)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds before a child process is killed")
    parser.add_argument("--child-scan", metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--child-prowler", metavar="SPEC", help=argparse.SUPPRESS)
    # py-spy (installed by hand into .venv, not a dependency) samples our scans and the server: raw stacks to DIR
    parser.add_argument("--profile-ours", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_scan:
        return args
    if args.accounts < 1 or args.repos < 10:
        parser.error("--accounts must be >= 1 and --repos >= 10")
    if args.latency_ms < 0 or args.workers < 1 or args.max_cells < 0 or args.c7n_workers < 0:
        parser.error("--latency-ms, --max-cells and --c7n-workers must be >= 0, --workers >= 1")
    args.per_rule_accounts = min(args.per_rule_accounts, args.accounts)
    return args


def _clean_env() -> None:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[key]
    os.environ.update(_FAKE_ENV)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_scan:
        return child_scan(args.child_scan)
    if args.child_prowler:
        return child_prowler(args.child_prowler)
    _clean_env()
    import boto3

    from auditor import logs, scan
    from auditor.config import Config

    logs.configure("error")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server logs every request otherwise
    if not hasattr(scan, "scan_org"):
        print("org_benchmark.py: auditor.scan.scan_org does not exist yet (multi-account scanning)", file=sys.stderr)
        return 2
    unknown = sorted(set(args.regions) - set(boto3.Session().get_available_regions("ecr")))
    if unknown:
        print(f"org_benchmark.py: --regions: not ECR regions: {', '.join(unknown)}", file=sys.stderr)
        return 2
    all_rule_ids = [r.meta.id for r in scan.select_rules(Config())]

    temporary = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="org-bench-")) if temporary else Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    load_start = [round(x, 2) for x in os.getloadavg()]
    total_start = time.perf_counter()
    server = meter = None
    try:
        c7n_versions = None if args.skip_c7n else ensure_c7n(Path(args.c7n_venv), workdir)
        prowler_versions = None if args.skip_prowler else ensure_prowler(Path(args.prowler_venv), workdir)
        from auditor.sandbox.server import start_server

        server = start_server()  # a thread of this process, on a free port
        meter = install_meter(server, cached_dispatch=args.moto_dispatch == "cached")
        bench = Bench(url=server.url, meter=meter, args=args, workdir=workdir, env=dict(os.environ))
        log(f"[setup] sandbox at {server.url}; work folder {workdir}")

        seed, expected = seed_organization(
            server.url,
            meter,
            accounts=args.accounts,
            regions=args.regions,
            repos=args.repos,
            image_seeding=args.seed_images,
        )
        meter.latency_s = args.latency_ms / 1000
        chosen = args.rules  # [] : every rule, as the CLI's scan
        ours = run_ours(bench, "all rules", seed.accounts, chosen, trace=False, expected=expected)
        no_cache = None
        if not args.skip_no_cache:
            no_cache = run_ours(
                bench, "all rules, --no-cache", seed.accounts, chosen, trace=False, expected=expected, cache=False
            )
            if no_cache.findings_by_rule != ours.findings_by_rule:
                no_cache.sanity.append("findings differ from the scan with the digest cache on")
        unlimited = None
        if not args.no_unlimited:
            unlimited = run_ours(
                bench,
                "all rules, no rate limits",
                seed.accounts,
                [],
                trace=False,
                expected=expected,
                max_cells=c7n_workers(args),
                rate_limits="off",
            )
        traced = None
        if not args.no_tracemalloc:
            traced = run_ours(bench, "all rules, tracemalloc", seed.accounts, chosen, trace=True, expected=expected)
        per_rule: list[OursResult] = []
        if args.per_rule_accounts:
            subset = seed.accounts[: args.per_rule_accounts]
            per_rule.append(run_ours(bench, "subset, all rules", subset, [], trace=False, expected=expected))
            for rule_id in all_rule_ids:
                per_rule.append(
                    run_ours(bench, f"subset, {rule_id}", subset, [rule_id], trace=False, expected=expected)
                )
        c7n = None if c7n_versions is None else run_c7n(bench, seed, expected, c7n_versions)
        prowler = None if prowler_versions is None else run_prowler(bench, seed, prowler_versions)
    except BenchmarkError as exc:
        print(f"org_benchmark.py: {exc}\n(specs, logs and outputs kept in {workdir})", file=sys.stderr)
        return 2
    finally:
        if meter is not None:
            meter.uninstall()
        if server is not None:
            server.stop()
    total = time.perf_counter() - total_start
    print(render(args, seed, ours, unlimited, traced, per_rule, c7n, no_cache, prowler))
    load_end = [round(x, 2) for x in os.getloadavg()]
    server_hwm = _hwm_kib(os.getpid())
    if server_hwm is not None:
        print(f"sandbox server process (this one, with every seeded account): peak RSS {_mib(server_hwm):,.0f} MiB")
    print(f"\ntotal benchmark time {total:.0f} s; load average at start {load_start}, at end {load_end}")
    if args.json:
        doc = {
            "generated": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
            "machine": machine_info(),
            "arguments": {k: v for k, v in vars(args).items() if k != "child_scan"},
            "total_seconds": total,
            "server_process_peak_rss_mib": _mib(server_hwm) if server_hwm is not None else None,
            "loadavg_at_start_1_5_15": load_start,
            "seed": asdict(seed),
            "ours": asdict(ours),
            "ours_no_cache": asdict(no_cache) if no_cache else None,
            "ours_no_rate_limits": asdict(unlimited) if unlimited else None,
            "ours_tracemalloc": asdict(traced) if traced else None,
            "per_rule": [asdict(r) for r in per_rule],
            "c7n": asdict(c7n) if c7n else None,
            "prowler": asdict(prowler) if prowler else None,
            "workdir": None if temporary else str(workdir),
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, sort_keys=True)
            fh.write("\n")
        log(f"wrote {args.json}")
    failed = ours.sanity + [p for r in (no_cache, unlimited, traced, *per_rule) if r is not None for p in r.sanity]
    failed += c7n.sanity if c7n else []
    failed += prowler.sanity if prowler else []
    if failed:
        log(f"sanity checks failed; specs, logs and outputs kept in {workdir}")
        return 1
    if temporary:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
