"""The organisation through the CLI: `scan --organization|--accounts`, `targets`, `merge`, `permissions`."""

from __future__ import annotations

import json

import pytest

from auditor.cli import main
from auditor.permissions import scanner_policy
from tests.support.org import OTHER, REGIONS, Estate
from tests.support.sandbox import ACCOUNT, REGION

REGION_ARGS = ["--regions", ",".join(REGIONS)]


def _findings(path) -> dict:
    return json.loads((path / "findings.json").read_text())


def test_targets_lists_the_cells_a_scan_would_cover(estate: Estate, capsys) -> None:
    assert main(["targets", "--organization", *REGION_ARGS, "--json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert cells == [{"account": a, "region": r} for a in estate.accounts for r in sorted(REGIONS)]
    genomics = estate.members["genomics"]
    assert main(["targets", "--accounts", genomics, "--regions", OTHER]) == 0
    assert capsys.readouterr().out.splitlines() == ["1 cell(s): 1 account(s)", f"  {genomics}  {OTHER}"]


def test_scan_organization_covers_every_cell(estate: Estate, tmp_path) -> None:
    out = tmp_path / "org"
    rc = main(["scan", "--organization", *REGION_ARGS, "--out", str(out), "--quiet", "--output", "html"])
    assert rc == 1
    doc = _findings(out)
    assert {(t["account"], t["region"]) for t in doc["run"]["targets"]} == {(c.account, c.region) for c in estate.cells}
    assert {t["status"] for t in doc["run"]["targets"]} == {"scanned"}
    # the coverage section has every account x region x rule, and agrees with the findings
    rows = doc["coverage"]["rows"]
    assert len(rows) == len(estate.cells) * len(doc["run"]["rules"])
    for row in rows:
        mine = [
            f
            for f in doc["findings"]
            if (f["account"], f["region"], f["rule_id"]) == (row["account"], row["region"], row["rule"])
        ]
        assert row["total"] == len(mine)
        assert row["counts"]["FAIL"] == sum(f["status"] == "FAIL" for f in mine)
    # the HTML report's matrix has one row per account
    html = (out / "report.html").read_text()
    for account in estate.accounts:
        assert account in html


def test_scan_explicit_accounts_and_a_role_that_is_not_there(estate: Estate, tmp_path, capsys) -> None:
    genomics = estate.members["genomics"]
    out = tmp_path / "two"
    rc = main(["scan", "--accounts", f"{genomics},{ACCOUNT}", "--regions", REGION, "--out", str(out), "--quiet"])
    assert rc == 1
    assert {t["account"] for t in _findings(out)["run"]["targets"]} == {genomics, ACCOUNT}
    bad = tmp_path / "bad"
    assert main(["scan", "--accounts", "12345", "--regions", REGION, "--out", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "12345" in err and "Traceback" not in err
    assert main(["scan", "--accounts", genomics, "--organization", "--out", str(bad)]) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_merge_of_per_cell_parts_equals_one_scan(estate: Estate, tmp_path) -> None:
    whole = tmp_path / "whole"
    main(["scan", "--organization", *REGION_ARGS, "--out", str(whole), "--quiet"])
    parts = []
    for account in estate.accounts:
        part = tmp_path / f"part-{account}"
        main(["scan", "--accounts", account, *REGION_ARGS, "--out", str(part), "--quiet"])
        parts.append(str(part / "findings.json"))
    merged = tmp_path / "merged"
    rc = main(["merge", *parts, "--run-id", "nightly-1", "--out", str(merged), "--quiet", "--output", "junit"])
    assert rc == 1
    a, b = _findings(whole), _findings(merged)
    assert b["run"]["id"] == "nightly-1"
    assert sorted((f["id"], f["status"]) for f in a["findings"]) == sorted(
        (f["id"], f["status"]) for f in b["findings"]
    )
    assert a["summary"] == b["summary"] and a["coverage"]["rows"] == b["coverage"]["rows"]
    assert (merged / "report.xml").is_file()


def test_merge_refuses_parts_of_different_rule_sets(estate: Estate, tmp_path, capsys) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    main(["scan", "--accounts", ACCOUNT, "--regions", REGION, "--out", str(one), "--quiet"])
    rule = "registry-policy-allows-omics"
    main(["scan", "--accounts", ACCOUNT, "--regions", REGION, "--rules", rule, "--out", str(two), "--quiet"])
    assert main(["merge", str(one / "findings.json"), str(two / "findings.json"), "--out", str(tmp_path / "m")]) == 2
    assert "cannot merge" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["scan", "fix", "hub"])
def test_permissions_prints_the_generated_policy(kind: str, capsys) -> None:
    assert main(["permissions", f"--{kind}"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["Version"] == "2012-10-17" and doc["Statement"]
    if kind == "scan":
        assert doc == scanner_policy()
    actions = {a for st in doc["Statement"] for a in st["Action"]}
    assert all(":" in a and "*" not in a.split(":")[1] for a in actions), "no wildcard actions"


def test_summary_names_failed_cells_without_listing_a_whole_organisation() -> None:
    from auditor.findings import Target
    from auditor.scan import _targets_line

    cells = [Target(account=f"1000000000{i:02d}", region=r, status="scanned") for i in range(50) for r in REGIONS]
    cells[7] = cells[7].model_copy(update={"status": "error"})
    line = _targets_line(cells)
    assert line == (
        "targets: 100 cells (50 accounts x 2 regions): 1 error, 99 scanned; "
        f"could not scan: {cells[7].account}/{cells[7].region}"
    )
    assert (
        _targets_line(cells[:2])
        == f"targets: {cells[0].account}/{REGIONS[0]} (scanned), {cells[1].account}/{REGIONS[1]} (scanned)"
    )
