nextflow.enable.dsl = 2

params.aligner_image    = 'biocontainers/bwa:0.7.17--hed695b0_7'
params.samtools_version = '1.17'
params.optional_image   = null

include { EXTRA } from './modules/extra'

process ALIGN {
    container params.aligner_image
    script:
    "bwa mem"
}

process SORT {
    container "${params.registry}/samtools:${params.samtools_version}"
    script:
    "samtools sort"
}

process STATS {
    container "$params.registry/seqkit:2.9.0"
    script:
    "seqkit stats"
}

process FROM_CONFIG {
    container params.config_image
    script:
    "true"
}

process TASK_EXT {
    container task.ext.container_image
    script:
    "true"
}

process MISSING {
    container params.not_defined_anywhere
    script:
    "true"
}

process DEFAULTED {
    container params.optional_image ?: 'biocontainers/default:1.0'
    script:
    "true"
}

process TRIPLE {
    container '''biocontainers/triple:1.0'''
    script:
    '''
    echo "container 'should-not-appear/triple:1'"
    '''
}

process CONCAT {
    container 'biocontainers/' + params.tool_name + ':' + params.samtools_version
    script:
    "true"
}

process CALL {
    container params.aligner_image.toLowerCase()
    script:
    "true"
}

workflow {
    ALIGN()
    EXTRA()
}
