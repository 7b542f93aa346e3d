version 1.0

task run {
  input {
    String docker
  }
  command <<< true >>>
  runtime {
    docker: docker
  }
}

task make {
  command <<< true >>>
  output {
    String img = "quay.io/from/task-output:1"
  }
  runtime {
    docker: "alpine:3.19"
  }
}
