cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement:
    dockerPull: $(inputs.image)
inputs:
  image: string
outputs:
  version: stdout
