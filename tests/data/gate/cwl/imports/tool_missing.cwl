cwlVersion: v1.2
class: CommandLineTool
requirements:
  - $import: nowhere.yml
hints:
  - class: DockerRequirement
    dockerPull: quay.io/biocontainers/pigz:2.8
baseCommand: pigz
inputs: []
outputs: []
