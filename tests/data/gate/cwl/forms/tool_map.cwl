cwlVersion: v1.2
class: CommandLineTool
hints:
  ResourceRequirement:
    coresMin: 2
  DockerRequirement:
    dockerPull: "ubuntu:22.04"
baseCommand: echo
inputs: []
outputs: []
