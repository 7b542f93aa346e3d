cwlVersion: v1.2
class: CommandLineTool
requirements:
  - class: DockerRequirement
    dockerPull: quay.io/biocontainers/bwa:0.7.18
  bad: [unclosed
inputs: []
outputs: []
