cwlVersion: v1.2
class: CommandLineTool
requirements:
  - class: InlineJavascriptRequirement
  - class: DockerRequirement
    dockerPull: ${ return "quay.io/biocontainers/bwa:" + inputs.tag; }
inputs:
  tag: string
outputs: []
