cwlVersion: v1.2
class: CommandLineTool
requirements:
  - class: DockerRequirement
    dockerLoad: images/tool.tar
inputs: []
outputs: []
