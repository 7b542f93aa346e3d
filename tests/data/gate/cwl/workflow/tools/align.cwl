cwlVersion: v1.2
class: CommandLineTool
hints:
  DockerRequirement:
    dockerPull: quay.io/biocontainers/bwa:0.7.17--h5bf99c6_8
baseCommand: [bwa, mem]
inputs:
  reads: File
outputs: []
