"""The seeds' own setups, built in the sandbox server and audited through the CLI as a user would.

Each test applies what a seed document shows (policies copied into ``tests/data/seeds/<seed>/``, each
directory's SOURCE.md naming the seed section), registers a workflow whose definition names the images
the seed's examples use, starts a run of it with the seed's role, then runs ``omics-ecr-audit scan``
(and ``fix``) in its own process against the server. A setup AWS would run must give no FAIL; where
AWS's documented behaviour breaks a seed's setup the exact FAIL is asserted, with why.

Cache repositories: the sandbox server runs in this process (a ThreadedMotoServer), so
``simulate_ptc_pull`` acts on the very state the server serves, doing what ECR does on the first pull
through a cache rule (repository created from the matching PULL_THROUGH_CACHE template); the image is
then pushed through the server with boto3. Runs are only started (boto3 StartRun); they stay PENDING,
which counts as recent and active.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from auditor.config import Config
from auditor.sandbox.ecr import simulate_ptc_pull
from auditor.sandbox.images import push_image
from auditor.sandbox.server import SandboxServer, start_server
from auditor.scan import select_rules
from tests.support.workflows import definition_zip, nextflow_definition

SEEDS = Path(__file__).parent / "data" / "seeds"
ACCOUNT = "123456789012"  # the seeds' example account is the sandbox's own
REGION = "us-east-1"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
# The access rules (whether the setup works): the guides build access, not the hygiene practices.
RULES = tuple(r.meta.id for r in select_rules(Config(), groups=["access"]))


def seed_text(seed: str, name: str) -> str:
    return (SEEDS / seed / name).read_text()


def seed_json(seed: str, name: str) -> Any:
    return json.loads(seed_text(seed, name))


def placeholders(text: str) -> str:
    """Seed 001's own placeholders, filled in."""
    return text.replace("REGION", REGION).replace("ACCOUNT", ACCOUNT)


def repo_arn(name: str) -> str:
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"


def nextflow_line(index: int) -> str:
    """Where ``nextflow_definition`` puts process P<index>'s container."""
    return f"main.nf:{4 + 6 * index}"


# --- the sandbox server and the CLI ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            mp.delenv(key)
        for key, value in CREDS.items():
            mp.setenv(key, value)
        with start_server() as running:
            yield running


class Account:
    """boto3 clients on the server, as the seeds' commands would make the calls."""

    def __init__(self, server: SandboxServer, tmp: Path) -> None:
        self.server = server
        self.tmp = tmp
        self.ecr = server.client("ecr", REGION)
        self.iam = server.client("iam", REGION)
        self.omics = server.client("omics", REGION)
        self.secrets = server.client("secretsmanager", REGION)

    def cli(self, *args: str, out: str = "out") -> tuple[subprocess.CompletedProcess[str], Path]:
        folder = self.tmp / out
        # The child gets only what a user would set: credentials and the endpoint.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OMICS_AUDIT"))} | CREDS
        command = [sys.executable, "-m", "auditor", *args, "--endpoint-url", self.server.url]
        proc = subprocess.run(
            [*command, "--out", str(folder), "--quiet"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc, folder

    def scan(self, out: str = "out") -> list[dict[str, Any]]:
        # The access rules: whether the setup works as the guides built it. The hygiene rules (scanning,
        # CloudTrail, scoping, pinning...) judge practices these guides do not set up, and are tested apart.
        proc, folder = self.cli("scan", "--group", "access", out=out)
        findings: list[dict[str, Any]] = json.loads((folder / "findings.json").read_text())["findings"]
        errors = [(f["rule_id"], f["resource"], f["message"]) for f in findings if f["status"] == "ERROR"]
        assert not errors, errors
        assert proc.returncode == (1 if fails(findings) else 0), proc.stderr
        assert {f["rule_id"] for f in findings} <= set(RULES)
        return findings

    # What a user runs: secrets, cache rules, policies, templates, roles, images, workflows, runs.

    def secret(self, name: str, value: Any) -> str:
        return str(self.secrets.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])

    def template(self, prefix: str, policy_text: str) -> None:
        self.ecr.create_repository_creation_template(
            prefix=prefix, appliedFor=["PULL_THROUGH_CACHE"], repositoryPolicy=policy_text
        )

    def role(self, name: str, trust: str, policy: str, *, managed: bool) -> str:
        arn = str(self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"])
        if managed:
            policy_arn = self.iam.create_policy(PolicyName=f"{name}Policy", PolicyDocument=policy)["Policy"]["Arn"]
            self.iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        else:
            self.iam.put_role_policy(RoleName=name, PolicyName="ecr-pull", PolicyDocument=policy)
        return arn

    def cached(self, repository: str, tag: str) -> None:
        """The first pull of ``repository:tag`` through its cache rule: ECR creates it from its template."""
        simulate_ptc_pull(ACCOUNT, REGION, repository)
        push_image(self.ecr, repository, tag=tag, architecture="amd64")

    def pushed(self, repository: str, tag: str, policy: str | None = None) -> None:
        """A repository a person or pipeline creates and pushes to (no template is involved)."""
        self.ecr.create_repository(repositoryName=repository)
        push_image(self.ecr, repository, tag=tag, architecture="amd64")
        if policy is not None:
            self.ecr.set_repository_policy(repositoryName=repository, policyText=policy)

    def workflow(self, name: str, definition: bytes, engine: str, registry_map: Any = None) -> str:
        kwargs = {"containerRegistryMap": registry_map} if registry_map else {}
        created = self.omics.create_workflow(name=name, engine=engine, definitionZip=definition, **kwargs)
        return str(created["id"])

    def run(self, workflow_id: str, role_arn: str) -> str:
        started = self.omics.start_run(workflowId=workflow_id, roleArn=role_arn, name="r1", outputUri="s3://out/x/")
        return str(started["id"])


@pytest.fixture
def account(server: SandboxServer, tmp_path: Path) -> Account:
    requests.post(f"{server.url}/moto-api/reset", timeout=10).raise_for_status()
    return Account(server, tmp_path)


def fails(findings: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(f["rule_id"], f["resource"]) for f in findings if f["status"] == "FAIL"}


def finding(findings: list[dict[str, Any]], rule_id: str, resource: str) -> dict[str, Any]:
    matches = [f for f in findings if f["rule_id"] == rule_id and f["resource"] == resource]
    assert len(matches) == 1, (rule_id, resource, [(f["rule_id"], f["resource"]) for f in findings])
    return matches[0]


def passed(findings: list[dict[str, Any]], rule_id: str) -> set[str]:
    return {f["resource"] for f in findings if f["rule_id"] == rule_id and f["status"] == "PASS"}


# --- seed 000: the guide, verbatim -------------------------------------------------------------------


def seed_000_registry(a: Account) -> None:
    """Seed 000 steps 1 to 4: secrets, cache rules, registry policy, creation templates."""
    arns = {name: a.secret(name, value) for name, value in seed_json("000", "secrets.json").items()}
    for rule in seed_json("000", "ptc-rules.json"):
        if "credentialArn" in rule:
            # The printed ARN's "-AbCdEf" is Secrets Manager's random suffix: use the one the secret got.
            assert rule["credentialArn"].rsplit("-", 1)[0].endswith("ecr-pullthroughcache/docker-hub")
            rule["credentialArn"] = arns["ecr-pullthroughcache/docker-hub"]
        a.ecr.create_pull_through_cache_rule(**rule)
    a.ecr.put_registry_policy(policyText=seed_text("000", "registry-policy.json"))
    for prefix in ("docker-hub", "quay", "ecr-public"):
        a.template(prefix, seed_text("000", f"template-{prefix}.json"))


def seed_000_role(a: Account) -> str:
    """Seed 000 step 6: HealthOmicsWorkflowRole with the managed HealthOmicsWorkflowPolicy."""
    trust, policy = seed_text("000", "trust-policy.json"), seed_text("000", "service-role-policy.json")
    arn = a.iam.create_role(RoleName="HealthOmicsWorkflowRole", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    a.iam.create_policy(PolicyName="HealthOmicsWorkflowPolicy", PolicyDocument=policy)
    a.iam.attach_role_policy(
        RoleName="HealthOmicsWorkflowRole", PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/HealthOmicsWorkflowPolicy"
    )
    return str(arn)


# The images seed 000's maps name, as a workflow being migrated writes them (step 5).
SEED_000_IMAGES = (
    "ubuntu",  # image mapping -> docker-hub/library/ubuntu:20.04
    "quay.io/biocontainers/bwa:0.7.17--hed695b0_7",  # image mapping -> quay/biocontainers/bwa
    "quay.io/biocontainers/samtools:1.17--h00cdaf9_0",  # registry mapping quay.io -> quay
    "broadinstitute/gatk:4.6.0.2",  # registry mapping registry-1.docker.io -> docker-hub
    "public.ecr.aws/lts/ubuntu:22.04",  # registry mapping public.ecr.aws -> ecr-public (registry-map.json)
)
SEED_000_CACHE = {
    "docker-hub/library/ubuntu": "20.04",
    "quay/biocontainers/bwa": "0.7.17--hed695b0_7",
    "quay/biocontainers/samtools": "1.17--h00cdaf9_0",
    "docker-hub/broadinstitute/gatk": "4.6.0.2",
    "ecr-public/lts/ubuntu": "22.04",
}


def seed_000_account(a: Account) -> str:
    """Seed 000 verbatim: steps 1 to 6, and the step 5 maps on two workflows, each run once with the role."""
    seed_000_registry(a)
    role = seed_000_role(a)
    # Step 5's combined map (registry and image mappings) on one workflow; its registry-map.json on another.
    combined = a.workflow(
        "genomics-combined-map",
        nextflow_definition(*SEED_000_IMAGES[:4]),
        "NEXTFLOW",
        seed_json("000", "container-registry-map.json"),
    )
    registry_only = a.workflow(
        "genomics-registry-map",
        nextflow_definition(*SEED_000_IMAGES[2:]),
        "NEXTFLOW",
        seed_json("000", "registry-map.json"),
    )
    a.run(combined, role)
    a.run(registry_only, role)
    return role


def test_seed_000_verbatim_before_the_first_pull_gives_no_fail_and_no_error(account: Account) -> None:
    role = seed_000_account(account)
    # Nothing cached yet: HealthOmics creates the cache repositories (from the templates) on the first pull.
    findings = account.scan()
    assert not fails(findings), [(f["rule_id"], f["message"]) for f in findings if f["status"] == "FAIL"]
    assert passed(findings, "service-role-can-pull") == {role}
    assert passed(findings, "registry-policy-allows-omics") == {
        f"registry-policy/{p}" for p in ("docker-hub", "quay", "ecr-public")
    }
    assert passed(findings, "creation-template-grants-omics") == {
        f"creation-template-coverage/{p}" for p in ("docker-hub", "quay", "ecr-public")
    }


def test_seed_000_verbatim_after_the_first_pull_gives_no_fail(account: Account) -> None:
    a = account
    role = seed_000_account(a)
    # After the first run pulled everything: the repositories carry the templates' policy.
    for repository, tag in SEED_000_CACHE.items():
        a.cached(repository, tag)
    findings = a.scan()
    assert not fails(findings), [(f["rule_id"], f["message"]) for f in findings if f["status"] == "FAIL"]
    assert passed(findings, "registry-policy-allows-omics") == {
        f"registry-policy/{p}" for p in ("docker-hub", "quay", "ecr-public")
    }
    assert passed(findings, "creation-template-grants-omics") == {
        f"creation-template-coverage/{p}" for p in ("docker-hub", "quay", "ecr-public")
    }
    repositories = {f["resource"]: f for f in findings if f["rule_id"] == "repository-policy-grants-omics"}
    assert set(repositories) == {repo_arn(r) for r in SEED_000_CACHE}
    for f in repositories.values():
        # The template grants exactly the two pull actions: a PASS, with a note for BatchCheckLayerAvailability.
        assert f["status"] == "PASS", f["message"]
        assert "BatchCheckLayerAvailability" in " ".join(f["evidence"].get("notes", [])), f["evidence"]
    assert {f["status"] for f in findings if f["rule_id"] == "image-not-arm-only"} == {"PASS"}
    assert passed(findings, "service-role-can-pull") == {role}
    assert passed(findings, "service-role-trusts-omics") == {role}


# --- seed 001: the skill's migration layout ----------------------------------------------------------


def test_seed_001_migration_layout_fails_where_aws_would(account: Account) -> None:
    a = account
    secret_arn = a.secret("docker-hub-creds", seed_json("001", "secret-docker-hub-creds.json"))
    for call in seed_json("001", "ptc-rules.json"):
        kwargs: dict[str, Any] = {"ecrRepositoryPrefix": call["ecr_prefix"]}
        # ECR's API accepts Docker Hub only as registry-1.docker.io (the sandbox refuses docker.io, as ECR's model
        # does), so the skill's tool must send that for registry="docker.io".
        kwargs["upstreamRegistryUrl"] = "registry-1.docker.io" if call["registry"] == "docker.io" else call["registry"]
        if "credential_arn" not in call:
            a.ecr.create_pull_through_cache_rule(**kwargs)
            continue
        assert placeholders(call["credential_arn"]) == secret_arn.rsplit("-", 1)[0]
        # ECR refuses a credential whose secret is not named "ecr-pullthroughcache/…" (the credentialArn pattern of
        # its API model; ECR user guide, "Storing your upstream repository credentials"): the Docker Hub rule of
        # seed 001 is never created.
        with pytest.raises(a.ecr.exceptions.ClientError, match="ecr\\\\-pullthroughcache"):
            a.ecr.create_pull_through_cache_rule(**kwargs, credentialArn=secret_arn)
    assert {r["ecrRepositoryPrefix"] for r in a.ecr.describe_pull_through_cache_rules()["pullThroughCacheRules"]} == {
        "quay",
        "ecr-public",
    }
    clone = seed_json("001", "clone.json")
    a.pushed(clone["target_repository"], clone["target_tag"])  # CloneContainerToECR; Step 6 not done yet
    role = a.role(
        "HealthOmicsSkillRole",
        seed_text("000", "trust-policy.json"),  # seed 001 shows no trust policy: seed 000's
        placeholders(seed_text("001", "service-role-policy.json")),
        managed=False,
    )
    # "Migrating Existing Workflow": the references rewritten to the table's private URIs, plus the clone.
    migrated = [placeholders(uri) for uri in seed_json("001", "container-uri-mapping.json").values()]
    images = (*migrated, f"{HOST}/{clone['target_repository']}:{clone['target_tag']}")
    workflow = a.workflow("migrated", nextflow_definition(*images), "NEXTFLOW")
    a.run(workflow, role)

    findings = a.scan()
    expected = {
        # docker-hub/library/python has no cache rule behind it (the rule was refused) and does not exist: the
        # task fails on it.
        ("workflow-images-resolve", f"arn:aws:omics:{REGION}:{ACCOUNT}:workflow/{workflow}"),
        # Seed 001 sets no registry policy: HealthOmics may not create the cache repository nor import the
        # upstream image (ecr:CreateRepository, ecr:BatchImportUpstreamImage), so the first pull of every
        # migrated reference fails (seed 004, "Registry permissions for upstream registry").
        *{("registry-policy-allows-omics", f"registry-policy/{p}") for p in ("quay", "ecr-public")},
        # … nor any creation template: "To use pull through caching in HealthOmics, the Amazon ECR repository
        # must have a repository creation template" (seed 004); a cache repository gets no policy omics can use.
        *{("creation-template-grants-omics", f"creation-template-coverage/{p}") for p in ("quay", "ecr-public")},
        # The clone, used directly, has no repository policy until Step 6: omics.amazonaws.com cannot pull it.
        ("repository-policy-grants-omics", repo_arn("my-workflow/bwa")),
    }
    assert fails(findings) == expected
    unresolved = finding(findings, "workflow-images-resolve", f"arn:aws:omics:{REGION}:{ACCOUNT}:workflow/{workflow}")
    assert "repository docker-hub/library/python does not exist" in unresolved["message"]
    direct = finding(findings, "repository-policy-grants-omics", repo_arn("my-workflow/bwa"))
    assert direct["evidence"]["why_checked"] == [f"used by workflow {workflow} ({nextflow_line(3)} (process P3))"]
    assert "has no repository policy" in direct["message"]
    # The role's repository/* grant covers everything the workflow uses.
    assert passed(findings, "service-role-can-pull") == {role}


def test_seed_000_new_workflow_with_private_uris_under_cache_prefixes_gives_no_fail(account: Account) -> None:
    """Seed 000: "You will reference these containers using ECR private URIs in your workflow definitions";
    "When creating new workflows container registry maps are usually not needed"."""
    a = account
    seed_000_registry(a)
    role = seed_000_role(a)
    images = [f"{HOST}/{path}:{tag}" for path, tag in SEED_000_CACHE.items()]
    workflow = a.workflow("new-workflow", nextflow_definition(*images), "NEXTFLOW")  # no registry map
    a.run(workflow, role)
    findings = a.scan()
    assert not fails(findings), [f["message"] for f in findings if f["status"] == "FAIL"]


# --- seed 002: least privilege -----------------------------------------------------------------------


def test_seed_002_least_privilege_role_passes_and_fix_never_widens_it(account: Account) -> None:
    a = account
    seed_000_registry(a)  # seed 002 steps 1 to 4 are seed 000's, word for word
    trust = seed_text("000", "trust-policy.json")
    wdl = a.workflow(
        "genomics-pipeline-with-ptc",
        definition_zip({"main.wdl": seed_text("002", "main.wdl")}),
        "WDL",
        seed_json("002", "inline-container-registry-map.json"),
    )
    used = [repo_arn("quay/biocontainers/samtools"), repo_arn("docker-hub/broadinstitute/gatk")]

    def pull_policy(resources: list[str]) -> str:
        statement = {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}
        return json.dumps({"Version": "2012-10-17", "Statement": [statement | {"Resource": resources}]})

    least_role = a.role("GenomicsLeastPrivilege", trust, pull_policy(used), managed=False)
    a.run(wdl, least_role)
    # Another team: its workflow uses an ECR Public image, its role was scoped to Docker Hub only.
    other_wf = a.workflow(
        "other-team",
        nextflow_definition("public.ecr.aws/lts/ubuntu:22.04"),
        "NEXTFLOW",
        seed_json("000", "registry-map.json"),
    )
    other_role = a.role("OtherTeamRole", trust, pull_policy([repo_arn("docker-hub/*")]), managed=False)
    a.run(other_wf, other_role)

    findings = a.scan()
    # The other team's role cannot pull ecr-public/lts/ubuntu: HealthOmics' run would fail on that task.
    assert fails(findings) == {("service-role-can-pull", other_role)}
    lp = finding(findings, "service-role-can-pull", least_role)
    assert lp["status"] == "PASS", lp["message"]
    assert set(lp["evidence"]["targets"]) == set(used)
    wdl_finding = finding(findings, "workflow-images-resolve", f"arn:aws:omics:{REGION}:{ACCOUNT}:workflow/{wdl}")
    assert wdl_finding["status"] == "PASS", wdl_finding["message"]
    assert {c["where"].split(" ")[0] for c in wdl_finding["evidence"]["containers"]} == {"main.wdl:37", "main.wdl:61"}

    proc, out = a.cli("fix")
    assert proc.returncode == 1, proc.stderr  # planned, not applied
    plan = json.loads((out / "plan.json").read_text())
    touched = [c for c in plan["changes"] if c["rule_id"] == "service-role-can-pull"]
    assert [c["resource"] for c in touched] == [other_role]
    assert not [c for c in plan["changes"] if "GenomicsLeastPrivilege" in json.dumps(c["target"])]
    assert not [c for c in plan["changes"] if "GenomicsLeastPrivilege" in json.dumps(c["api_calls"])]
    # The other role gets exactly the one repository its workflow uses, never a prefix or a wildcard.
    written = json.dumps(touched[0]["after"])
    assert repo_arn("ecr-public/lts/ubuntu") in written
    assert not re.search(r"repository/(ecr-public/)?\*", written), written


# --- seed 003: the ECR helper's layout ---------------------------------------------------------------


def test_seed_003_ecr_helper_layout(account: Account) -> None:
    a = account
    lambda_policy = seed_text("003", "repository-policy.json")
    # container-puller: Quay.io and ECR Public through cache rules, primed by CodeBuild; the Lambda adds its
    # policy when each repository is created. Everything else copied into repositories the helper creates.
    a.ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    a.ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws")
    containers = re.findall(r'"(task\d)": ecr_registry \+ "/([^"]+)"', seed_text("003", "containers.js"))
    assert len(containers) == 9
    for _, path in containers:
        repository, tag = path.rsplit(":", 1)
        if repository.startswith(("quay/", "ecr-public/")):
            a.cached(repository, tag)
            a.ecr.set_repository_policy(repositoryName=repository, policyText=lambda_policy)
        else:  # dockerhub/, gcr/, ghcr/ (CodeBuild), foo and bar (container-builder)
            a.pushed(repository, tag, lambda_policy)
    # The README shows no service role: seed 000's trust with seed 001's repository/* pull policy.
    role = a.role(
        "HelperWorkflowRole",
        seed_text("000", "trust-policy.json"),
        placeholders(seed_text("001", "service-role-policy.json")),
        managed=False,
    )
    images = [f"{HOST}/{path}" for _, path in containers]
    workflow = a.workflow("helper-workflow", nextflow_definition(*images), "NEXTFLOW")
    a.run(workflow, role)

    findings = a.scan("helper")
    # The helper configures no registry policy and no creation template for its two cache prefixes. Every image
    # the workflow names was primed, so this run works; a reference to an image not primed yet would make
    # HealthOmics create/import through the cache, which needs both (seed 004: "To use pull through caching in
    # HealthOmics, the Amazon ECR repository must have a repository creation template", and the registry
    # permissions "to allow HealthOmics to use the pull through cache").
    prefix_fails = {
        *{("registry-policy-allows-omics", f"registry-policy/{p}") for p in ("quay", "ecr-public")},
        *{("creation-template-grants-omics", f"creation-template-coverage/{p}") for p in ("quay", "ecr-public")},
    }
    assert fails(findings) == prefix_fails
    repositories = {name.rsplit(":", 1)[0] for _, name in containers}
    assert passed(findings, "repository-policy-grants-omics") == {repo_arn(r) for r in repositories}
    assert passed(findings, "service-role-can-pull") == {role}

    # foo:omics without the Lambda's policy (built before the event rule was deployed): the run's task8 fails.
    a.ecr.delete_repository_policy(repositoryName="foo")
    again = a.scan("helper-foo")
    assert fails(again) == prefix_fails | {("repository-policy-grants-omics", repo_arn("foo"))}
    foo = finding(again, "repository-policy-grants-omics", repo_arn("foo"))
    index = [path for _, path in containers].index("foo:omics")
    assert foo["evidence"]["why_checked"] == [
        f"used by workflow {workflow} ({nextflow_line(index)} (process P{index}))"
    ]
    assert "has no repository policy" in foo["message"]


# --- seed 004: image mappings onto repositories a team stages itself ---------------------------------


def test_seed_004_staged_image_mapping_destinations_need_a_policy(account: Account) -> None:
    a = account
    seed_000_registry(a)  # seed 004's own cache rules (same prefixes and upstreams); its policies are not printed
    image_mappings = json.loads(re.sub(r",\s*}", "}", seed_text("004", "image-mappings.json")))  # the seed's comma
    registry_map = seed_json("004", "registry-mappings.json") | image_mappings
    for mapping in image_mappings["imageMappings"]:
        repository, tag = mapping["destinationImage"].removeprefix(f"{HOST}/").rsplit(":", 1)
        a.pushed(repository, tag)  # "manually synchronize the upstream registry with your private repository"
    images = (*(m["sourceImage"] for m in image_mappings["imageMappings"]), "quay.io/biocontainers/samtools:1.17")
    workflow = a.workflow("mapped", nextflow_definition(*images), "NEXTFLOW", registry_map)
    role = a.role(
        "MappedWorkflowRole",
        seed_text("000", "trust-policy.json"),
        placeholders(seed_text("001", "service-role-policy.json")),
        managed=False,
    )
    a.run(workflow, role)

    findings = a.scan()
    # The staged destinations have no repository policy: HealthOmics pulls as omics.amazonaws.com and is denied.
    staged = {"broadinstitute/gatk": 0, "custom/ubuntu": 1}
    assert fails(findings) == {("repository-policy-grants-omics", repo_arn(r)) for r in staged}
    for repository, index in staged.items():
        f = finding(findings, "repository-policy-grants-omics", repo_arn(repository))
        assert f["evidence"]["why_checked"] == [
            f"image mapping of workflow {workflow}",
            f"used by workflow {workflow} ({nextflow_line(index)} (process P{index}))",
        ]
    assert passed(findings, "service-role-can-pull") == {role}
