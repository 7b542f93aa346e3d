version 1.0

import "https://example.invalid/wdl/tasks.wdl" as remote

workflow wf {
  call remote.hello
}
