cwlVersion: v1.2
class: Workflow
inputs:
  - id: inner_image
    type: string
outputs: []
steps:
  - id: inner
    run: tools/image_tool.cwl
    in:
      - id: image
        source: inner_image
    out: []
