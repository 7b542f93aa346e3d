"""What an incremental scan (``scan --since-last``) saves over a full one, on the sandbox server.

    .venv/bin/python benchmarks/incremental_benchmark.py                         # 1,000 repositories, 50 ms
    .venv/bin/python benchmarks/incremental_benchmark.py --repos 100 --latency-ms 10 --json inc.json

The account is ``scan_benchmark.seed_account``'s (N repositories over three cache prefixes, workflows,
runs, roles), served by the sandbox server in this process; the scans go through HTTP with the same
client-side latency ``scan_benchmark`` injects. Four scans with every rule, in order:

1. **full**: the nightly scan a user runs today, saving its inventory;
2. **incremental, unchanged**: ``since`` = that inventory, nothing changed in between;
3. **incremental, changed**: after ``--change-percent`` of the repositories changed through the public API
   (half lose their repository policy, half get a new arm64-only image), recorded by the sandbox's
   CloudTrail as AWS would;
4. **full, changed**: the reference: the incremental scan must report exactly its findings.

The seeding's own events are seconds older than the first scan, where a real account's are hours old, so
the scans run with no clock-skew allowance (``incremental.Settings(skew=0)``); the 15-minute margin and
everything else are the defaults. The script exits 1 if a sanity check fails: the unchanged incremental
scan must find what the full one found, the changed one what the changed full scan found, and it must
re-read exactly the changed repositories.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scan_benchmark as sb  # the sibling script, importable however this one is run


def _scan(session: Any, endpoint: str, since: list[Any] | None) -> tuple[Any, list[Any], float]:
    from auditor import incremental
    from auditor.config import Config
    from auditor.scan import scan_live, select_rules

    kept: list[Any] = []
    start = time.perf_counter()
    doc = scan_live(
        Config(),
        select_rules(Config(), []),
        session=session,
        regions=[sb.REGION],
        endpoint_url=endpoint,
        keep_snapshots=kept,
        since=since,
        incremental_settings=incremental.Settings(skew=timedelta(0)),
    )
    return doc, kept, time.perf_counter() - start


def _statuses(doc: Any) -> dict[tuple[str, str], str]:
    return {(f.rule_id, f.resource): f.status.value for f in doc.findings}


def _row(label: str, doc: Any, seconds: float, repos: int) -> dict[str, Any]:
    calls = sum(doc.api_calls.values())
    cell = doc.run.incremental[0].model_dump(mode="json") if doc.run.incremental else None
    return {
        "scan": label,
        "seconds": round(seconds, 2),
        "calls": calls,
        "calls_per_repository": round(calls / repos, 3),
        "api_calls": dict(sorted(doc.api_calls.items())),
        "incremental": cell,
        "findings": dict(Counter(f.status.value for f in doc.findings)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--change-percent", type=float, default=5.0)
    parser.add_argument("--json", help="write every number to this file")
    args = parser.parse_args(argv)
    sb.use_fake_credentials()

    import boto3
    from botocore.config import Config as BotoConfig

    from auditor import logs, sandbox
    from auditor.sandbox import images
    from auditor.sandbox.server import start_server

    logs.configure("error")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server logs every request otherwise
    sandbox.install()
    load_start = os.getloadavg()
    server = start_server()
    try:
        endpoint = server.url
        seed_session = boto3.Session(region_name=sb.REGION)
        cfg = BotoConfig(inject_host_prefix=False)
        clients = {
            svc: seed_session.client(svc, endpoint_url=endpoint, config=cfg)
            for svc in ("ecr", "secretsmanager", "iam", "omics")
        }
        print(f"[seed] {args.repos} repositories ...", file=sys.stderr, flush=True)
        sb.seed_account(clients, args.repos)
        session = boto3.Session(region_name=sb.REGION)
        sb.add_latency(session, args.latency_ms / 1000)

        rows = []
        full, snaps, seconds = _scan(session, endpoint, None)
        rows.append(_row("full", full, seconds, args.repos))
        same, _, seconds = _scan(session, endpoint, snaps)
        rows.append(_row("incremental, unchanged", same, seconds, args.repos))

        changed = max(2, int(args.repos * args.change_percent / 100))
        names = [sb.repo_name(i) for i in range(0, args.repos, max(1, args.repos // changed))][:changed]
        ecr = clients["ecr"]
        for i, name in enumerate(names):
            if i % 2 == 0:
                with contextlib.suppress(ecr.exceptions.RepositoryPolicyNotFoundException):
                    ecr.delete_repository_policy(repositoryName=name)
            else:
                images.push_image(ecr, name, tag="bench-new", architecture="arm64")
        after, _, seconds = _scan(session, endpoint, snaps)
        rows.append(_row(f"incremental, {len(names)} repositories changed", after, seconds, args.repos))
        reference, _, seconds = _scan(session, endpoint, None)
        rows.append(_row("full, after the changes", reference, seconds, args.repos))
    finally:
        server.stop()

    problems = []
    if _statuses(same) != _statuses(full):
        problems.append("the unchanged incremental scan's findings differ from the full scan's")
    if _statuses(after) != _statuses(reference):
        problems.append("the changed incremental scan's findings differ from the full scan after the changes")
    reread = after.run.incremental[0].reread if after.run.incremental else {}
    if reread.get("policy", 0) + reread.get("images", 0) < len(names) // 2:
        problems.append(f"the changed incremental scan re-read too little: {reread}")

    print(f"## Incremental scans: {args.repos} repositories, {args.latency_ms:g} ms per request (server mode)\n")
    print("| scan | wall time (s) | API calls | calls per repository | LookupEvents | re-read | carried |")
    print("|---|---:|---:|---:|---:|---|---|")
    for row in rows:
        inc = row["incremental"] or {}
        reread_cell = ", ".join(f"{n} {k}" for k, n in (inc.get("reread") or {}).items()) or "-"
        carried_cell = ", ".join(f"{n} {k}" for k, n in (inc.get("carried") or {}).items()) or "-"
        print(
            f"| {row['scan']} | {row['seconds']:.1f} | {row['calls']:,} | {row['calls_per_repository']:.2f} | "
            f"{row['api_calls'].get('cloudtrail:LookupEvents', 0)} | {reread_cell} | {carried_cell} |"
        )
    load_end = os.getloadavg()
    print(f"\nload average at start {load_start}, at end {load_end}")
    print("sanity: " + ("every check passed" if not problems else "; ".join(problems)))
    if args.json:
        doc = {
            "generated": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": sb.machine_info(),
            "arguments": vars(args),
            "loadavg_at_start": load_start,
            "loadavg_at_end": load_end,
            "scans": rows,
            "problems": problems,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
