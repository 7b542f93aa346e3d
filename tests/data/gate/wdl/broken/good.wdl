version 1.0

task ok {
  command <<< true >>>
  runtime {
    docker: "ubuntu:24.04"
  }
}
