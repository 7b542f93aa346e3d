cwlVersion: v1.2
class: CommandLineTool
hints:
  - class: DockerRequirement
    dockerPull: $(inputs.image)
inputs:
  - id: image
    type: string
    default: quay.io/biocontainers/gawk:5.1.0
outputs: []
