version 1.0

import "lib/good.wdl" as good
import "lib/bad.wdl" as bad
import "lib/sub.wdl" as sub

workflow main {
  call good.good { input: docker = "quay.io/biocontainers/good:9.9" }
  call bad.bad
  call sub.sub
  call report
}

task report {
  command <<< true >>>
  runtime {
    docker: "ubuntu:24.04"
  }
}

task mistyped {
  command <<< true >>>
  runtime {
    docker: "ubuntu:~{undefined_tag}"
  }
}
