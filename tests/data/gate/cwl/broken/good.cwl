cwlVersion: v1.2
class: CommandLineTool
requirements:
  - class: DockerRequirement
    dockerPull: quay.io/biocontainers/samtools:1.19--h50ea8bc_0
inputs: []
outputs: []
