version 1.0

task local_task {
  command <<< true >>>
  runtime {
    docker: "alpine:3.19"
  }
}
