process ALIGN {
    container 'biocontainers/bwa:0.7.18--he4a0461_1'

    script:
    "bwa mem"
}

workflow {
    ALIGN()
}
