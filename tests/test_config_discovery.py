"""Where the command line finds its configuration, and the OMICS_ECR_AUDIT_* variables laid over it.

Order: ``--config``, then ``$OMICS_ECR_AUDIT_CONFIG``, then ``./omics-ecr-audit.yaml``, then the user's config
folder (``$XDG_CONFIG_HOME/omics-ecr-audit/config.yaml``, else platformdirs'). Variables named after a top-level
setting override the file; command-line options override both. Every mistake is one ConfigError naming its
source (the file, or the variable). The last tests run the CLI as processes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.config import (
    CONFIG_VARIABLE,
    discover_config,
    env_overrides,
    env_settings,
    load_cli_config,
    user_config_path,
)
from auditor.errors import ConfigError
from auditor.findings import Severity
from tests.support.journeys import journey_env, run_cli

CUSTOM_RULE = {
    "id": "team-tagged",
    "title": "repositories carry a team tag",
    "resources": "repositories",
    "condition": "name != null",
}


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if path.suffix == ".json" else _yaml(data), encoding="utf-8")
    return path


def _yaml(data: object) -> str:
    import yaml

    return yaml.safe_dump(data)


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    """A working folder, a user config folder (XDG) and an explicit file, none written yet."""
    return {
        "cwd": tmp_path / "work",
        "xdg": tmp_path / "xdg",
        "explicit": tmp_path / "explicit.yaml",
        "named": tmp_path / "named.yaml",
    }


def _env(places: dict[str, Path], **extra: str) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(places["xdg"]), **extra}


def test_the_discovery_order(places: dict[str, Path]) -> None:
    cwd = places["cwd"]
    cwd.mkdir()
    env = _env(places)
    assert discover_config(None, env, cwd) == (None, "defaults")
    user = write(places["xdg"] / "omics-ecr-audit" / "config.yaml", {"severity_threshold": "info"})
    assert discover_config(None, env, cwd) == (user, "the user configuration")
    local = write(cwd / "omics-ecr-audit.yaml", {"severity_threshold": "medium"})
    assert discover_config(None, env, cwd) == (local, "./omics-ecr-audit.yaml")
    named = write(places["named"], {"severity_threshold": "high"})
    env[CONFIG_VARIABLE] = str(named)
    assert discover_config(None, env, cwd) == (named, CONFIG_VARIABLE)
    explicit = write(places["explicit"], {"severity_threshold": "critical"})
    assert discover_config(str(explicit), env, cwd) == (explicit, "--config")
    # and what each yields
    assert load_cli_config(str(explicit), env, cwd)[0].severity_threshold == Severity.CRITICAL
    assert load_cli_config(None, env, cwd)[0].severity_threshold == Severity.HIGH
    del env[CONFIG_VARIABLE]
    assert load_cli_config(None, env, cwd)[0].severity_threshold == Severity.MEDIUM
    local.unlink()
    assert load_cli_config(None, env, cwd)[0].severity_threshold == Severity.INFO


def test_the_user_folder_without_xdg_is_platformdirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_config_path", lambda app, appauthor=None: tmp_path / "platform" / app)
    assert user_config_path({}) == tmp_path / "platform" / "omics-ecr-audit" / "config.yaml"
    assert user_config_path({"XDG_CONFIG_HOME": "/x"}) == Path("/x/omics-ecr-audit/config.yaml")


def test_environment_overrides_top_level_settings(places: dict[str, Path]) -> None:
    cwd = places["cwd"]
    write(cwd / "omics-ecr-audit.yaml", {"regions": ["us-west-2"], "max_workers": 4, "custom_rules": [CUSTOM_RULE]})
    env = _env(
        places,
        OMICS_ECR_AUDIT_REGIONS="us-east-1, eu-west-1",
        OMICS_ECR_AUDIT_SEVERITY_THRESHOLD="HIGH",
        OMICS_ECR_AUDIT_MAX_WORKERS="16",
        OMICS_ECR_AUDIT_PROFILE="audit",
        OMICS_ECR_AUDIT_MAX_INPUT_MB="8",  # another setting of the tool, not of the file: ignored here
        OMICS_ECR_AUDIT_SERVICE_ROLES="",  # empty: unset
    )
    config, source = load_cli_config(None, env, cwd)
    assert config.regions == ["us-east-1", "eu-west-1"]
    assert config.severity_threshold == Severity.HIGH and config.max_workers == 16 and config.profile == "audit"
    assert [r.id for r in config.custom_rules] == ["team-tagged"]  # the rest of the file stands
    assert "omics-ecr-audit.yaml" in source and "OMICS_ECR_AUDIT_REGIONS" in source
    # only top-level scalars and lists of strings: nested sections stay in the file
    assert {"regions", "severity_threshold", "profile", "max_workers", "suppressions"} <= set(env_settings())
    assert not {"targets", "concurrency", "custom_rules", "rules", "copy_settings"} & set(env_settings())


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"OMICS_ECR_AUDIT_REGIONS": "us-east-1,mars"},
            "OMICS_ECR_AUDIT_REGIONS='us-east-1,mars': not AWS region names",
        ),
        ({"OMICS_ECR_AUDIT_MAX_WORKERS": "lots"}, "OMICS_ECR_AUDIT_MAX_WORKERS='lots'"),
        ({"OMICS_ECR_AUDIT_SEVERITY_THRESHOLD": "urgent"}, "OMICS_ECR_AUDIT_SEVERITY_THRESHOLD='urgent'"),
        ({"OMICS_ECR_AUDIT_REGION": "us-east-1"}, "did you mean OMICS_ECR_AUDIT_REGIONS?"),
    ],
    ids=["bad region", "not a number", "unknown severity", "typo"],
)
def test_a_bad_variable_is_one_error_naming_it(
    places: dict[str, Path], variables: dict[str, str], expected: str
) -> None:
    places["cwd"].mkdir()
    with pytest.raises(ConfigError) as raised:
        load_cli_config(None, _env(places, **variables), places["cwd"])
    assert expected in str(raised.value) and "\n" not in str(raised.value), str(raised.value)


def test_a_bad_file_names_the_file_or_the_variable_that_named_it(places: dict[str, Path]) -> None:
    cwd = places["cwd"]
    write(cwd / "omics-ecr-audit.yaml", {"regions": ["mars"]})
    with pytest.raises(ConfigError, match=r"omics-ecr-audit\.yaml: invalid configuration"):
        load_cli_config(None, _env(places), cwd)
    env = _env(places, OMICS_ECR_AUDIT_CONFIG=str(places["named"]))  # named, but not there
    with pytest.raises(ConfigError, match=f"^{CONFIG_VARIABLE}: .*named.yaml"):
        load_cli_config(None, env, cwd)


def test_unrelated_variables_of_the_prefix_are_left_alone() -> None:
    env = {"OMICS_ECR_AUDIT_GATE_MAX_FILE_MB": "5", "OMICS_ECR_AUDIT_SOMETHING_ELSE_ENTIRELY": "x"}
    assert env_overrides(env) == {}


# --- as processes ------------------------------------------------------------------------------------------------


def _rules(tmp: Path, *args: str, **env: str) -> list[str]:
    result = run_cli(["rules", "--json", *args], cwd=tmp, env=journey_env(tmp, XDG_CONFIG_HOME=str(tmp / "xdg"), **env))
    assert result.returncode == 0, result.describe()
    return [row["id"] for row in json.loads(result.stdout) if row["custom"]]


def test_the_cli_finds_its_configuration_as_documented(tmp_path: Path) -> None:
    def rule(name: str) -> dict[str, str]:
        return {**CUSTOM_RULE, "id": name}

    assert _rules(tmp_path) == []
    write(tmp_path / "xdg" / "omics-ecr-audit" / "config.yaml", {"custom_rules": [rule("from-user-folder")]})
    assert _rules(tmp_path) == ["from-user-folder"]
    write(tmp_path / "omics-ecr-audit.yaml", {"custom_rules": [rule("from-working-folder")]})
    assert _rules(tmp_path) == ["from-working-folder"]
    named = write(tmp_path / "named.yaml", {"custom_rules": [rule("from-variable")]})
    assert _rules(tmp_path, OMICS_ECR_AUDIT_CONFIG=str(named)) == ["from-variable"]
    explicit = write(tmp_path / "explicit.json", {"custom_rules": [rule("from-option")]})
    assert _rules(tmp_path, "--config", str(explicit), OMICS_ECR_AUDIT_CONFIG=str(named)) == ["from-option"]


def test_a_bad_variable_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = journey_env(tmp_path, XDG_CONFIG_HOME=str(tmp_path / "xdg"), OMICS_ECR_AUDIT_SEVERITY_THRESHOLD="urgent")
    result = run_cli(["scan", "--inventory", "inv.json"], cwd=tmp_path, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.describe()
    assert result.stderr.count("\n") == 1 and "OMICS_ECR_AUDIT_SEVERITY_THRESHOLD='urgent'" in result.stderr
