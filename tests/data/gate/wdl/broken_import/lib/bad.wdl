version 1.0

task bad {
  command <<< true >>>
  runtime {
    docker: undefined_image
  }
}
