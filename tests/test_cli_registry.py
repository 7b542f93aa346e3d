"""The command line is assembled from the subcommand registry (``auditor.commands``), and nothing else.

Adding a subcommand is one registered handler plus its test: these checks fail when a subcommand is
wired any other way, or when shared options drift apart between subcommands.
"""

from __future__ import annotations

import argparse
import pkgutil

import pytest

import auditor.commands
from auditor import cli
from auditor.commands import COMMANDS, Command, load_commands
from auditor.errors import AuditError, ConfigError, ExitCode, FixRefused, InputError, MapError, UsageError


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1
    return dict(actions[0].choices)


def test_every_registered_command_is_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for name, cmd in load_commands().items():
        assert name in text
        assert cmd.help.split()[0] in text


def test_the_registry_is_the_only_dispatch() -> None:
    commands = load_commands()
    assert set(_subparsers(cli.build_parser())) == set(commands)
    for name, cmd in commands.items():
        assert isinstance(cmd, Command) and cmd.name == name and callable(cmd.run) and callable(cmd.add_arguments)
    # cli.py holds no handler of its own: no function besides the parser, main and the error printer.
    own = {n for n, v in vars(cli).items() if callable(v) and getattr(v, "__module__", "") == cli.__name__}
    assert own == {"build_parser", "main", "_fail"}


def test_every_family_module_is_loaded() -> None:
    modules = {m.name for m in pkgutil.iter_modules(auditor.commands.__path__)} - {"common", "options"}
    assert modules == set(auditor.commands._MODULES)


def test_main_calls_the_registered_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[argparse.Namespace] = []

    def fake(args: argparse.Namespace) -> int:
        seen.append(args)
        return 7

    load_commands()
    original = COMMANDS["diff"]
    monkeypatch.setitem(COMMANDS, "diff", Command("diff", original.help, original.add_arguments, fake))
    assert cli.main(["diff", "a.json", "b.json", "--json"]) == 7
    assert seen[0].json is True and seen[0].old == "a.json"


@pytest.mark.parametrize("name", sorted(load_commands()))
def test_log_level_is_accepted_after_the_subcommand(name: str) -> None:
    parser = _subparsers(cli.build_parser())[name]
    assert "--log-level" in parser._option_string_actions


def test_log_level_after_the_subcommand_wins_and_its_absence_keeps_the_default() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["diff", "a", "b"]).log_level == "warning"
    assert parser.parse_args(["--log-level", "error", "diff", "a", "b"]).log_level == "error"
    assert parser.parse_args(["diff", "a", "b", "--log-level", "info"]).log_level == "info"
    assert parser.parse_args(["map", "validate", "m.json", "--log-level", "debug"]).log_level == "debug"


def test_shared_options_have_one_help_text() -> None:
    helps: dict[str, set[str]] = {}
    for parser in _subparsers(cli.build_parser()).values():
        for option in ("--config", "--profile", "--endpoint-url", "--quiet", "--log-level"):
            action = parser._option_string_actions.get(option)
            if action is not None:
                helps.setdefault(option, set()).add(action.help or "")
    assert set(helps) == {"--config", "--profile", "--endpoint-url", "--quiet", "--log-level"}
    assert all(len(texts) == 1 for texts in helps.values()), helps


def test_region_spellings() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["scan", "--regions", "us-east-1,eu-west-1"]).regions == ["us-east-1", "eu-west-1"]
    assert parser.parse_args(["scan", "--region", "eu-west-1"]).regions == ["eu-west-1"]
    assert parser.parse_args(["fix", "--region", "a-1", "--region", "b-1"]).regions == ["a-1", "b-1"]
    assert parser.parse_args(["targets"]).regions == []
    assert parser.parse_args(["gate", "wf", "--region", "eu-west-1"]).region == "eu-west-1"
    assert parser.parse_args(["gate", "wf", "--regions", "eu-west-1"]).region == "eu-west-1"
    assert parser.parse_args(["resolve", "ubuntu"]).region is None
    with pytest.raises(SystemExit):
        parser.parse_args(["rollback", "b.json", "--regions", "a-1,b-1"])


def test_errors_carry_their_exit_code() -> None:
    for error in (UsageError, ConfigError, InputError, FixRefused, MapError):
        assert issubclass(error, AuditError)
        assert error("x").exit_code == ExitCode.USAGE == 2
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 130]


def test_an_audit_error_maps_to_its_exit_code(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    class Later(AuditError):
        exit_code = ExitCode.PARTIAL

    def refuse(args: argparse.Namespace) -> int:
        raise Later("stopped\x1b[2J here")

    load_commands()
    original = COMMANDS["diff"]
    monkeypatch.setitem(COMMANDS, "diff", Command("diff", original.help, original.add_arguments, refuse))
    assert cli.main(["diff", "a", "b"]) == 4
    err = capsys.readouterr().err
    assert err.startswith("omics-ecr-audit: stopped") and "\x1b" not in err
