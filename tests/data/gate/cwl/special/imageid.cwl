cwlVersion: v1.2
class: CommandLineTool
requirements:
  - class: DockerRequirement
    dockerImageId: sha256-local-only
inputs: []
outputs: []
