version 1.0

import "tasks.wdl" as tasks

workflow main {
  call tasks.align { input: no_such_input = 1 }
}

task local {
  command <<< true >>>
  runtime {
    docker: "ubuntu:24.04"
  }
}
