process X {
    container 'biocontainers/x:1'
    script:
    "x"
}
