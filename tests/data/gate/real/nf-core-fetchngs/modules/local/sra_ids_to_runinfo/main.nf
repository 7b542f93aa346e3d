process SRA_IDS_TO_RUNINFO {
    tag "${id}"
    label 'error_retry'

    conda "${moduleDir}/environment.yml"
    container "${workflow.containerEngine in ['singularity', 'apptainer'] && !task.ext.singularity_pull_docker_container
        ? 'https://depot.galaxyproject.org/singularity/python:3.9--1'
        : 'biocontainers/python:3.9--1'}"

    input:
    val id
    val fields

    output:
    path "*.tsv", emit: tsv
    tuple val("${task.process}"), val('python'), eval('python --version | sed "s/Python //g"'), emit: versions_python, topic: versions

    script:
    def metadata_fields = fields ? "--ena_metadata_fields '${fields.replaceAll('\\s*,\\s*', ',')}'" : ''
    """
    echo ${id} > id.txt
    sra_ids_to_runinfo.py \\
        id.txt \\
        ${id}.runinfo.tsv \\
        ${metadata_fields}
    """

    stub:
    """
    touch ${id}.runinfo.tsv
    """
}
