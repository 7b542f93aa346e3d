"""``omics-ecr-audit demo``: the embedded sandbox, seeded, scanned and planned in-process. No AWS account needed.

With ``fix=True`` the plan is also applied (backup under ``<out>/backups``) and the
account re-scanned, so the demo shows the whole loop: findings, plan, apply, verify.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import boto3

from auditor.config import Config, parse_config
from auditor.engine import Rule
from auditor.errors import UsageError
from auditor.findings import FindingsDocument
from auditor.fix import Clients, Plan, write_plan
from auditor.fixrun import FixReport, apply_and_verify, plan_live
from auditor.scan import suppress
from auditor.suppressions import Suppression

# Fake credentials: the sandbox never sees real ones, and a user's real
# credentials or profile must not leak into (or be used by) the demo.
_SANDBOX_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIASANDBOXDEMO00000",
    "AWS_SECRET_ACCESS_KEY": "sandbox-demo-not-a-secret",
    "AWS_SESSION_TOKEN": "sandbox",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class DemoResult:
    findings: FindingsDocument
    plan: Plan
    report: FixReport | None = None
    findings_after: FindingsDocument | None = None


def run_demo(
    config: Config,
    rules: Sequence[Rule],
    *,
    out_dir: Path | None = None,
    fix: bool = False,
    suppressions: Sequence[Suppression] = (),
) -> DemoResult:
    from auditor import sandbox

    try:
        from moto import mock_aws

        from auditor.sandbox.seed import DEMO_CONFIG, REGION, seed_demo_account
    except ImportError as exc:  # the `sandbox` extra is not installed: say which, in one line (exit 2)
        missing = sandbox.missing_extra(exc)
        if missing is None:
            raise
        raise UsageError(f"the demo needs {missing}, which is not installed: {sandbox.INSTALL_HINT}") from None

    sandbox.install()
    if config.vulnerabilities is None:  # the demo shows the opt-in rule too, unless a configuration says otherwise
        config = config.model_copy(update={"vulnerabilities": parse_config(DEMO_CONFIG).vulnerabilities})
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with mock.patch.dict(os.environ, {**env, **_SANDBOX_ENV}, clear=True), mock_aws():
        session = boto3.Session(region_name=REGION)
        demo = seed_demo_account(session)
        where = {"regions": [demo.region], "account_id": demo.account, "mode": "demo"}
        plan, doc = plan_live(
            config,
            rules,
            session=session,
            clients=Clients(session),
            suppressions=suppressions,
            out_dir=out_dir,
            **where,  # type: ignore[arg-type]
        )
        if suppressions:
            doc = suppress(doc, list(suppressions))
        if out_dir is not None:
            write_plan(plan, out_dir / "plan.json")
        result = DemoResult(findings=doc, plan=plan)
        if fix:
            report, after = apply_and_verify(
                plan,
                config,
                session=session,
                clients=Clients(session),
                backup_to=str((out_dir or Path("demo-out")) / "backups"),
                max_changes=None,
                account_id=demo.account,
                mode="demo",
            )
            if after is not None and suppressions:
                after = suppress(after, list(suppressions))
            result.report, result.findings_after = report, after
        return result
