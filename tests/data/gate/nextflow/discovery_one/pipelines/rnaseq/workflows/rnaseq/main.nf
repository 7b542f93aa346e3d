include { ALIGN } from '../../modules/local/align'
include { QC    } from '../../../../modules/shared/qc'

workflow RNASEQ {
    ALIGN()
    QC()
}
