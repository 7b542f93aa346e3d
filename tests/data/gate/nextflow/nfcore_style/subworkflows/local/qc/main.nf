include { FASTQC   } from '../../../modules/local/fastqc/main'
include { SAMTOOLS_FLAGSTAT } from '../../../modules/local/samtools/main'
include { SEQKIT_STATS } from '../../../modules/local/seqkit/main'

workflow QC {
    take:
    reads

    main:
    FASTQC(reads)
    SAMTOOLS_FLAGSTAT(reads)
    SEQKIT_STATS(reads)
}
