version 1.0

workflow wf {
  input {
    String registry
    File version_file
  }
  call samtools { input: registry = registry }
  call from_file { input: version_file = version_file }
  call after { input: tag = samtools.tag }
}

task samtools {
  input {
    String registry
    String version = "1.17"
  }
  command <<< samtools >>>
  runtime {
    docker: "~{registry}/samtools:~{version}"
  }
  output {
    String tag = "x"
  }
}

task from_file {
  input {
    File version_file
  }
  String version = read_string(version_file)
  command <<< true >>>
  runtime {
    docker: "quay.io/biocontainers/bcftools:~{version}"
  }
}

task after {
  input {
    String tag
  }
  command <<< true >>>
  runtime {
    docker: "ubuntu:~{tag}"
  }
}
