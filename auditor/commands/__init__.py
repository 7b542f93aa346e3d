"""The subcommands of ``omics-ecr-audit``, registered by name.

Each subcommand is a :class:`Command`: its name, its help, a function declaring its options on an
``argparse`` parser, and a handler ``run(args) -> int`` returning the exit code. A module of this
package declares one family of subcommands with the :func:`command` decorator; ``auditor.cli``
builds the parser from :func:`load_commands` and dispatches through it, nothing else. Adding a
subcommand is one decorated handler (plus its test); a new family module is also listed in
``_MODULES``, the order ``--help`` lists them in.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

Handler = Callable[[argparse.Namespace], int]
Arguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Arguments
    run: Handler
    description: str | None = None  # --help of the subcommand (default: argparse's, from the usage)


COMMANDS: dict[str, Command] = {}
# Families, in the order --help lists their subcommands.
_MODULES = ("scan", "explain", "fix", "copy", "gate", "demo", "report", "info", "sandbox")


def command(
    name: str, *, help: str, arguments: Arguments, description: str | None = None
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of subcommand ``name``."""

    def register(run: Handler) -> Handler:
        if name in COMMANDS:
            raise ValueError(f"subcommand {name!r} registered twice")
        COMMANDS[name] = Command(name=name, help=help, add_arguments=arguments, run=run, description=description)
        return run

    return register


def load_commands() -> dict[str, Command]:
    """Every subcommand, in ``--help`` order (importing a family module registers its subcommands)."""
    for module in _MODULES:
        import_module(f"{__name__}.{module}")
    return COMMANDS
