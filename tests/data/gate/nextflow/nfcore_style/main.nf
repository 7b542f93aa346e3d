#!/usr/bin/env nextflow
/*
 * A small nf-core-shaped pipeline written for the extractor tests.
 * container 'should-not-appear/block-comment:1'
 */
// container "should-not-appear/line-comment:1"

include { QC } from './subworkflows/local/qc/main'

process COUNT_LINES {
    tag "${meta.id}"
    // no container directive: the process runs in whatever process.container says

    input:
    tuple val(meta), path(reads)

    output:
    path "*.txt", emit: counts

    script:
    """
    wc -l ${reads} > ${meta.id}.txt  # container 'should-not-appear/script:1'
    """
}

workflow {
    log.info "Using container 'should-not-appear/log:1'"
    QC(Channel.empty())
    COUNT_LINES(Channel.empty())
}
