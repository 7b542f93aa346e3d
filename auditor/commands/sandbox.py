"""``sandbox``: serve the embedded sandbox on 127.0.0.1 (``auditor.sandbox.command``; moto is imported only then)."""

from __future__ import annotations

import argparse

from auditor.commands import command, options


def _sandbox_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=options.positive, default=5000, help="port to serve on, 0 for a free one (5000)")
    p.add_argument("--seed", choices=["demo", "empty"], default="demo", help="initial state (default: demo)")
    p.add_argument(
        "--upstream",
        action="append",
        metavar="URL=HOST:PORT",
        help="serve a cache rule's upstream (e.g. quay.io) from a registry on this machine, so the cache imports "
        "real images on a pull (copy primes through it); may be repeated",
    )


@command(
    "sandbox",
    help="serve the embedded sandbox (no AWS account needed) on 127.0.0.1 until Ctrl-C",
    description="Serve the embedded sandbox (moto + HealthOmics, ECR pull-through cache, CloudTrail) on "
    "127.0.0.1 until Ctrl-C or SIGTERM (exit 0), printing the endpoint and the environment to export. "
    "Exit 2: port in use, or the 'sandbox' extra is not installed. "
    "POST /_sandbox/reseed[?seed=demo|empty] resets and reseeds it while it runs.",
    arguments=_sandbox_arguments,
)
def run_sandbox(args: argparse.Namespace) -> int:
    from auditor.sandbox.command import run_sandbox

    return run_sandbox(args)
