#!/usr/bin/env cwl-runner
# Built from quay.io/biocontainers/samtools:0.1 originally (a comment, not a container)
cwlVersion: v1.2
class: CommandLineTool
label: samtools view (runs in quay.io/biocontainers/samtools)
doc: |
  dockerPull: quay.io/not/a-container:1 is only mentioned here.
requirements:
  - class: InlineJavascriptRequirement
  - class: DockerRequirement
    dockerPull: quay.io/biocontainers/samtools:1.19--h50ea8bc_0
baseCommand: [samtools, view]
inputs: []
outputs: []
