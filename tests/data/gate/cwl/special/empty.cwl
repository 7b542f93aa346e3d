cwlVersion: v1.2
class: CommandLineTool
hints:
  - class: DockerRequirement
inputs: []
outputs: []
