process TRIM {
    tag "$meta.id"
    // A closure as the directive: called per task, the Docker branch is what HealthOmics runs.
    container {
        workflow.containerEngine == 'singularity'
            ? 'https://depot.galaxyproject.org/singularity/trimgalore:0.6.10--hdfd78af_0'
            : 'biocontainers/trimgalore:0.6.10--hdfd78af_0'
    }

    input:
    tuple val(meta), path(reads)

    script:
    """
    trim_galore $reads
    """
}

process CUT {
    container { "${ workflow.containerEngine == 'singularity' ? 'https://depot.galaxyproject.org/singularity/cutadapt:4.9--py312hf67a6ed_0' : 'biocontainers/cutadapt:4.9--py312hf67a6ed_0' }" }

    script:
    "cutadapt"
}
