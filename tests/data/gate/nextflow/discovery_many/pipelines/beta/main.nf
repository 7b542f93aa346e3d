include { X } from './modules/local/x'

process B {
    container 'biocontainers/b:1'
    script:
    "b"
}

workflow {
    B()
    X()
}
