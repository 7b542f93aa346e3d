"""The Nextflow extractor: containers from processes and configs, params, the nf-core ternary, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.gate.containers import ContainerRef, Extraction
from auditor.gate.nextflow import ScanError, extract, tokenize

DATA = Path(__file__).parent / "data" / "gate" / "nextflow"


def by_context(extraction: Extraction) -> dict[str, ContainerRef]:
    refs = {ref.context: ref for ref in extraction.containers}
    assert len(refs) == len(extraction.containers), "contexts are expected to be unique in these fixtures"
    return refs


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def raws(extraction: Extraction) -> list[str | None]:
    return [ref.raw for ref in extraction.containers]


# --- 1, 2, 5, 6: nf-core shaped modules ------------------------------------------------------


def test_nfcore_style_modules_take_the_docker_branch() -> None:
    ex = extract(DATA / "nfcore_style")
    assert ex.language == "nextflow"
    assert ex.errors == []
    refs = by_context(ex)
    assert set(refs) == {
        "process FASTQC",
        "process SAMTOOLS_FLAGSTAT",
        "process SEQKIT_STATS",
        "config withName:.*:QC:MULTIQC",
    }

    fastqc = refs["process FASTQC"]
    assert fastqc.file == "modules/local/fastqc/main.nf"
    assert fastqc.raw == "biocontainers/fastqc:0.12.1--hdfd78af_0"
    assert fastqc.line == 8  # the line of the chosen Docker literal in the multi-line ternary
    assert fastqc.unresolved is None
    assert fastqc.language == "nextflow"
    assert fastqc.expression.startswith("\"${ workflow.containerEngine == 'singularity'")
    assert "\n" not in fastqc.expression

    samtools = refs["process SAMTOOLS_FLAGSTAT"]  # single-line variant with quay.io/biocontainers
    assert samtools.raw == "quay.io/biocontainers/samtools:1.17--h00cdaf9_0"
    assert samtools.line == 5

    seqkit = refs["process SEQKIT_STATS"]  # newer nf-core: oras:// vs community.wave.seqera.io
    assert seqkit.raw == "community.wave.seqera.io/library/seqkit:2.9.0--f1b4b3d1c2a0e9f8"
    assert seqkit.line == 8


def test_nfcore_style_modules_config_if_blocks_follow_params() -> None:
    ref = by_context(extract(DATA / "nfcore_style"))["config withName:.*:QC:MULTIQC"]
    assert (ref.file, ref.line, ref.raw) == ("conf/modules.config", 36, "biocontainers/multiqc:1.21--pyhdfd78af_0")
    skipped = extract(DATA / "nfcore_style", {"skip_qc": True})
    assert "config withName:.*:QC:MULTIQC" not in by_context(skipped)


def test_docker_registry_is_set_on_every_container() -> None:
    ex = extract(DATA / "nfcore_style")
    assert ex.containers
    assert {ref.default_registry for ref in ex.containers} == {"quay.io"}


def test_comments_strings_descriptions_and_meta_yml_are_not_containers() -> None:
    ex = extract(DATA / "nfcore_style")
    assert not any("should-not-appear" in (ref.raw or "") for ref in ex.containers)
    assert not any("0.11.9" in (ref.raw or "") for ref in ex.containers)  # meta.yml
    assert not any(ref.file.endswith(".yml") for ref in ex.containers)


def test_a_process_without_container_is_not_reported() -> None:
    ex = extract(DATA / "nfcore_style")
    assert "process COUNT_LINES" not in by_context(ex)


def test_order_is_by_file_then_line_and_paths_are_posix_relative() -> None:
    ex = extract(DATA / "nfcore_style")
    keys = [(ref.file, ref.line) for ref in ex.containers]
    assert keys == sorted(keys)
    assert [ref.file for ref in ex.containers] == [
        "conf/modules.config",
        "modules/local/fastqc/main.nf",
        "modules/local/samtools/main.nf",
        "modules/local/seqkit/main.nf",
    ]
    assert extract(DATA / "nfcore_style").model_dump() == ex.model_dump()  # deterministic


# --- 3: config files ------------------------------------------------------------------------------


def test_config_selectors_and_includes() -> None:
    ex = extract(DATA / "config_selectors")
    assert ex.errors == []
    refs = by_context(ex)
    assert refs["config process.container"].raw == "ubuntu:22.04"
    assert refs["config process.container"].file == "nextflow.config"
    assert refs["config process.container"].line == 5

    big = refs["config withLabel:big_mem"]
    assert (big.file, big.line, big.raw) == ("conf/base.config", 7, "biocontainers/bwa:0.7.17--hed695b0_7")
    assert big.expression == "'biocontainers/bwa:0.7.17--hed695b0_7'"

    markdup = refs["config withName:MARKDUP"]
    assert markdup.raw == "123456789012.dkr.ecr.us-east-1.amazonaws.com/picard:3.1.1"
    assert markdup.expression == '"${params.tools_registry}/picard:3.1.1"'

    regex = refs["config withName:.*:QC:FASTQC"]
    assert regex.raw == "biocontainers/fastqc:0.12.1--hdfd78af_0"

    # includeConfig'd file outside conf/, old quoted-key selector syntax
    sort = refs["config withName:SORT"]
    assert (sort.file, sort.line, sort.raw) == ("configs/omics.config", 7, "biocontainers/samtools:1.17--h00cdaf9_0")


def test_config_closure_is_unresolved() -> None:
    ref = by_context(extract(DATA / "config_selectors"))["config withName:DYNAMIC"]
    assert ref.raw is None
    assert ref.unresolved is not None and "closure" in ref.unresolved
    assert ref.expression == "{ task.attempt > 1 ? 'big/tool:2' : 'small/tool:2' }"


def test_profile_only_config_is_not_applied_unless_the_profile_is_active() -> None:
    ex = extract(DATA / "config_selectors")
    assert "test-only/image:1" not in raws(ex)
    assert not any(ref.file == "conf/test.config" for ref in ex.containers)

    with_test = extract(DATA / "config_selectors", profiles=["test"])
    refs = {(ref.file, ref.context): ref for ref in with_test.containers}
    assert refs[("conf/test.config", "config process.container (profile test)")].raw == "test-only/image:1"
    # the profile's params apply to the config evaluated after it ... and not to what came before
    assert refs[("conf/base.config", "config withName:MARKDUP")].raw.startswith("123456789012.dkr.ecr")


def test_process_directives_without_selector_in_config_are_ignored() -> None:
    ex = extract(DATA / "config_selectors")
    # ALIGN/MARKDUP have no container directive in their process bodies
    assert not any(ref.context.startswith("process ") for ref in ex.containers)


def test_config_forms(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "nextflow.config": """
                process {
                    withName: FASTQC { container = 'biocontainers/fastqc:1' }
                    withName: "MULTI|QC"
                    {
                        container = "biocontainers/multiqc:1"
                    }
                    withLabel: process_low { container = 'biocontainers/low:1' }
                    $legacy { container = 'biocontainers/legacy:1' }
                    ext.container = 'not/a-container:1'
                }
                process.withName = 'ignored'
                env { container = 'not/a-container:2' }
                manifest.description = "container 'not/a-container:3'"
            """,
        },
    )
    refs = by_context(extract(tmp_path))
    assert {ctx: ref.raw for ctx, ref in refs.items()} == {
        "config withName:FASTQC": "biocontainers/fastqc:1",
        "config withName:MULTI|QC": "biocontainers/multiqc:1",
        "config withLabel:process_low": "biocontainers/low:1",
        "config withName:legacy": "biocontainers/legacy:1",
    }
    assert refs["config withName:MULTI|QC"].line == 6


def test_orphan_conf_files_are_read(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "nextflow.config": "params.registry = 'quay.io'\n",
            "conf/extra.config": "process { withName: 'X' { container = \"${params.registry}/x:1\" } }\n",
            "conf/nested/deep.config": "process.container = 'not/read:1'\n",
        },
    )
    ex = extract(tmp_path)
    assert raws(ex) == ["quay.io/x:1"]
    assert ex.containers[0].file == "conf/extra.config"


def test_config_if_statements_follow_params(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "nextflow.config": """
                params.use_gpu = false
                if (params.use_gpu) {
                    process.container = 'gpu/tool:1'
                } else if (params.other) {
                    process.container = 'other/tool:1'
                } else {
                    process.container = 'cpu/tool:1'
                }
                if (System.getenv('X') == 'y') {
                    process { withName: 'A' { container = 'maybe/tool:1' } }
                    process { withName: 'B' { container = 'https://example.org/b.sif' } }
                    params.use_gpu = true
                }
            """,
        },
    )
    ex = extract(tmp_path)
    assert raws(ex) == ["cpu/tool:1", "maybe/tool:1"]  # undecidable branch: reported, but not the .sif
    assert extract(tmp_path, {"use_gpu": True}).containers[0].raw == "gpu/tool:1"


def test_include_config_cycles_and_missing_files_are_harmless(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "nextflow.config": "includeConfig 'conf/a.config'\nincludeConfig 'missing.config'\n"
            'includeConfig "${projectDir}/conf/b.config"\n'
            "includeConfig 'https://example.org/custom.config'\n",
            "conf/a.config": "includeConfig 'a.config'\nprocess.container = 'a/a:1'\n",
            "conf/b.config": "process { withName: B { container = 'b/b:1' } }\n",
        },
    )
    ex = extract(tmp_path)
    assert ex.errors == []
    assert raws(ex) == ["a/a:1", "b/b:1"]


# --- 4: params ------------------------------------------------------------------------------------


def test_params_are_resolved_from_config_main_and_module_defaults() -> None:
    ex = extract(DATA / "params_resolution")
    assert ex.errors == []
    refs = by_context(ex)
    assert refs["process ALIGN"].raw == "biocontainers/bwa:0.7.17--hed695b0_7"
    assert refs["process ALIGN"].expression == "params.aligner_image"
    assert refs["process ALIGN"].line == 10
    assert refs["process SORT"].raw == "quay.io/biocontainers/samtools:1.17"  # GString with two ${params.x}
    assert refs["process STATS"].raw == "quay.io/biocontainers/seqkit:2.9.0"  # $params.x without braces
    assert refs["process FROM_CONFIG"].raw == "quay.io/biocontainers/cfg:2"
    assert refs["config withName:MULTIQC"].raw == "quay.io/biocontainers/multiqc:1.21"  # bare name in params {}
    assert refs["process EXTRA"].raw == "biocontainers/extra:1.0"  # a module file's own default
    assert refs["process DEFAULTED"].raw == "biocontainers/default:1.0"  # null ?: default
    assert refs["process TRIPLE"].raw == "biocontainers/triple:1.0"
    assert refs["process CONCAT"].raw == "biocontainers/samtools:1.17"
    assert not any("should-not-appear" in (r or "") for r in raws(ex))


def test_docker_block_registry_applies() -> None:
    ex = extract(DATA / "params_resolution")
    assert {ref.default_registry for ref in ex.containers} == {"public.ecr.aws"}


def test_unresolved_names_are_reported_not_guessed() -> None:
    refs = by_context(extract(DATA / "params_resolution"))
    task_ext = refs["process TASK_EXT"]
    assert task_ext.raw is None
    assert task_ext.unresolved is not None and "task.ext.container_image" in task_ext.unresolved

    missing = refs["process MISSING"]
    assert missing.raw is None
    assert missing.unresolved is not None and "params.not_defined_anywhere" in missing.unresolved
    assert "not defined" in missing.unresolved

    call = refs["process CALL"]
    assert call.raw is None
    assert call.unresolved is not None and "toLowerCase" in call.unresolved


def test_params_file_overrides_config_and_script_defaults() -> None:
    user = {
        "registry": "mirror.example.org/bio",
        "aligner_image": "custom/bwa:2",
        "not_defined_anywhere": "now/defined:1",
        "optional_image": "chosen/image:3",
        "extra_image": "custom/extra:4",
    }
    refs = by_context(extract(DATA / "params_resolution", user))
    assert refs["process ALIGN"].raw == "custom/bwa:2"
    assert refs["process SORT"].raw == "mirror.example.org/bio/samtools:1.17"
    # the config sees the params file while it is evaluated, as in Nextflow
    assert refs["process FROM_CONFIG"].raw == "mirror.example.org/bio/cfg:2"
    assert refs["config withName:MULTIQC"].raw == "mirror.example.org/bio/multiqc:1.21"
    assert refs["process MISSING"].raw == "now/defined:1"
    assert refs["process MISSING"].unresolved is None
    assert refs["process DEFAULTED"].raw == "chosen/image:3"
    assert refs["process EXTRA"].raw == "custom/extra:4"


def test_config_cannot_see_params_defined_only_in_main_nf(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.nf": "params.img = 'x/y:1'\nprocess P {\n    container params.img\n    script: 'true'\n}\n",
            "nextflow.config": "process { withName: Q { container = params.img } }\n",
        },
    )
    refs = by_context(extract(tmp_path))
    assert refs["process P"].raw == "x/y:1"
    assert refs["config withName:Q"].raw is None
    assert "after the config" in (refs["config withName:Q"].unresolved or "")


def test_typed_params_block_in_main_nf(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.nf": """
params {
    input: Path
    image: String = 'biocontainers/typed:1'
    other = 'biocontainers/untyped:1'
}
process A { container params.image }
process B { container params.other }
""",
        },
    )
    assert raws(extract(tmp_path)) == ["biocontainers/typed:1", "biocontainers/untyped:1"]


def test_null_param_in_gstring_is_unresolved(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "nextflow.config": "params.registry = null\n",
            "main.nf": 'process A {\n    container "${params.registry}/tool:1"\n}\n',
        },
    )
    (ref,) = extract(tmp_path).containers
    assert ref.raw is None
    assert ref.line == 2
    assert "params.registry" in (ref.unresolved or "")


# --- ternaries and conditionals ---------------------------------------------------------------


def test_ternary_on_params_and_undecidable_ternary(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.nf": """
params.gpu = false
process A {
    container params.gpu ? 'nvidia/tool:1' : 'cpu/tool:1'
}
process B {
    container task.attempt > 1 ? 'big/tool:1' : 'small/tool:1'
}
process C {
    container "${ workflow.containerEngine == 'singularity' ? 'library://user/c:1' : 'docker/c:1' }"
}
process D {
    container "${ workflow.containerEngine == 'singularity' ? 'https://x.org/d.sif' : task.ext.image }"
}
""",
        },
    )
    refs = by_context(extract(tmp_path))
    assert refs["process A"].raw == "cpu/tool:1"
    assert refs["process B"].raw is None
    assert "task.attempt" in (refs["process B"].unresolved or "")
    assert refs["process C"].raw == "docker/c:1"
    assert refs["process D"].raw is None  # the Docker branch itself is unknown
    assert "task.ext.image" in (refs["process D"].unresolved or "")
    assert by_context(extract(tmp_path, {"gpu": True}))["process A"].raw == "nvidia/tool:1"


def test_old_nf_core_if_else_on_container_engine(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.nf": """
process OLD {
    if (workflow.containerEngine == 'singularity' && !params.singularity_pull_docker_container) {
        container "https://depot.galaxyproject.org/singularity/fastqc:0.11.9--0"
    } else {
        container "quay.io/biocontainers/fastqc:0.11.9--0"
    }
    input:
    path reads
    script:
    "fastqc $reads"
}
process SIF {
    container 'https://example.org/images/tool.sif'
}
""",
        },
    )
    ex = extract(tmp_path)
    assert [(ref.context, ref.raw, ref.line) for ref in ex.containers] == [
        ("process OLD", "quay.io/biocontainers/fastqc:0.11.9--0", 6),
        ("process SIF", "https://example.org/images/tool.sif", 14),  # unconditional: reported as written
    ]


# --- the scanner ------------------------------------------------------------------------------------


def test_container_assignment_in_a_process_is_not_a_directive(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.nf": """
process A {
    container = 'not/a-directive:1'
    script:
    def container = 'not/a-directive:2'
    "echo ${task.container}"
}
process B { container('parenthesised/form:1') }
process C { container "double/quoted:1"; cpus 2 }
""",
        },
    )
    assert raws(extract(tmp_path)) == ["parenthesised/form:1", "double/quoted:1"]


def test_strings_and_comments_that_look_like_code(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.nf": r"""
def x = 'it\'s a quote, not a string end: container "no/x:1"'
def y = "escaped \"quote\" and \${not_interpolated} container 'no/y:1'"
def z = /slashy with 'quote', \/ and container "no:z"/
def w = $/dollar slashy with / and $$ and container 'no/w:1'/$
def ratio = 4 / 2 // container 'no/comment:1'
def url = "http://example.org/*not a comment*/"  /* container 'no/c:1'
   still a comment */
process REAL {
    container "${ 'a' }/b:${ "c" }" // after a comment 'quote
    script:
    '''
    container 'no/triple:1'
    '''
}
""",
        },
    )
    ex = extract(tmp_path)
    assert ex.errors == []
    assert [(ref.raw, ref.line) for ref in ex.containers] == [("a/b:c", 10)]
    assert ex.containers[0].expression == '"${ \'a\' }/b:${ "c" }"'


def test_tokenizer_gstring_interpolation_is_tokenized_recursively() -> None:
    toks = tokenize('x = "a${ b ? \'c}\' : "d${e}" }f"\n')
    string = next(t for t in toks if t.kind == "STR")
    assert string.parts[0] == "a"
    inner = string.parts[1]
    assert isinstance(inner, tuple)
    assert [t.text for t in inner][:3] == ["b", "?", "'c}'"]
    assert string.parts[2] == "f"


def test_tokenizer_reports_unterminated_strings() -> None:
    with pytest.raises(ScanError) as err:
        tokenize("a = 1\nb = 'open\n")
    assert err.value.line == 2


# --- 7: errors and skipped folders ----------------------------------------------------------


def test_unreadable_files_are_errors_and_the_rest_is_extracted(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.nf": "process A { container 'good/a:1' }\n",
            "modules/latin1.nf": b"// caf\xe9\nprocess B { container 'bad/b:1' }\n",
            "modules/binary.nf": b"\x00\x01\x02process C { container 'bad/c:1' }",
            "modules/broken.nf": "process D {\n    container 'unterminated\n}\n",
            "nextflow.config": b"process.container = '\xff'\n",
            "conf/ok.config": "process { withName: E { container = 'good/e:1' } }\n",
        },
    )
    ex = extract(tmp_path)
    assert raws(ex) == ["good/e:1", "good/a:1"]
    errors = {err.file: err for err in ex.errors}
    assert set(errors) == {"modules/latin1.nf", "modules/binary.nf", "modules/broken.nf", "nextflow.config"}
    assert errors["modules/latin1.nf"].line == 1
    assert "UTF-8" in errors["modules/latin1.nf"].message
    assert "binary" in errors["modules/binary.nf"].message
    assert errors["modules/broken.nf"].line == 2
    assert [err.file for err in ex.errors] == sorted(err.file for err in ex.errors)


def test_skipped_folders(tmp_path: Path) -> None:
    skipped = (".git", "work/ab/cd", ".nextflow", "node_modules/m", "modules/work")
    files: dict[str, str | bytes] = {f"{d}/x.nf": "process X { container 'skipped/x:1' }\n" for d in skipped}
    files["main.nf"] = "process M { container 'kept/m:1' }\n"
    write(tmp_path, files)
    assert raws(extract(tmp_path)) == ["kept/m:1"]


def test_missing_root_is_an_error(tmp_path: Path) -> None:
    ex = extract(tmp_path / "nope")
    assert ex.containers == []
    assert len(ex.errors) == 1


def test_unresolvable_docker_registry_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "nextflow.config": "docker.registry = System.getenv('REGISTRY')\n",
            "main.nf": "process A { container 'bare/name:1' }\n",
        },
    )
    ex = extract(tmp_path)
    assert ex.containers[0].default_registry is None
    assert len(ex.errors) == 1
    assert ex.errors[0].file == "nextflow.config" and ex.errors[0].line == 1
    assert "docker.registry" in ex.errors[0].message


def test_docker_registry_from_params_and_last_assignment_wins(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "nextflow.config": "docker.registry = 'first.example.org'\nparams.reg = 'quay.io'\n"
            "docker { registry = params.reg }\n",
            "main.nf": "process A { container 'bare/name:1' }\n",
        },
    )
    assert extract(tmp_path).containers[0].default_registry == "quay.io"
    assert extract(tmp_path, {"reg": "mirror.example.org"}).containers[0].default_registry == "mirror.example.org"


def test_orphan_conf_files_fill_gaps_but_never_override(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "nextflow.config": "params.registry = 'quay.io'\n",
            "conf/orphan.config": "params.registry = 'elsewhere.example.org'\nparams.extra = 'x/extra:1'\n"
            "docker.registry = 'public.ecr.aws'\n"
            "process {\n"
            '    withName: A { container = "${params.registry}/a:1" }\n'
            "    withName: B { container = params.extra }\n"
            "    withName: C { container = 'oras://example.org/c:1' }\n"
            "}\n",
        },
    )
    ex = extract(tmp_path)
    assert raws(ex) == ["quay.io/a:1", "x/extra:1"]  # the .sif/oras side of an unloaded file is skipped
    assert {ref.default_registry for ref in ex.containers} == {"public.ecr.aws"}  # filled: none was set


def test_files_named_by_inactive_profiles_or_gstring_includes_are_not_orphans(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "nextflow.config": """
                profiles {
                    arm64 { includeConfig 'conf/arm.config' }
                    singularity { includeConfig "conf/containers_singularity_${params.arch}.config" }
                }
                try {
                    includeConfig 'conf/base.config'
                } catch (Exception e) {
                    process.container = 'not/used:1'
                }
            """,
            "conf/base.config": "process.container = 'base/image:1'\n",
            "conf/arm.config": "includeConfig 'containers_arm64.config'\n",
            "conf/containers_arm64.config": "process { withName: A { container = 'arm64/a:1' } }\n",
            "conf/containers_singularity_amd64.config": "process { withName: A { container = 'https://x/a.sif' } }\n",
        },
    )
    ex = extract(tmp_path)
    assert ex.errors == []
    assert raws(ex) == ["base/image:1"]
    assert "arm64/a:1" in raws(extract(tmp_path, profiles=["arm64"]))


def test_crlf_bom_and_nested_params(tmp_path: Path) -> None:
    config = "params {\r\n    containers {\r\n        'bwa' { image = 'biocontainers/bwa:0.7.17' }\r\n    }\r\n}\r\n"
    main = "\ufeffprocess A {\r\n    container params.containers.bwa.image\r\n}\r\n"
    main += "process B {\r\n    container params.tools['samtools']\r\n}\r\n"
    write(tmp_path, {"nextflow.config": config, "main.nf": main})
    refs = by_context(extract(tmp_path, {"tools": {"samtools": "biocontainers/samtools:1.17"}}))
    assert (refs["process A"].raw, refs["process A"].line) == ("biocontainers/bwa:0.7.17", 2)
    assert (refs["process B"].raw, refs["process B"].line) == ("biocontainers/samtools:1.17", 5)


def test_non_string_values_are_unresolved(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.nf": "params.flag = true\nprocess A { container params.flag }\nprocess B { container params.list }\n",
        },
    )
    refs = by_context(extract(tmp_path, {"list": ["a", "b"]}))
    assert refs["process A"].raw is None and "bool" in (refs["process A"].unresolved or "")
    assert refs["process B"].raw is None and "list" in (refs["process B"].unresolved or "")


def test_manifest_main_script_is_the_main_script(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "nextflow.config": "manifest { mainScript = 'pipeline.nf' }\n",
            "pipeline.nf": "params.img = 'from/main:1'\ninclude { A } from './a'\n",
            "a.nf": "params.img = 'from/module:1'\nprocess A { container params.img }\n",
        },
    )
    assert raws(extract(tmp_path)) == ["from/main:1"]  # the main script's default beats the module's own
