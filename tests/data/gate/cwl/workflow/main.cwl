cwlVersion: v1.2
class: Workflow
doc: Aligns reads; every step runs in quay.io/biocontainers images.
requirements:
  SubworkflowFeatureRequirement: {}
hints:
  - class: DockerRequirement
    dockerPull: quay.io/biocontainers/coreutils:8.25--1
inputs:
  reads: File
outputs: []
steps:
  align:
    run: tools/align.cwl
    requirements:
      - class: DockerRequirement
        dockerPull: quay.io/biocontainers/bwa:0.7.18--he4a0461_0
    in: {reads: reads}
    out: []
  count:
    run:
      class: CommandLineTool
      hints:
        - class: DockerRequirement
          dockerPull: quay.io/biocontainers/gawk:5.1.0
      baseCommand: wc
      inputs: []
      outputs: []
    in: {}
    out: []
  sub:
    run:
      class: Workflow
      inputs: []
      outputs: []
      steps:
        - id: inner
          run:
            class: CommandLineTool
            requirements:
              DockerRequirement:
                dockerPull: quay.io/biocontainers/multiqc:1.21--pyhdfd78af_0
            inputs: []
            outputs: []
          in: []
          out: []
    in: {}
    out: []
  again:
    run: tools/align.cwl
    in: {reads: reads}
    out: []
