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
* ecr-scanning-on: scanning on push covers docker-hub and quay, not
  ecr-public or ghcr.
* template-role-for-kms-and-tags: the ``replicated/kms`` template encrypts with
  a KMS key and names no role (``replicated/tagged`` names one: PASS).
* cloudtrail-records-changes: the only trail records ECR's write events, not
  HealthOmics'; the only event data store records S3 data events.
* lifecycle-keeps-used-images: my-workflow/bwa's policy expires ``0.*`` tags
  30 days after their push, 0.7.17 (which rnaseq uses) included; samtools'
  policy expires only untagged images (PASS).
* grants-scoped: OmicsWorkflowRole may pull every repository of the registry
  although its workflow uses four (the registry and template grants are scoped:
  PASS).
* pinned-by-digest: variant-calling names ``ghcr.io/broadinstitute/gatk:latest``.
* image-runnable: my-workflow/bwa:0.7.17 was built with ``ENTRYPOINT ["/usr/local/bin/bwa"]`` and sets
  ``AWS_WORKFLOW_THREADS`` (samtools' image has neither: PASS).
* image-vulnerabilities (opt-in, on in ``DEMO_CONFIG``): the ubuntu image rnaseq's
  runs used has two CRITICAL findings; samtools' has a LOW one (PASS).

Failed runs (``EXPECTED_FAILED_RUNS``; the messages and their sources are in docs/run-failures.md),
both of rnaseq under the healthy OmicsWorkflowRole:

* ``rnaseq-bwa-denied`` failed with ``ECR_PERMISSION_ERROR``: its BWA_INDEX task could not pull
  my-workflow/bwa, the repository without a policy letting HealthOmics pull (the
  repository-policy-grants-omics defect above explains it).
* ``rnaseq-sort-oom`` failed with ``OUT_OF_MEMORY_ERROR``: its SORT task ran out of memory, which
  is not container-related.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from auditor.sandbox import images
from auditor.sandbox.documents import OMICS, omics_statement, policy_document, trust_policy
from auditor.sandbox.ecr import scan_finding, set_image_scan_findings, simulate_ptc_pull
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
    digests: dict[str, str] = field(default_factory=dict)  # repository -> digest of the image runs used


# The configuration the demo scans with: the defaults, with the opt-in image-vulnerabilities rule turned on.
DEMO_CONFIG: dict[str, Any] = {"vulnerabilities": {"severity_threshold": "CRITICAL", "lookback_days": 30}}

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
    "ecr-scanning-on": {"registry-scanning/ecr-public", "registry-scanning/ghcr"},
    "template-role-for-kms-and-tags": {"repository-creation-template/replicated/kms"},
    "cloudtrail-records-changes": {"cloudtrail/omics.amazonaws.com"},
    "lifecycle-keeps-used-images": {f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/my-workflow/bwa"},
    "grants-scoped": {f"arn:aws:iam::{ACCOUNT}:role/OmicsWorkflowRole"},
    "pinned-by-digest": {"<variant-calling workflow ARN>"},
    "image-vulnerabilities": {"<ubuntu image ARN@digest>"},
    "image-runnable": {f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/my-workflow/bwa:0.7.17"},
}

# Failed run (DemoAccount.runs key) -> rule id -> resources of the findings that explain it (checked by tests);
# an empty mapping: the run failed for a reason that is not container-related.
EXPECTED_FAILED_RUNS: dict[str, dict[str, set[str]]] = {
    "denied": {"repository-policy-grants-omics": {f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/my-workflow/bwa"}},
    "oom": {},
}

# What a failed run says. The run's failureReason codes and descriptions are the HealthOmics "Run failure reasons"
# page's (https://docs.aws.amazon.com/omics/latest/dev/workflows-run-errors.html). HealthOmics does not document
# what a task's statusMessage says: the pull failure is the container runtime's wording as Amazon ECS documents it
# for CannotPullContainerError (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html)
# and the out-of-memory one ECS's stopped-task reason
# (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html): GUESS for HealthOmics.
# That a failed task carries its run's code as failureReason is a GUESS too; OUT_OF_MEMORY_ERROR's spelling and
# description were read only in the page's translations (GUESS). docs/run-failures.md lists all of it.
ECR_PERMISSION_MESSAGE = (
    "HealthOmics doesn't have permission to access the image URI. Confirm that the Amazon ECR private "
    "repository exists and has granted access to the HealthOmics service principal."
)


def _pull_denied_message(image: str, tag: str) -> str:  # GUESS: ECS's CannotPullContainerError wording
    host = image.split("/", 1)[0]
    return (
        f"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image}: "
        f"pulling from host {host} failed with status code [manifests {tag}]: 403 Forbidden"
    )


def _out_of_memory_message(task_id: str) -> str:  # GUESS: the description as the page's translations give it
    return (
        f"Workflow task {task_id} ran out of memory. Increase the memory value in the workflow definition "
        "and retry the run."
    )


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
    runtime { docker: "ghcr.io/broadinstitute/gatk:latest" }
}

task joint_genotype {
    command <<< echo genotype >>>
    runtime { docker: "<shared>shared-tools/gatk:4.6.0.2" }
}
"""


def _trail_of_ecr_changes_only(session: boto3.Session, account: str, region: str) -> None:
    """CloudTrail keeps ECR's changes but not HealthOmics': a trail of ECR write events only, and an event data
    store of S3 data events only (HealthOmics' changes live 90 days in event history, no longer)."""
    cloudtrail = session.client("cloudtrail", region_name=region)
    bucket = f"demo-trail-{account}-{region}"
    s3 = session.client("s3", region_name=region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    cloudtrail.create_trail(Name="registry-changes", S3BucketName=bucket)
    cloudtrail.put_event_selectors(
        TrailName="registry-changes",
        AdvancedEventSelectors=[
            {
                "Name": "ECR writes",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Management"]},
                    {"Field": "readOnly", "Equals": ["false"]},
                    {"Field": "eventSource", "Equals": ["ecr.amazonaws.com"]},
                ],
            }
        ],
    )
    cloudtrail.start_logging(Name="registry-changes")
    cloudtrail.create_event_data_store(
        Name="s3-object-access",
        AdvancedEventSelectors=[
            {
                "Name": "S3 object reads and writes",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Data"]},
                    {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                ],
            }
        ],
    )


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
    arm_digest = images.push_image(ecr, "docker-hub/biocontainers/arm-tool", tag="1.0", architecture="arm64")
    samtools_digest = images.push_image(ecr, "quay/biocontainers/samtools", tag="1.17", architecture="amd64")
    # Built and pushed by the team, named directly in rnaseq's definition; nobody gave it a repository policy.
    ecr.create_repository(repositoryName="my-workflow/bwa")
    # The team's Dockerfile ends in ENTRYPOINT ["bwa"] (handy on a laptop; HealthOmics runs its own command
    # through a shell, so the task runs `bwa <script>`) and sets a variable in the protected AWS_WORKFLOW_ range.
    images.push_image_with_config(
        ecr,
        "my-workflow/bwa",
        tag="0.7.17",
        config={"Entrypoint": ["/usr/local/bin/bwa"], "Env": ["AWS_WORKFLOW_THREADS=8", "PATH=/usr/local/bin:/bin"]},
    )
    # A lifecycle policy written for release builds: tags starting "0." expire 30 days after their push, so
    # 0.7.17, which rnaseq uses, goes in a month.
    ecr.put_lifecycle_policy(
        repositoryName="my-workflow/bwa",
        lifecyclePolicyText=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": "expire 0.x builds after 30 days",
                        "selection": {
                            "tagStatus": "tagged",
                            "tagPrefixList": ["0."],
                            "countType": "sinceImagePushed",
                            "countUnit": "days",
                            "countNumber": 30,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
    )
    # The samtools cache repository expires only untagged images: the tagged one runs use is kept.
    ecr.put_lifecycle_policy(
        repositoryName="quay/biocontainers/samtools",
        lifecyclePolicyText=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": "expire untagged images after 14 days",
                        "selection": {
                            "tagStatus": "untagged",
                            "countType": "sinceImagePushed",
                            "countUnit": "days",
                            "countNumber": 14,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
    )
    # Scanning on push covers two of the four cache prefixes.
    ecr.put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[
            {
                "scanFrequency": "SCAN_ON_PUSH",
                "repositoryFilters": [
                    {"filter": "docker-hub/*", "filterType": "WILDCARD"},
                    {"filter": "quay/*", "filterType": "WILDCARD"},
                ],
            }
        ],
    )
    # Replication templates: one encrypts with a KMS key but names no role ECR could use for it.
    ecr.create_repository_creation_template(
        prefix="replicated/kms",
        appliedFor=["REPLICATION"],
        description="Replicated images, encrypted with the team's key",
        encryptionConfiguration={
            "encryptionType": "KMS",
            "kmsKey": f"arn:aws:kms:{region}:{account}:key/11111111-2222-3333-4444-555555555555",
        },
    )
    ecr.create_repository_creation_template(
        prefix="replicated/tagged",
        appliedFor=["REPLICATION"],
        description="Replicated images, tagged for cost allocation",
        resourceTags=[{"Key": "team", "Value": "genomics"}],
        customRoleArn=f"arn:aws:iam::{account}:role/EcrTemplateRole",
    )
    _trail_of_ecr_changes_only(session, account, region)

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

    denied, oom = _failed_runs(omics, account, region, rnaseq, ubuntu_digest, samtools_digest)

    # Scan findings of the images runs used (image-vulnerabilities, turned on by DEMO_CONFIG): ubuntu carries
    # critical ones, samtools only a low one, arm-tool none. my-workflow/bwa is under no scan-on-push filter.
    set_image_scan_findings(
        account,
        region,
        "docker-hub/library/ubuntu",
        ubuntu_digest,
        [
            scan_finding("CVE-2023-4863", "CRITICAL", package="libwebp", version="1.2.4"),
            scan_finding("CVE-2024-3094", "CRITICAL", package="xz-utils", version="5.6.0"),
            scan_finding("CVE-2023-38545", "HIGH", package="curl", version="7.88.1"),
        ],
    )
    set_image_scan_findings(
        account,
        region,
        "quay/biocontainers/samtools",
        samtools_digest,
        [scan_finding("CVE-2022-37434", "LOW", package="zlib", version="1.2.11")],
    )
    set_image_scan_findings(account, region, "docker-hub/biocontainers/arm-tool", arm_digest, [])

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
        runs={"done": done, "active": active, "denied": denied, "oom": oom},
        secrets=secrets,
        digests={
            "docker-hub/library/ubuntu": ubuntu_digest,
            "quay/biocontainers/samtools": samtools_digest,
            "docker-hub/biocontainers/arm-tool": arm_digest,
        },
    )


def _failed_runs(
    omics: Any, account: str, region: str, rnaseq: str, ubuntu_digest: str, samtools_digest: str
) -> tuple[str, str]:
    """Two failed rnaseq runs, two days and one day ago: one a seeded defect explains, one out of memory."""
    role = f"arn:aws:iam::{account}:role/OmicsWorkflowRole"
    ubuntu = _ecr_uri(account, region, "docker-hub/library/ubuntu:22.04")
    ids = []
    for name, days in (("rnaseq-bwa-denied", 2), ("rnaseq-sort-oom", 1)):
        run_id = omics.start_run(
            workflowId=rnaseq,
            roleArn=role,
            name=name,
            outputUri="s3://demo-omics-output/rnaseq/",
            requestId=f"seed-{name}",
        )["id"]
        start = datetime.now(UTC) - timedelta(days=days)
        set_run_state(account, region, run_id, status="RUNNING", creation_time=start, start_time=start)
        add_run_task(
            account,
            region,
            run_id,
            name="ALIGN",
            image=ubuntu,
            image_digest=ubuntu_digest,
            source_image="ubuntu:22.04",
            start_time=start,
            stop_time=start + timedelta(minutes=20),
        )
        ids.append(run_id)
    denied, oom = ids
    start = datetime.now(UTC) - timedelta(days=2)
    bwa = _ecr_uri(account, region, "my-workflow/bwa:0.7.17")
    add_run_task(
        account,
        region,
        denied,
        name="BWA_INDEX",
        status="FAILED",
        image=bwa,  # the pull failed: no digest
        start_time=start + timedelta(minutes=20),
        stop_time=start + timedelta(minutes=22),
        failure_reason="ECR_PERMISSION_ERROR",
        status_message=_pull_denied_message(bwa, "0.7.17"),
    )
    set_run_state(
        account,
        region,
        denied,
        status="FAILED",
        stop_time=start + timedelta(minutes=25),
        failure_reason="ECR_PERMISSION_ERROR",
        status_message=ECR_PERMISSION_MESSAGE,
    )
    start = datetime.now(UTC) - timedelta(days=1)
    sort = add_run_task(
        account,
        region,
        oom,
        name="SORT",
        status="FAILED",
        image=_ecr_uri(account, region, "quay/biocontainers/samtools:1.17"),
        image_digest=samtools_digest,
        source_image="quay.io/biocontainers/samtools:1.17",
        start_time=start + timedelta(minutes=20),
        stop_time=start + timedelta(minutes=50),
        failure_reason="OUT_OF_MEMORY_ERROR",
        status_message="OutOfMemoryError: Container killed due to memory usage",  # GUESS: ECS's wording
    )
    set_run_state(
        account,
        region,
        oom,
        status="FAILED",
        stop_time=start + timedelta(minutes=55),
        failure_reason="OUT_OF_MEMORY_ERROR",
        status_message=_out_of_memory_message(sort),
    )
    return denied, oom


def expected_failed_runs(demo: DemoAccount) -> dict[str, dict[str, set[str]]]:
    """EXPECTED_FAILED_RUNS by run id, in this seeding's account and region."""

    def here(resource: str) -> str:
        return resource.replace(f":{REGION}:{ACCOUNT}:", f":{demo.region}:{demo.account}:")

    return {
        demo.runs[key]: {rule: {here(r) for r in resources} for rule, resources in rules.items()}
        for key, rules in EXPECTED_FAILED_RUNS.items()
    }


def expected_failures(demo: DemoAccount, *, opt_in: bool = False) -> dict[str, set[str]]:
    """EXPECTED_FAILURES for this seeding: its account and region (the demo can be seeded in any cell).

    ``opt_in``: scanned with ``DEMO_CONFIG`` (as the ``demo`` command scans), which turns the opt-in
    image-vulnerabilities rule on; with the default configuration it FAILs nothing.
    """

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
    out["pinned-by-digest"] = {variant}
    ubuntu = "docker-hub/library/ubuntu"
    out["image-vulnerabilities"] = (
        {f"arn:aws:ecr:{demo.region}:{demo.account}:repository/{ubuntu}@{demo.digests[ubuntu]}"} if opt_in else set()
    )
    return out
