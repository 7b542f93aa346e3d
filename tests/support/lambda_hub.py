"""The Lambda hub on the sandbox: the runs bucket, the SNS topic read back through a subscribed SQS queue, the
handler's environment; and an organisation (the demo account and one member with a broken cache rule) behind it.

Fixtures ``hub`` and ``org``, used by tests/test_lambda.py and tests/test_permissions.py, which bind them
(``_hub_fixture, _org_fixture = lambda_hub.hub_fixture, lambda_hub.org_fixture``): tests/test_securityhub.py and
tests/test_targets.py have fixtures of those names of their own, so these are not in conftest.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import boto3
import pytest

from auditor.findings import FindingsDocument
from auditor.sandbox.seed import seed_demo_account
from tests.support.sandbox import ACCOUNT, REGION

BUCKET = "omics-ecr-audit-runs"


@dataclass
class Hub:
    session: boto3.Session
    topic: str
    queue: str

    def s3_text(self, key: str) -> str:
        return self.session.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.session.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return sorted(o["Key"] for p in pages for o in p.get("Contents", []))

    def document(self, key: str) -> FindingsDocument:
        return FindingsDocument.model_validate_json(self.s3_text(key))

    def messages(self) -> list[dict[str, str]]:
        sqs = self.session.client("sqs")
        out = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return out
            for m in got:
                body = json.loads(m["Body"])
                out.append({"Subject": body.get("Subject", ""), "Message": body["Message"]})
                sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture(name="hub")
def hub_fixture(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> Hub:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    sns = aws.client("sns")
    topic = sns.create_topic(Name="omics-ecr-audit")["TopicArn"]
    sqs = aws.client("sqs")
    queue = sqs.create_queue(QueueName="audit-notes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    env = {
        "AUDIT_BUCKET": BUCKET,
        "SNS_TOPIC_ARN": topic,
        "AUDIT_CONFIG": "{}",  # the caller's own account (the demo account)
        "AUDIT_REGIONS": REGION,
        "REPORT_FORMATS": "html",
        "LOG_LEVEL": "warning",
    }
    for key in ("AUDIT_CONFIG_S3", "FIX_ENABLED", "NOTIFY_ALWAYS", "MEMBER_ROLE_NAME", "EXTERNAL_ID"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Hub(aws, topic, queue)


def _assume(session: boto3.Session, account: str, role: str = "OrganizationAccountAccessRole") -> boto3.Session:
    creds = session.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="seed")
    c = creds["Credentials"]
    return boto3.Session(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name=REGION,
    )


@pytest.fixture(name="org")
def org_fixture(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An organisation: the demo account (management, the caller) and one member with a broken cache rule."""
    seed_demo_account(hub.session, pause=0)
    client = hub.session.client("organizations")
    client.create_organization(FeatureSet="ALL")
    member = client.create_account(AccountName="genomics-team", Email="genomics@example.com")
    member_id = member["CreateAccountStatus"]["AccountId"]
    member_ecr = _assume(hub.session, member_id).client("ecr")
    member_ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    monkeypatch.setenv("AUDIT_CONFIG", "")  # no configuration: the whole organisation
    monkeypatch.setenv("MEMBER_ROLE_NAME", "OmicsEcrAuditReadOnly")
    return sorted([ACCOUNT, member_id])
