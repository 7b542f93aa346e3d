"""checkov over deploy/, offline: no failed check, and every skipped one justified (Hardening, item 9).

checkov pins boto3 far below constraints.txt, so it runs from its own virtualenv, ``.venv-checkov`` at
the repository root, which ``make -C deploy checkov-venv`` creates from ``deploy/checkov-requirements.txt``
(exact pins) when it is missing or older than that file.

Offline: no API key reaches it (every ``BC_*``/``PRISMA_*`` variable is dropped), ``--skip-download`` and
``BC_SKIP_MAPPING`` stop the platform downloads, ``CKV_SKIP_PACKAGE_UPDATE_CHECK`` the PyPI version check,
proxies point at a closed local port, and where ``unshare -n`` works (root, as in CI) checkov runs in a
network namespace with no network at all, so a call it tried would fail the run rather than go out.

checkov drops a resource whose ``Condition`` is false for the parameters' defaults, and the fix roles
exist only with ``EnableFix=true``: so the templates are checked twice, as they are and as a copy whose
defaults create every optional resource (:func:`every_resource`).

A skipped check is justified in two places that must agree with ``deploy/generate.py``'s
``CHECKOV_SKIPS``: the resource's ``Metadata: checkov: skip`` (with the reason as its comment) and the
table in ``deploy/README.md``. Without those skips exactly the skipped checks fail: none is stale.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
VENV = ROOT / ".venv-checkov"
CHECKOV = VENV / "bin" / "checkov"
REQUIREMENTS = DEPLOY / "checkov-requirements.txt"
TEMPLATES = ("template.yaml", "member-roles.yaml", "guard-forwarder.yaml")


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_generate_checkov", DEPLOY / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load_generator()


def _pinned_version() -> str:
    (line,) = [ln for ln in REQUIREMENTS.read_text().splitlines() if ln.lower().startswith("checkov==")]
    return line.split("==", 1)[1].strip()


@functools.cache
def _no_network_prefix() -> tuple[str, ...]:
    """``unshare -n`` when this machine allows it: checkov then has no network to reach."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True, timeout=30, check=False)
    return (unshare, "-n") if probe.returncode == 0 else ()


@pytest.fixture(scope="module")
def checkov() -> Path:
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is needed to create .venv-checkov (deploy/Makefile, target checkov-venv)")
    done = subprocess.run(
        [make, "-s", "-C", str(DEPLOY), "checkov-venv", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot create .venv-checkov:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    version = subprocess.run([str(CHECKOV), "--version"], capture_output=True, text=True, timeout=120, check=True)
    assert version.stdout.strip() == _pinned_version(), "run `make -C deploy checkov-venv` after changing the pins"
    return CHECKOV


def _offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("BC_", "PRISMA_", "CKV_", "CHECKOV_"))}
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens, a request fails at once
    env.update(
        BC_SKIP_MAPPING="TRUE",
        CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE",
        HTTP_PROXY=closed,
        HTTPS_PROXY=closed,
        http_proxy=closed,
        https_proxy=closed,
        NO_PROXY="",
        no_proxy="",
        LOG_LEVEL="WARNING",
    )
    return env


def run_checkov(checkov: Path, directory: Path) -> dict[str, Any]:
    cmd = [
        *_no_network_prefix(),
        str(checkov),
        "-d",
        str(directory),
        "--framework",
        "cloudformation",
        "--skip-download",
        "--compact",
        "-o",
        "json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=_offline_env(), check=False)
    assert done.returncode in (0, 1), f"checkov crashed ({done.returncode}):\n{done.stderr[-3000:]}"
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    (report,) = [r for r in reports if r.get("check_type") == "cloudformation"]
    return report


# Defaults that make every Condition of the templates true (EnableFix, HasEmail, the guard's bus policy;
# UseStateMachine and GuardEnabled already are).
EVERY_RESOURCE_DEFAULTS = {
    "EnableFix": "true",
    "NotificationEmail": "security@example.com",
    "OrganizationId": "o-abcdefghij",
    "CentralEventBusArn": "arn:aws:events:us-east-1:111111111111:event-bus/default",
}


def every_resource(directory: Path, *, strip_skips: bool = False) -> Path:
    """Copies of the templates whose defaults create every resource (optionally without checkov skips)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in TEMPLATES:
        doc = yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))
        for param, value in EVERY_RESOURCE_DEFAULTS.items():
            if param in doc["Parameters"]:
                doc["Parameters"][param]["Default"] = value
        if strip_skips:
            for resource in doc["Resources"].values():
                resource.get("Metadata", {}).pop("checkov", None)
        (directory / name).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return directory


def _logical_id(result: dict[str, Any]) -> str:
    return result["resource"].rsplit(".", 1)[1]  # "AWS::S3::Bucket.AuditBucket"


def _expected_skips() -> set[tuple[str, str, str]]:
    return {(check, logical, reason) for logical, skips in generate.CHECKOV_SKIPS.items() for check, reason in skips}


@pytest.mark.parametrize("variant", ["as-deployed", "every-resource"])
def test_checkov_passes_offline_with_every_skip_justified(checkov: Path, tmp_path: Path, variant: str) -> None:
    directory = DEPLOY if variant == "as-deployed" else every_resource(tmp_path)
    report = run_checkov(checkov, directory)
    results = report["results"]
    assert results["parsing_errors"] == []
    failed = [
        f"{f['check_id']} {f['resource']} ({f['file_path']}): {f['check_name']}" for f in results["failed_checks"]
    ]
    assert failed == [], "fix these, or justify them in deploy/generate.py CHECKOV_SKIPS and deploy/README.md"
    # both templates were really checked, the fix roles too when they exist
    assert {f["file_path"].lstrip("/") for f in results["passed_checks"]} == set(TEMPLATES)
    assert report["summary"]["resource_count"] >= 15
    checked = {(f["file_path"].lstrip("/"), _logical_id(f)) for f in results["passed_checks"]}
    fix_roles = {("member-roles.yaml", "FixRole"), ("template.yaml", "FixRole")}
    assert (fix_roles <= checked) == (variant == "every-resource")
    # every skip is one the generator declares, with its reason as the comment
    skipped = {
        (s["check_id"], _logical_id(s), s["check_result"].get("suppress_comment", ""))
        for s in results["skipped_checks"]
    }
    assert skipped == _expected_skips()


def test_every_skip_is_in_the_readme_table() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(CKV2?_AWS_\d+)` \| `(\w+)` \|", readme, flags=re.MULTILINE))
    assert rows == {(check, logical) for check, logical, _ in _expected_skips()}
    for logical, skips in generate.CHECKOV_SKIPS.items():
        resource = yaml.safe_load((DEPLOY / "template.yaml").read_text())["Resources"][logical]
        assert resource["Metadata"]["checkov"]["skip"] == [{"id": c, "comment": r} for c, r in skips]


def test_without_the_skips_exactly_the_justified_checks_fail(checkov: Path, tmp_path: Path) -> None:
    """checkov really judges these templates, and no skip is stale: each one hides a real failure."""
    results = run_checkov(checkov, every_resource(tmp_path, strip_skips=True))["results"]
    failed = {(f["check_id"], _logical_id(f)) for f in results["failed_checks"]}
    assert failed == {(check, logical) for check, logical, _ in _expected_skips()}
    assert results["skipped_checks"] == []


def test_checkov_catches_a_wildcard_policy(checkov: Path, tmp_path: Path) -> None:
    """The member fix role is judged too: an administrator-like statement in it would not pass."""
    path = every_resource(tmp_path) / "member-roles.yaml"
    (tmp_path / "template.yaml").unlink()
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    policy = doc["Resources"]["FixRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"].append({"Effect": "Allow", "Action": "*", "Resource": "*"})
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    results = run_checkov(checkov, tmp_path)["results"]
    failed = {(f["check_id"], _logical_id(f)) for f in results["failed_checks"]}
    # administrator access, privilege escalation, unconstrained writes and permissions management...
    assert {("CKV_AWS_62", "FixRole"), ("CKV_AWS_110", "FixRole"), ("CKV_AWS_111", "FixRole")} <= failed
