include { ALIGN } from './modules/align'
include { MARKDUP } from './modules/align'

workflow {
    ALIGN(Channel.empty())
    MARKDUP(ALIGN.out.bam)
}
