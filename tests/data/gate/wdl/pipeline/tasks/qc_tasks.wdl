version 1.0

task fastqc {
  input {
    String docker
  }
  command <<< fastqc >>>
  runtime {
    docker: docker
    cpu: 1
  }
  output {
    String done = "yes"
  }
}
