process SEQKIT_STATS {
    tag "$meta.id"
    label 'process_low'

    conda "${moduleDir}/environment.yml"
    container "${ workflow.containerEngine == 'singularity' && !task.ext.singularity_pull_docker_container ?
        'oras://community.wave.seqera.io/library/seqkit:2.9.0--d1ae8a5e3d3c5b5c' :
        'community.wave.seqera.io/library/seqkit:2.9.0--f1b4b3d1c2a0e9f8' }"

    input:
    tuple val(meta), path(reads)

    output:
    tuple val(meta), path("*.tsv"), emit: stats

    script:
    """
    seqkit stats --all --tabular $reads > ${meta.id}.tsv
    """
}
