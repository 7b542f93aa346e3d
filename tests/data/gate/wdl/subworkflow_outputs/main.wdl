version 1.0

import "versions.wdl" as versions
import "tasks.wdl" as tasks
import "nested.wdl" as nested

workflow main {
  call versions.Versions as v
  call tasks.run as literal { input: docker = v.docker }
  call tasks.run as from_default { input: docker = v.samtools_docker }

  call versions.Versions as v2 { input: registry = "public.ecr.aws/bio", tag = "1.20" }
  call tasks.run as from_passed { input: docker = v2.samtools_docker }

  call nested.Nested as n
  call tasks.run as from_nested { input: docker = n.docker }

  if (true) {
    call versions.Versions as cond
  }
  call tasks.run as from_conditional { input: docker = select_first([cond.docker]) }

  call tasks.make as make
  call tasks.run as from_task_output { input: docker = make.img }
  call tasks.run as from_run_time_output { input: docker = v.version }

  scatter (i in [1, 2]) {
    call versions.Versions as each
  }
  call tasks.run as from_scatter { input: docker = each.docker[0] }
}
