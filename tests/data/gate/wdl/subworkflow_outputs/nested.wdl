version 1.0

import "versions.wdl" as versions

# A sub-workflow output that is itself a sub-workflow output.
workflow Nested {
  call versions.Versions as inner { input: registry = "public.ecr.aws/nested" }
  output {
    String docker = inner.samtools_docker
  }
}
