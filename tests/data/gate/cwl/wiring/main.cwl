cwlVersion: v1.2
class: Workflow
requirements:
  StepInputExpressionRequirement: {}
  SubworkflowFeatureRequirement: {}
inputs:
  docker_image:
    type: string
    default: quay.io/biocontainers/bwa:0.7.18--he4a0461_0
  samtools_image: string
  opt_image: string?
  tag: {type: 'string?', default: "1.21--h50ea8bc_0"}
outputs: []
steps:
  align:
    run: tools/image_tool.cwl
    in:
      image: docker_image
    out: [version]
  sort:
    run: tools/image_tool.cwl
    in:
      image: samtools_image
    out: []
  stats:
    run: tools/image_tool.cwl
    in:
      image: {default: "quay.io/biocontainers/samtools:1.19--h50ea8bc_0"}
    out: []
  optional:
    run: tools/image_tool.cwl
    in:
      image: {source: opt_image, default: "quay.io/biocontainers/fastqc:0.12.1--hdfd78af_0"}
    out: []
  tagged:
    run: tools/image_tool.cwl
    in:
      tag: tag
      image:
        valueFrom: quay.io/biocontainers/samtools:$(inputs.tag)
    out: []
  constant:
    run: tools/image_tool.cwl
    in:
      image: {valueFrom: "quay.io/biocontainers/multiqc:1.21--pyhdfd78af_0"}
    out: []
  from_step:
    run: tools/image_tool.cwl
    in:
      image: align/version
    out: []
  plain:
    run: tools/default_tool.cwl
    in: {}
    out: []
  sub:
    run: sub.cwl
    in:
      inner_image: docker_image
    out: []
