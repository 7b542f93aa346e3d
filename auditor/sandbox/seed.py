"""The demo account: a realistic HealthOmics + ECR pull-through-cache setup with one deliberate defect per rule.

Everything is created through real boto3 calls against the sandbox, except what
no public API can set (run state and run tasks), which uses the sandbox's
seeding helpers. ``EXPECTED`` lists, per rule, the resources that must FAIL —
tests assert the scan finds exactly these, so the demo cannot drift silently.

Healthy parts: Docker Hub, Quay and ECR Public prefixes; the rnaseq workflow
with a correct registry map; a correct workflow role; multi-arch images.
Defects (one per rule, plus a few realistic extras):

* ptc-rule-coverage: the ghcr rule's secret lacks ``accessToken`` (validation
  fails); registry.k8s.io is mapped by a workflow but has no rule.
* registry-policy-allows-omics: the registry policy omits ``ecr-public/*``.
* creation-template-grants-omics: the quay template grants only BatchGetImage;
  ecr-public and ghcr are covered only by a ROOT template applied for REPLICATION.
* workflow-images-resolve: variant-calling's definition names a GitHub
  Container Registry image, and its map has no mapping for ghcr.io.
* repository-policy-grants-omics: quay/biocontainers/samtools was cached before
  any template existed, so it has no policy; my-workflow/bwa, which the team
  built and rnaseq's definition names directly, has none either.
* service-role-trusts-omics: OmicsLegacyRole's trust policy, copied from another
  account, only lets HealthOmics assume it on behalf of that account.
* service-role-can-pull: OmicsLegacyRole lacks ecr:GetDownloadUrlForLayer.
* image-not-arm-only: docker-hub/biocontainers/arm-tool:1.0 is arm64 only.
* ptc-rule-unchanged-during-run: the ghcr rule is updated while a run is active.
* cross-account-source-grants: variant-calling pulls shared-tools/gatk from
  another account, whose repository policy lets this account read the policy
  and call BatchGetImage but not GetDownloadUrlForLayer, which
  OmicsLegacyRole's own policy lacks as well.
* registry-map-consistent: variant-calling maps Docker Hub to prefix
  ``dockerhub`` (the rule's prefix is ``docker-hub``), maps registry.k8s.io
  without a rule, and maps Seqera Wave with a secret that does not exist.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3

from auditor.sandbox import images
from auditor.sandbox.documents import OMICS, omics_statement, policy_document, trust_policy
from auditor.sandbox.ecr import simulate_ptc_pull
from auditor.sandbox.omics import add_run_task, set_run_state

ACCOUNT = "123456789012"
REGION = "us-east-1"
# Another team's account that publishes images the variant-calling workflow pulls across accounts.
SHARED_TOOLS_ACCOUNT = "444455556666"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]


@dataclass
class DemoAccount:
    account: str
    region: str
    workflows: dict[str, str]  # name -> id
    runs: dict[str, str]  # name -> id
    secrets: dict[str, str]  # name -> ARN


# Rule id -> resources that must FAIL in the demo scan (checked by tests).
EXPECTED_FAILURES: dict[str, set[str]] = {
    "ptc-rule-coverage": {"pull-through-cache-rule/ghcr", "upstream/registry.k8s.io"},
    "registry-policy-allows-omics": {"registry-policy/ecr-public"},
    "creation-template-grants-omics": {
        "creation-template-coverage/quay",
        "creation-template-coverage/ecr-public",
        "creation-template-coverage/ghcr",
    },
    "workflow-images-resolve": {"<variant-calling workflow ARN>"},
    "repository-policy-grants-omics": {
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/quay/biocontainers/samtools",
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/my-workflow/bwa",
    },
    "service-role-trusts-omics": {f"arn:aws:iam::{ACCOUNT}:role/OmicsLegacyRole"},
    "service-role-can-pull": {f"arn:aws:iam::{ACCOUNT}:role/OmicsLegacyRole"},
    "cross-account-source-grants": {
        f"arn:aws:ecr:{REGION}:{SHARED_TOOLS_ACCOUNT}:repository/shared-tools/gatk"
        f"|arn:aws:iam::{ACCOUNT}:role/OmicsLegacyRole"
    },
    "image-not-arm-only": {f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/docker-hub/biocontainers/arm-tool:1.0"},
    "ptc-rule-unchanged-during-run": {"pull-through-cache-rule/ghcr"},
    "registry-map-consistent": {"<variant-calling workflow ARN>"},
}


# The workflows' definitions, as their authors wrote them: HealthOmics rewrites the public references through
# each workflow's container registry map; the scan reads them back with GetWorkflow --export DEFINITION.
_RNASEQ_MAIN_NF = """\
nextflow.enable.dsl = 2

process ALIGN {
    container 'ubuntu:22.04'
    script:
    "echo align"
}

process SORT {
    container 'quay.io/biocontainers/samtools:1.17'
    script:
    "echo sort"
}

process MULTIQC {
    container '<shared>shared-tools/multiqc:1.25'
    script:
    "echo report"
}

process BWA_INDEX {
    container '<registry>my-workflow/bwa:0.7.17'
    script:
    "echo index"
}

workflow {
    ALIGN()
    SORT()
    BWA_INDEX()
    MULTIQC()
}
"""

_VARIANT_MAIN_WDL = """\
version 1.0

workflow variant_calling {
    input {
        String caller_docker
    }
    call call_variants { input: docker = caller_docker }
    call arm_step
    call annotate
    call joint_genotype
}

task call_variants {
    input {
        String docker
    }
    command <<< echo call >>>
    runtime { docker: docker }
}

task arm_step {
    command <<< echo arm >>>
    runtime { docker: "biocontainers/arm-tool:1.0" }
}

task annotate {
    command <<< echo annotate >>>
    runtime { docker: "ghcr.io/broadinstitute/gatk:4.6.0.2" }
}

task joint_genotype {
    command <<< echo genotype >>>
    runtime { docker: "<shared>shared-tools/gatk:4.6.0.2" }
}
"""


def _publish_shared_tools(session: boto3.Session, consumer: str, region: str) -> None:
    """The other team's account: two images; one repository policy forgot GetDownloadUrlForLayer."""
    credentials = session.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{SHARED_TOOLS_ACCOUNT}:role/ImagePublisher", RoleSessionName="demo-seed"
    )["Credentials"]
    ecr = session.client(
        "ecr",
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    read = ["ecr:GetRepositoryPolicy", "ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability"]
    for name, tag, actions in (
        ("shared-tools/gatk", "4.6.0.2", read),  # forgot GetDownloadUrlForLayer
        ("shared-tools/multiqc", "1.25", [*read, "ecr:GetDownloadUrlForLayer"]),
    ):
        ecr.create_repository(repositoryName=name)
        images.push_image(ecr, name, tag=tag, architecture="amd64")
        grant = {
            "Sid": "ConsumersRead",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{consumer}:root"},
            "Action": actions,
        }
        ecr.set_repository_policy(repositoryName=name, policyText=policy_document(grant))


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buf.getvalue()


def _ecr_uri(account: str, region: str, path: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{path}"


def seed_demo_account(session: boto3.Session, *, pause: float = 1.05) -> DemoAccount:
    """Build the demo account. ``pause`` separates rule changes from run windows (timestamps have 1 s grain)."""
    region = session.region_name or REGION
    ecr = session.client("ecr", region_name=region)
    sm = session.client("secretsmanager", region_name=region)
    iam = session.client("iam", region_name=region)
    omics = session.client("omics", region_name=region)
    account = session.client("sts", region_name=region).get_caller_identity()["Account"]

    # --- secrets: Docker Hub's is well formed, ghcr's lacks the access token -----------------
    secrets = {
        "docker-hub": sm.create_secret(
            Name="ecr-pullthroughcache/docker-hub",
            SecretString=json.dumps({"username": "demo-user", "accessToken": "dckr_pat_DEMO_NOT_A_SECRET"}),
        )["ARN"],
        "ghcr": sm.create_secret(Name="ecr-pullthroughcache/ghcr", SecretString=json.dumps({"username": "demo-user"}))[
            "ARN"
        ],
    }

    # --- a repository cached before any template existed: it will have no policy --------------
    ecr.create_repository(repositoryName="quay/biocontainers/samtools")

    # --- pull-through cache rules ----------------------------------------------------------------
    ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="docker-hub",
        upstreamRegistryUrl="registry-1.docker.io",
        credentialArn=secrets["docker-hub"],
    )
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="ecr-public", upstreamRegistryUrl="public.ecr.aws")
    ecr.create_pull_through_cache_rule(
        ecrRepositoryPrefix="ghcr", upstreamRegistryUrl="ghcr.io", credentialArn=secrets["ghcr"]
    )

    # --- registry policy: another team's replication grant + omics PTC grant missing ecr-public ----
    ecr.put_registry_policy(
        policyText=policy_document(
            {
                "Sid": "ReplicationFromProd",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
                "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
                "Resource": f"arn:aws:ecr:{region}:{account}:repository/*",
            },
            {
                "Sid": "AllowPTCinRegPermissions",
                "Effect": "Allow",
                "Principal": {"Service": OMICS},
                "Action": ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"],
                "Resource": [
                    f"arn:aws:ecr:{region}:{account}:repository/{p}/*" for p in ("docker-hub", "quay", "ghcr")
                ],
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            },
        )
    )

    # --- creation templates -------------------------------------------------------------------------
    ecr.create_repository_creation_template(
        prefix="docker-hub",
        appliedFor=["PULL_THROUGH_CACHE"],
        description="Docker Hub cache",
        repositoryPolicy=policy_document(omics_statement(PULL, "PTCRepoCreationTemplate", source_account=account)),
        imageTagMutability="MUTABLE",
    )
    ecr.create_repository_creation_template(
        prefix="quay",
        appliedFor=["PULL_THROUGH_CACHE"],
        description="Quay cache (incomplete grant)",
        repositoryPolicy=policy_document(
            omics_statement(["ecr:BatchGetImage"], "PTCRepoCreationTemplate", source_account=account)
        ),
    )
    ecr.create_repository_creation_template(
        prefix="ROOT",
        appliedFor=["REPLICATION"],
        description="Replication defaults (not used for PTC)",
        repositoryPolicy=policy_document(omics_statement(PULL, "OmicsPull", source_account=account)),
    )

    # --- first pulls through the cache: repositories get the template's policy -----------------------
    for repo in ("docker-hub/library/ubuntu", "docker-hub/biocontainers/arm-tool"):
        simulate_ptc_pull(account, region, repo)
    ubuntu_digest = images.push_index(
        ecr,
        "docker-hub/library/ubuntu",
        tag="22.04",
        platforms=["linux/amd64", "linux/arm64/v8"],
        media_type=images.OCI_INDEX,
        include_attestation=True,
    )
    images.push_image(ecr, "docker-hub/biocontainers/arm-tool", tag="1.0", architecture="arm64")
    samtools_digest = images.push_image(ecr, "quay/biocontainers/samtools", tag="1.17", architecture="amd64")
    # Built and pushed by the team, named directly in rnaseq's definition; nobody gave it a repository policy.
    ecr.create_repository(repositoryName="my-workflow/bwa")
    images.push_image(ecr, "my-workflow/bwa", tag="0.7.17", architecture="amd64")

    _publish_shared_tools(session, account, region)

    # --- roles ------------------------------------------------------------------------------------------
    iam.create_role(RoleName="OmicsWorkflowRole", AssumeRolePolicyDocument=trust_policy(OMICS))
    iam.put_role_policy(
        RoleName="OmicsWorkflowRole",
        PolicyName="omics-ecr-pull",
        PolicyDocument=policy_document(
            {
                "Effect": "Allow",
                "Action": PULL,
                "Resource": [
                    f"arn:aws:ecr:{region}:{account}:repository/*",
                    f"arn:aws:ecr:{region}:{SHARED_TOOLS_ACCOUNT}:repository/shared-tools/*",
                ],
            }
        ),
    )
    # Its trust policy was copied from another account's setup and still names that account as the source.
    legacy_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": OMICS},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}},
            }
        ],
    }
    iam.create_role(RoleName="OmicsLegacyRole", AssumeRolePolicyDocument=json.dumps(legacy_trust))
    legacy = iam.create_policy(
        PolicyName="legacy-ecr-read",
        PolicyDocument=policy_document(
            {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability"], "Resource": "*"}
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="OmicsLegacyRole", PolicyArn=legacy)
    iam.create_role(RoleName="LambdaRole", AssumeRolePolicyDocument=trust_policy("lambda.amazonaws.com"))

    # --- workflows ----------------------------------------------------------------------------------------
    rnaseq = omics.create_workflow(
        name="rnaseq-pipeline",
        engine="NEXTFLOW",
        definitionZip=_zip(
            {
                "main.nf": _RNASEQ_MAIN_NF.replace("<registry>", _ecr_uri(account, region, "")).replace(
                    "<shared>", _ecr_uri(SHARED_TOOLS_ACCOUNT, region, "")
                )
            }
        ),
        containerRegistryMap={
            "registryMappings": [
                {"upstreamRegistryUrl": "registry-1.docker.io", "ecrRepositoryPrefix": "docker-hub"},
                {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"},
                {"upstreamRegistryUrl": "public.ecr.aws", "ecrRepositoryPrefix": "ecr-public"},
            ],
            "imageMappings": [
                {
                    "sourceImage": "ubuntu:22.04",
                    "destinationImage": _ecr_uri(account, region, "docker-hub/library/ubuntu:22.04"),
                }
            ],
        },
    )["id"]
    variant = omics.create_workflow(
        name="variant-calling",
        engine="WDL",
        definitionZip=_zip(
            {"main.wdl": _VARIANT_MAIN_WDL.replace("<shared>", _ecr_uri(SHARED_TOOLS_ACCOUNT, region, ""))}
        ),
        containerRegistryMap={
            "registryMappings": [
                {"upstreamRegistryUrl": "registry-1.docker.io", "ecrRepositoryPrefix": "dockerhub"},
                {"upstreamRegistryUrl": "registry.k8s.io", "ecrRepositoryPrefix": "k8s"},
                {
                    "upstreamRegistryUrl": "community.wave.seqera.io",
                    "ecrRepositoryPrefix": "wave",
                    "credentialArn": f"arn:aws:secretsmanager:{region}:{account}:secret:omics-registry/wave-AbCdEf",
                },
            ],
            "imageMappings": [
                {
                    "sourceImage": "biocontainers/arm-tool:1.0",
                    "destinationImage": _ecr_uri(account, region, "docker-hub/biocontainers/arm-tool:1.0"),
                }
            ],
        },
    )["id"]

    # --- runs: one finished days ago, one active; the ghcr rule then changes during the active run ---------
    role_arn = f"arn:aws:iam::{account}:role/"
    done = omics.start_run(
        workflowId=rnaseq,
        roleArn=role_arn + "OmicsWorkflowRole",
        name="rnaseq-2026-11-18",
        outputUri="s3://demo-omics-output/rnaseq/",
        requestId="seed-rnaseq",
    )["id"]
    then = datetime.now(UTC) - timedelta(days=3)
    set_run_state(
        account,
        region,
        done,
        status="COMPLETED",
        creation_time=then,
        start_time=then,
        stop_time=then + timedelta(hours=2),
    )
    add_run_task(
        account,
        region,
        done,
        name="ALIGN",
        image=_ecr_uri(account, region, "docker-hub/library/ubuntu:22.04"),
        image_digest=ubuntu_digest,
        source_image="ubuntu:22.04",
    )
    add_run_task(
        account,
        region,
        done,
        name="SORT",
        image=_ecr_uri(account, region, "quay/biocontainers/samtools:1.17"),
        image_digest=samtools_digest,
        source_image="quay.io/biocontainers/samtools:1.17",
    )

    time.sleep(pause)  # the active run starts strictly after the rules were created
    active = omics.start_run(
        workflowId=variant,
        roleArn=role_arn + "OmicsLegacyRole",
        name="variant-calling-nightly",
        outputUri="s3://demo-omics-output/variants/",
        requestId="seed-variant",
    )["id"]
    started = datetime.now(UTC)
    set_run_state(account, region, active, status="RUNNING", creation_time=started, start_time=started)
    add_run_task(
        account,
        region,
        active,
        name="CALL",
        status="RUNNING",
        image=_ecr_uri(account, region, "docker-hub/biocontainers/arm-tool:1.0"),
        source_image="biocontainers/arm-tool:1.0",
    )
    time.sleep(pause)
    ecr.update_pull_through_cache_rule(ecrRepositoryPrefix="ghcr", credentialArn=secrets["ghcr"])

    return DemoAccount(
        account=account,
        region=region,
        workflows={"rnaseq-pipeline": rnaseq, "variant-calling": variant},
        runs={"done": done, "active": active},
        secrets=secrets,
    )


def expected_failures(demo: DemoAccount) -> dict[str, set[str]]:
    """EXPECTED_FAILURES for this seeding: its account and region (the demo can be seeded in any cell)."""

    def here(resource: str) -> str:
        return (
            resource.replace(f":{REGION}:{ACCOUNT}:", f":{demo.region}:{demo.account}:")
            .replace(f":{REGION}:{SHARED_TOOLS_ACCOUNT}:", f":{demo.region}:{SHARED_TOOLS_ACCOUNT}:")
            .replace(f"::{ACCOUNT}:", f"::{demo.account}:")
        )

    out = {k: {here(r) for r in v} for k, v in EXPECTED_FAILURES.items()}
    variant = f"arn:aws:omics:{demo.region}:{demo.account}:workflow/{demo.workflows['variant-calling']}"
    out["registry-map-consistent"] = {variant}
    out["workflow-images-resolve"] = {variant}
    return out
