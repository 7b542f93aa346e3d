"""``omics-ecr-audit demo``: the embedded sandbox, seeded and scanned in-process. No AWS account needed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from unittest import mock

import boto3

from auditor.config import Config
from auditor.engine import Rule
from auditor.scan import FindingsDocument, scan_live

# Fake credentials: the sandbox never sees real ones, and a user's real
# credentials or profile must not leak into (or be used by) the demo.
_SANDBOX_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIASANDBOXDEMO00000",
    "AWS_SECRET_ACCESS_KEY": "sandbox-demo-not-a-secret",
    "AWS_SESSION_TOKEN": "sandbox",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def run_demo(config: Config, rules: Sequence[Rule]) -> FindingsDocument:
    from moto import mock_aws

    from auditor import sandbox
    from auditor.sandbox.seed import REGION, seed_demo_account

    sandbox.install()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with mock.patch.dict(os.environ, {**env, **_SANDBOX_ENV}, clear=True), mock_aws():
        session = boto3.Session(region_name=REGION)
        demo = seed_demo_account(session)
        return scan_live(config, rules, session=session, regions=[demo.region], account_id=demo.account, mode="demo")
