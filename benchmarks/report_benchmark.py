"""Benchmark the HTML report at organisation scale: render time, file size, and the page's speed in Chromium.

    .venv/bin/python benchmarks/report_benchmark.py                    # 50,000 findings
    .venv/bin/python benchmarks/report_benchmark.py --findings 5000 --keep report.html

Builds a synthetic but realistic findings document: ``--accounts`` accounts x ``--regions`` regions (one cell
could not be scanned), in each cell the per-registry findings (cache rules, registry policy, creation
templates, rule changes, service roles, workflows) and then per-repository and per-image findings up to
``--findings`` in all, with the evidence the real rules write (policy excerpts, decisions, manifests,
``api_error`` objects), mixed statuses and a suppression muting one repository family. A previous run (a
different mix of statuses over the same resources) is passed too, so the diff is part of the cost.

It renders the report ``--repeat`` times (median reported), then, when /usr/bin/chromium exists, opens it
from a file in headless Chromium ``--repeat`` times and measures, in the page: time to the first table page
(from navigation), and the time a status filter, a first and a second search, the first expanded row (it
parses the evidence island) and a sort by resource and by severity take until the next frame. It prints a
Markdown table. A script, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from auditor.engine import Rule, cell_error_findings, load_builtin_rules
from auditor.findings import Finding, FindingsDocument, RunInfo, Status, Target, build_document, finding_id
from auditor.models import CallError
from auditor.reports import RenderOptions
from auditor.reports.chromium import CHROMIUM, launch
from auditor.reports.html import render_html
from auditor.scan import suppress
from auditor.suppressions import Suppression

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1", "us-west-2", "eu-central-1")
PREFIXES = {"docker-hub": "registry-1.docker.io", "quay": "quay.io", "ecr-public": "public.ecr.aws", "ghcr": "ghcr.io"}
NAMESPACES = ("biocontainers", "library", "nf-core", "broadinstitute", "legacy")
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]


# --- a realistic document ---------------------------------------------------------------------


def _omics_policy(account: str) -> str:
    statement = {
        "Sid": "OmicsPull",
        "Effect": "Allow",
        "Principal": {"Service": "omics.amazonaws.com"},
        "Action": PULL,
        "Condition": {"StringEquals": {"aws:SourceAccount": account}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _api_error(operation: str, resource: str) -> dict[str, Any]:
    return CallError(
        operation=operation,
        code="AccessDeniedException",
        message=f"User: arn:aws:sts::000000000000:assumed-role/audit/x is not authorized to perform {operation}",
        permission=operation,
        resource=resource,
    ).model_dump(exclude_none=True)


@dataclass(frozen=True)
class Judged:
    """What one synthetic rule result says, before it becomes a Finding."""

    resource: str
    message: str
    evidence: dict[str, Any]


class Cell:
    """Findings of one (account, region), shaped like the real rules' results."""

    def __init__(self, rules: dict[str, Rule], account: str, region: str, rng: random.Random) -> None:
        self.rules, self.account, self.region, self.rng = rules, account, region, rng

    def arn(self, repository: str) -> str:
        return f"arn:aws:ecr:{self.region}:{self.account}:repository/{repository}"

    def status(self) -> Status:
        # Few ERRORs, as in a healthy organisation: the coverage matrix then shows the few cells that have one.
        weights = {Status.PASS: 640, Status.FAIL: 260, Status.NOT_APPLICABLE: 97, Status.ERROR: 3}
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def finding(self, rule_id: str, make: Callable[[Status], Judged]) -> Finding:
        meta = self.rules[rule_id].meta
        status = self.status()
        judged = make(status)
        evidence = judged.evidence
        if status == Status.ERROR:
            evidence = {"api_error": _api_error("ecr:GetRepositoryPolicy", judged.resource)}
        return Finding(
            id=finding_id(rule_id, self.account, self.region, judged.resource),
            rule_id=rule_id,
            title=meta.title,
            status=status,
            severity=meta.severity,
            account=self.account,
            region=self.region,
            resource=judged.resource,
            message=judged.message if status != Status.ERROR else f"Could not read {judged.resource}: AccessDenied",
            evidence=evidence,
            remediation=meta.remediation,
            fixable=meta.fixable and status == Status.FAIL,
        )

    def registry_findings(self) -> Iterator[Finding]:
        for prefix, upstream in PREFIXES.items():
            pattern = self.arn(f"{prefix}/*")
            yield self.finding(
                "ptc-rule-coverage",
                lambda s, p=prefix, u=upstream: Judged(
                    f"pull-through-cache-rule/{p}",
                    f"Pull through cache rule {p!r} → {u} is usable." if s == Status.PASS else f"Rule {p!r} is broken.",
                    {"rule": {"ecr_repository_prefix": p, "upstream_registry_url": u, "registry_id": self.account}},
                ),
            )
            yield self.finding(
                "registry-policy-allows-omics",
                lambda s, p=prefix, r=pattern: Judged(
                    f"registry-policy/{p}",
                    f"The registry policy {'lets' if s == Status.PASS else 'does not let'} omics create {r}.",
                    {"prefix": p, "resource": r, "decision": s.value, "policy_excerpt": _omics_policy(self.account)},
                ),
            )
            yield self.finding(
                "creation-template-grants-omics",
                lambda s, p=prefix: Judged(
                    f"creation-template-coverage/{p}",
                    f"Template {p!r} covers {p!r}.",
                    {"prefix": p, "template_prefix": p, "applied_for": ["PULL_THROUGH_CACHE"], "decision": s.value},
                ),
            )
            yield self.finding(
                "ptc-rule-unchanged-during-run",
                lambda s, p=prefix: Judged(
                    f"pull-through-cache-rule/{p}",
                    f"No change to pull through cache rule {p!r} overlapped a run.",
                    {"changes": [{"change": "created", "at": "2026-02-01T10:00:00+00:00"}], "runs_considered": 12},
                ),
            )
        for role in ("OmicsWorkflowRole", "OmicsLegacyRole", "OmicsBatchRole"):
            arn = f"arn:aws:iam::{self.account}:role/{role}"
            yield self.finding(
                "service-role-can-pull",
                lambda s, a=arn, r=role: Judged(
                    a,
                    f"Role {r} may pull from all 4 cache repository scopes.",
                    {
                        "role": a,
                        "why_checked": ["trusts omics.amazonaws.com"],
                        "targets": [self.arn(f"{p}/*") for p in PREFIXES],
                    },
                ),
            )
        for workflow in range(3):
            arn = f"arn:aws:omics:{self.region}:{self.account}:workflow/{4000000 + workflow}"
            yield self.finding(
                "registry-map-consistent",
                lambda s, a=arn: Judged(
                    a,
                    "The workflow's registry map agrees with the PTC rules.",
                    {
                        "container_registry_map": {
                            "registry_mappings": [
                                {"upstream_registry_url": u, "ecr_repository_prefix": p} for p, u in PREFIXES.items()
                            ]
                        }
                    },
                ),
            )

    def repository_findings(self, index: int) -> Iterator[Finding]:
        prefix = list(PREFIXES)[index % len(PREFIXES)]
        repository = f"{prefix}/{NAMESPACES[index % len(NAMESPACES)]}/tool-{index:05d}"
        yield self.finding(
            "repository-policy-grants-omics",
            lambda s: Judged(
                self.arn(repository),
                f"Repository {repository} {'lets' if s == Status.PASS else 'does not let'} omics.amazonaws.com pull.",
                {
                    "repository": repository,
                    "why_checked": [f"under PTC prefix {prefix}"],
                    "decision": s.value,
                    "missing": [] if s == Status.PASS else PULL,
                    "policy_excerpt": _omics_policy(self.account),
                },
            ),
        )
        digest = f"sha256:{self.rng.getrandbits(256):064x}"
        yield self.finding(
            "image-not-arm-only",
            lambda s: Judged(
                f"{self.arn(repository)}:1.{index % 7}",
                f"Image {repository}:1.{index % 7} {'provides' if s == Status.PASS else 'lacks'} linux/amd64.",
                {
                    "image": f"{repository}:1.{index % 7}",
                    "origins": [f"run-task:{5000000 + index}/{6000000 + index}"],
                    "digest": digest,
                    "media_type": "application/vnd.oci.image.index.v1+json",
                    "platforms": ["linux/amd64", "linux/arm64"] if s == Status.PASS else ["linux/arm64"],
                    "platform_source": "index",
                },
            ),
        )


def synthetic_document(count: int, accounts: int, regions: int, seed: int, run_id: str) -> FindingsDocument:
    rules = load_builtin_rules()
    rng = random.Random(seed)
    cells = [(f"{100000000000 + a * 7919:012d}", REGIONS[r]) for a in range(accounts) for r in range(regions)]
    down = cells[-1]  # one cell could not be scanned at all
    per_cell = [Cell(rules, a, r, rng) for a, r in cells[:-1]]
    findings = [f for cell in per_cell for f in cell.registry_findings()]
    error = CallError(operation="sts:GetCallerIdentity", code="AccessDenied", permission="sts:GetCallerIdentity")
    findings += cell_error_findings(rules.values(), *down, error)
    index = 0
    while len(findings) < count:
        findings.extend(per_cell[index % len(per_cell)].repository_findings(index))
        index += 1
    targets = [Target(account=a, region=r, status="scanned") for a, r in cells[:-1]]
    targets.append(Target(account=down[0], region=down[1], status="error", error=error))
    run = RunInfo(id=run_id, started=datetime.now(UTC), mode="live", targets=targets, rules=list(rules))
    api_calls = {"ecr:DescribeRepositories": len(cells), "ecr:GetRepositoryPolicy": index, "ecr:BatchGetImage": index}
    doc = build_document(run, findings[:count], api_calls)
    legacy = Suppression(
        resource="arn:aws:ecr:*:repository/*/legacy/*",
        reason="legacy pipeline images, retired in Q3",
        owner="genomics-platform@example.org",
        expires=date(2099, 1, 1),
    )
    return suppress(doc, [legacy])


# --- measuring ------------------------------------------------------------------------------

# Runs in the page: one UI action, timed until the handler returned and until the next frame was produced.
MEASURE_JS = """async ([kind, target]) => {
  const started = performance.now();
  if (kind === 'click') {
    document.querySelector(target).click();
  } else {
    const box = document.getElementById('filter-search');
    box.value = target;
    box.dispatchEvent(new Event('input', { bubbles: true }));
  }
  const handled = performance.now();
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  return { handled: handled - started, painted: performance.now() - started,
           showing: document.getElementById('showing').textContent };
}"""

# The searches come last: at small --findings they may leave no row to expand.
ACTIONS = (
    ("status filter (show PASS)", "click", '#filters input[name="status"][value="PASS"]'),
    ("first expand (parses all evidence)", "click", "#findings-body button[data-toggle]"),
    ("sort by resource", "click", 'th button[data-sort="resource"]'),
    ("sort by severity", "click", 'th button[data-sort="severity"]'),
    ("first search (builds the index)", "search", "tool-0123"),
    ("second search", "search", "legacy/tool-00"),
)


def time_render(doc: FindingsDocument, previous: FindingsDocument, repeat: int) -> tuple[float, str]:
    times, html = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        html = render_html(doc, RenderOptions(previous=previous))
        times.append(time.perf_counter() - started)
    return statistics.median(times), html


def time_browser(path: Path, repeat: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    samples: dict[str, list[float]] = {}
    with sync_playwright() as playwright:
        browser = launch(playwright)
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.on("request", lambda r, errors=errors: r.url.startswith("file://") or errors.append(r.url))
            page.goto(path.as_uri(), wait_until="commit")
            page.wait_for_selector("#findings-body tr.row", timeout=120_000)
            # From navigation start to the first rendered table page, measured by the page's own clock.
            first = page.evaluate("performance.now()")
            samples.setdefault("first table page (from navigation)", []).append(first)
            samples.setdefault("JS heap after load (MB)", []).append(
                page.evaluate("performance.memory ? performance.memory.usedJSHeapSize / 1e6 : NaN")
            )
            for label, kind, target in ACTIONS:
                result = page.evaluate(MEASURE_JS, [kind, target])
                samples.setdefault(label, []).append(result["painted"])
            if errors:
                raise SystemExit(f"the page failed or made requests: {errors}")
            page.close()
        browser.close()
    return {label: statistics.median(values) for label, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=50_000, help="findings in the document (default 50,000)")
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--regions", type=int, default=3, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--repeat", type=int, default=3, help="renders and page loads; medians are reported")
    parser.add_argument("--keep", type=Path, help="write the report here (default: a temporary file)")
    parser.add_argument("--no-browser", action="store_true", help="only time the rendering")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    doc = synthetic_document(args.findings, args.accounts, args.regions, seed=1, run_id="bench-current")
    previous = synthetic_document(args.findings, args.accounts, args.regions, seed=2, run_id="bench-previous")
    built = time.perf_counter() - started
    render_s, html = time_render(doc, previous, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "report.html"
        path.write_text(html, encoding="utf-8")
        size_mb = path.stat().st_size / 1e6
        browser = {} if args.no_browser or not CHROMIUM.exists() else time_browser(path, args.repeat)

    counts = doc.summary["by_status"]
    print(f"findings: {len(doc.findings):,} ({', '.join(f'{k} {v:,}' for k, v in counts.items())}), ", end="")
    print(f"{len(doc.run.targets)} cells; documents built in {built:.1f} s")
    print()
    print("| measure | median |")
    print("|---|---:|")
    print(f"| render HTML ({args.repeat} runs) | {render_s:.2f} s |")
    print(f"| file size | {size_mb:.1f} MB |")
    for label, value in browser.items():
        unit = "" if "MB" in label else " ms"
        print(f"| {label} | {value:,.0f}{unit} |")
    if not browser and not args.no_browser:
        print(f"\n{CHROMIUM} not found: browser timings skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
