version 1.0

task bwa_mem {
  input {
    String docker = "quay.io/biocontainers/bwa:0.7.15"
  }
  command <<< bwa mem >>>
  runtime {
    docker: docker
  }
}

task samtools_sort {
  input {
    String registry
    String version = "1.9"
  }
  String image = "~{registry}/samtools:~{version}"
  command <<< samtools sort >>>
  runtime {
    docker: image
  }
}

task orphan {
  input {
    String docker = "biocontainers/multiqc:1.14"
  }
  command <<< multiqc . >>>
  runtime {
    docker: docker
  }
}
