"""Config validation: every mistake is a clear message, never a traceback."""

from __future__ import annotations

import json

import pytest

from auditor.cli import main
from auditor.config import load_config, parse_config
from auditor.errors import ConfigError


def test_defaults() -> None:
    cfg = parse_config({})
    assert cfg.severity_threshold.value == "low"
    assert cfg.run_lookback_days == 30


def test_yaml_file(tmp_path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("regions: [us-east-1, eu-west-1]\nrequired_upstreams: [quay.io]\nseverity_threshold: high\n")
    cfg = load_config(p)
    assert cfg.regions == ["us-east-1", "eu-west-1"]
    assert cfg.severity_threshold.value == "high"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"regionz": ["us-east-1"]}, "regionz: unknown setting"),
        ({"regions": ["Mars-1"]}, "not AWS region names"),
        ({"run_lookback_days": 400}, "run_lookback_days"),
        ({"service_roles": ["role/x"]}, "not IAM role ARNs"),
        ({"required_upstreams": ["docker.io.example"]}, "not upstream registry URLs"),
        ({"severity_threshold": "urgent"}, "severity_threshold"),
        (
            {"custom_rules": [{"id": "x1", "title": "t", "resources": "repositories[?", "condition": "a"}]},
            "invalid JMESPath in resources at position",
        ),
        ({"custom_rules": [{"id": "Bad Id", "title": "t", "resources": "a", "condition": "b"}]}, "custom_rules.0.id"),
        (
            {"custom_rules": [{"id": "x2", "title": "t", "resources": "a", "condition": "b", "facets": ["nope"]}]},
            "unknown facet",
        ),
    ],
)
def test_invalid_config_messages(data, needle) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(data, "cfg.yaml")
    assert needle in str(exc.value)
    assert str(exc.value).startswith("cfg.yaml: invalid configuration")


def test_jmespath_error_points_at_position() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"custom_rules": [{"id": "x1", "title": "t", "resources": "a", "condition": "foo[?bar=="}]})
    text = str(exc.value)
    assert "condition" in text and "^" in text


def test_malformed_yaml_reports_line(tmp_path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("regions: [us-east-1\nfoo: : bar\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert "not valid YAML" in str(exc.value) and "line" in str(exc.value)


def test_cli_config_error_exit_2_without_traceback(tmp_path, capsys) -> None:
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"regions": "us-east-1", "bogus": 1}))
    rc = main(["scan", "--config", str(p), "--inventory", str(tmp_path / "none.json"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err
    assert "bogus: unknown setting" in err


def test_cli_missing_inventory_exit_2(tmp_path, capsys) -> None:
    rc = main(["scan", "--inventory", str(tmp_path / "missing.json"), "--out", str(tmp_path)])
    assert rc == 2
    assert "cannot read inventory" in capsys.readouterr().err


def test_cli_malformed_inventory_exit_2(tmp_path, capsys) -> None:
    p = tmp_path / "inv.json"
    p.write_text('{"schema_version": 1, "snapshots": [{"account_id": 5}]}')
    rc = main(["scan", "--inventory", str(p), "--out", str(tmp_path)])
    assert rc == 2
    assert "malformed" in capsys.readouterr().err


def test_cli_unknown_rule_exit_2(tmp_path, capsys) -> None:
    rc = main(["scan", "--rules", "no-such-rule", "--inventory", str(tmp_path / "x.json"), "--out", str(tmp_path)])
    assert rc == 2
    assert "unknown rule id" in capsys.readouterr().err
