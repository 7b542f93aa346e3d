version 1.0

import "good.wdl" as good

workflow sub {
  input {
    String image = "quay.io/biocontainers/sub:2.0"
  }
  call good.good as in_sub { input: docker = image }
}
