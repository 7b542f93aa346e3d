"""``permissions`` and ``rules``: what the code declares (the IAM policy a role needs, every rule); ``completion``:
the shell completion registration."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from auditor.commands import command, common, options
from auditor.config import Config
from auditor.errors import ExitCode
from auditor.terminal import printable


def _permissions_arguments(p: argparse.ArgumentParser) -> None:
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--scan", dest="kind", action="store_const", const="scan", help="member account, read-only")
    kind.add_argument("--fix", dest="kind", action="store_const", const="fix", help="member account, fix role")
    kind.add_argument("--hub", dest="kind", action="store_const", const="hub", help="audit account: Lambda role")
    kind.add_argument("--copy", dest="kind", action="store_const", const="copy", help="who runs copy --apply")
    options.add_format(p, default="json", choices=["json", "yaml"], help="output format")
    options.add_config(p)


@command(
    "permissions",
    help="the least-privilege IAM policy the code declares for a role",
    arguments=_permissions_arguments,
)
def run_permissions(args: argparse.Namespace) -> int:
    from auditor.permissions import render_permissions

    common.out(render_permissions(args.kind, args.format, common.config_of(args)))
    return ExitCode.OK


def rule_rows(config: Config) -> list[dict[str, Any]]:
    """One row per rule (built-in, then the config's custom rules): what ``rules --json`` prints."""
    from auditor.fix import fix_permissions, load_fixers
    from auditor.scan import all_rules

    fixers = load_fixers()

    def fixer_kind(rule_id: str) -> str | None:
        fixer = fixers.get(rule_id)
        if fixer is None:
            return None
        return "automatic" if fixer.automatic else "manual steps"

    return [
        {
            "id": r.meta.id,
            "severity": r.meta.severity.value,
            "title": r.meta.title,
            "fixable": r.meta.fixable,
            "custom": r.meta.custom,
            "group": r.meta.group,
            "permissions": r.meta.permissions,
            "fixer": fixer_kind(r.meta.id),
            "fix_permissions": fix_permissions([r.meta.id]),
            "rationale": r.meta.rationale,
            "remediation": r.meta.remediation,
            "references": r.meta.references,
        }
        for r in all_rules(config).values()
    ]


def _rules_arguments(p: argparse.ArgumentParser) -> None:
    options.add_json(p)
    options.add_config(p)


@command("rules", help="list every rule", arguments=_rules_arguments)
def run_rules(args: argparse.Namespace) -> int:
    rows = rule_rows(common.config_of(args))
    if args.json:
        print(json.dumps(rows, indent=2))
        return ExitCode.OK
    for row in rows:
        fix = "fixable" if row["fixable"] else "manual"
        # Custom rules (ids, titles, permissions) are read from files: each line escaped on its own.
        print(printable(f"{row['id']:<34} {row['severity']:<8} {fix:<8} {row['title']}"))
        print(printable(f"{'':<34} permissions: {', '.join(row['permissions'])}"))
        if row["fix_permissions"]:
            print(printable(f"{'':<34} fix needs: {', '.join(row['fix_permissions'])}"))
    return ExitCode.OK


SHELLS = ("bash", "zsh", "fish", "tcsh", "powershell")


def _completion_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")


@command(
    "completion",
    help='print the shell completion registration (e.g. eval "$(omics-ecr-audit completion bash)")',
    arguments=_completion_arguments,
    description="Print the code that registers tab completion of omics-ecr-audit's commands and options in "
    'SHELL (argcomplete). bash: add `eval "$(omics-ecr-audit completion bash)"` to ~/.bashrc; zsh: the same in '
    "~/.zshrc; fish: `omics-ecr-audit completion fish > ~/.config/fish/completions/omics-ecr-audit.fish`. "
    'Equivalent: `eval "$(register-python-argcomplete omics-ecr-audit)"`.',
)
def run_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(options.completion_script(args.shell))
    return ExitCode.OK
