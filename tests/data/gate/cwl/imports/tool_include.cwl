cwlVersion: v1.2
class: CommandLineTool
requirements:
  DockerRequirement:
    dockerPull:
      $include: image.txt
baseCommand: bwa
inputs: []
outputs: []
