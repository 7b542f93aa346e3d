version 1.0

# Main pipeline. The image named in this comment is not a container: ghcr.io/comment/only:1

import "tasks/align.wdl" as align
import "qc.wdl" as qc

workflow wf {
  meta {
    description: "uses docker.io/meta/only:1 for nothing"
  }
  parameter_meta {
    docker_image: "e.g. docker.io/parameter_meta/only:1"
  }
  input {
    String docker_image = "quay.io/biocontainers/bwa:0.7.17"
    String registry = "public.ecr.aws/biocontainers"
    String samtools_version = "1.17"
    String qc_image = "quay.io/biocontainers/fastqc:0.11.9"
  }

  call align.bwa_mem as align { input: docker = docker_image }
  call align.bwa_mem as realign { input: docker = "quay.io/biocontainers/bwa:0.7.18" }
  call align.bwa_mem as third
  call align.samtools_sort { input: registry = registry, version = samtools_version }
  call report
  call qc.qc as qc_sub { input: image = qc_image }
}

task report {
  meta {
    note: "not a container: docker.io/task/meta:1"
  }
  parameter_meta {
    out: "docker: docker.io/task/parameter_meta:1"
  }
  command <<<
    # docker run docker.io/command/only:1
    echo done
  >>>
  runtime {
    # docker: "docker.io/commented/out:1"
    docker: "ubuntu:22.04"
  }
  output {
    String out = "x"
  }
}
