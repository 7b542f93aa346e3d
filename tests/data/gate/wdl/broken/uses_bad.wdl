version 1.0

import "bad_syntax.wdl" as bad

workflow uses_bad {
  call bad.broken
}
