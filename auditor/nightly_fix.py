"""The Lambda's multi-account fix loop: the "run" action's nightly ``fix --apply``, account by account.

``auditor.lambda_handler`` calls :func:`apply_fixes` after a scan when ``FIX_ENABLED`` is set. Each
member account is planned live and applied with the member's own fix role, within ``MAX_FIX_CHANGES``
writes in all; its backups go under ``backups/<account>/<run id>`` (:func:`backup_location`), the only
prefix that account's fix role may write (``deploy/generate.py`` builds the policy from ``BACKUP_PREFIX``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import structlog

from auditor.lambda_handler import _ACCOUNT, _RUN_ID, Context, HandlerError, _one_line

log = structlog.get_logger("auditor.lambda")

# Backups of the multi-account fix loop: backups/<account id>/<run id>/<backup id>/backup.json. The account
# comes first so that each member fix role can be limited to its own prefix (deploy/generate.py).
BACKUP_PREFIX = "backups"


def apply_fixes(doc: Any, ctx: Context) -> dict[str, Any]:
    """Plan and apply fixes account by account, ``MAX_FIX_CHANGES`` writes at most in all.

    Scans and verifications use the scan credentials; every fix read and write goes through the member
    fix role, reached from the audit account's fix role (``FIX_ROLE_ARN``), never from the scan role.
    Backups go to :func:`backup_location` (``s3://<bucket>/backups/<account>/<run id>``) before the first
    write: under the account's own prefix, the only one its member fix role may write (deploy/).
    """
    from auditor.config import RoleSettings
    from auditor.errors import FixRefused
    from auditor.findings import Status
    from auditor.fix import Clients, load_fixers
    from auditor.fixrun import apply_and_verify, plan_live, unread
    from auditor.targets import account_session, caller_account

    s = ctx.settings
    if not s.fix_role_arn or not s.member_fix_role_name:
        raise HandlerError("FIX_ENABLED is true but FIX_ROLE_ARN or MEMBER_FIX_ROLE_NAME is empty")
    fixers = load_fixers()
    wanted: dict[str, set[str]] = {}
    for f in doc.findings:
        if f.status == Status.FAIL and f.fixable and f.rule_id in fixers:
            wanted.setdefault(f.account, set()).add(f.region)
    out: dict[str, Any] = {"budget": s.max_fix_changes, "applied": 0, "accounts": []}
    if not wanted or s.max_fix_changes == 0:
        return out
    config = ctx.config
    scan_role = config.targets.role if config.targets is not None else RoleSettings()
    # the audit account's fix role, then each member's fix role (role chaining: 1 hour at most, plenty here)
    try:
        fix_base = _role_session(ctx, ctx.session, s.fix_role_arn, None)
        own = caller_account(ctx.session, endpoint_url=s.endpoint_url)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        # no fix this night, but the scan's findings are still written and notified
        out["error"] = f"cannot assume {s.fix_role_arn}: {_aws_error(exc)}"
        log.error("fix_role_unavailable", error=out["error"])
        return out
    suppressions = ctx.suppressions()
    for account, regions in sorted(wanted.items()):
        entry: dict[str, Any] = {"account": account, "regions": sorted(regions)}
        out["accounts"].append(entry)
        remaining = s.max_fix_changes - out["applied"]
        if remaining <= 0:
            entry["outcome"] = "skipped: MAX_FIX_CHANGES reached"
            continue
        try:
            use_own = scan_role.use_caller_credentials_for_own_account and account == own
            scan_session = (
                ctx.session
                if use_own
                else account_session(ctx.session, account, scan_role, endpoint_url=s.endpoint_url)
            )
            partition = ctx.session.get_partition_for_region(ctx.session.region_name or "us-east-1")
            member_fix_arn = f"arn:{partition}:iam::{account}:role/{s.member_fix_role_name}"
            fix_session = _role_session(ctx, fix_base, member_fix_arn, s.external_id or None)
            with tempfile.TemporaryDirectory() as tmp:
                plan_obj, planned_from = plan_live(
                    config,
                    ctx.rules,
                    session=scan_session,
                    clients=Clients(fix_session, s.endpoint_url),
                    regions=sorted(regions),
                    endpoint_url=s.endpoint_url,
                    account_id=account,
                    suppressions=suppressions,
                    out_dir=Path(tmp),
                )
            prefix = f"runs/{doc.run.id}/fix/{account}"
            entry["plan"] = ctx.put(f"{prefix}/plan.json", plan_obj.model_dump_json(indent=2))
            entry["changes"] = len(plan_obj.changes)
            entry["manual_steps"] = len(plan_obj.manual)
            gaps = unread(planned_from)
            if gaps:
                entry["unread"] = [_one_line(g) for g in gaps]
            if not plan_obj.changes:
                # An account the scan could not read is never "done": say what was not read.
                entry["outcome"] = "incomplete: could not read all of it" if gaps else "nothing to apply"
                continue
            report, _after = apply_and_verify(
                plan_obj,
                config,
                session=scan_session,
                clients=Clients(fix_session, s.endpoint_url),
                backup_to=backup_location(s.bucket, account, doc.run.id),
                max_changes=remaining,
                endpoint_url=s.endpoint_url,
                account_id=account,
            )
        except FixRefused as exc:
            entry["outcome"] = f"refused: {exc}".splitlines()[0][:500]
            continue
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            entry["outcome"] = f"failed: {_aws_error(exc)}"
            log.error("fix_failed", account=account, error=entry["outcome"])
            continue
        entry["report"] = ctx.put(f"{prefix}/fix-report.json", report.model_dump_json(indent=2))
        applied = report.applied
        assert applied is not None
        done = sum(1 for o in applied.outcomes if o.outcome == "applied")
        out["applied"] += done
        entry["applied"] = done
        entry["backup"] = applied.backup
        entry["verified_pass"] = sum(1 for v in report.verification if v.after == "PASS")
        entry["outcome"] = f"stopped: {applied.error}" if applied.error else "applied"
        log.info("fix_applied", account=account, applied=done, backup=applied.backup)
    return out


def backup_location(bucket: str, account: str, run_id: str) -> str:
    """``s3://<bucket>/backups/<account>/<run id>``: account first, so a member fix role gets only its own prefix."""
    if not _ACCOUNT.fullmatch(account) or not _RUN_ID.fullmatch(run_id):
        raise HandlerError("a backup location needs a 12-digit account id and a run id")
    return f"s3://{bucket}/{BACKUP_PREFIX}/{account}/{run_id}"


def _role_session(ctx: Context, base: boto3.Session, role_arn: str, external_id: str | None) -> boto3.Session:
    """A plain session with the role's credentials (a fix fits well within one role session)."""
    kwargs: dict[str, Any] = {"region_name": base.region_name}
    if ctx.settings.endpoint_url:
        kwargs["endpoint_url"] = ctx.settings.endpoint_url
    params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "omics-ecr-audit-fix", "DurationSeconds": 3600}
    if external_id:
        params["ExternalId"] = external_id
    c = base.client("sts", **kwargs).assume_role(**params)["Credentials"]
    log.info("role_assumed", role=role_arn)
    return boto3.Session(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name=base.region_name,
    )


def _aws_error(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        return f"{getattr(exc, 'operation_name', 'call')} {err.get('Code', 'ClientError')}: {err.get('Message', '')}"[
            :500
        ]
    return type(exc).__name__
