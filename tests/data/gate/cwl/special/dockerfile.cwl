cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement:
    dockerFile: |
      FROM ubuntu:22.04
      RUN apt-get update && apt-get install -y samtools
    dockerImageId: local/samtools-built
inputs: []
outputs: []
