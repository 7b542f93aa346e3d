"""Gate benchmark: a 100-task workflow (WDL and Nextflow) gated against an inventory file.

Builds the demo account in the in-process sandbox once, saves its inventory, writes
a synthetic workflow with N tasks in each language (every task a distinct image;
a quarter Docker Hub, half Quay, a quarter pinned by digest), then times the whole
``omics-ecr-audit gate PATH --inventory inv.json --map map.json --format json``
command in-process (extraction, resolution, checks, JSON and SARIF writing).

    python benchmarks/gate_benchmark.py [--tasks 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def image(i: int) -> str:
    if i % 4 == 0:
        return f"biocontainers/tool{i}:1.{i}"
    if i % 4 == 3:
        return f"quay.io/biocontainers/tool{i}:1.{i}@sha256:{i:064x}"
    return f"quay.io/biocontainers/tool{i}:1.{i}--h{i:07x}_0"


def write_nextflow(root: Path, n: int) -> None:
    (root / "main.nf").write_text("workflow { }\n")
    for i in range(n):
        module = root / "modules" / "local" / f"tool{i}"
        module.mkdir(parents=True)
        singularity = f"https://depot.galaxyproject.org/singularity/tool{i}:1.{i}"
        (module / "main.nf").write_text(
            f"process TOOL{i} {{\n"
            f"    // uses {image(i)} (a comment, not a container)\n"
            "    container \"${ workflow.containerEngine == 'singularity' ?\n"
            f"        '{singularity}' :\n"
            f"        '{image(i)}' }}\"\n"
            '    script:\n    """\n    true\n    """\n}\n'
        )


def write_wdl(root: Path, n: int) -> None:
    tasks = []
    calls = []
    for i in range(n):
        tasks.append(
            f'task t{i} {{\n  input {{ String docker = "{image(i)}" }}\n  command <<< true >>>\n'
            f"  runtime {{ docker: docker }}\n}}\n"
        )
        calls.append(f"  call t{i}")
    (root / "main.wdl").write_text(
        "version 1.0\n\nworkflow bench {\n" + "\n".join(calls) + "\n}\n\n" + "\n".join(tasks)
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[key]
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    import boto3
    from moto import mock_aws

    from auditor import sandbox
    from auditor.cli import main as cli
    from auditor.sandbox.seed import seed_demo_account

    sandbox.install()
    work = Path(tempfile.mkdtemp(prefix="gate-bench-"))
    with mock_aws():
        seed_demo_account(boto3.Session(region_name="us-east-1"), pause=0)
        cli(["scan", "--out", str(work / "scan"), "--quiet", "--save-inventory", str(work / "inv.json")])
    crm = {
        "registryMappings": [
            {"upstreamRegistryUrl": "registry-1.docker.io", "ecrRepositoryPrefix": "docker-hub"},
            {"upstreamRegistryUrl": "quay.io", "ecrRepositoryPrefix": "quay"},
        ]
    }
    (work / "map.json").write_text(json.dumps(crm))
    print(f"gate benchmark: {args.tasks} tasks, best/median of {args.repeat} runs, inventory file, in-process")
    for language, writer in (("nextflow", write_nextflow), ("wdl", write_wdl)):
        root = work / language
        root.mkdir()
        writer(root, args.tasks)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            cli(
                [
                    "gate",
                    str(root),
                    "--inventory",
                    str(work / "inv.json"),
                    "--map",
                    str(work / "map.json"),
                    "--format",
                    "json",
                    "--out",
                    str(work / f"{language}.json"),
                    "--sarif",
                    str(work / f"{language}.sarif"),
                ]
            )
            times.append(time.perf_counter() - start)
        doc = json.loads((work / f"{language}.json").read_text())
        assert len(doc["containers"]) == args.tasks, (language, len(doc["containers"]))
        print(
            f"  {language:<9} containers {len(doc['containers']):>4}  findings {len(doc['findings']):>4}  "
            f"best {min(times):.3f} s  median {statistics.median(times):.3f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
