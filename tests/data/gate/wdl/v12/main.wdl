version 1.2

task req {
  input {
    String tag = "3.19"
  }
  command <<< true >>>
  requirements {
    container: "alpine:~{tag}"
  }
}
