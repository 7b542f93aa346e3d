cwlVersion: v1.2
class: CommandLineTool
requirements:
  - class: DockerRequirement
    dockerPull: quay.io/biocontainers/bedtools:2.31.1--hf5e1c6e_1
    dockerImageId: bedtools
inputs: []
outputs: []
