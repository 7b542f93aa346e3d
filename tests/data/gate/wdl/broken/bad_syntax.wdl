version 1.0

task broken {
  command <<< true >>>
  runtime {
    docker: "ubuntu:24.04"
  }
  output {
    String x = 
  }
}
