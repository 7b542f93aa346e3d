cwlVersion: v1.2
class: CommandLineTool
hints:
  - class: ResourceRequirement
    ramMin: 1024
  - $import: docker.yml
baseCommand: seqtk
inputs: []
outputs: []
