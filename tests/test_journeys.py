"""User journeys as processes: every command is ``python -m auditor ...`` in a fresh interpreter.

One sandbox server for the whole module, started the way a user starts it
(``omics-ecr-audit sandbox --port 0``, endpoint read from its stdout) and stopped
with SIGTERM at the end (it must exit 0). Each CLI process gets dummy credentials,
a region, nonexistent AWS config files and ``NO_COLOR=1`` (see ``tests/support/journeys.py``).

State: the server starts with the demo account. Tests that change it mark the
server dirty; any test that needs the demo as seeded calls ``server.clean_demo()``,
which reseeds through the sandbox command's ``POST /_sandbox/reseed`` only when a
previous test changed something. So no test depends on another's side effects,
and the mutating journeys (fix --apply, rollback, apply of a saved plan) run in
order inside one test.

No test here imports ``auditor.cli`` or calls ``main()`` in-process (a guard test
checks): each journey starts without ``remediations``/``rules`` imported before it.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.journeys import PROJECT_ROOT, REGION, TIMINGS, Result, SandboxProcess, journey_env, run_cli

ACCOUNT = "123456789012"
SANDBOX_HINT = "pip install 'omics-ecr-audit[sandbox]'"
WDL = """version 1.0

workflow hello {
  call say
}

task say {
  command <<<
    echo hello
  >>>
  runtime {
    docker: "ubuntu:22.04"
  }
}
"""
DOCKER_HUB_MAP = {
    "registryMappings": [{"upstreamRegistryUrl": "registry-1.docker.io", "ecrRepositoryPrefix": "docker-hub"}]
}
UBUNTU_IN_ECR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/docker-hub/library/ubuntu:22.04"


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[SandboxProcess]:
    sandbox = SandboxProcess(tmp_path_factory.mktemp("sandbox"))
    try:
        sandbox.wait_ready()
        yield sandbox
    finally:
        code = sandbox.stop(signal.SIGTERM)
        _report_timings(request)
    assert code == 0, f"sandbox exited {code} on SIGTERM:\n{sandbox.stderr()}"
    assert "Traceback" not in sandbox.stderr(), sandbox.stderr()
    assert sandbox.stdout().rstrip().endswith("# sandbox stopped")


def _report_timings(request: pytest.FixtureRequest) -> None:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not TIMINGS.rows:
        return
    total = sum(seconds for _, seconds in TIMINGS.rows)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line("")
        reporter.write_line(f"journey processes: {len(TIMINGS.rows)}, {total:.1f}s in total")
        for label, seconds in TIMINGS.rows:
            reporter.write_line(f"  {seconds:6.2f}s  {label}")


@pytest.fixture(scope="module")
def first_scan(server: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One scan of the demo as seeded, shared by the journeys that only read its files."""
    seed = server.clean_demo()
    tmp = tmp_path_factory.mktemp("first-scan")
    result = run_cli(["scan", "--endpoint-url", server.url, "--out", "out"], cwd=tmp, env=journey_env(tmp))
    return {"seed": seed, "result": result, "path": tmp / "out" / "findings.json", "tmp": tmp}


def check(result: Result, code: int) -> Result:
    """The exit code, and no traceback on stderr (a crash is never a journey's answer)."""
    assert "Traceback" not in result.stderr, result.describe()
    assert result.returncode == code, result.describe()
    return result


def cli(tmp: Path, *args: str, **env: str) -> Result:
    return run_cli(list(args), cwd=tmp, env=journey_env(tmp, **env))


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {f["id"]: f["status"] for f in doc["findings"]}


def failures(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["rule_id"], f["resource"]) for f in doc["findings"] if f["status"] == "FAIL"}


def expected_demo_failures(seed: dict[str, Any]) -> set[tuple[str, str]]:
    from auditor.sandbox.seed import DemoAccount, expected_failures

    demo = DemoAccount(seed["account"], seed["region"], seed["workflows"], seed["runs"], {})
    return {(rule, resource) for rule, resources in expected_failures(demo).items() for resource in resources}


def write_workflow(tmp: Path) -> Path:
    folder = tmp / "wf"
    folder.mkdir()
    (folder / "main.wdl").write_text(WDL, encoding="utf-8")
    return folder


def write_map(tmp: Path) -> Path:
    path = tmp / "map.json"
    path.write_text(json.dumps(DOCKER_HUB_MAP), encoding="utf-8")
    return path


# --- the sandbox command itself ------------------------------------------------------------------


def test_sandbox_prints_eval_safe_exports_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    sandbox = SandboxProcess(tmp_path / "empty", "--seed", "empty")
    try:
        url = sandbox.wait_ready()
        text = sandbox.stdout()
        lines = [line for line in text.splitlines() if line.strip()]
        shell_safe = re.compile(r"#.*|export [A-Z_]+=\S+|unset( [A-Z_]+)+")
        assert all(shell_safe.fullmatch(line) for line in lines), text
        for export in (
            "export AWS_ACCESS_KEY_ID=testing",
            "export AWS_SECRET_ACCESS_KEY=testing",
            f"export AWS_DEFAULT_REGION={REGION}",
        ):
            assert export in lines, text
        assert f"omics-ecr-audit scan --endpoint-url {url} --out out" in text
        # `eval` of the whole output sets the variables.
        shell = subprocess.run(
            ["bash", "-c", f'eval "$(cat {shlex.quote(str(sandbox.stdout_path))})"; echo "$AWS_SECRET_ACCESS_KEY"'],
            capture_output=True,
            text=True,
            check=True,
            env={"PATH": "/usr/bin:/bin", "AWS_PROFILE": "real"},
        )
        assert shell.stdout.strip() == "testing"
        assert sandbox.seed_info()["seed"] == "empty"
        assert requests.get(f"{url}/_sandbox/reseed", timeout=10).status_code == 405
        assert requests.post(f"{url}/_sandbox/reseed?seed=bogus", timeout=10).status_code == 400
    finally:
        code = sandbox.stop(signal.SIGINT)
    assert code == 0, sandbox.stderr()
    assert "Traceback" not in sandbox.stderr(), sandbox.stderr()


def test_sandbox_port_in_use_is_one_line_and_exit_2(server: SandboxProcess, tmp_path: Path) -> None:
    result = check(cli(tmp_path, "sandbox", "--port", str(server.port)), 2)
    assert result.stderr.count("\n") == 1, result.describe()
    assert "port in use" in result.stderr and str(server.port) in result.stderr, result.describe()
    assert result.stdout == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["rules", "--json"],
        [
            "gate",
            str(PROJECT_ROOT / "tests/data/gate/real/biowdl-tasks"),
            "--offline",
            "--format",
            "json",
            "--sarif",
            "gate.sarif",
        ],
    ],
    ids=["rules", "gate"],
)
def test_a_reader_that_leaves_early_is_no_error(tmp_path: Path, argv: list[str]) -> None:
    """`omics-ecr-audit … | head`: no traceback, files still written, the command's own exit code."""
    process = subprocess.Popen(
        [sys.executable, "-m", "auditor", *argv],
        cwd=tmp_path,
        env=journey_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first line
    stderr = process.stderr.read()
    code = process.wait(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert code == (1 if argv[0] == "gate" else 0), stderr  # without a map the gate FAILs: that code stands
    if argv[0] == "gate":
        assert (tmp_path / "gate.sarif").exists()


@pytest.mark.parametrize("argv", [["demo", "--out", "demo-out"], ["sandbox", "--port", "0"]], ids=["demo", "sandbox"])
def test_without_the_sandbox_extra_one_line_names_it(tmp_path: Path, argv: list[str]) -> None:
    """moto not installed: one line naming the extra, exit 2 (for `demo`, 1 would mean FAIL findings)."""
    # moto made unimportable in a fresh interpreter, which then runs the CLI as usual.
    code = "import sys; sys.modules['moto'] = None; from auditor.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=tmp_path,
        env=journey_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and SANDBOX_HINT in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "demo-out" / "findings.json").exists()


# --- read-only journeys ----------------------------------------------------------------------------


def test_scan_finds_the_demo_defects(first_scan: dict[str, Any]) -> None:
    result = check(first_scan["result"], 1)  # the demo has FAILs
    assert "findings written to out/findings.json" in result.stdout, result.describe()
    doc = load(first_scan["path"])
    assert not [f for f in doc["findings"] if f["status"] == "ERROR"], result.describe()
    assert failures(doc) == expected_demo_failures(first_scan["seed"])


def test_fix_plans_without_changing_anything(server: SandboxProcess, tmp_path: Path) -> None:
    server.clean_demo()
    result = check(cli(tmp_path, "fix", "--endpoint-url", server.url, "--out", "out"), 1)  # changes pending
    assert "plan written to out/plan.json" in result.stdout, result.describe()
    assert "nothing was changed; re-run with --apply" in result.stdout, result.describe()
    plan = load(tmp_path / "out" / "plan.json")
    assert {c["rule_id"] for c in plan["changes"]} >= {"registry-policy-allows-omics", "service-role-can-pull"}
    assert not list((tmp_path / "out").glob("backups")), "a plan must not back up (nothing is written)"


def test_gate_live_against_the_sandbox(server: SandboxProcess, tmp_path: Path) -> None:
    seed = server.clean_demo()
    write_workflow(tmp_path)
    live = ["--endpoint-url", server.url, "--region", REGION]
    # The registry map of the demo's rnaseq workflow maps ubuntu:22.04 to the cached copy.
    ok = check(cli(tmp_path, "gate", "wf", "--workflow-id", seed["workflows"]["rnaseq-pipeline"], *live), 0)
    assert "ok main.wdl:12" in ok.stdout and UBUNTU_IN_ECR in ok.stdout, ok.describe()
    unmapped = check(cli(tmp_path, "gate", "wf", *live), 1)
    assert "unresolved" in unmapped.stdout and "docker.io" in unmapped.stdout, unmapped.describe()


def test_gate_offline(tmp_path: Path) -> None:
    write_workflow(tmp_path)
    write_map(tmp_path)
    unmapped = check(cli(tmp_path, "gate", "wf", "--offline"), 1)
    assert "ubuntu:22.04" in unmapped.stdout and "unresolved" in unmapped.stdout, unmapped.describe()
    mapped = cli(tmp_path, "gate", "wf", "--offline", "--map", "map.json", "--account", ACCOUNT, "--region", REGION)
    check(mapped, 0)
    assert UBUNTU_IN_ECR in mapped.stdout, mapped.describe()
    as_files = cli(
        tmp_path, "gate", "wf", "--offline", "--map", "map.json", "--account", ACCOUNT, "--region", REGION,
        "--format", "json", "--out", "gate.json", "--sarif", "gate.sarif",
    )  # fmt: skip
    check(as_files, 0)
    doc = load(tmp_path / "gate.json")
    assert doc["run"]["mode"] == "gate" and doc["findings"], as_files.describe()
    assert load(tmp_path / "gate.sarif")["version"] == "2.1.0"


def test_report_html_and_sarif(first_scan: dict[str, Any], tmp_path: Path) -> None:
    findings = first_scan["path"]
    result = check(cli(tmp_path, "report", str(findings), "--format", "html,sarif", "--out", "reports/"), 0)
    assert "report written to" in result.stdout, result.describe()  # status lines on stdout, as scan's
    html = (tmp_path / "reports" / "report.html").read_text(encoding="utf-8")
    assert "<html" in html.lower() and "ptc-rule-coverage" in html
    sarif = load(tmp_path / "reports" / "report.sarif")
    assert sarif["version"] == "2.1.0"
    failed_rules = {rule for rule, _ in failures(load(findings))}
    assert {r["ruleId"] for run in sarif["runs"] for r in run["results"]} == failed_rules


def test_diff_two_findings_files(first_scan: dict[str, Any], tmp_path: Path) -> None:
    doc = load(first_scan["path"])
    flipped = next(f for f in doc["findings"] if f["status"] == "FAIL")
    earlier = json.loads(json.dumps(doc))
    next(f for f in earlier["findings"] if f["id"] == flipped["id"])["status"] = "PASS"
    earlier["run"]["id"] = "earlier-run"
    earlier.pop("coverage", None)
    earlier.pop("summary", None)
    (tmp_path / "old.json").write_text(json.dumps(earlier), encoding="utf-8")
    (tmp_path / "new.json").write_text(json.dumps(doc), encoding="utf-8")

    text = check(cli(tmp_path, "diff", "old.json", "new.json"), 0)
    assert "new 1 " in text.stdout, text.describe()
    gated = check(cli(tmp_path, "diff", "old.json", "new.json", "--json", "--fail-on-new"), 1)
    assert [f["id"] for f in json.loads(gated.stdout)["new"]] == [flipped["id"]], gated.describe()
    backwards = check(cli(tmp_path, "diff", "new.json", "old.json", "--json", "--fail-on-new"), 0)
    assert [f["id"] for f in json.loads(backwards.stdout)["resolved"]] == [flipped["id"]], backwards.describe()


def test_merge_parts_of_one_run(first_scan: dict[str, Any], tmp_path: Path) -> None:
    doc = load(first_scan["path"])
    half = set(doc["run"]["rules"][: len(doc["run"]["rules"]) // 2])
    for name, keep in (("a.json", True), ("b.json", False)):
        part = {k: v for k, v in doc.items() if k not in ("coverage", "summary")}
        part["findings"] = [f for f in doc["findings"] if (f["rule_id"] in half) == keep]
        (tmp_path / name).write_text(json.dumps(part), encoding="utf-8")
    result = check(cli(tmp_path, "merge", "a.json", "b.json", "--out", "merged"), 1)  # the FAILs are still there
    assert "findings written to merged/findings.json" in result.stdout, result.describe()
    merged = load(tmp_path / "merged" / "findings.json")
    assert merged["run"]["id"] == doc["run"]["id"]
    assert statuses(merged) == statuses(doc)


def test_resolve(tmp_path: Path) -> None:
    write_map(tmp_path)
    where = ["--map", "map.json", "--account", ACCOUNT, "--region", REGION]
    mapped = check(cli(tmp_path, "resolve", "ubuntu:22.04", *where), 0)
    line = json.loads(mapped.stdout)
    assert (line["input"], line["ecr_uri"]) == ("ubuntu:22.04", UBUNTU_IN_ECR)
    mixed = check(cli(tmp_path, "resolve", "ubuntu:22.04", "quay.io/biocontainers/samtools:1.17", *where), 1)
    lines = [json.loads(x) for x in mixed.stdout.splitlines()]
    assert [x["ecr_uri"] for x in lines] == [UBUNTU_IN_ECR, None], mixed.describe()


def test_map_generate_then_validate(server: SandboxProcess, tmp_path: Path) -> None:
    server.clean_demo()
    write_workflow(tmp_path)
    live = ["--endpoint-url", server.url, "--region", REGION]
    check(cli(tmp_path, "map", "generate", "wf", "--out", "generated.json", *live), 0)
    generated = load(tmp_path / "generated.json")
    assert DOCKER_HUB_MAP["registryMappings"][0] in generated["registryMappings"], generated
    valid = check(cli(tmp_path, "map", "validate", "generated.json", *live), 0)
    assert "schema OK" in valid.stdout and "PASS" in valid.stdout, valid.describe()


def test_targets(server: SandboxProcess, tmp_path: Path) -> None:
    text = check(cli(tmp_path, "targets", "--endpoint-url", server.url), 0)
    assert re.search(rf"^\s+{ACCOUNT}\s+{REGION}$", text.stdout, re.M), text.describe()
    as_json = check(cli(tmp_path, "targets", "--endpoint-url", server.url, "--json"), 0)
    assert json.loads(as_json.stdout) == [{"account": ACCOUNT, "region": REGION}]


def _actions(policy: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for statement in policy["Statement"]:
        actions = statement.get("Action", [])
        out |= {actions} if isinstance(actions, str) else set(actions)
    return out


def test_permissions_scan_and_fix(tmp_path: Path) -> None:
    scan = check(cli(tmp_path, "permissions", "--scan"), 0)
    fix = check(cli(tmp_path, "permissions", "--fix"), 0)
    scan_actions, fix_actions = _actions(json.loads(scan.stdout)), _actions(json.loads(fix.stdout))
    assert "ecr:DescribePullThroughCacheRules" in scan_actions, scan.describe()
    assert {"ecr:PutRegistryPolicy", "iam:PutRolePolicy"} <= fix_actions, fix.describe()
    assert not {"ecr:PutRegistryPolicy", "iam:PutRolePolicy"} & scan_actions, "the scan role must stay read-only"


def test_rules_json(tmp_path: Path) -> None:
    from auditor.sandbox.seed import EXPECTED_FAILURES

    result = check(cli(tmp_path, "rules", "--json"), 0)
    rows = json.loads(result.stdout)
    assert {row["id"] for row in rows} >= set(EXPECTED_FAILURES)
    assert all(row["severity"] and row["title"] for row in rows)
    assert any(row["fixer"] == "automatic" for row in rows), "the fixers are found in a fresh interpreter"


# --- the journeys that change the account (in order, in one test) ------------------------------------


def test_fix_apply_rollback_and_apply_saved_plan(server: SandboxProcess, tmp_path: Path) -> None:
    """The mutating journeys, in order: apply, undo with the printed command, re-apply the saved plan."""
    server.clean_demo()
    check(cli(tmp_path, "scan", "--endpoint-url", server.url, "--out", "before", "--quiet"), 1)
    before_doc = load(tmp_path / "before" / "findings.json")

    server.dirty = True
    applied = cli(tmp_path, "fix", "--apply", "--endpoint-url", server.url, "--out", "fix")
    # A cache-rule change is blocked while the demo's run is active: changes stay pending (exit 1).
    check(applied, 1)
    applied_targets = re.findall(r"^\s+applied\s+\S+\s+(.+)$", applied.stdout, re.M)
    assert applied_targets, applied.describe()
    undo_lines = re.findall(r"^undo with: (.+)$", applied.stdout, re.M)
    assert len(undo_lines) == 1, applied.describe()
    undo = shlex.split(undo_lines[0])
    assert undo[:2] == ["omics-ecr-audit", "rollback"], undo_lines
    assert (tmp_path / undo[2]).exists(), f"the backup {undo[2]} named by the undo line does not exist"
    assert (tmp_path / "fix" / "findings-after.json").exists()

    diff = check(cli(tmp_path, "diff", "before/findings.json", "fix/findings-after.json", "--json"), 0)
    changes = json.loads(diff.stdout)
    assert changes["resolved"] and not changes["new"], diff.describe()

    # Undo: exactly the printed arguments. The fix was told --endpoint-url, so the undo line must say it too.
    rollback_args = undo[1:]
    assert rollback_args[-2:] == ["--endpoint-url", server.url], f"the undo line would reach another account: {undo}"
    rolled = check(cli(tmp_path, *rollback_args), 0)
    outcomes = [line.split()[0] for line in rolled.stdout.splitlines() if line.strip()]
    assert outcomes and set(outcomes) <= {"restored", "already-restored"}, rolled.describe()

    again = check(cli(tmp_path, "scan", "--endpoint-url", server.url, "--out", "after-rollback", "--quiet"), 1)
    assert statuses(load(tmp_path / "after-rollback" / "findings.json")) == statuses(before_doc), again.describe()

    # The plan that fix --apply saved, applied exactly, on the restored account: the same changes again.
    replay = cli(tmp_path, "fix", "--apply", "--plan", "fix/plan.json", "--endpoint-url", server.url, "--out", "replay")
    check(replay, applied.returncode)
    assert re.findall(r"^\s+applied\s+\S+\s+(.+)$", replay.stdout, re.M) == applied_targets, replay.describe()
    assert re.search(r"^undo with: omics-ecr-audit rollback ", replay.stdout, re.M), replay.describe()
    assert statuses(load(tmp_path / "replay" / "findings-after.json")) == statuses(
        load(tmp_path / "fix" / "findings-after.json")
    )


# --- the module's own discipline ---------------------------------------------------------------------


def test_journeys_run_in_fresh_interpreters_only() -> None:
    """No test here may run the CLI in-process: each journey must start without remediations/rules imported."""
    for path in (Path(__file__), PROJECT_ROOT / "tests" / "support" / "journeys.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for name in names:
                    assert not name.startswith(("auditor.cli", "auditor.__main__", "remediations", "rules")), (
                        f"{path.name}:{node.lineno} imports {name}"
                    )
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                assert called not in ("main", "_run", "run_sandbox"), f"{path.name}:{node.lineno} calls {called}()"
