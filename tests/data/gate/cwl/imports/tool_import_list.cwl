cwlVersion: v1.2
class: CommandLineTool
requirements:
  $import: reqs.yml
baseCommand: fastp
inputs: []
outputs: []
