"""auditor.definitions: GetWorkflow --export DEFINITION, downloaded and read with the gate's extractors.

Against the sandbox server (a real HTTP download of the pre-signed URL), the in-process sandbox
(``mock_aws`` serves the https S3 URL to ``requests``), and a small local HTTP server for the
failures the sandbox never produces (403, a body larger than declared, a redirect).
"""

from __future__ import annotations

import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from auditor.aws import attempt
from auditor.definitions import (
    DefinitionArchiveError,
    DefinitionDownloadError,
    definition_from_zip,
    download_allowed,
    read_definition,
)
from auditor.gate.workspace import GateLimits
from auditor.models import WorkflowDefinition
from auditor.sandbox.server import SandboxServer, start_server
from tests.support.faults import Fault, denied

SECRET = "X-Amz-Signature=0123456789abcdef0123456789abcdef"

MAIN_WDL = """\
version 1.0

import "tasks/align.wdl" as align

workflow germline {
  call align.bwa_mem
  call report
}

task report {
  command <<< echo done >>>
  runtime {
    docker: "ubuntu:22.04"
  }
}
"""

ALIGN_WDL = """\
version 1.0

task bwa_mem {
  input {
    String image = "quay.io/biocontainers/bwa:0.7.17"
  }
  command <<< bwa mem >>>
  runtime {
    docker: image
  }
}
"""

BROKEN_WDL = """\
version 1.0

task broken {
  command <<< echo >>>
  runtime {
    docker: "quay.io/x:1"

}
"""

MAIN_NF = """\
include { FASTQC } from './modules/fastqc'

process MULTIQC {
    container 'quay.io/biocontainers/multiqc:1.21--pyhdfd78af_0'

    script:
    "multiqc ."
}

workflow {
    FASTQC()
    MULTIQC()
}
"""

FASTQC_NF = """\
process FASTQC {
    container 'biocontainers/fastqc:0.12.1--hdfd78af_0'

    script:
    "fastqc"
}
"""


def _zip(files: dict[str, str | bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buf.getvalue()


def _locations(definition: WorkflowDefinition) -> list[tuple[str, int, str, str | None]]:
    return sorted((c.file, c.line, c.context, c.raw) for c in definition.containers)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with start_server() as running:
        yield running


@pytest.fixture
def omics(server: SandboxServer) -> Any:
    return server.client("omics")


def _workflow(omics: Any, files: dict[str, str | bytes], engine: str = "WDL") -> str:
    return str(omics.create_workflow(name="wf", engine=engine, definitionZip=_zip(files))["id"])


# --- reading definitions from the sandbox -----------------------------------------------------------


def test_wdl_definition_containers_with_file_and_line(omics: Any) -> None:
    workflow_id = _workflow(omics, {"main.wdl": MAIN_WDL, "tasks/align.wdl": ALIGN_WDL})
    definition = read_definition(omics, workflow_id)
    assert definition.languages == ["wdl"]
    assert definition.problems == []
    assert _locations(definition) == [
        ("main.wdl", 13, "task report (call germline.report)", "ubuntu:22.04"),
        ("tasks/align.wdl", 9, "task bwa_mem (call germline.bwa_mem)", "quay.io/biocontainers/bwa:0.7.17"),
    ]
    assert {c.language for c in definition.containers} == {"wdl"}
    assert definition.containers[0].location.startswith(definition.containers[0].file + ":")


def test_nextflow_definition_in_a_folder_with_the_docker_registry(omics: Any) -> None:
    files: dict[str, str | bytes] = {
        "rnaseq/main.nf": MAIN_NF,
        "rnaseq/modules/fastqc.nf": FASTQC_NF,
        "rnaseq/nextflow.config": "docker.registry = 'quay.io'\n",
    }
    workflow_id = _workflow(omics, files, engine="NEXTFLOW")
    definition = read_definition(omics, workflow_id)
    assert definition.languages == ["nextflow"]
    assert definition.problems == []
    # One top-level folder in the zip is the root, as for the gate (and HealthOmics).
    assert _locations(definition) == [
        ("main.nf", 4, "process MULTIQC", "quay.io/biocontainers/multiqc:1.21--pyhdfd78af_0"),
        ("modules/fastqc.nf", 2, "process FASTQC", "biocontainers/fastqc:0.12.1--hdfd78af_0"),
    ]
    assert {c.default_registry for c in definition.containers} == {"quay.io"}


def test_a_broken_file_is_a_problem_and_the_good_files_are_still_read(omics: Any) -> None:
    files: dict[str, str | bytes] = {
        "main.wdl": MAIN_WDL,
        "tasks/align.wdl": ALIGN_WDL,
        "tasks/broken.wdl": BROKEN_WDL,
    }
    definition = read_definition(omics, _workflow(omics, files))
    assert [c.file for c in sorted(definition.containers, key=lambda c: c.file)] == ["main.wdl", "tasks/align.wdl"]
    assert len(definition.problems) == 1
    assert definition.problems[0].startswith("tasks/broken.wdl:8: ")
    assert "omics-gate-" not in definition.problems[0]  # no temporary path


def test_a_definition_without_workflow_files_is_a_problem_not_an_exception(omics: Any) -> None:
    definition = read_definition(omics, _workflow(omics, {"README.md": "# nothing to run"}))
    assert definition.containers == []
    assert definition.languages == []
    assert definition.problems == [
        "the definition has no WDL (.wdl), Nextflow (.nf, nextflow.config) or CWL (.cwl) files"
    ]


def test_the_result_never_holds_the_presigned_url(omics: Any) -> None:
    workflow_id = _workflow(omics, {"main.wdl": MAIN_WDL, "tasks/broken.wdl": BROKEN_WDL})
    url = omics.get_workflow(id=workflow_id, export=["DEFINITION"])["definition"]
    dumped = read_definition(omics, workflow_id).model_dump_json()
    assert "X-Amz-" not in dumped
    assert url.split("?")[0] not in dumped


# --- too large, not a zip ---------------------------------------------------------------------------


def test_an_oversize_download_is_refused_with_a_clear_error(omics: Any) -> None:
    payload = _zip({"main.wdl": MAIN_WDL + "#" * 5000}, zipfile.ZIP_STORED)
    workflow_id = str(omics.create_workflow(name="big", engine="WDL", definitionZip=payload)["id"])
    url = omics.get_workflow(id=workflow_id, export=["DEFINITION"])["definition"]
    with pytest.raises(DefinitionArchiveError) as raised:
        read_definition(omics, workflow_id, limits=GateLimits(max_total_bytes=4096))
    assert str(raised.value) == "the workflow definition is larger than 4096 bytes; not downloaded"
    assert url not in repr(raised.value) and "X-Amz-" not in str(raised.value)

    recorded = attempt(
        "omics:GetWorkflow",
        "workflow",
        lambda: read_definition(omics, workflow_id, limits=GateLimits(max_total_bytes=4096)),
    )
    assert recorded.error is not None
    assert (recorded.error.code, recorded.error.permission) == ("DefinitionArchiveError", None)
    assert "X-Amz-" not in recorded.error.model_dump_json()


def test_a_zip_that_unpacks_beyond_the_limit_is_refused_by_the_gate_check(omics: Any) -> None:
    payload = _zip({"main.wdl": MAIN_WDL + "\n" * 100_000})  # a small download, 100 kB unpacked
    workflow_id = str(omics.create_workflow(name="bomb", engine="WDL", definitionZip=payload)["id"])
    with pytest.raises(DefinitionArchiveError) as raised:
        read_definition(omics, workflow_id, limits=GateLimits(max_total_bytes=50_000))
    message = str(raised.value)
    assert message.startswith("the workflow definition cannot be unpacked: the zip unpacks to ")
    assert "refusing the archive" in message
    assert "definition.zip" not in message and "omics-definition-" not in message


def test_a_definition_that_is_not_a_zip(omics: Any) -> None:
    workflow_id = str(omics.create_workflow(name="nozip", engine="WDL", definitionZip=b"not a zip at all")["id"])
    with pytest.raises(DefinitionArchiveError) as raised:
        read_definition(omics, workflow_id)
    assert (
        str(raised.value)
        == "the workflow definition cannot be unpacked: not a workflow folder or zip (File is not a zip file)"
    )


def test_definition_from_zip_reads_bytes_without_any_call() -> None:
    definition = definition_from_zip(_zip({"main.nf": FASTQC_NF + "workflow { FASTQC() }\n"}))
    assert _locations(definition) == [("main.nf", 2, "process FASTQC", "biocontainers/fastqc:0.12.1--hdfd78af_0")]


# --- no definition to download ----------------------------------------------------------------------


def test_a_workflow_without_an_exported_definition_is_a_download_error(omics: Any) -> None:
    repository = {
        "connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/0f3a1c2e-aaaa-bbbb-cccc-4444",
        "fullRepositoryId": "genomics/pipelines",
    }
    workflow_id = omics.create_workflow(name="repo", engine="NEXTFLOW", definitionRepository=repository)["id"]
    with pytest.raises(
        DefinitionDownloadError, match=f"GetWorkflow returned no definition to download for workflow {workflow_id}"
    ):
        read_definition(omics, workflow_id)


# --- HTTP failures, with a URL that must never be echoed ---------------------------------------------


class _Answers(http.server.BaseHTTPRequestHandler):
    """Answers every GET as the test's ``plan`` says: (status, headers, body)."""

    plan: tuple[int, dict[str, str], bytes] = (200, {}, b"")

    def do_GET(self) -> None:
        status, headers, body = self.plan
        self.send_response(status)
        for name, value in headers.items():
            if value:  # an empty value: leave the header out
                self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:  # quiet
        pass


@pytest.fixture
def answers() -> Iterator[tuple[str, type[_Answers]]]:
    handler = type("Handler", (_Answers,), {})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


class _Answering:
    """An omics client whose GetWorkflow answers ``definition``: the URL under test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.calls: list[dict[str, Any]] = []

    def get_workflow(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        return {"id": params["id"], "definition": self.url}


def _assert_secret_free(exc: BaseException, url: str) -> None:
    for text in (str(exc), repr(exc), str(exc.args)):
        assert url not in text
        assert SECRET not in text
        assert "127.0.0.1" not in text and "example.com" not in text
    assert exc.__cause__ is None and exc.__context__ is None  # nothing chained that may hold the URL


@pytest.mark.parametrize("status", [403, 404, 500, 307])
def test_an_http_failure_is_raised_without_the_url(answers: tuple[str, type[_Answers]], status: int) -> None:
    base, handler = answers
    handler.plan = (status, {"Location": f"{base}/elsewhere?{SECRET}"}, b"<Error>AccessDenied</Error>")
    url = f"{base}/definitions/abc.zip?X-Amz-Credential=AKIA%2Fx&{SECRET}"
    client = _Answering(url)
    with pytest.raises(DefinitionDownloadError) as raised:
        read_definition(client, "1234567")
    assert str(raised.value) == f"downloading the workflow definition failed (HTTP {status})"
    assert client.calls == [{"id": "1234567", "export": ["DEFINITION"]}]
    _assert_secret_free(raised.value, url)

    recorded = attempt(
        "omics:GetWorkflow",
        "arn:aws:omics:us-east-1:123456789012:workflow/1234567",
        lambda: read_definition(client, "1234567"),
    )
    assert recorded.error is not None
    assert recorded.error.code == "DefinitionDownloadError"
    assert recorded.error.message == f"downloading the workflow definition failed (HTTP {status})"
    assert recorded.error.permission is None
    assert SECRET not in recorded.error.model_dump_json()


@pytest.mark.parametrize("declared", [True, False], ids=["declared-length", "no-length"])
def test_a_body_larger_than_the_limit_is_not_read_past_it(answers: tuple[str, type[_Answers]], declared: bool) -> None:
    base, handler = answers
    # Without a Content-Length the body runs to the end of the connection (HTTP/1.0): counted as it is read.
    handler.plan = (200, {} if declared else {"Content-Length": ""}, b"x" * 10_000)
    url = f"{base}/big.zip?{SECRET}"
    with pytest.raises(DefinitionArchiveError) as raised:
        read_definition(_Answering(url), "1234567", limits=GateLimits(max_total_bytes=1000))
    assert str(raised.value) == "the workflow definition is larger than 1000 bytes; not downloaded"
    _assert_secret_free(raised.value, url)


def test_a_connection_failure_is_raised_without_the_url() -> None:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there afterwards
    url = f"http://127.0.0.1:{port}/definitions/abc.zip?{SECRET}"
    with pytest.raises(DefinitionDownloadError) as raised:
        read_definition(_Answering(url), "1234567", timeout=5)
    assert str(raised.value) == "downloading the workflow definition failed (connection failed)"
    _assert_secret_free(raised.value, url)


@pytest.mark.parametrize(
    "url",
    [
        f"http://example.com/definitions/abc.zip?{SECRET}",
        f"s3://example.com/definitions/abc.zip?{SECRET}",
        f"ftp://example.com/abc.zip?{SECRET}",
        "not a url",
    ],
)
def test_a_url_that_is_not_https_is_never_fetched(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    def no_network(*_: Any, **__: Any) -> Any:
        raise AssertionError("must not be fetched")

    monkeypatch.setattr(requests, "get", no_network)
    with pytest.raises(DefinitionDownloadError) as raised:
        read_definition(_Answering(url), "1234567")
    assert str(raised.value).startswith("the workflow definition URL is not an HTTPS URL; not downloaded")
    _assert_secret_free(raised.value, url)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://omics-bucket.s3.us-east-1.amazonaws.com/x.zip?X-Amz-Signature=1", True),
        ("http://127.0.0.1:5000/bucket/x.zip", True),
        ("http://localhost:5000/bucket/x.zip", True),
        ("http://LOCALHOST/bucket/x.zip", True),
        ("http://[::1]:5000/bucket/x.zip", True),
        ("http://omics-bucket.s3.us-east-1.amazonaws.com/x.zip", False),
        ("http://127.0.0.2/x.zip", False),
        ("http://localhost.example.com/x.zip", False),
        ("https:///no-host", False),
        ("http://[::1/x", False),
        ("file:///etc/passwd", False),
        ("", False),
    ],
)
def test_download_allowed(url: str, allowed: bool) -> None:
    assert download_allowed(url) is allowed


# --- in-process sandbox: AccessDenied on GetWorkflow, and the https URL mock_aws serves -------------------


def test_in_process_sandbox_and_access_denied(aws: boto3.Session) -> None:
    omics = aws.client("omics")
    workflow_id = omics.create_workflow(
        name="wf", engine="WDL", definitionZip=_zip({"main.wdl": MAIN_WDL, "tasks/align.wdl": ALIGN_WDL})
    )["id"]
    definition = read_definition(omics, workflow_id)  # https://<bucket>.s3.<region>.amazonaws.com, served by moto
    assert [c.raw for c in sorted(definition.containers, key=lambda c: c.file)] == [
        "ubuntu:22.04",
        "quay.io/biocontainers/bwa:0.7.17",
    ]

    fault = Fault(aws, "omics:GetWorkflow", denied("omics"))
    denied_client = aws.client("omics")
    arn = f"arn:aws:omics:us-east-1:123456789012:workflow/{workflow_id}"
    recorded = attempt("omics:GetWorkflow", arn, lambda: read_definition(denied_client, workflow_id))
    assert fault.injected >= 1
    assert recorded.value is None and recorded.error is not None
    assert (recorded.error.code, recorded.error.permission, recorded.error.resource) == (
        "AccessDeniedException",
        "omics:GetWorkflow",
        arn,
    )
