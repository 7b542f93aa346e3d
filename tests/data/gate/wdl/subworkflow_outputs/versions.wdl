version 1.0

# Sub-workflows whose outputs name images: a literal, an input default, a value the call passes.

workflow Versions {
  input {
    String registry = "quay.io/biocontainers"
    String? tag
  }
  String samtools_tag = select_first([tag, "1.17"])
  output {
    String docker = "quay.io/literal/tool:1.0"
    String samtools_docker = "~{registry}/samtools:~{samtools_tag}"
    String version = version_task.version
  }
  call version_task
}

task version_task {
  command <<< echo 1 >>>
  output {
    String version = read_string(stdout())
  }
  runtime {
    docker: "ubuntu:22.04"
  }
}
