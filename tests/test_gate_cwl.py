"""CWL extractor: DockerRequirement in every form, $import/$include, packed and inline processes, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.gate.containers import ContainerRef, Extraction
from auditor.gate.cwl import extract

DATA = Path(__file__).parent / "data" / "gate" / "cwl"


def rows(ex: Extraction) -> list[tuple[str, int, str, str | None]]:
    return [(c.file, c.line, c.context, c.raw) for c in ex.containers]


def only(ex: Extraction, file: str) -> ContainerRef:
    found = [c for c in ex.containers if c.file == file]
    assert len(found) == 1, found
    return found[0]


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


TOOL = "cwlVersion: v1.2\nclass: CommandLineTool\ninputs: []\noutputs: []\n"


# ------------------------------------------------------------------------------------------------------ forms


def test_list_form_map_form_hints_requirements_and_expression_tool() -> None:
    ex = extract(DATA / "forms")
    assert ex.language == "cwl"
    assert ex.errors == []
    assert rows(ex) == [
        ("expr.cwl", 7, "tool expr.cwl", "docker.io/library/node:20-slim"),  # ExpressionTool, hints list form
        ("tool_list.cwl", 11, "tool tool_list.cwl", "quay.io/biocontainers/samtools:1.19--h50ea8bc_0"),
        ("tool_map.cwl", 7, "tool tool_map.cwl", "ubuntu:22.04"),  # hints map form
    ]
    ref = only(ex, "tool_list.cwl")
    assert ref.language == "cwl"
    assert ref.expression == "quay.io/biocontainers/samtools:1.19--h50ea8bc_0"
    assert ref.unresolved is None


def test_doc_label_comments_job_files_ci_configs_and_node_modules_are_not_containers() -> None:
    ex = extract(DATA / "forms")
    files = {c.file for c in ex.containers}
    assert "job.yml" not in files
    assert not any(f.startswith((".github", "node_modules")) for f in files)
    raws = {c.raw for c in ex.containers}
    assert "quay.io/not/a-container:1" not in raws
    assert "python:3.12" not in raws
    assert "should/not-be:seen" not in raws
    assert [c.line for c in ex.containers if c.file == "tool_list.cwl"] == [11]  # not the comment, label or doc


# ----------------------------------------------------------------------------------------------------- workflows


def test_workflow_level_step_level_inline_run_and_run_file() -> None:
    ex = extract(DATA / "workflow")
    assert ex.errors == []
    assert rows(ex) == [
        ("main.cwl", 8, "workflow main.cwl", "quay.io/biocontainers/coreutils:8.25--1"),  # reported where written
        ("main.cwl", 17, "workflow main.cwl#align", "quay.io/biocontainers/bwa:0.7.18--he4a0461_0"),  # step-level
        ("main.cwl", 25, "tool main.cwl#count", "quay.io/biocontainers/gawk:5.1.0"),  # inline run
        ("main.cwl", 42, "tool main.cwl#sub/inner", "quay.io/biocontainers/multiqc:1.21--pyhdfd78af_0"),  # nested
        # run: tools/align.cwl (used by two steps) is scanned as its own file, once
        ("tools/align.cwl", 5, "tool tools/align.cwl", "quay.io/biocontainers/bwa:0.7.17--h5bf99c6_8"),
    ]


def test_packed_graph_document_json() -> None:
    ex = extract(DATA / "packed")
    assert ex.errors == []
    assert rows(ex) == [
        ("packed.cwl", 8, "workflow packed.cwl#main", "quay.io/biocontainers/coreutils:9.4"),
        ("packed.cwl", 21, "tool packed.cwl#bwa.cwl", "quay.io/biocontainers/bwa:0.7.18--he4a0461_0"),
        ("packed.cwl", 31, "tool packed.cwl#sort.cwl", "quay.io/biocontainers/samtools:1.19--h50ea8bc_0"),
    ]


def test_packed_graph_yaml_with_inline_run_in_main(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "packed.cwl": (
                "cwlVersion: v1.2\n"
                "$graph:\n"
                "  - class: Workflow\n"
                "    id: main\n"
                "    inputs: []\n"
                "    outputs: []\n"
                "    steps:\n"
                "      - id: main/qc\n"
                "        run:\n"
                "          class: CommandLineTool\n"
                "          hints: {DockerRequirement: {dockerPull: 'quay.io/biocontainers/fastqc:0.12.1'}}\n"
                "          inputs: []\n"
                "          outputs: []\n"
                "        in: []\n"
                "        out: []\n"
            )
        },
    )
    ex = extract(tmp_path)
    assert ex.errors == []
    assert rows(ex) == [("packed.cwl", 11, "tool packed.cwl#main/qc", "quay.io/biocontainers/fastqc:0.12.1")]


def test_run_target_with_another_suffix_is_scanned_and_missing_or_remote_targets_are_errors(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "wf.cwl": (
                "cwlVersion: v1.2\n"
                "class: Workflow\n"
                "inputs: []\n"
                "outputs: []\n"
                "steps:\n"
                "  a: {run: lib/tool.cwltool, in: {}, out: []}\n"
                "  b: {run: lib/missing.cwl, in: {}, out: []}\n"
                "  c: {run: 'https://example.org/tools/x.cwl', in: {}, out: []}\n"
                "  d: {run: ../outside.cwl, in: {}, out: []}\n"
            ),
            "lib/tool.cwltool": TOOL + "hints:\n  - class: DockerRequirement\n    dockerPull: alpine:3.20\n",
        },
    )
    ex = extract(tmp_path)
    assert rows(ex) == [("lib/tool.cwltool", 7, "tool lib/tool.cwltool", "alpine:3.20")]
    assert [(e.file, e.line) for e in ex.errors] == [("wf.cwl", 7), ("wf.cwl", 8), ("wf.cwl", 9)]
    assert "not found" in ex.errors[0].message
    assert "remote" in ex.errors[1].message
    assert "outside the workflow root" in ex.errors[2].message


def test_steps_list_form_with_step_hints(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "wf.cwl": (
                "cwlVersion: v1.2\n"
                "class: Workflow\n"
                "inputs: []\n"
                "outputs: []\n"
                "steps:\n"
                "  - id: sort\n"
                "    run: tool.cwl\n"
                "    hints:\n"
                "      DockerRequirement:\n"
                "        dockerPull: quay.io/biocontainers/samtools:1.19--h50ea8bc_0\n"
                "    in: []\n"
                "    out: []\n"
            ),
            "tool.cwl": TOOL,
        },
    )
    ex = extract(tmp_path)
    assert ex.errors == []
    assert rows(ex) == [("wf.cwl", 10, "workflow wf.cwl#sort", "quay.io/biocontainers/samtools:1.19--h50ea8bc_0")]


# ------------------------------------------------------------------------------------------------ $import/$include


def test_import_of_requirements_list_item_and_include_of_docker_pull() -> None:
    ex = extract(DATA / "imports")
    assert rows(ex) == [
        ("docker.yml", 2, "tool tool_import_item.cwl", "quay.io/biocontainers/seqtk:1.4--he4a0461_1"),
        ("image.txt", 2, "tool tool_include.cwl", "quay.io/biocontainers/bwa:0.7.17--h5bf99c6_8"),
        # reqs.yml is imported by two tools: one reference per tool, each with its own context
        ("reqs.yml", 3, "tool tool_import_list.cwl", "quay.io/biocontainers/fastp:0.23.4--hadf994f_2"),
        ("reqs.yml", 3, "tool tool_shared.cwl", "quay.io/biocontainers/fastp:0.23.4--hadf994f_2"),
        ("tool_missing.cwl", 7, "tool tool_missing.cwl", "quay.io/biocontainers/pigz:2.8"),  # extraction continued
    ]
    assert only(ex, "image.txt").expression == "quay.io/biocontainers/bwa:0.7.17--h5bf99c6_8"  # stripped


def test_missing_import_is_an_error_at_the_import_line() -> None:
    ex = extract(DATA / "imports")
    assert len(ex.errors) == 1
    err = ex.errors[0]
    assert (err.file, err.line) == ("tool_missing.cwl", 4)
    assert "nowhere.yml" in err.message


def test_import_of_docker_body_step_and_run_and_include_errors(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "wf.cwl": (
                "cwlVersion: v1.2\n"
                "class: Workflow\n"
                "inputs: []\n"
                "outputs: []\n"
                "steps:\n"
                "  a:\n"
                "    run: {$import: parts/tool.yml}\n"
                "    in: {}\n"
                "    out: []\n"
                "  b:\n"
                "    run:\n"
                "      class: CommandLineTool\n"
                "      requirements:\n"
                "        DockerRequirement: {$import: parts/body.yml}\n"
                "      inputs: []\n"
                "      outputs: []\n"
                "    in: {}\n"
                "    out: []\n"
                "  c:\n"
                "    run:\n"
                "      class: CommandLineTool\n"
                "      requirements:\n"
                "        DockerRequirement: {dockerPull: {$include: gone.txt}}\n"
                "      inputs: []\n"
                "      outputs: []\n"
                "    in: {}\n"
                "    out: []\n"
            ),
            "parts/tool.yml": TOOL + "hints: [{class: DockerRequirement, dockerPull: 'ubuntu:24.04'}]\n",
            "parts/body.yml": "# the body of a DockerRequirement\ndockerPull: debian:12-slim\n",
        },
    )
    ex = extract(tmp_path)
    assert rows(ex) == [
        ("parts/body.yml", 2, "tool wf.cwl#b", "debian:12-slim"),
        ("parts/tool.yml", 5, "tool parts/tool.yml", "ubuntu:24.04"),
    ]
    assert [(e.file, e.line) for e in ex.errors] == [("wf.cwl", 23)]
    assert "gone.txt" in ex.errors[0].message


def test_import_cycle_and_broken_imported_file_are_errors(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.cwl": TOOL + "requirements: {$import: loop.yml}\n",
            "loop.yml": "$import: a.cwl\n",
            "b.cwl": TOOL + "hints:\n  - $import: broken.yml\n",
            "broken.yml": "class: DockerRequirement\ndockerPull: [oops\n",
        },
    )
    ex = extract(tmp_path)
    assert ex.containers == []
    by_file = {e.file: e for e in ex.errors}
    assert set(by_file) == {"broken.yml", "loop.yml"}
    assert "circular" in by_file["loop.yml"].message
    assert by_file["loop.yml"].line == 1
    assert by_file["broken.yml"].line == 3
    assert by_file["broken.yml"].message.startswith("YAML syntax error")


# ------------------------------------------------------------------------------------------- not pullable / params


def test_docker_file_load_and_image_id_without_pull_are_reported_unresolved() -> None:
    ex = extract(DATA / "special")
    dockerfile = only(ex, "dockerfile.cwl")
    assert (dockerfile.line, dockerfile.raw) == (6, None)  # the Dockerfile text, not the dockerImageId line
    assert dockerfile.expression.startswith("dockerFile: FROM ubuntu:22.04")
    assert "builds the image locally" in (dockerfile.unresolved or "")
    assert "pullable" in (dockerfile.unresolved or "")
    load = only(ex, "load.cwl")
    assert (load.expression, load.raw) == ("images/tool.tar", None)
    assert "dockerLoad" in (load.unresolved or "")
    image_id = only(ex, "imageid.cwl")
    assert (image_id.expression, image_id.raw) == ("sha256-local-only", None)
    assert "dockerImageId" in (image_id.unresolved or "")
    empty = only(ex, "empty.cwl")
    assert (empty.line, empty.raw, empty.unresolved) == (4, None, "DockerRequirement names no image")


def test_docker_pull_with_image_id_reports_only_the_pull() -> None:
    ref = only(extract(DATA / "special"), "both.cwl")
    assert (ref.line, ref.raw, ref.unresolved) == (5, "quay.io/biocontainers/bedtools:2.31.1--hf5e1c6e_1", None)


def test_parameter_reference_unresolved_without_params() -> None:
    ex = extract(DATA / "special")
    ref = only(ex, "param.cwl")
    assert (ref.line, ref.expression, ref.raw) == (5, "$(inputs.image)", None)
    assert "params has no value for 'image'" in (ref.unresolved or "")
    js = only(ex, "js.cwl")
    assert js.raw is None
    assert "JavaScript" in (js.unresolved or "")


def test_parameter_reference_resolved_from_params() -> None:
    ex = extract(DATA / "special", {"image": "quay.io/biocontainers/bwa:0.7.18--he4a0461_0", "tag": "0.7.18"})
    ref = only(ex, "param.cwl")
    assert (ref.expression, ref.raw, ref.unresolved) == (
        "$(inputs.image)",
        "quay.io/biocontainers/bwa:0.7.18--he4a0461_0",
        None,
    )
    partial = only(ex, "partial.cwl")  # $(inputs['tag']) inside a literal
    assert (partial.raw, partial.unresolved) == ("quay.io/biocontainers/bwa:0.7.18", None)
    assert only(ex, "js.cwl").raw is None  # ${...} is never evaluated, whatever params say


@pytest.mark.parametrize(
    ("pull", "params", "reason"),
    [
        ("$(inputs.image)", {"image": {"class": "File", "path": "x"}}, "not a string"),
        ("$(inputs.image.basename)", {"image": "x"}, "not a plain"),
        ("$(runtime.outdir)", {}, "not a plain"),
        ("''", {}, "empty"),
    ],
)
def test_parameter_references_that_stay_unresolved(
    tmp_path: Path, pull: str, params: dict[str, object], reason: str
) -> None:
    write(tmp_path, {"t.cwl": TOOL + f"requirements:\n  - class: DockerRequirement\n    dockerPull: {pull}\n"})
    ref = only(extract(tmp_path, params), "t.cwl")
    assert ref.raw is None
    assert reason in (ref.unresolved or "")


# --------------------------------------------------------------------------------------------------- bad files


def test_yaml_syntax_error_is_reported_with_line_and_other_files_still_extracted() -> None:
    ex = extract(DATA / "broken")
    assert rows(ex) == [("good.cwl", 5, "tool good.cwl", "quay.io/biocontainers/samtools:1.19--h50ea8bc_0")]
    assert len(ex.errors) == 1  # helm.yaml is broken too, but is not CWL: skipped silently
    err = ex.errors[0]
    assert (err.file, err.line) == ("bad.cwl", 6)
    assert err.message.startswith("YAML syntax error")


def test_invalid_utf8_is_an_error_and_non_cwl_binary_yaml_is_skipped(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "latin1.cwl": b"cwlVersion: v1.2\nclass: CommandLineTool\nlabel: caf\xe9\n",
            "data.yml": b"\xff\xfe\x00binary",
            "ok.cwl": TOOL + "hints: {DockerRequirement: {dockerPull: 'alpine:3.20'}}\n",
        },
    )
    ex = extract(tmp_path)
    assert rows(ex) == [("ok.cwl", 5, "tool ok.cwl", "alpine:3.20")]
    assert [(e.file, e.line) for e in ex.errors] == [("latin1.cwl", 3)]
    assert "UTF-8" in ex.errors[0].message


def test_non_cwl_yaml_is_skipped_silently(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "job.yml": "image: ubuntu:22.04\nreads: {class: File, path: r.bam}\n",
            "docker-compose.yaml": "services:\n  app:\n    image: nginx:1.27\n",
            ".github/workflows/ci.yml": "jobs:\n  t:\n    container: {image: 'python:3.12'}\n",
            "fragment.cwl": "class: DockerRequirement\ndockerPull: never/imported:1\n",
            "list.yml": "- a\n- b\n",
            "empty.yml": "",
        },
    )
    ex = extract(tmp_path)
    assert ex.containers == []
    assert ex.errors == []


# -------------------------------------------------------------------------------------------------------- JSON


def test_json_format_cwl_with_tabs_and_compact_cwl() -> None:
    ex = extract(DATA / "json")
    assert ex.errors == []
    assert rows(ex) == [
        ("compact.cwl", 2, "tool compact.cwl", "alpine:3.20"),
        ("tool.json", 8, "tool tool.json", "ubuntu:24.04"),  # "runs in ubuntu:20.04" in doc is a mention
    ]


def test_json_cwl_generated_by_json_dumps(tmp_path: Path) -> None:
    doc = {
        "cwlVersion": "v1.2",
        "class": "CommandLineTool",
        "requirements": [{"class": "DockerRequirement", "dockerPull": "quay.io/biocontainers/bwa:0.7.18"}],
        "inputs": [],
        "outputs": [],
    }
    (tmp_path / "tool.json").write_text(json.dumps(doc, indent="\t"), encoding="utf-8")
    ex = extract(tmp_path)
    assert rows(ex) == [("tool.json", 7, "tool tool.json", "quay.io/biocontainers/bwa:0.7.18")]


# ---------------------------------------------------------------------------------------------------- general


def test_block_scalar_line_is_the_text_line(tmp_path: Path) -> None:
    write(tmp_path, {"t.cwl": TOOL + "requirements:\n  DockerRequirement:\n    dockerPull: >-\n      alpine:3.20\n"})
    ref = only(extract(tmp_path), "t.cwl")
    assert (ref.line, ref.raw) == (8, "alpine:3.20")


def test_full_uri_class_and_yaml_anchor(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "t.cwl": TOOL + "requirements:\n"
            "  - class: https://w3id.org/cwl/cwl#DockerRequirement\n"
            "    dockerPull: &img alpine:3.20\n",
            "u.cwl": TOOL + "hints:\n  - class: DockerRequirement\n    dockerPull: debian:12\n",
        },
    )
    assert rows(extract(tmp_path)) == [
        ("t.cwl", 7, "tool t.cwl", "alpine:3.20"),
        ("u.cwl", 7, "tool u.cwl", "debian:12"),
    ]


def test_whole_tree_is_deterministic_sorted_and_unique() -> None:
    first = extract(DATA)
    second = extract(DATA)
    assert first.model_dump() == second.model_dump()
    unique = [(c.file, c.line, c.context) for c in first.containers]
    assert unique == sorted(unique)
    assert len(unique) == len(set(unique))
    keys = [(c.file, c.line) for c in first.containers]
    assert all("\\" not in c.file and not c.file.startswith("/") for c in first.containers)
    assert first.root == str(DATA)
    # the per-folder results are the same references, prefixed by the folder
    assert ("workflow/tools/align.cwl", 5) in keys
    assert ("imports/reqs.yml", 3) in keys
    assert [(e.file, e.line) for e in first.errors] == [("broken/bad.cwl", 6), ("imports/tool_missing.cwl", 4)]
