cwlVersion: v1.2
class: CommandLineTool
requirements:
  - class: DockerRequirement
    dockerPull: $(inputs.image)
inputs:
  image: string
outputs: []
