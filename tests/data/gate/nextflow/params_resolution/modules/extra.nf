params.extra_image = 'biocontainers/extra:1.0'

process EXTRA {
    container params.extra_image
    script:
    "true"
}
