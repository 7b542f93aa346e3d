"""WDL fidelity: values out of sub-workflow outputs, per-file failures, real public workflows.

Line convention for a value that comes out of a sub-workflow output: the reference keeps the file and
line of the task's ``runtime { docker | container }`` entry (the place that names the container, as for
every other source of a value: a literal, a task input default, a workflow input default, a
parameter), and ``raw`` is the value the sub-workflow output evaluates to (the literal or default
it comes from, wherever that sits). So ``tasks.wdl:9`` below, never ``versions.wdl:12``.

Task call outputs stay unresolved (they exist only once the task has run; see
``tests/test_gate_wdl.py::test_call_outputs_are_unresolved``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.gate.containers import ContainerRef, Extraction
from auditor.gate.wdl import extract

DATA = Path(__file__).parent / "data" / "gate" / "wdl"
REAL = Path(__file__).parent / "data" / "gate" / "real"


def by_context(extraction: Extraction) -> dict[str, ContainerRef]:
    out: dict[str, ContainerRef] = {}
    for ref in extraction.containers:
        assert ref.context not in out, ref
        out[ref.context] = ref
    return out


# --- values out of sub-workflow outputs ----------------------------------------------------------


def test_sub_workflow_output_literal_default_and_passed_value_are_determined() -> None:
    result = extract(DATA / "subworkflow_outputs")
    assert result.errors == []
    refs = by_context(result)
    determined = {
        # output { String docker = "quay.io/literal/tool:1.0" }, also through `if (true)` and select_first
        "task run (calls main.from_conditional, main.literal)": "quay.io/literal/tool:1.0",
        # output from the sub-workflow's input default and a private declaration
        "task run (call main.from_default)": "quay.io/biocontainers/samtools:1.17",
        # output from values the call passes
        "task run (call main.from_passed)": "public.ecr.aws/bio/samtools:1.20",
        # an output of a sub-workflow that is itself an output of a nested sub-workflow call
        "task run (call main.from_nested)": "public.ecr.aws/nested/samtools:1.17",
    }
    for context, raw in determined.items():
        ref = refs[context]
        assert (ref.file, ref.line, ref.expression, ref.raw, ref.unresolved) == ("tasks.wdl", 9, "docker", raw, None)


def test_sub_workflow_outputs_known_only_at_run_time_stay_unresolved() -> None:
    refs = by_context(extract(DATA / "subworkflow_outputs"))
    task_output = refs["task run (call main.from_task_output)"]
    assert task_output.raw is None and task_output.unresolved is not None
    assert "output of call main.make, known only at run time" in task_output.unresolved
    run_time = refs["task run (call main.from_run_time_output)"]  # sub-workflow output = a task's read_string()
    assert run_time.raw is None and run_time.unresolved is not None
    assert "v.version" in run_time.unresolved and "main.v.version_task" in run_time.unresolved
    gathered = refs["task run (call main.from_scatter)"]
    assert gathered.raw is None and gathered.unresolved is not None and "gathered from a scatter" in gathered.unresolved


def test_params_reach_sub_workflow_outputs() -> None:
    refs = by_context(extract(DATA / "subworkflow_outputs", {"main.v.registry": "x.io/y", "main.v.tag": "9"}))
    assert refs["task run (call main.from_default)"].raw == "x.io/y/samtools:9"
    assert refs["task run (call main.from_passed)"].raw == "public.ecr.aws/bio/samtools:1.20"  # bound in the call


def test_null_passed_to_an_input_with_default_uses_the_default(tmp_path: Path) -> None:
    """As miniwdl and Cromwell: an unset optional passed to ``String x = "..."`` leaves the default."""
    (tmp_path / "w.wdl").write_text(
        "version 1.0\n"
        "workflow w {\n"
        "  input { String? image }\n"
        "  call t { input: docker = image }\n"
        "  call o { input: docker = image }\n"
        "}\n"
        "task t {\n"
        '  input { String docker = "quay.io/x/default:1" }\n'
        "  command <<< true >>>\n"
        "  runtime { docker: docker }\n"
        "}\n"
        "task o {\n"
        '  input { String? docker = "quay.io/x/optional:1" }\n'
        "  command <<< true >>>\n"
        "  runtime { docker: docker }\n"
        "}\n"
    )
    refs = by_context(extract(tmp_path))
    assert refs["task t (call w.t)"].raw == "quay.io/x/default:1"
    optional = refs["task o (call w.o)"]  # an explicitly optional input takes the null: no container named
    assert optional.raw is None and optional.unresolved == "evaluates to null (no container named)"


# --- one file that does not typecheck --------------------------------------------------------------


def test_import_that_does_not_typecheck_keeps_everything_else() -> None:
    """main.wdl imports a broken library: both are findings; main's own tasks, the other imports and the
    sub-workflow they hold are still extracted (the sub-workflow walked as a main workflow)."""
    result = extract(DATA / "broken_import")
    errors = {(e.file, e.line): e.message for e in result.errors}
    assert set(errors) == {("lib/bad.wdl", 6), ("main.wdl", 4), ("main.wdl", 24)}
    assert "undefined_image" in errors[("lib/bad.wdl", 6)]
    assert "lib/bad.wdl" in errors[("main.wdl", 4)]
    assert "undefined_tag" in errors[("main.wdl", 24)]  # a task of main.wdl wrong in itself
    assert [(r.file, r.line, r.context, r.raw) for r in result.containers] == [
        ("lib/good.wdl", 9, "task good (call sub.in_sub)", "quay.io/biocontainers/sub:2.0"),
        ("main.wdl", 17, "task report", "ubuntu:24.04"),
    ]


def test_workflow_that_does_not_typecheck_keeps_its_tasks_and_imports() -> None:
    result = extract(DATA / "broken_workflow")
    assert [(e.file, e.line) for e in result.errors] == [("main.wdl", 6)]
    assert "no_such_input" in result.errors[0].message
    assert [(r.file, r.line, r.context, r.raw) for r in result.containers] == [
        ("main.wdl", 12, "task local", "ubuntu:24.04"),
        ("tasks.wdl", 9, "task align", "quay.io/biocontainers/bwa:0.7.17"),
    ]


def test_standalone_broken_file_does_not_hide_the_others(tmp_path: Path) -> None:
    (tmp_path / "ok.wdl").write_text('version 1.0\ntask ok {\n  command <<< true >>>\n  runtime { docker: "a:1" }\n}\n')
    (tmp_path / "bad.wdl").write_text(
        "version 1.0\ntask bad {\n  command <<< true >>>\n  runtime { docker: nope }\n}\n"
    )
    result = extract(tmp_path)
    assert [(e.file, e.line) for e in result.errors] == [("bad.wdl", 4)]
    assert [(r.file, r.raw) for r in result.containers] == [("ok.wdl", "a:1")]


# --- real public workflows -----------------------------------------------------------------------


def expected(name: str, file: str = "expected-containers.json") -> list[tuple[str, int, str | None, str]]:
    return sorted((e["file"], e["line"], e["raw"], e["context"]) for e in json.loads((REAL / name / file).read_text()))


def found(result: Extraction) -> list[tuple[str, int, str | None, str]]:
    return sorted((r.file, r.line, r.raw, r.context.split(" (")[0].removeprefix("task ")) for r in result.containers)


@pytest.mark.parametrize("name", ["gatk-seq-format-conversion", "pacbio-hifi-mag-wdl"])
def test_real_wdl_workflow_without_inputs(name: str) -> None:
    result = extract(REAL / name)
    assert result.errors == []
    assert found(result) == expected(name)


def test_real_images_through_sub_workflow_struct_outputs() -> None:
    """PacBio HiFi-MAG: the registry comes out of the ``backend_configuration`` sub-workflow's struct outputs,
    built in ``if (backend == ...)`` blocks from an input default, and flows down three sub-workflow levels."""
    params = {"metagenomics.backend": "AWS", "metagenomics.zones": "us-east-1a", "metagenomics.preemptible": True}
    result = extract(REAL / "pacbio-hifi-mag-wdl", params)
    assert result.errors == []
    assert found(result) == expected("pacbio-hifi-mag-wdl", "expected-containers-aws.json")
    assert all(r.unresolved is None for r in result.containers)
    hpc = {**params, "metagenomics.backend": "HPC", "metagenomics.container_registry": "public.ecr.aws/pacbio"}
    raws = [r.raw for r in extract(REAL / "pacbio-hifi-mag-wdl", hpc).containers]
    assert len(raws) == 18 and all(raw and raw.startswith("public.ecr.aws/pacbio/") for raw in raws)
