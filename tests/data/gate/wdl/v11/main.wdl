version 1.1

workflow tools {
  input {
    Array[File] samples
    String tag = "1.0"
  }
  scatter (sample in samples) {
    call string_container { input: sample = sample }
  }
  scatter (v in ["1.16", "1.17"]) {
    call default_container { input: version = v }
  }
  if (length(samples) > 0) {
    call any_container
  }
  call array_container
}

task string_container {
  input {
    File sample
  }
  command <<< cat ~{sample} >>>
  runtime {
    container: "public.ecr.aws/ubuntu/ubuntu:22.04"
  }
}

task default_container {
  input {
    String registry = "quay.io/biocontainers"
    String version = "1.15"
  }
  String image = registry + "/samtools:" + version
  command <<< samtools >>>
  runtime {
    container: image
  }
}

task array_container {
  command <<< true >>>
  runtime {
    container: [
      "ghcr.io/org/tool:2.0",
      "docker.io/org/tool:2.0"
    ]
  }
}

task any_container {
  command <<< true >>>
  runtime {
    container: "*"
  }
}
