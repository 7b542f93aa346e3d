"""Where a command's files go: a local folder, or ``s3://bucket/prefix``.

``--out s3://bucket/prefix`` must never become a local folder named ``s3:``. :func:`output_folder` gives a
command a local folder to write into either way: the folder itself, or a private temporary one whose
files are put under the prefix (``s3:PutObject``, one object per file, same relative name) as each is
:meth:`OutputFolder.publish`-ed, and the rest when the command is done (files the fixers wrote beside
the plan). A command that fails uploads nothing more. :func:`fetch` reads an ``s3://`` input (``--previous``)
into a temporary file, bounded like every input file, so the usual loaders read it.
"""

from __future__ import annotations

import mimetypes
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions

from auditor.errors import AuditError, ExitCode, UsageError
from auditor.terminal import printable

SessionFactory = Callable[[], boto3.Session]


class OutputError(AuditError):
    """An s3:// output or input could not be written or read: one line naming the object, exit code 2."""

    exit_code = ExitCode.USAGE


def is_s3(location: str | None) -> bool:
    return bool(location) and str(location).startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ("bucket", "a/b"); UsageError for a URI without a bucket."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise UsageError(f"{uri}: an S3 location is s3://BUCKET/PREFIX")
    return bucket, key.strip("/")


def _client(session: boto3.Session, endpoint_url: str | None) -> Any:
    return session.client("s3", endpoint_url=endpoint_url) if endpoint_url else session.client("s3")


def _failed(action: str, uri: str, exc: Exception) -> OutputError:
    from auditor.credentials import describe

    said = describe(exc)
    if said is None and isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        said = f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return OutputError(printable(f"cannot {action} {uri}: {said or exc}"))


class OutputFolder:
    """A local folder to write into, and how each file written there is shown and published."""

    def __init__(
        self, location: str, session_factory: SessionFactory | None = None, endpoint_url: str | None = None
    ) -> None:
        self.location = location
        self.remote = is_s3(location)
        self._factory = session_factory
        self._endpoint_url = endpoint_url
        self._client: Any = None
        self._published: set[Path] = set()
        if self.remote:
            self.bucket, self.prefix = split_s3(location)
            self._tmp = Path(tempfile.mkdtemp(prefix="omics-ecr-audit-out-"))
            self.path = self._tmp
        else:
            self.path = Path(location)

    def uri(self, path: Path) -> str:
        rel = path.resolve().relative_to(self.path.resolve()).as_posix()
        key = f"{self.prefix}/{rel}" if self.prefix else rel
        return f"s3://{self.bucket}/{key}"

    def shown(self, path: Path | str) -> str:
        """How a file written here is named to the user: its S3 URI, or the local path as given."""
        p = Path(path)
        return self.uri(p) if self.remote else str(p)

    def publish(self, path: Path | str) -> str:
        """Upload one written file now (S3) and return how it is shown."""
        p = Path(path)
        if self.remote and p not in self._published:
            self._put(p)
        return self.shown(p)

    def _put(self, path: Path) -> None:
        uri = self.uri(path)
        bucket, key = split_s3(uri)
        if self._client is None:
            from auditor.credentials import open_session

            session = self._factory() if self._factory is not None else open_session()
            self._client = _client(session, self._endpoint_url)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            self._client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _failed("write", uri, exc) from None
        self._published.add(path)

    def finish(self) -> None:
        """Upload every file not published yet (in name order)."""
        if self.remote:
            for path in sorted(p for p in self.path.rglob("*") if p.is_file()):
                if path not in self._published:
                    self._put(path)

    def discard(self) -> None:
        if self.remote:
            shutil.rmtree(self._tmp, ignore_errors=True)


@contextmanager
def output_folder(
    location: str, session_factory: SessionFactory | None = None, endpoint_url: str | None = None
) -> Iterator[OutputFolder]:
    """The folder a command writes into (see the module docstring); S3 uploads happen as files are
    published and, for the rest, when the block ends without an exception."""
    folder = OutputFolder(location, session_factory, endpoint_url)
    try:
        yield folder
        folder.finish()
    finally:
        folder.discard()


@contextmanager
def fetched(
    location: str, session_factory: SessionFactory | None = None, endpoint_url: str | None = None
) -> Iterator[Path]:
    """A local path holding ``location``: the path itself, or an ``s3://`` object downloaded to a temporary
    file (at most the size limit of findings and inventories; larger is refused before it is read)."""
    if not is_s3(location):
        yield Path(location)
        return
    from auditor.credentials import open_session
    from auditor.files import max_input_bytes

    bucket, key = split_s3(location)
    session = session_factory() if session_factory is not None else open_session()
    client = _client(session, endpoint_url)
    limit = max_input_bytes()
    with tempfile.TemporaryDirectory(prefix="omics-ecr-audit-in-") as tmp:
        target = Path(tmp) / (Path(key).name or "object")
        try:
            got = client.get_object(Bucket=bucket, Key=key)
            if int(got.get("ContentLength") or 0) > limit:
                raise OutputError(f"{location}: larger than {limit // (1024 * 1024)} MiB; refusing to read it")
            with target.open("wb") as handle:
                body = got["Body"]
                total = 0
                for chunk in iter(lambda: body.read(1024 * 1024), b""):
                    total += len(chunk)
                    if total > limit:
                        raise OutputError(f"{location}: larger than {limit // (1024 * 1024)} MiB; refusing to read it")
                    handle.write(chunk)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _failed("read", location, exc) from None
        yield target
