version 1.0

task good {
  input {
    String docker = "quay.io/biocontainers/good:1.0"
  }
  command <<< true >>>
  runtime {
    docker: docker
  }
}
