"""WDL container extraction: miniwdl parses, typechecks and evaluates; nothing is guessed or downloaded."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from auditor.gate.containers import ContainerRef, Extraction
from auditor.gate.wdl import extract

DATA = Path(__file__).parent / "data" / "gate" / "wdl"


def by_context(extraction: Extraction) -> dict[str, list[ContainerRef]]:
    out: dict[str, list[ContainerRef]] = {}
    for ref in extraction.containers:
        out.setdefault(ref.context, []).append(ref)
    return out


def one(extraction: Extraction, context: str) -> ContainerRef:
    refs = by_context(extraction)[context]
    assert len(refs) == 1, refs
    return refs[0]


def raws(extraction: Extraction) -> set[str | None]:
    return {ref.raw for ref in extraction.containers}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the WDL extractor must not use the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


# --- WDL 1.0 pipeline: literals, defaults, calls, sub-workflow ------------------------------------


def test_pipeline_every_task_with_file_line_and_expression() -> None:
    result = extract(DATA / "pipeline")
    assert result.language == "wdl"
    assert result.errors == []
    assert [(r.file, r.line, r.context, r.expression, r.raw) for r in result.containers] == [
        ("main.wdl", 43, "task report (call wf.report)", '"ubuntu:22.04"', "ubuntu:22.04"),
        ("tasks/align.wdl", 9, "task bwa_mem (call wf.third)", "docker", "quay.io/biocontainers/bwa:0.7.15"),
        ("tasks/align.wdl", 9, "task bwa_mem (call wf.align)", "docker", "quay.io/biocontainers/bwa:0.7.17"),
        ("tasks/align.wdl", 9, "task bwa_mem (call wf.realign)", "docker", "quay.io/biocontainers/bwa:0.7.18"),
        (
            "tasks/align.wdl",
            21,
            "task samtools_sort (call wf.samtools_sort)",
            "image",
            "public.ecr.aws/biocontainers/samtools:1.17",
        ),
        ("tasks/align.wdl", 31, "task orphan", "docker", "biocontainers/multiqc:1.14"),
        (
            "tasks/qc_tasks.wdl",
            9,
            "task fastqc (call wf.qc_sub.fastqc)",
            "docker",
            "quay.io/biocontainers/fastqc:0.11.9",
        ),
    ]
    assert all(r.language == "wdl" and r.unresolved is None for r in result.containers)


def test_literal_docker() -> None:
    ref = one(extract(DATA / "pipeline"), "task report (call wf.report)")
    assert (ref.line, ref.expression, ref.raw) == (43, '"ubuntu:22.04"', "ubuntu:22.04")


def test_task_input_default_used_when_call_passes_nothing() -> None:
    result = extract(DATA / "pipeline")
    assert one(result, "task bwa_mem (call wf.third)").raw == "quay.io/biocontainers/bwa:0.7.15"


def test_workflow_input_default_passed_through_call() -> None:
    result = extract(DATA / "pipeline")
    assert one(result, "task bwa_mem (call wf.align)").raw == "quay.io/biocontainers/bwa:0.7.17"


def test_task_called_twice_with_different_images() -> None:
    result = extract(DATA / "pipeline")
    bwa = [r for r in result.containers if r.context.startswith("task bwa_mem")]
    assert {r.line for r in bwa} == {9}
    assert [r.raw for r in bwa] == [
        "quay.io/biocontainers/bwa:0.7.15",
        "quay.io/biocontainers/bwa:0.7.17",
        "quay.io/biocontainers/bwa:0.7.18",
    ]


def test_interpolation_resolved_from_defaults_through_private_declaration() -> None:
    ref = one(extract(DATA / "pipeline"), "task samtools_sort (call wf.samtools_sort)")
    assert ref.expression == "image"  # String image = "~{registry}/samtools:~{version}"
    assert ref.raw == "public.ecr.aws/biocontainers/samtools:1.17"


def test_sub_workflow_call_followed() -> None:
    ref = one(extract(DATA / "pipeline"), "task fastqc (call wf.qc_sub.fastqc)")
    assert ref.file == "tasks/qc_tasks.wdl"
    assert ref.raw == "quay.io/biocontainers/fastqc:0.11.9"  # main's qc_image, not qc's own default


def test_uncalled_task_reported_with_its_own_defaults() -> None:
    ref = one(extract(DATA / "pipeline"), "task orphan")
    assert ref.raw == "biocontainers/multiqc:1.14"


def test_meta_parameter_meta_comments_and_command_ignored() -> None:
    result = extract(DATA / "pipeline")
    seen = " ".join(f"{r.raw} {r.expression}" for r in result.containers)
    for decoy in ("comment/only", "meta/only", "parameter_meta/only", "task/meta", "task/parameter_meta"):
        assert decoy not in seen
    assert "command/only" not in seen and "commented/out" not in seen
    (main,) = (r for r in result.containers if r.file == "main.wdl")
    assert main.raw == "ubuntu:22.04"


# --- parameters file --------------------------------------------------------------------------------


def test_params_override_workflow_input() -> None:
    result = extract(DATA / "pipeline", {"wf.docker_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/bwa:1"})
    assert one(result, "task bwa_mem (call wf.align)").raw == "123456789012.dkr.ecr.us-east-1.amazonaws.com/bwa:1"
    assert one(result, "task bwa_mem (call wf.realign)").raw == "quay.io/biocontainers/bwa:0.7.18"


def test_params_override_call_input() -> None:
    result = extract(DATA / "pipeline", {"wf.third.docker": "my.registry/bwa:2"})
    assert one(result, "task bwa_mem (call wf.third)").raw == "my.registry/bwa:2"
    assert one(result, "task bwa_mem (call wf.align)").raw == "quay.io/biocontainers/bwa:0.7.17"


def test_params_override_feeds_interpolation_and_sub_workflow() -> None:
    params = {"wf.registry": "mirror.example/bio", "wf.samtools_version": "1.20", "wf.qc_image": "fastqc:0.12"}
    result = extract(DATA / "pipeline", params)
    assert one(result, "task samtools_sort (call wf.samtools_sort)").raw == "mirror.example/bio/samtools:1.20"
    assert one(result, "task fastqc (call wf.qc_sub.fastqc)").raw == "fastqc:0.12"


def test_params_bare_top_level_keys_as_healthomics_accepts() -> None:
    result = extract(DATA / "pipeline", {"docker_image": "bare/bwa:1"})
    assert one(result, "task bwa_mem (call wf.align)").raw == "bare/bwa:1"
    qualified = extract(DATA / "pipeline", {"docker_image": "bare/bwa:1", "wf.docker_image": "qualified/bwa:1"})
    assert one(qualified, "task bwa_mem (call wf.align)").raw == "qualified/bwa:1"


def test_call_binding_wins_over_call_parameter() -> None:
    result = extract(DATA / "pipeline", {"wf.realign.docker": "ignored/bwa:9"})
    assert one(result, "task bwa_mem (call wf.realign)").raw == "quay.io/biocontainers/bwa:0.7.18"


def test_params_for_uncalled_task() -> None:
    result = extract(DATA / "pipeline", {"orphan.docker": "multiqc:1.20"})
    assert one(result, "task orphan").raw == "multiqc:1.20"


def test_param_of_wrong_type_is_unresolved_not_guessed() -> None:
    ref = one(extract(DATA / "pipeline", {"wf.docker_image": ["a", "b"]}), "task bwa_mem (call wf.align)")
    assert ref.raw is None
    assert ref.unresolved is not None and "wf.docker_image" in ref.unresolved


# --- WDL 1.1 container, arrays, '*', scatter --------------------------------------------------------


def test_wdl11_container_string() -> None:
    ref = one(extract(DATA / "v11"), "task string_container (call tools.string_container)")
    assert (ref.line, ref.raw) == (26, "public.ecr.aws/ubuntu/ubuntu:22.04")


def test_wdl11_container_array_reports_each_element_on_its_line() -> None:
    refs = by_context(extract(DATA / "v11"))["task array_container (call tools.array_container)"]
    assert [(r.line, r.expression, r.raw) for r in refs] == [
        (46, '"ghcr.io/org/tool:2.0"', "ghcr.io/org/tool:2.0"),
        (47, '"docker.io/org/tool:2.0"', "docker.io/org/tool:2.0"),
    ]


def test_wdl11_any_container_is_unresolved() -> None:
    ref = one(extract(DATA / "v11"), "task any_container (call tools.any_container)")
    assert (ref.raw, ref.expression) == (None, '"*"')
    assert ref.unresolved is not None and "any container" in ref.unresolved


def test_scatter_over_known_array_gives_one_ref_per_value() -> None:
    refs = by_context(extract(DATA / "v11"))["task default_container (call tools.default_container)"]
    assert [r.raw for r in refs] == ["quay.io/biocontainers/samtools:1.16", "quay.io/biocontainers/samtools:1.17"]


def test_wdl11_container_array_evaluated_as_a_whole(tmp_path: Path) -> None:
    (tmp_path / "t.wdl").write_text(
        "version 1.1\n"
        "task t {\n"
        '  input { Array[String] images = ["a/x:1", "b/x:1"] }\n'
        "  command <<< true >>>\n"
        "  runtime { container: images }\n"
        "}\n"
    )
    result = extract(tmp_path)
    expected = [(5, "images", "a/x:1"), (5, "images", "b/x:1")]
    assert [(r.line, r.expression, r.raw) for r in result.containers] == expected


def test_wdl12_requirements_container() -> None:
    result = extract(DATA / "v12")
    assert [(r.line, r.context, r.raw) for r in result.containers] == [(9, "task req", "alpine:3.19")]


# --- unresolved, never guessed -----------------------------------------------------------------------


def test_interpolation_unresolved_when_registry_required_without_default() -> None:
    ref = one(extract(DATA / "unresolved"), "task samtools (call wf.samtools)")
    assert ref.expression == '"~{registry}/samtools:~{version}"'
    assert ref.raw is None
    assert ref.unresolved == "required input wf.registry has no default and no parameter"


def test_interpolation_resolved_once_registry_given() -> None:
    result = extract(DATA / "unresolved", {"wf.registry": "quay.io/biocontainers"})
    ref = one(result, "task samtools (call wf.samtools)")
    assert (ref.raw, ref.unresolved) == ("quay.io/biocontainers/samtools:1.17", None)


def test_file_functions_are_never_evaluated(tmp_path: Path) -> None:
    version_file = tmp_path / "version.txt"
    version_file.write_text("1.17\n")
    result = extract(DATA / "unresolved", {"wf.version_file": str(version_file)})
    ref = one(result, "task from_file (call wf.from_file)")
    assert ref.raw is None
    assert ref.unresolved is not None and "read_string()" in ref.unresolved


def test_call_outputs_are_unresolved() -> None:
    ref = one(extract(DATA / "unresolved"), "task after (call wf.after)")
    assert ref.raw is None
    assert ref.unresolved is not None and "output of call wf.samtools" in ref.unresolved


def test_required_task_input_of_uncalled_task(tmp_path: Path) -> None:
    (tmp_path / "t.wdl").write_text(
        "version 1.0\ntask t {\n  input { String docker }\n  command <<< true >>>\n  runtime { docker: docker }\n}\n"
    )
    ref = one(extract(tmp_path), "task t")
    assert (ref.raw, ref.unresolved) == (None, "required input t.docker has no default and no parameter")


# --- errors ------------------------------------------------------------------------------------------


def test_syntax_error_reported_with_line_and_other_files_extracted() -> None:
    result = extract(DATA / "broken")
    assert [(r.file, r.raw) for r in result.containers] == [("good.wdl", "ubuntu:24.04")]
    errors = {(e.file, e.line): e.message for e in result.errors}
    assert set(errors) == {("bad_syntax.wdl", 10), ("bad_types.wdl", 10), ("uses_bad.wdl", 3)}
    assert errors[("bad_syntax.wdl", 10)].startswith("syntax error:")
    assert "missing_image" in errors[("bad_types.wdl", 10)]
    assert "bad_syntax.wdl" in errors[("uses_bad.wdl", 3)]


def test_https_import_refused_without_network(no_network: None) -> None:
    result = extract(DATA / "remote")
    assert [(r.file, r.raw) for r in result.containers] == [("local.wdl", "alpine:3.19")]
    (error,) = result.errors
    assert (error.file, error.line) == ("main.wdl", 3)
    assert "https://example.invalid/wdl/tasks.wdl" in error.message and "refused" in error.message


def test_import_outside_root_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.wdl").write_text(
        'version 1.0\ntask leak {\n  command <<< true >>>\n  runtime { docker: "secret/leak:1" }\n}\n'
    )
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.wdl").write_text('version 1.0\nimport "../outside.wdl" as o\nworkflow w {\n  call o.leak\n}\n')
    result = extract(root)
    assert result.containers == []
    (error,) = result.errors
    assert (error.file, error.line) == ("main.wdl", 2)
    assert "outside the workflow root" in error.message


def test_quantifier_only_errors_fall_back_to_relaxed_check(tmp_path: Path) -> None:
    (tmp_path / "w.wdl").write_text(
        "version 1.0\n"
        "workflow w {\n"
        '  input { String? image = "quay.io/x/y:1" }\n'
        "  call t { input: docker = image }\n"
        "}\n"
        "task t {\n"
        "  input { String docker }\n"
        "  command <<< true >>>\n"
        "  runtime { docker: docker }\n"
        "}\n"
    )
    result = extract(tmp_path)
    assert result.errors == []
    assert one(result, "task t (call w.t)").raw == "quay.io/x/y:1"


def test_deterministic_and_root_recorded() -> None:
    first, second = extract(DATA / "pipeline"), extract(DATA / "pipeline")
    assert first == second
    assert first.root == str(DATA / "pipeline")
    keys = [(r.file, r.line, r.raw or "") for r in first.containers]
    assert keys == sorted(keys)


def test_empty_root(tmp_path: Path) -> None:
    assert extract(tmp_path) == Extraction(language="wdl", root=str(tmp_path))


def test_same_value_from_several_calls_and_entry_points_is_one_ref(tmp_path: Path) -> None:
    (tmp_path / "lib.wdl").write_text(
        'version 1.0\ntask t {\n  input { String docker = "quay.io/x/t:1" }\n'
        "  command <<< true >>>\n  runtime { docker: docker }\n}\n"
    )
    (tmp_path / "a.wdl").write_text(
        'version 1.0\nimport "lib.wdl" as lib\nworkflow A {\n  call lib.t as x\n  call lib.t as y\n}\n'
    )
    (tmp_path / "b.wdl").write_text('version 1.0\nimport "lib.wdl" as lib\nworkflow B {\n  call lib.t\n}\n')
    result = extract(tmp_path)
    assert result.errors == []
    assert [(r.file, r.line, r.context, r.raw) for r in result.containers] == [
        ("lib.wdl", 5, "task t (calls A.x, A.y, B.t)", "quay.io/x/t:1")
    ]


def test_circular_imports_are_an_error_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "a.wdl").write_text('version 1.0\nimport "b.wdl" as b\ntask ta {\n  command <<< true >>>\n}\n')
    (tmp_path / "b.wdl").write_text('version 1.0\nimport "a.wdl" as a\ntask tb {\n  command <<< true >>>\n}\n')
    result = extract(tmp_path)
    assert result.containers == []
    assert {(e.file, e.line) for e in result.errors} == {("a.wdl", 2), ("b.wdl", 2)}
