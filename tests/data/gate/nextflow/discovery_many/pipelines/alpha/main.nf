process A {
    container 'biocontainers/a:1'
    script:
    "a"
}

workflow {
    A()
}
