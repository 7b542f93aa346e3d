cwlVersion: v1.2
class: CommandLineTool
requirements:
  - class: DockerRequirement
    dockerPull: "quay.io/biocontainers/bwa:$(inputs['tag'])"
inputs:
  tag: string
outputs: []
