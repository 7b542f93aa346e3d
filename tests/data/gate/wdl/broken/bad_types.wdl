version 1.0

task mistyped {
  input {
    Int threads = 4
  }
  command <<< true >>>
  runtime {
    cpu: threads
    docker: missing_image
  }
}
