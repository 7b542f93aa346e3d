version 1.0

task align {
  input {
    String docker = "quay.io/biocontainers/bwa:0.7.17"
  }
  command <<< true >>>
  runtime {
    docker: docker
  }
}
