process ALIGN {
    label 'big_mem'
    input:
    path reads
    output:
    path "*.bam", emit: bam
    script:
    "bwa mem ref.fa ${reads} > out.bam"
}

process MARKDUP {
    input:
    path bam
    output:
    path "*.md.bam"
    script:
    """
    picard MarkDuplicates I=$bam O=out.md.bam
    """
}
