"""CWL ``dockerPull: $(inputs.x)`` followed through workflow step wiring, defaults, valueFrom and params.

Standard CWL (v1.0-v1.2) declares ``DockerRequirement.dockerPull`` as a plain ``string``, not an ``Expression``
(a proposal to allow expressions, common-workflow-language#476, was not adopted) and cwltool passes the text to
``docker pull`` verbatim. Real workflows still write ``dockerPull: $(inputs.image)`` and wire the image in, so
the extractor follows the wiring as an engine that evaluated it would, and says in the reference that the form is
non-standard (``NON_STANDARD``, in the context of a resolved reference and in the reason of an unresolved one).

Where a resolved reference is reported (the convention these tests pin down):

* the whole ``dockerPull`` is one ``$(inputs.X)`` and the wiring ends at a literal written in a CWL file (a tool
  input ``default``, a step ``in`` ``default`` or constant ``valueFrom``, a workflow input ``default``): the file
  and line of **that literal** - where the image is written and must be changed;
* the value comes from ``params`` (the job file), or literal text and references are combined (in the
  ``dockerPull`` itself or in a step ``valueFrom``): the file and line of the text that composes it (the
  ``dockerPull`` line, or the ``valueFrom`` line);
* unresolved: the ``dockerPull`` line, with the reason naming the input that has no value.

A tool run by workflow steps is reported once per call path, its context ``tool <file> via <wf>#<step> > ...``
(outermost workflow first); a tool no step runs is the top level and takes ``params`` by its own input names.
"""

from __future__ import annotations

from pathlib import Path

from auditor.gate.containers import ContainerRef, Extraction
from auditor.gate.cwl import MAX_CALL_PATHS, NON_STANDARD, extract

DATA = Path(__file__).parent / "data" / "gate" / "cwl" / "wiring"

BWA = "quay.io/biocontainers/bwa:0.7.18--he4a0461_0"
TOOL = "tools/image_tool.cwl"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def via(ex: Extraction) -> dict[str, ContainerRef]:
    """The references by their call path (the part of the context after ``via``)."""
    found: dict[str, ContainerRef] = {}
    for c in ex.containers:
        path = c.context.split(" via ", 1)[1].split(" [", 1)[0] if " via " in c.context else ""
        assert path not in found, c
        found[path] = c
    return found


def row(c: ContainerRef) -> tuple[str, int, str | None]:
    return (c.file, c.line, c.raw)


IMAGE_TOOL = (
    "cwlVersion: v1.2\nclass: CommandLineTool\nrequirements:\n  DockerRequirement:\n    dockerPull: $(inputs.image)\n"
)


# ------------------------------------------------------------------------------------------------------ the wiring


def test_step_wiring_defaults_and_value_from_resolve_at_the_literal() -> None:
    ex = extract(DATA)
    assert ex.errors == []
    by = via(ex)
    assert set(by) == {
        "main.cwl#align",
        "main.cwl#sort",
        "main.cwl#stats",
        "main.cwl#optional",
        "main.cwl#tagged",
        "main.cwl#constant",
        "main.cwl#from_step",
        "main.cwl#plain",
        "main.cwl#sub > sub.cwl#inner",
    }
    assert row(by["main.cwl#align"]) == ("main.cwl", 9, BWA)  # `in: image: docker_image` -> workflow default
    assert row(by["main.cwl#sub > sub.cwl#inner"]) == ("main.cwl", 9, BWA)  # through a subworkflow
    assert row(by["main.cwl#stats"]) == ("main.cwl", 28, "quay.io/biocontainers/samtools:1.19--h50ea8bc_0")
    # an optional workflow input nobody gives is null, so the step default applies
    assert row(by["main.cwl#optional"]) == ("main.cwl", 33, "quay.io/biocontainers/fastqc:0.12.1--hdfd78af_0")
    # valueFrom composing literal text and $(inputs.tag): reported at the valueFrom
    assert row(by["main.cwl#tagged"]) == ("main.cwl", 40, "quay.io/biocontainers/samtools:1.21--h50ea8bc_0")
    assert row(by["main.cwl#constant"]) == ("main.cwl", 45, "quay.io/biocontainers/multiqc:1.21--pyhdfd78af_0")
    # not wired by the step: the tool's own input default
    assert row(by["main.cwl#plain"]) == ("tools/default_tool.cwl", 9, "quay.io/biocontainers/gawk:5.1.0")
    for ref in ex.containers:
        assert ref.expression == "$(inputs.image)"
        assert ref.context.startswith(("tool tools/image_tool.cwl via ", "tool tools/default_tool.cwl via "))
        if ref.raw is not None:
            assert NON_STANDARD in ref.context and ref.unresolved is None


def test_workflow_input_without_default_stays_unresolved_naming_the_input() -> None:
    by = via(extract(DATA))
    sort = by["main.cwl#sort"]
    assert row(sort) == (TOOL, 5, None)  # unresolved: at the dockerPull line
    assert "workflow input 'samtools_image' of main.cwl has no default" in (sort.unresolved or "")
    assert "params has no value for 'samtools_image'" in (sort.unresolved or "")
    assert NON_STANDARD in (sort.unresolved or "")
    from_step = by["main.cwl#from_step"]
    assert row(from_step) == (TOOL, 5, None)
    assert "output of step 'align'" in (from_step.unresolved or "")


def test_params_fill_workflow_inputs_and_override_defaults() -> None:
    params = {"samtools_image": "quay.io/biocontainers/samtools:1.17--hd87286a_1", "docker_image": "ubuntu:24.04"}
    by = via(extract(DATA, params))
    assert row(by["main.cwl#sort"]) == (TOOL, 5, "quay.io/biocontainers/samtools:1.17--hd87286a_1")
    assert row(by["main.cwl#align"]) == (TOOL, 5, "ubuntu:24.04")  # the job value wins over the default
    assert row(by["main.cwl#sub > sub.cwl#inner"]) == (TOOL, 5, "ubuntu:24.04")
    # params are the top-level job: a tool's own input name is not looked up when a step runs the tool
    assert row(via(extract(DATA, {"image": "nope:1"}))["main.cwl#sort"]) == (TOOL, 5, None)


def test_params_null_for_an_optional_input_lets_the_step_default_apply() -> None:
    by = via(extract(DATA, {"opt_image": None}))
    assert by["main.cwl#optional"].raw == "quay.io/biocontainers/fastqc:0.12.1--hdfd78af_0"
    assert via(extract(DATA, {"opt_image": "quay.io/a/b:2"}))["main.cwl#optional"].raw == "quay.io/a/b:2"


# ------------------------------------------------------------------------------------------------ top-level tools


def test_tool_no_step_runs_uses_its_default_or_params(tmp_path: Path) -> None:
    write(tmp_path, {"t.cwl": IMAGE_TOOL + "inputs:\n  image:\n    type: string\n    default: ubuntu:22.04\n"})
    (ref,) = extract(tmp_path).containers
    assert (ref.file, ref.line, ref.raw, ref.unresolved) == ("t.cwl", 9, "ubuntu:22.04", None)
    assert ref.context.startswith("tool t.cwl [")
    (ref,) = extract(tmp_path, {"image": "quay.io/biocontainers/bwa:0.7.18--he4a0461_0"}).containers
    assert (ref.file, ref.line, ref.raw) == ("t.cwl", 5, BWA)


def test_literal_docker_pull_is_reported_once_per_tool_not_per_step(tmp_path: Path) -> None:
    tool = "cwlVersion: v1.2\nclass: CommandLineTool\nhints:\n  DockerRequirement:\n    dockerPull: ubuntu:22.04\n"
    wf = (
        "cwlVersion: v1.2\nclass: Workflow\ninputs: []\noutputs: []\nsteps:\n"
        "  a: {run: t.cwl, in: {}, out: []}\n  b: {run: t.cwl, in: {}, out: []}\n"
    )
    write(tmp_path, {"t.cwl": tool + "inputs: []\noutputs: []\n", "wf.cwl": wf})
    assert [(c.file, c.line, c.context, c.raw) for c in extract(tmp_path).containers] == [
        ("t.cwl", 5, "tool t.cwl", "ubuntu:22.04")
    ]


# ---------------------------------------------------------------------------------------------------- other forms


def test_packed_graph_with_list_form_ids(tmp_path: Path) -> None:
    packed = """\
cwlVersion: v1.2
$graph:
  - id: "#tool"
    class: CommandLineTool
    requirements:
      - class: DockerRequirement
        dockerPull: "$(inputs['image'])"
    inputs:
      - id: "#tool/image"
        type: string
    outputs: []
  - id: "#main"
    class: Workflow
    inputs:
      - id: "#main/docker"
        type: string
        default: quay.io/biocontainers/bwa:0.7.18--he4a0461_0
    outputs: []
    steps:
      - id: "#main/run_it"
        run: "#tool"
        in:
          - id: "#main/run_it/image"
            source: "#main/docker"
        out: []
"""
    outer = (
        "cwlVersion: v1.2\nclass: Workflow\ninputs:\n  img: {type: string, default: 'ubuntu:20.04'}\n"
        "outputs: []\nsteps:\n  p:\n    run: packed.cwl\n    in: {docker: img}\n    out: []\n"
    )
    write(tmp_path, {"packed.cwl": packed})
    (ref,) = extract(tmp_path).containers
    assert (ref.file, ref.line, ref.raw) == ("packed.cwl", 17, BWA)
    assert " via packed.cwl#main/run_it" in ref.context
    write(tmp_path, {"outer.cwl": outer})  # `run: packed.cwl` runs the entry named main
    (ref,) = extract(tmp_path).containers
    assert (ref.file, ref.line, ref.raw) == ("outer.cwl", 4, "ubuntu:20.04")
    assert " via outer.cwl#p > packed.cwl#main/run_it" in ref.context


def test_imported_step_and_inline_run(tmp_path: Path) -> None:
    wf = """\
cwlVersion: v1.2
class: Workflow
inputs:
  image: {type: string, default: "ubuntu:22.04"}
outputs: []
steps:
  - $import: step.yml
  - id: inline
    in: {img: image}
    out: []
    run:
      class: CommandLineTool
      hints: [{class: DockerRequirement, dockerPull: $(inputs.img)}]
      inputs: {img: string}
      outputs: []
"""
    step = "id: imported\nrun: t.cwl\nin:\n  image: image\nout: []\n"
    write(tmp_path, {"wf.cwl": wf, "step.yml": step, "t.cwl": IMAGE_TOOL + "inputs: {image: string}\noutputs: []\n"})
    ex = extract(tmp_path)
    assert ex.errors == []
    assert sorted((c.file, c.line, c.raw, c.context.split(" [")[0]) for c in ex.containers) == [
        ("wf.cwl", 4, "ubuntu:22.04", "tool t.cwl via wf.cwl#imported"),
        ("wf.cwl", 4, "ubuntu:22.04", "tool wf.cwl#inline via wf.cwl#inline"),
    ]


def test_scatter_javascript_and_several_sources_stay_unresolved(tmp_path: Path) -> None:
    wf = """\
cwlVersion: v1.2
class: Workflow
requirements: {ScatterFeatureRequirement: {}, MultipleInputFeatureRequirement: {}}
inputs:
  images: {type: "string[]", default: ["a:1", "b:2"]}
  one: {type: string, default: "a:1"}
outputs: []
steps:
  scattered: {run: t.cwl, scatter: image, in: {image: images}, out: []}
  js: {run: t.cwl, in: {image: {source: one, valueFrom: "${ return self; }"}}, out: []}
  merged: {run: t.cwl, in: {image: [one, one]}, out: []}
  listed: {run: t.cwl, in: {image: images}, out: []}
  expr: {run: t.cwl, in: {image: {source: one, valueFrom: $(self.toUpperCase())}}, out: []}
"""
    write(tmp_path, {"wf.cwl": wf, "t.cwl": IMAGE_TOOL + "inputs: {image: string}\noutputs: []\n"})
    by = via(extract(tmp_path))
    reasons = {k: by[k].unresolved or "" for k in by}
    assert all(by[k].raw is None and by[k].line == 5 for k in by)
    assert "scatters over 'image'" in reasons["wf.cwl#scattered"]
    assert "JavaScript" in reasons["wf.cwl#js"]
    assert "several sources" in reasons["wf.cwl#merged"]
    assert "not a string" in reasons["wf.cwl#listed"]
    assert "not $(self) or $(inputs.NAME)" in reasons["wf.cwl#expr"]


def test_self_running_workflow_and_many_call_paths_terminate(tmp_path: Path) -> None:
    loop = "cwlVersion: v1.2\nclass: Workflow\ninputs: {image: string}\noutputs: []\nsteps:\n"
    loop += "  again: {run: loop.cwl, in: {image: image}, out: []}\n  t: {run: t2.cwl, in: {image: image}, out: []}\n"
    tool = IMAGE_TOOL + "inputs: {image: string}\noutputs: []\n"
    files = {"loop.cwl": loop, "t.cwl": tool, "t2.cwl": tool}
    # six levels, each running the next twice: 2**6 = 64 paths to the tool, plus one more from the top
    for level in range(6):
        nxt = f"l{level + 1}.cwl" if level < 5 else "t.cwl"
        files[f"l{level}.cwl"] = (
            "cwlVersion: v1.2\nclass: Workflow\ninputs: {image: {type: string, default: 'ubuntu:22.04'}}\n"
            f"outputs: []\nsteps:\n  a: {{run: {nxt}, in: {{image: image}}, out: []}}\n"
            f"  b: {{run: {nxt}, in: {{image: image}}, out: []}}\n"
        )
    files["l0.cwl"] += "  c: {run: t.cwl, in: {image: image}, out: []}\n"
    ex = extract(write(tmp_path, files))
    found = [c for c in ex.containers if c.file in ("l0.cwl", "t.cwl")]
    assert len([c for c in found if c.raw == "ubuntu:22.04"]) == MAX_CALL_PATHS
    assert any("more than" in (c.unresolved or "") for c in found)
    loop_ref = [c for c in ex.containers if "loop.cwl#t" in c.context]
    assert loop_ref and loop_ref[0].raw is None  # loop.cwl runs itself: its own input has no value
