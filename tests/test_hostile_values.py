"""Hostile values from AWS and files: suggested commands stay inert, terminal text stays one line per line.

Hostile strings (command substitution, backticks, ``;``, quotes, an ANSI clear-screen, CR/LF followed by
a forged summary line, a bidi override) are put wherever the sandbox lets them in, the way they would
arrive in a real account: through the HealthOmics API where its patterns allow them (workflow names,
registry-map URLs), through ECR fields without a pattern (image tags, policy text), straight into the
sandbox backend where ECR itself would have to be fooled (a cache rule's URL), and through files (a
workflow definition for the gate, a findings file for diff). Then every suggested command is run with
``bash -c`` against stub ``aws``/``docker``/``omics-ecr-audit`` and no ``PWNED`` file may appear, and every
terminal renderer's output must be free of raw control characters and forged lines.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from auditor.cli import main
from auditor.fix import ApiCall, Plan
from auditor.fixrun import FixReport, render_report
from auditor.reports.diff import diff_documents, render_diff
from auditor.sandbox import images
from auditor.sandbox.documents import omics_statement, policy_document
from auditor.scan import render_summary
from auditor.terminal import command_line, printable, safe_for_terminal, shell_comment, terminal_text
from tests.support.sandbox import ACCOUNT, REGION, run_scan

PAYLOAD = "$(touch PWNED)`touch PWNED`;touch PWNED;'\"x"  # what the HealthOmics API's Unicode patterns allow
FORGED = "[FAIL ] critical forged-line"
CONTROL = f"\x1b[2J\x1b[31m\r\n{FORGED}\u202e"  # what only pattern-free fields and files can carry
HOSTILE = PAYLOAD + CONTROL
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
DEFINITION = b"PK\x05\x06" + b"\x00" * 18
ROOT = Path(__file__).resolve().parent.parent


def assert_terminal_safe(text: str) -> None:
    """No raw control character but the renderer's own newlines, and no value-made line."""
    assert not RAW_CONTROL.findall(text), RAW_CONTROL.findall(text)
    assert "\x1b" not in text and "\r" not in text
    forged = [line for line in text.split("\n") if line.lstrip().startswith(FORGED)]
    assert not forged, forged


@pytest.fixture
def stubbed_shell(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A work dir and an environment whose aws, docker and omics-ecr-audit do nothing."""
    bin_dir = tmp_path / "stub-bin"
    bin_dir.mkdir()
    for name in ("aws", "docker", "omics-ecr-audit"):
        stub = bin_dir / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    return work, {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(work)}


def run_all(commands: list[str], stubbed_shell: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """Run each suggested line as pasted; the payload must never run."""
    work, env = stubbed_shell
    assert commands
    for cmd in commands:
        done = subprocess.run(
            ["bash", "-c", cmd], check=False, cwd=work, env=env, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, (cmd, done.stderr)
    pwned = [*tmp_path.rglob("PWNED"), *Path.cwd().glob("PWNED")]
    assert not pwned, pwned


# --- the two functions ----------------------------------------------------------------------------


def test_command_line_quotes_every_argument_as_one_word() -> None:
    assert command_line(["aws", "ecr", "describe-registry"]) == "aws ecr describe-registry"
    assert command_line(["aws", "--x", "a b", "it's", ""]) == "aws --x 'a b' 'it'\"'\"'s' ''"
    assert command_line(["aws", "<prefix>"]) == "aws '<prefix>'"  # a placeholder pasted unedited is not a redirect
    assert command_line(["docker", "x"], comment="why\n$(touch PWNED)") == "docker x   # why\\n$(touch PWNED)"
    assert shell_comment("a\nb") == "# a\\nb"
    doc = json.dumps({"Sid": "it's $(x)"})
    assert command_line(["aws", "--policy-text", doc]).endswith('\'{"Sid": "it\'"\'"\'s $(x)"}\'')


def test_command_line_round_trips_through_a_shell(stubbed_shell, tmp_path: Path) -> None:
    work, env = stubbed_shell
    args = ["printf", "%s\\0", HOSTILE, "a b", "", "é中", "-x", "--y=$HOME"]
    out = subprocess.run(["bash", "-c", command_line(args)], cwd=work, env=env, capture_output=True, check=True)
    assert out.stdout.decode().split("\0")[:-1] == args[2:]
    assert not list(tmp_path.rglob("PWNED"))


def test_printable_escapes_controls_and_keeps_unicode() -> None:
    assert printable("é 中 → ok") == "é 中 → ok"
    assert printable("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert printable("\x1b[2J") == "\\u001b[2J"
    assert printable("\x00\x7f\x85\x9b") == "\\u0000\\u007f\\u0085\\u009b"
    assert printable("x\u202ey\u2066z\u2069\u2028") == "x\\u202ey\\u2066z\\u2069\\u2028"
    assert printable(printable(HOSTILE)) == printable(HOSTILE)  # idempotent: renderers and _print may both apply it
    assert_terminal_safe(printable(HOSTILE))


def test_terminal_escapes_keep_json_valid_and_equal() -> None:
    """The net under the CLI's printing may see JSON: it must still decode to the same values."""
    doc = {"v": "\x85\u2028\u202e é 中", "w": HOSTILE}
    for text in (json.dumps(doc, ensure_ascii=False, indent=2), Plan.model_validate(_plan(doc)).model_dump_json()):
        safe = safe_for_terminal(text)
        assert_terminal_safe(safe)
        assert json.loads(safe) == json.loads(text)
    assert terminal_text(["a\nb", "c"]) == "a\\nb\nc"


def _plan(doc: dict) -> dict:
    return {"id": HOSTILE, "created": "2024-01-01T00:00:00Z", "source": doc["w"], "manual": []}


def test_api_call_cli_is_command_line() -> None:
    call = ApiCall(
        service="ecr",
        operation="PutRegistryPolicy",
        params={"policyText": json.dumps({"Sid": HOSTILE}), "prefixes": ["a", HOSTILE], "n": {"k": HOSTILE}},
    )
    line = call.cli()
    assert line.startswith("aws ecr put-registry-policy --policy-text '")
    assert line == command_line(
        [
            *("aws", "ecr", "put-registry-policy", "--policy-text", json.dumps({"Sid": HOSTILE})),
            *("--prefixes", "a", HOSTILE, "--n", json.dumps({"k": HOSTILE}, separators=(",", ":"))),
        ]
    )


# --- a hostile account, scanned and planned ------------------------------------------------------------


def _seed_hostile_account(session: boto3.Session) -> None:
    ecr, omics = session.client("ecr"), session.client("omics")
    # HealthOmics: names and registry-map URLs match Unicode-category patterns: $, `, ;, quotes all pass.
    omics.create_workflow(
        name=f"wf {PAYLOAD}",
        engine="NEXTFLOW",
        definitionZip=DEFINITION,
        containerRegistryMap={
            "registryMappings": [
                {"upstreamRegistryUrl": f"evil.azurecr.io/{PAYLOAD}", "ecrRepositoryPrefix": f"az{PAYLOAD}"},
                {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay-io"},
                {
                    "upstreamRegistryUrl": "ghcr.io",
                    "ecrRepositoryPrefix": "ghcr",
                    # Secret ARNs have a strict pattern: the most a name can hold is + = . @ - / _
                    "credentialArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/a+b=c@d",
                },
            ]
        },
    )
    # A working quay rule, then an arm64-only image whose tag carries everything (ECR's ImageTag has no pattern).
    ecr.create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    ecr.create_repository(repositoryName="quay/evil/tool")
    images.push_image(ecr, "quay/evil/tool", tag=f"1{HOSTILE}", architecture="arm64")
    # A registry policy whose Sid carries everything (policy text is free-form JSON to ECR).
    ecr.put_registry_policy(
        policyText=policy_document(
            omics_statement(["ecr:CreateRepository"], f"Sid{HOSTILE}", Resource=["arn:aws:ecr:*:*:repository/x/*"])
        )
    )
    # A broken rule ECR itself would reject (its URL): planted in the backend, as if AWS returned it.
    from moto.backends import get_backend

    from auditor.sandbox.ecr import PullThroughCacheRule, _ptc_rules

    backend = get_backend("ecr")[ACCOUNT][REGION]
    _ptc_rules(backend)["docker-hub"] = PullThroughCacheRule(
        ecr_repository_prefix="docker-hub",
        upstream_registry_url=f"docker.io/{HOSTILE}",
        upstream_registry="docker-hub",
        registry_id=ACCOUNT,
        credential_arn=f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/{PAYLOAD}",
    )


def test_hostile_account_plan_commands_are_inert_and_outputs_clean(
    aws, tmp_path: Path, stubbed_shell, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed_hostile_account(aws)
    doc = run_scan(aws)
    assert_terminal_safe(render_summary(doc))
    assert any(HOSTILE in f.resource or HOSTILE in f.message for f in doc.findings)  # the values did get in

    out = tmp_path / "fix"
    main(["fix", "--out", str(out)])
    printed = capsys.readouterr().out
    assert_terminal_safe(printed)
    plan = Plan.model_validate_json((out / "plan.json").read_text())
    commands = [cmd for m in plan.manual for cmd in m.commands]
    commands += [call.cli() for c in plan.changes for call in c.api_calls]
    joined = "\n".join(commands)
    # the user's report: the azurecr URL reaches create-pull-through-cache-rule, now as one quoted word
    assert command_line(["--upstream-registry-url", f"evil.azurecr.io/{PAYLOAD}"]) in joined
    inspect = next(c for c in commands if c.startswith("docker buildx imagetools inspect"))
    assert shlex.split(inspect, comments=True)[-1].endswith(f":1{HOSTILE}")  # the tag is on the line, as one word
    run_all(commands, stubbed_shell, tmp_path)

    # diff of two findings files (the second has a hostile run id, as a file may)
    later = doc.model_copy(update={"findings": doc.findings[:1], "run": doc.run.model_copy(update={"id": HOSTILE})})
    assert_terminal_safe(render_diff(diff_documents(doc, later)))


def test_apply_report_and_undo_line_are_safe(aws, tmp_path: Path, stubbed_shell, capsys) -> None:
    """A backup folder named with everything: the "undo with:" line must run exactly that folder, inertly."""
    session = aws
    session.client("ecr").create_pull_through_cache_rule(ecrRepositoryPrefix="quay", upstreamRegistryUrl="quay.io")
    backup = tmp_path / f"backups {PAYLOAD}\x1b[2J"
    rc = main(
        [
            *("fix", "--out", str(tmp_path / "fix"), "--apply", "--rules", "registry-policy-allows-omics"),
            *("--backup", str(backup)),
        ]
    )
    assert rc in (0, 1)
    printed = capsys.readouterr().out
    assert_terminal_safe(printed)
    report = FixReport.model_validate_json((tmp_path / "fix" / "fix-report.json").read_text())
    # exactly the backup file as one word (later arguments, e.g. a checksum, may follow)
    assert shlex.split(report.rollback)[:3] == ["omics-ecr-audit", "rollback", report.applied.backup]
    assert report.applied.backup.startswith(str(backup))
    run_all([report.rollback], stubbed_shell, tmp_path)


def test_render_report_escapes_aws_text() -> None:
    report = FixReport.model_validate(
        {
            "plan_id": "p",
            "applied": {
                "plan_id": "p",
                "started": "2024-01-01T00:00:00Z",
                "backup": f"/b/{HOSTILE}",
                "outcomes": [
                    {"change_id": "c", "rule_id": "r", "target": HOSTILE, "outcome": "failed", "detail": HOSTILE}
                ],
                "error": HOSTILE,
            },
            "verification": [
                {"finding_id": "f", "rule_id": "r", "resource": HOSTILE, "before": "FAIL", "after": "FAIL"}
            ],
            "rollback": command_line(["omics-ecr-audit", "rollback", f"/b/{HOSTILE}"]),
        }
    )
    assert_terminal_safe(render_report(report))


# --- the gate, as a separate process ----------------------------------------------------------------


def test_gate_text_output_of_a_hostile_workflow_file(tmp_path: Path) -> None:
    wf = tmp_path / "wf"
    wf.mkdir()
    # One container string with a raw ESC, a bidi override and a payload; a workflow file can hold anything.
    # (no single quote: it would end the Groovy string and make a syntax error, not a container)
    image = 'quay.io/biocontainers/bwa:1$(touch PWNED)`touch PWNED`;touch PWNED"x\x1b[2J\r\u202e'
    (wf / "main.nf").write_text(f"process A {{\n    container '{image}'\n    script: 'x'\n}}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "gate", str(wf), "--offline", "--account", ACCOUNT, "--region", REGION],
        check=False,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "gate: 1 container(s)" in done.stdout, (done.stdout, done.stderr)
    assert "\\u001b[2J" in done.stdout  # shown, escaped
    assert_terminal_safe(done.stdout)
    assert_terminal_safe(done.stderr)
    assert not list(tmp_path.rglob("PWNED"))
