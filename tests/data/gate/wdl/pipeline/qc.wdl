version 1.0

import "tasks/qc_tasks.wdl" as t

workflow qc {
  input {
    String image = "quay.io/biocontainers/fastqc:0.11.8"
  }
  call t.fastqc { input: docker = image }
  output {
    String done = fastqc.done
  }
}
