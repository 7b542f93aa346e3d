"""Read a registered workflow's definition: ``GetWorkflow --export DEFINITION``, then the gate's extractors.

:func:`read_definition` asks HealthOmics for the workflow with ``export=["DEFINITION"]``, downloads
the definition zip from the pre-signed URL in the answer's ``definition`` member, unpacks it
exactly as the gate unpacks a workflow zip (:func:`auditor.gate.gate.workflow_folder`: entry
count, total size and compression ratio checked from the central directory first, no symlink, no
member outside the temp folder) and runs the gate's extractors on it
(:func:`auditor.gate.gate.extract`). The result is an :class:`~auditor.models.WorkflowDefinition`:
every container with its file and line, and as ``problems`` what could not be read ("file:line:
message"), including a definition with no WDL, Nextflow or CWL file at all.

The pre-signed URL is a bearer credential. It is never put in a message, an exception or a log
line, and no exception raised here chains one that holds it.

Failures raise, for the caller's :func:`auditor.aws.attempt` to record as a ``CallError``:

* a ``botocore.exceptions.ClientError`` from GetWorkflow, unchanged (AccessDeniedException names
  the missing ``omics:GetWorkflow`` permission; throttling, not found...);
* :class:`DefinitionDownloadError` when the definition cannot be downloaded: no URL in the answer
  (a workflow whose definition the service does not export), a URL that is not HTTPS (plain HTTP
  is accepted only for the sandbox on this machine: ``localhost``, ``127.0.0.1``, ``::1``), an HTTP
  status other than 200 (redirects are not followed), a timeout or a connection failure;
* :class:`DefinitionArchiveError` when the download is not a readable workflow zip: larger than
  the gate's ``max_total_bytes`` (:class:`~auditor.gate.workspace.GateLimits`), not a zip, or a
  zip the gate refuses (too many entries, too large unpacked, compression bomb, a member escaping
  the folder, a corrupt member).

Both are ``requests.RequestException`` subclasses, so ``attempt()`` records them with the class
name as the code and the (URL-free) message as the message.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from auditor.errors import UsageError
from auditor.gate.containers import Extraction, ExtractionError
from auditor.gate.gate import detect_languages, extract, workflow_folder
from auditor.gate.workspace import GateLimits, describe_size
from auditor.models import DefinitionContainer, WorkflowDefinition

__all__ = [
    "DefinitionArchiveError",
    "DefinitionDownloadError",
    "DefinitionError",
    "definition_from_zip",
    "download_allowed",
    "read_definition",
]

# Plain HTTP is the sandbox server on this machine (auditor.sandbox.server); anything else must be HTTPS.
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_CHUNK = 64 * 1024
_NO_FILES = "the definition has no WDL (.wdl), Nextflow (.nf, nextflow.config) or CWL (.cwl) files"


class DefinitionError(requests.RequestException):
    """The workflow definition could not be read; the message never holds the pre-signed URL."""


class DefinitionDownloadError(DefinitionError):
    """No definition URL, a refused URL, an HTTP status other than 200, a timeout or a connection failure."""


class DefinitionArchiveError(DefinitionError):
    """The download is too large, not a zip, or a zip the gate refuses to unpack."""


def download_allowed(url: str) -> bool:
    """Whether a definition URL may be fetched: HTTPS, or plain HTTP to the sandbox on this machine."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # a malformed port or IPv6 literal
        return False
    if not host:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and host.lower() in _LOOPBACK_HOSTS


def read_definition(
    omics_client: Any,
    workflow_id: str,
    *,
    limits: GateLimits | None = None,
    timeout: float = 30,
    http: requests.Session | None = None,
) -> WorkflowDefinition:
    """The containers of workflow ``workflow_id``'s definition, and what could not be read.

    ``limits`` bound the download (``max_total_bytes``) and the unpacking exactly as for the gate
    (default: ``GateLimits.from_env()``); ``timeout`` is the connect and read timeout of the
    download, in seconds; ``http`` is a ``requests.Session`` to reuse connections (default: none).
    Raises ``ClientError`` (GetWorkflow), :class:`DefinitionDownloadError` or
    :class:`DefinitionArchiveError` (see the module docstring).
    """
    limits = limits or GateLimits.from_env()
    answer = omics_client.get_workflow(id=workflow_id, export=["DEFINITION"])
    url = answer.get("definition")
    if not isinstance(url, str) or not url:
        raise DefinitionDownloadError(
            f"GetWorkflow returned no definition to download for workflow {workflow_id} "
            "(HealthOmics exports the definitions of workflows created in this account)"
        )
    data = _download(url, limits.max_total_bytes, timeout, http)
    return definition_from_zip(data, limits=limits)


def _download(url: str, max_bytes: int, timeout: float, http: requests.Session | None) -> bytes:
    """At most ``max_bytes`` from ``url``; every failure is a message without the URL."""
    if not download_allowed(url):
        raise DefinitionDownloadError(
            "the workflow definition URL is not an HTTPS URL; not downloaded (plain HTTP only for the sandbox)"
        )
    too_large = f"the workflow definition is larger than {describe_size(max_bytes)}; not downloaded"
    get = http.get if http is not None else requests.get
    failure: str | None = None
    # Nothing below may put ``url`` in a message: requests' own exceptions do (ConnectionError names the
    # path and query), so they are replaced by a description, raised outside this handler (no chaining).
    try:
        # identity: the size counted is the size sent (no decompression to bound separately).
        headers = {"Accept-Encoding": "identity"}
        with get(url, headers=headers, timeout=timeout, stream=True, allow_redirects=False) as response:
            if response.status_code != 200:
                failure = f"HTTP {response.status_code}"
            else:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise DefinitionArchiveError(too_large)
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_content(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise DefinitionArchiveError(too_large)
                    chunks.append(chunk)
                return b"".join(chunks)
    except DefinitionError:
        raise
    except requests.Timeout:
        failure = "timed out"
    except requests.ConnectionError:
        failure = "connection failed"
    except requests.RequestException as exc:
        failure = type(exc).__name__
    raise DefinitionDownloadError(f"downloading the workflow definition failed ({failure})")


def definition_from_zip(data: bytes, *, limits: GateLimits | None = None) -> WorkflowDefinition:
    """A definition zip's containers and problems, unpacked and read exactly as the gate reads a workflow zip."""
    limits = limits or GateLimits.from_env()
    with tempfile.TemporaryDirectory(prefix="omics-definition-") as tmp:
        path = Path(tmp) / "definition.zip"
        path.write_bytes(data)
        try:
            with workflow_folder(path, limits) as root:
                return _read_folder(root, limits)
        except UsageError as exc:
            # The gate names the zip by its (temporary) path; the reader of a finding needs none of it.
            message = str(exc).replace(f"{path}: ", "").replace(str(path), "the definition zip")
            raise DefinitionArchiveError(f"the workflow definition cannot be unpacked: {message}") from None


def _read_folder(root: Path, limits: GateLimits) -> WorkflowDefinition:
    languages = detect_languages(root)
    if not languages:
        return WorkflowDefinition(problems=[_NO_FILES])
    extractions = extract(root, None, limits)
    return WorkflowDefinition(
        languages=languages,
        containers=[container for extraction in extractions for container in _containers(extraction)],
        problems=[_problem(error, root) for extraction in extractions for error in extraction.errors],
    )


def _containers(extraction: Extraction) -> list[DefinitionContainer]:
    # The same fields as the gate's ContainerRef, less the expression text (the snapshot keeps the value).
    return [DefinitionContainer(**ref.model_dump(exclude={"expression"})) for ref in extraction.containers]


def _problem(error: ExtractionError, root: Path) -> str:
    where = error.file if error.line is None else f"{error.file}:{error.line}"
    # Parser messages may name the file by its absolute path under the temporary folder.
    message = " ".join(error.message.replace(f"{root}/", "").replace(str(root), ".").split())
    return f"{where}: {message}"
