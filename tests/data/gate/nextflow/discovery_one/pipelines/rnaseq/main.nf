include { RNASEQ } from './workflows/rnaseq'

workflow {
    RNASEQ()
}
