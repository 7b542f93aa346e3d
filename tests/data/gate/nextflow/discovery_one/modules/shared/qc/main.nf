process QC {
    container 'biocontainers/fastqc:0.12.1--hdfd78af_0'

    script:
    "fastqc"
}
