"""``explain RUN_ID``: why a HealthOmics run failed, and which findings of this auditor caused it, with their fix.

Reads the run (``GetRun``: ``failureReason``, ``statusMessage``), its tasks (``ListRunTasks``) and each failed
task (``GetRunTask``: ``statusMessage``, ``failureReason``, ``imageDetails``); recognises container failures
(``auditor.run_failures``); scans the run's region with just the rules whose findings can explain them; and
links each failure to the FAIL/ERROR findings on its image, cache prefix, role or workflow.

Exit codes: 0 nothing a finding explains (the run did not fail, failed for a reason that is not
container-related, or no finding explains it); 1 a FAIL finding explains a failure (fix it: the fix is
printed); 2 usage error, or no such run in the region (one line on stderr); 3 incomplete: the run or its
tasks could not be read (AccessDenied, an unreachable endpoint), or an explaining finding is ERROR.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import botocore.exceptions

from auditor.commands import command, common, options
from auditor.errors import AuditError, ExitCode, UsageError
from auditor.models import CallError, Collected, FailedRun, Run, RunTask
from auditor.terminal import terminal_text

# The calls explain makes itself (the scan it runs declares its own through the rules' facets);
# auditor.permissions adds them to the read-only (scan) policy.
EXPLAIN_PERMISSIONS: tuple[str, ...] = ("omics:GetRun", "omics:ListRunTasks", "omics:GetRunTask")

# Codes meaning "no such run here": the id is malformed (ValidationException) or unknown in the region.
_NOT_FOUND = frozenset({"ResourceNotFoundException", "ValidationException", "NotFoundException"})


class ExplainIncomplete(AuditError):
    """The run could not be read (denied, unreachable): nothing can be vouched for, exit code 3."""

    exit_code = ExitCode.INCOMPLETE


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", metavar="RUN_ID", help="the HealthOmics run id (as `aws omics list-runs` shows it)")
    options.add_config(p)
    options.add_aws(p)
    options.add_region(p, help="the run's region (default: the configuration's first region, else the session's)")
    options.add_json(p)


def _fail(exc: Exception, operation: str, run_id: str, region: str) -> AuditError:
    from auditor.aws import call_error

    error = call_error(exc, operation, f"run/{run_id}")
    if error.code in _NOT_FOUND:
        return UsageError(f"no run {run_id!r} in {region}: {error.code}: {error.message}".rstrip(": "))
    return ExplainIncomplete(f"cannot read run {run_id} in {region}: {error.describe()}")


def read_run(omics: Any, run_id: str, region: str) -> Run:
    """The run from GetRun, with its failed tasks (ListRunTasks, then GetRunTask each) or why they are missing."""
    try:
        got = omics.get_run(id=run_id)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise _fail(exc, "omics:GetRun", run_id, region) from None
    run = Run(
        id=str(got.get("id", run_id)),
        arn=str(got.get("arn", "")),
        status=str(got.get("status", "UNKNOWN")),
        workflow_id=got.get("workflowId"),
        role_arn=got.get("roleArn"),
        session_policy=got.get("sessionPolicy"),
        creation_time=got.get("creationTime"),
        start_time=got.get("startTime"),
        stop_time=got.get("stopTime"),
        name=got.get("name"),
        failure_reason=got.get("failureReason"),
        status_message=got.get("statusMessage"),
    )
    if run.status != "FAILED":
        return run
    run.tasks = _failed_tasks(omics, run)
    return run


def _failed_tasks(omics: Any, run: Run) -> Collected[list[RunTask]]:
    from auditor.aws import call_error

    try:
        pages = omics.get_paginator("list_run_tasks").paginate(id=run.id)
        items = [item for page in pages for item in page.get("items", [])]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        return Collected(error=call_error(exc, "omics:ListRunTasks", run.arn))
    tasks: list[RunTask] = []
    for item in items:
        if item.get("status") != "FAILED":
            continue
        try:
            task = omics.get_run_task(id=run.id, taskId=item["taskId"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            return Collected(value=tasks, error=call_error(exc, "omics:GetRunTask", f"{run.arn}/task/{item['taskId']}"))
        details = task.get("imageDetails") or {}
        tasks.append(
            RunTask(
                task_id=item["taskId"],
                name=task.get("name", item.get("name")),
                image=details.get("image"),
                image_digest=details.get("imageDigest"),
                source_image=details.get("sourceImage"),
                status=task.get("status", item.get("status")),
                status_message=task.get("statusMessage"),
                failure_reason=task.get("failureReason"),
            )
        )
    return Collected(value=tasks)


def _account_of(run: Run) -> str:
    parts = run.arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def explain_exit_code(failed: FailedRun | None, cell_error: CallError | None) -> ExitCode:
    if failed is None:
        return ExitCode.OK
    links = [link for f in failed.failures for link in f.findings]
    if failed.tasks_error is not None or cell_error is not None or any(link.status == "ERROR" for link in links):
        return ExitCode.INCOMPLETE
    return ExitCode.FINDINGS if links else ExitCode.OK


@command(
    "explain",
    help="explain a failed HealthOmics run: the findings that caused it, and their fix (read-only)",
    arguments=_arguments,
    description="Read a run's failure reason and its failed tasks' messages, recognise container failures and "
    "name the findings of this auditor that explain them, with their fix. Exit codes: 0 nothing a finding explains, "
    "1 a FAIL finding explains the failure, 2 usage error or no such run, 3 incomplete (something could not be read).",
)
def run_explain(args: argparse.Namespace) -> int:
    from auditor.aws import ApiCallCounter, make_client
    from auditor.run_failures import explain_run, rules_needed, verdict
    from auditor.scan import all_rules, collect_options, scan_live

    config = common.config_of(args)
    session = common.session_of(args, config)
    region = args.region or (config.regions[0] if config.regions else None) or common.own_region(args, config, session)
    counter = ApiCallCounter()
    omics = make_client(session, "omics", region, collect_options(config, args.endpoint_url), counter)
    run = read_run(omics, args.run_id, region)
    api_calls = counter.snapshot()
    failed: FailedRun | None = None
    evaluated: list[str] = []
    cell_error: CallError | None = None
    if run.status == "FAILED":
        available = all_rules(config)
        rules = [available[r] for r in rules_needed(run) if r in available]
        findings = []
        if rules:
            doc = scan_live(config, rules, session=session, regions=[region], endpoint_url=args.endpoint_url)
            findings = doc.findings
            evaluated = [r.meta.id for r in rules]
            cell_error = next((t.error for t in doc.run.targets if t.error is not None), None)
            for op, n in doc.api_calls.items():
                api_calls[op] = api_calls.get(op, 0) + n
        failed = explain_run(run, _account_of(run), region, findings)
    code = explain_exit_code(failed, cell_error)
    if args.json:
        out = {
            "run_id": run.id,
            "arn": run.arn,
            "region": region,
            "status": run.status,
            "verdict": verdict(failed) if failed else f"the run is {run.status}: nothing to explain",
            "explanation": failed.model_dump(mode="json") if failed else None,
            "rules_evaluated": evaluated,
            "scan_error": cell_error.model_dump(mode="json") if cell_error else None,
            "api_calls": dict(sorted(api_calls.items())),
            "exit_code": int(code),
        }
        common.out(json.dumps(out, indent=2))
        return code
    common.out(terminal_text(_text(run, failed, evaluated, cell_error)))
    return code


def _text(run: Run, failed: FailedRun | None, evaluated: list[str], cell_error: CallError | None) -> list[str]:
    from auditor.run_failures import explanation_lines

    name = f" ({run.name})" if run.name else ""
    if failed is None:
        return [f"run {run.id}{name} is {run.status}: nothing to explain"]
    lines = explanation_lines(failed, indent="")
    if failed.status_message:
        lines.insert(1, f"  run message: {' '.join(failed.status_message.split())}")
    if evaluated:
        lines.append(f"rules evaluated in {failed.account}/{failed.region}: {', '.join(evaluated)}")
    else:
        lines.append("no rule of this auditor can explain this failure: nothing was scanned")
    if cell_error is not None:
        lines.append(f"INCOMPLETE: the scan could not read the region: {cell_error.describe()}")
    return lines
