"""Nextflow fidelity: closure containers, pipeline discovery, docker.registry from a param, Docker Hub hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.gate import gate
from auditor.gate.containers import ContainerRef, Extraction
from auditor.gate.nextflow import extract, pipeline_roots
from auditor.gate.resolve import resolve
from auditor.models import ContainerRegistryMap, RegistryMapping
from auditor.refs import DOCKER_HUB, canonical_registry, is_docker_hub_host, parse_reference

DATA = Path(__file__).parent / "data" / "gate" / "nextflow"
REAL = Path(__file__).parent / "data" / "gate" / "real"
ACCOUNT, REGION = "123456789012", "us-east-1"
ECR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def by_context(extraction: Extraction) -> dict[str, ContainerRef]:
    refs = {ref.context: ref for ref in extraction.containers}
    assert len(refs) == len(extraction.containers)
    return refs


# --- 1: closures ------------------------------------------------------------------------------------


def test_config_closure_with_the_engine_ternary_gives_the_docker_branch() -> None:
    ex = extract(DATA / "closures")
    assert ex.errors == []
    refs = by_context(ex)
    expected = {
        # one-line ternary in a closure
        "config withName:FASTQC": (3, "biocontainers/fastqc:0.12.1--hdfd78af_0"),
        # multi-line `in [...] && !task.ext... \n ? a \n : b` inside a multi-line closure
        "config withName:MULTIQC": (9, "biocontainers/multiqc:1.25--pyhdfd78af_0"),
        # the nf-core GString ternary wrapped in a closure
        "config withLabel:gstring": (13, "biocontainers/samtools:1.21--h50ea8bc_0"),
        # `{ return x }`
        "config withName:RETURNS": (16, "biocontainers/bedtools:2.31.1--hf5e1c6e_2"),
        # two Docker branches decided by a param the config sets (use_gpu = false)
        "config withName:BY_PARAM": (19, "biocontainers/bwa:0.7.18--he4a0461_1"),
    }
    for context, (line, raw) in expected.items():
        ref = refs[context]
        assert (ref.file, ref.line, ref.raw, ref.unresolved) == ("conf/modules.config", line, raw, None), context
        assert ref.default_registry == "quay.io"


def test_process_closure_directive_gives_the_docker_branch() -> None:
    refs = by_context(extract(DATA / "closures"))
    trim = refs["process TRIM"]
    assert (trim.file, trim.line, trim.raw) == (
        "modules/local/trim/main.nf",
        7,
        "biocontainers/trimgalore:0.6.10--hdfd78af_0",
    )
    assert trim.expression.startswith("{ workflow.containerEngine == 'singularity'")
    cut = refs["process CUT"]
    assert (cut.line, cut.raw) == (20, "biocontainers/cutadapt:4.9--py312hf67a6ed_0")


def test_closure_needing_run_time_values_stays_unresolved() -> None:
    refs = by_context(extract(DATA / "closures"))
    attempt = refs["config withName:BY_ATTEMPT"]
    assert attempt.raw is None
    assert "closure" in (attempt.unresolved or "") and "task.attempt" in (attempt.unresolved or "")
    with_arg = refs["config withName:WITH_ARG"]  # a closure with parameters is not called
    assert with_arg.raw is None and "closure" in (with_arg.unresolved or "")


def test_singularity_only_closure_is_not_guessed(tmp_path: Path) -> None:
    """Both branches Singularity: nothing Docker to choose, the condition decides or it stays unresolved."""
    write(
        tmp_path,
        {
            "nextflow.config": "process { withName: A { container = { workflow.containerEngine == 'singularity' "
            "? 'https://depot.galaxyproject.org/singularity/a:1' : 'oras://example.org/a:1' } } }\n",
        },
    )
    ref = extract(tmp_path).containers[0]
    assert ref.raw is None and "workflow.containerEngine" in (ref.unresolved or "")


def test_closure_elsewhere_is_not_called(tmp_path: Path) -> None:
    """Only a container's own value is called; a closure inside a GString or a params value stays opaque."""
    write(
        tmp_path,
        {
            "nextflow.config": "params.img = { 'biocontainers/a:1' }\n",
            "main.nf": 'process A {\n    container "${params.img}"\n}\n',
        },
    )
    ref = extract(tmp_path).containers[0]
    assert ref.raw is None and "closure" in (ref.unresolved or "")


def test_real_pipeline_closure_in_modules_config() -> None:
    """nf-core/differentialabundance conf/modules.config sets QUARTONOTEBOOK's container with a closure."""
    folder = REAL / "nf-core-differentialabundance"
    ex = extract(folder)
    assert ex.errors == []
    ref = next(r for r in ex.containers if r.file == "conf/modules.config")
    assert ref.context == "config withName:QUARTONOTEBOOK"
    assert (ref.line, ref.raw) == (
        479,
        "community.wave.seqera.io/library/differentialabundance-report:10d7bd03a13e6ca9",
    )
    assert {r.default_registry for r in ex.containers} == {"quay.io"}
    # names with a registry host are not prefixed: quay.io does not apply to Wave images
    assert parse_reference(ref.raw or "", default_registry="quay.io").registry == "community.wave.seqera.io"


# --- 2: discovery -----------------------------------------------------------------------------------


def test_parent_folder_uses_the_pipelines_own_config() -> None:
    root = DATA / "discovery_one"
    assert pipeline_roots(root) == [(root / "pipelines" / "rnaseq").resolve()]
    ex = extract(root)
    assert ex.errors == []
    refs = by_context(ex)
    assert refs["config withName:ALIGN"].file == "pipelines/rnaseq/conf/modules.config"
    assert refs["config withName:ALIGN"].raw == "biocontainers/star:2.7.11b--h43eeafb_2"
    assert refs["process ALIGN"].file == "pipelines/rnaseq/modules/local/align/main.nf"
    # a shared module outside the pipeline folder is still read (the pipeline includes it) ...
    assert refs["process QC"].file == "modules/shared/qc/main.nf"
    # ... and every container gets the pipeline's docker.registry, not a module-level config's
    assert {r.default_registry for r in ex.containers} == {"quay.io"}


def test_gate_extract_finds_the_pipeline_in_a_subfolder() -> None:
    (nextflow,) = gate.extract(DATA / "discovery_one")
    assert nextflow.language == "nextflow"
    assert {r.default_registry for r in nextflow.containers} == {"quay.io"}
    assert len(nextflow.containers) == 3


def test_several_pipelines_are_named_and_never_mixed() -> None:
    root = DATA / "discovery_many"
    assert [p.name for p in pipeline_roots(root)] == ["alpha", "beta"]
    ex = extract(root)
    assert len(ex.errors) == 1
    error = ex.errors[0]
    assert error.file == "." and "pipelines/alpha" in error.message and "pipelines/beta" in error.message
    assert "2 Nextflow pipelines" in error.message
    refs = by_context(ex)
    assert refs["process A"].default_registry == "quay.io"
    assert refs["process B"].default_registry == "public.ecr.aws"
    assert refs["process X"].default_registry == "public.ecr.aws"  # beta's own module, under beta's config
    assert refs["process X"].file == "pipelines/beta/modules/local/x/main.nf"


def test_module_and_workflow_configs_are_not_pipeline_roots(tmp_path: Path) -> None:
    """A folder of modules, each with its nextflow.config next to its main.nf, is read as one folder."""
    write(
        tmp_path,
        {
            "modules/nf-core/fastqc/main.nf": "process FASTQC {\n    container 'biocontainers/fastqc:0.12.1'\n}\n",
            "modules/nf-core/fastqc/nextflow.config": "process { withName: FASTQC { ext.args = '-q' } }\n",
            "workflows/x/main.nf": "workflow X {\n    FASTQC()\n}\n",
            "workflows/x/nextflow.config": "docker.registry = 'quay.io'\n",
        },
    )
    assert pipeline_roots(tmp_path) == [tmp_path.resolve()]
    ex = extract(tmp_path)
    assert ex.errors == []
    assert [r.raw for r in ex.containers] == ["biocontainers/fastqc:0.12.1"]


def test_a_top_level_config_is_always_the_pipeline(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "nextflow.config": "docker.registry = 'quay.io'\n",
            "main.nf": "process A {\n    container 'biocontainers/a:1'\n}\n",
            "examples/other/nextflow.config": "manifest { name = 'other' }\ndocker.registry = 'elsewhere.org'\n",
            "examples/other/main.nf": "workflow {\n}\n",
        },
    )
    assert pipeline_roots(tmp_path) == [tmp_path.resolve()]
    ex = extract(tmp_path)
    assert ex.errors == []
    assert [(r.raw, r.default_registry) for r in ex.containers] == [("biocontainers/a:1", "quay.io")]


def test_pipeline_found_by_its_entry_workflow_and_manifest_main_script(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "repo/pipe/nextflow.config": "manifest { mainScript = 'pipeline.nf' }\nparams.tag = '1.0'\n",
            "repo/pipe/pipeline.nf": "params.tool = 'biocontainers/tool'\nworkflow {\n}\n",
            "repo/pipe/modules/a.nf": 'process A {\n    container "${params.tool}:${params.tag}"\n}\n',
        },
    )
    ex = extract(tmp_path)
    assert ex.errors == []
    ref = ex.containers[0]
    assert (ref.file, ref.raw) == ("repo/pipe/modules/a.nf", "biocontainers/tool:1.0")  # main script params apply


# --- 3: docker.registry from a param without a value ------------------------------------------------

MODULES = (
    "process BARE {\n    container 'biocontainers/bwa:0.7.18--he4a0461_1'\n}\n"
    "process OFFICIAL {\n    container 'ubuntu:22.04'\n}\n"
    "process HOSTED {\n    container 'quay.io/biocontainers/samtools:1.21--h50ea8bc_0'\n}\n"
)


@pytest.mark.parametrize(
    "config",
    [
        "params.registry = null\ndocker.registry = params.registry\n",
        "docker.registry = params.registry\n",  # never defined
        'params { registry = null }\ndocker { registry = "${params.registry}" }\n',
        "params.registry = ''\ndocker.registry = params.registry\n",  # empty: no registry either
        "params.registry = null\ndocker.registry = params['registry']\n",
    ],
)
def test_registry_param_without_value_leaves_bare_names_unresolved(tmp_path: Path, config: str) -> None:
    write(tmp_path, {"nextflow.config": config, "main.nf": MODULES})
    ex = extract(tmp_path)
    assert ex.errors == []
    refs = by_context(ex)
    for context in ("process BARE", "process OFFICIAL"):
        ref = refs[context]
        assert ref.raw is None, context
        assert ref.default_registry is None
        assert "docker.registry comes from params.registry, which has no value" in (ref.unresolved or "")
        assert "Docker Hub" in (ref.unresolved or "")  # says it is not assumed to be Docker Hub
    hosted = refs["process HOSTED"]  # names its registry: docker.registry would not apply anyway
    assert (hosted.raw, hosted.unresolved) == ("quay.io/biocontainers/samtools:1.21--h50ea8bc_0", None)


def test_registry_param_without_value_fails_resolution_with_its_name(tmp_path: Path) -> None:
    """Even with a Docker Hub mapping, the bare name is not resolved as a Docker Hub image."""
    write(tmp_path, {"nextflow.config": "docker.registry = params.ecr_registry\n", "main.nf": MODULES})
    crm = ContainerRegistryMap(
        registry_mappings=[
            RegistryMapping(upstream_registry_url="registry-1.docker.io", ecr_repository_prefix="docker-hub")
        ]
    )
    doc = gate.evaluate(gate.extract(tmp_path), crm, snap=None, account=ACCOUNT, region=REGION)
    bare = next(c for c in doc.containers if c.context == "process BARE")
    assert not bare.resolved and bare.ecr_uri is None
    assert "docker.registry comes from params.ecr_registry" in bare.reason
    failed = [f for f in doc.findings if f.rule_id == "gate-container-resolves" and f.status.value == "FAIL"]
    assert any("params.ecr_registry" in f.message for f in failed)


@pytest.mark.parametrize(
    ("config", "params", "registry"),
    [
        (f"params.registry = '{ECR}'\ndocker.registry = params.registry\n", None, ECR),
        ("params.registry = null\ndocker.registry = params.registry\n", {"registry": ECR}, ECR),
        ("docker.registry = params.registry\n", {"registry": ECR}, ECR),
        ('docker { registry = "${params.registry}" }\n', {"registry": "quay.io"}, "quay.io"),
        ("params.registry = null\ndocker.registry = params.registry ?: 'quay.io'\n", None, "quay.io"),
    ],
)
def test_registry_param_with_value_applies(
    tmp_path: Path, config: str, params: dict[str, str] | None, registry: str
) -> None:
    write(tmp_path, {"nextflow.config": config, "main.nf": MODULES})
    ex = extract(tmp_path, params)
    assert ex.errors == []
    refs = by_context(ex)
    assert refs["process BARE"].raw == "biocontainers/bwa:0.7.18--he4a0461_1"
    assert refs["process BARE"].unresolved is None
    assert {r.default_registry for r in ex.containers} == {registry}
    bare = parse_reference("biocontainers/bwa:0.7.18--he4a0461_1", default_registry=registry)
    assert bare.registry == registry


def test_a_later_literal_registry_wins_over_an_empty_param(tmp_path: Path) -> None:
    config = "docker.registry = params.registry\ndocker.registry = 'quay.io'\n"
    write(tmp_path, {"nextflow.config": config, "main.nf": MODULES})
    ex = extract(tmp_path)
    assert {r.default_registry for r in ex.containers} == {"quay.io"}
    assert all(r.raw for r in ex.containers)


def test_unresolvable_registry_without_params_is_still_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"nextflow.config": "docker.registry = System.getenv('REG')\n", "main.nf": MODULES})
    ex = extract(tmp_path)
    assert len(ex.errors) == 1 and "docker.registry" in ex.errors[0].message
    assert by_context(ex)["process BARE"].raw == "biocontainers/bwa:0.7.18--he4a0461_1"


# --- 4: registry.hub.docker.com is Docker Hub --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("registry.hub.docker.com/library/ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
        ("registry.hub.docker.com/ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
        ("registry.hub.docker.com/biocontainers/x:1", "docker.io/biocontainers/x:1"),
    ],
)
def test_registry_hub_docker_com_is_docker_hub(raw: str, normalized: str) -> None:
    ref = parse_reference(raw)
    assert ref.registry == DOCKER_HUB
    assert ref.is_docker_hub
    assert ref.written_registry == "registry.hub.docker.com"
    expected = parse_reference(normalized)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        expected.registry,
        expected.repository,
        expected.tag,
        expected.digest,
    )
    assert is_docker_hub_host("registry.hub.docker.com")
    assert canonical_registry("registry.hub.docker.com") == DOCKER_HUB


def test_registry_hub_docker_com_resolves_through_the_docker_hub_mapping() -> None:
    crm = ContainerRegistryMap(
        registry_mappings=[
            RegistryMapping(upstream_registry_url="registry-1.docker.io", ecr_repository_prefix="docker-hub")
        ]
    )
    for raw, uri in [
        ("registry.hub.docker.com/library/ubuntu:22.04", f"{ECR}/docker-hub/library/ubuntu:22.04"),
        ("registry.hub.docker.com/biocontainers/x:1", f"{ECR}/docker-hub/biocontainers/x:1"),
    ]:
        res = resolve(raw, crm, account=ACCOUNT, region=REGION)
        assert (res.via, res.ecr_uri) == ("registry-mapping", uri), res.reason
