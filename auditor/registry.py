"""Pull side of the OCI distribution API: manifests (exact bytes) and blobs (streamed, verified) from an upstream
registry, with Docker's token authentication; used by ``omics-ecr-audit copy`` (docs/registry-client.md).

Written on ``requests`` (already a dependency) rather than on ``oras``: docs/registry-client.md says, part by part,
what oras 0.2.43 offers and why none of it is used. Everything a registry sends is untrusted:

* names and references are checked against the distribution-spec grammar before they are put in a URL;
* a manifest is read up to ``max_manifest_bytes`` (and within ``timeout`` overall), token and error bodies up to
  small fixed limits; a blob is streamed in ``chunk_size`` pieces, hashed as it goes, and its last piece is held
  back until the digest matches, so a caller never receives the whole of a blob that is not the one it asked for;
* redirects are followed by hand (blobs only): never to a scheme other than http(s), never from https down to
  http (a loopback registry excepted), and the ``Authorization`` header is dropped as soon as a redirect leaves
  the registry's scheme, host and port (registries redirect blobs to storage with pre-signed URLs);
* credentials go only where the protocol sends them: Basic credentials to the token realm the registry names (as
  Docker does) or, on a Basic challenge, to the registry itself, and in both cases only over https (or to a
  loopback host); a token is sent only to the registry that asked for it;
* no message, log line or exception carries a password, a token, an ``Authorization`` value or a URL's query
  (pre-signed URLs are credentials): errors name the registry, repository and reference, the HTTP status and the
  registry's error code, and text a registry sends back is cut to one short line with every secret this client
  holds replaced by ``***``; exceptions of the HTTP stack, whose text can hold a URL, are never chained;
* connection errors, HTTP 429 and 5xx are retried at most twice (``RETRY_DELAYS``, or the registry's
  ``Retry-After`` up to ``MAX_RETRY_AFTER`` seconds); a blob that breaks off mid-stream is not resumed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.client import HTTPException
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import requests
import structlog

from auditor import __version__
from auditor.errors import InputError
from auditor.files import parse_json, read_text
from auditor.manifests import ACCEPTED_MEDIA_TYPES

__all__ = [
    "Credentials",
    "Manifest",
    "RegistryClient",
    "RegistryError",
    "credentials_from_docker_config",
    "credentials_from_secret",
    "registry_endpoint",
]

log = structlog.get_logger(__name__)

ErrorKind = Literal["unauthorized", "denied", "not_found", "network", "protocol", "digest_mismatch", "too_large"]

DOCKER_HUB_ENDPOINT = "https://registry-1.docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

RETRY_DELAYS: tuple[float, ...] = (1.0, 3.0)  # seconds before the 2nd and 3rd attempt: at most three in all
MAX_RETRY_AFTER = 10.0  # a longer Retry-After is not waited for: the error says the registry rate-limits
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5
MAX_TOKEN_RESPONSE_BYTES = 256 * 1024  # Docker Hub's tokens are ~4 KiB, GCR's and GHCR's smaller
MAX_ERROR_BODY_BYTES = 64 * 1024
MAX_TOKEN_CHARS = 64 * 1024
READ_PIECE = 1024 * 1024  # what one socket read asks for while streaming

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Content-Types that say nothing about which manifest it is: the JSON's own mediaType decides then.
_GENERIC_CONTENT_TYPES = frozenset({"", "application/json", "text/plain", "application/octet-stream"})

# --- distribution-spec grammar (https://github.com/opencontainers/distribution-spec/blob/main/spec.md) ----------
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
MAX_REPOSITORY_CHARS = 255  # Docker's limit on a name; the spec lets registries refuse longer ones
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_ANY_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[A-Za-z0-9=_-]+")
_SHA256_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_VERIFIABLE = {"sha256": 64, "sha384": 96, "sha512": 128}  # a Docker-Content-Digest in these is checked
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_REGISTRY = re.compile(rf"(?P<host>{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?")
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_TOKEN_CHARS = re.compile(r"[!-~]+")  # visible ASCII: nothing that could end or split a header


class RegistryError(Exception):
    """A registry operation that failed; ``kind`` says how, the message (one line) says where and why.

    The message never holds a credential, a token or a pre-signed URL.
    """

    def __init__(self, kind: ErrorKind, message: str) -> None:
        self.kind: ErrorKind = kind
        self.message = " ".join(message.split())
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.kind, self.message))


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or access token) for a registry; the password is never in repr or str."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Manifest:
    """A manifest or index exactly as the registry served it."""

    data: bytes  # the exact bytes: the digest is over these, so they are never re-serialised
    media_type: str  # Content-Type, or the JSON's mediaType when the header is missing or generic
    digest: str  # "sha256:" + sha256(data)


# --- registry names and endpoints --------------------------------------------------------------------------------


def _split_registry(registry: str) -> tuple[str, int | None]:
    """(lower-cased host, port) of ``host[:port]``; RegistryError for anything else (schemes and paths included)."""
    match = _REGISTRY.fullmatch(registry) if isinstance(registry, str) else None
    port = int(match.group("port")) if match and match.group("port") else None
    if match is None or (port is not None and not 0 < port < 65536):
        raise RegistryError("protocol", f"not a registry host[:port]: {_shown(registry)}")
    host = match.group("host").lower()
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise RegistryError("protocol", f"not a registry host[:port]: {_shown(registry)}") from None
    return host, port


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def registry_endpoint(registry: str) -> str:
    """The base URL of ``registry`` (``host[:port]``): Docker Hub's names are ``https://registry-1.docker.io``, a
    loopback registry (``127.0.0.1:5000``, ``localhost:5000``, ``[::1]:5000``) is plain http, anything else https."""
    host, port = _split_registry(registry)
    if host in DOCKER_HUB_ALIASES and port is None:
        return DOCKER_HUB_ENDPOINT
    scheme = "http" if _is_loopback(host) else "https"
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def _check_repository(repository: str) -> None:
    if (
        not isinstance(repository, str)
        or len(repository) > MAX_REPOSITORY_CHARS
        or not _REPOSITORY.fullmatch(repository)
    ):
        raise RegistryError(
            "protocol", f"not a valid repository name (distribution-spec grammar): {_shown(repository)}; not requested"
        )


def _check_reference(reference: str) -> bool:
    """True when ``reference`` is a sha256 digest, False for a tag; RegistryError (nothing sent) otherwise."""
    if isinstance(reference, str) and _SHA256_DIGEST.fullmatch(reference):
        return True
    if isinstance(reference, str) and _TAG.fullmatch(reference):
        return False
    if isinstance(reference, str) and reference.startswith("sha256:"):
        raise RegistryError("protocol", f"not a valid sha256 digest: {_shown(reference)}; not requested")
    if isinstance(reference, str) and _ANY_DIGEST.fullmatch(reference):
        raise RegistryError("protocol", f"only sha256 digests are supported, not {_shown(reference)}; not requested")
    raise RegistryError("protocol", f"not a valid tag or digest: {_shown(reference)}; not requested")


def _check_blob_digest(digest: str) -> None:
    if not (isinstance(digest, str) and _SHA256_DIGEST.fullmatch(digest)):
        raise RegistryError("protocol", f"not a sha256 blob digest: {_shown(digest)}; not requested")


def _shown(value: object, limit: int = 80) -> str:
    """A caller's value for a message: repr, cut short (it failed validation, so it may be anything)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- WWW-Authenticate ---------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_challenges(header: str) -> list[tuple[str, dict[str, str]]]:
    """The challenges of a WWW-Authenticate value (RFC 9110 section 11.6.1): [(lower-cased scheme, params)].

    Parameter names are lower-cased; quoted values are unescaped. Malformed pieces end the parse (what was read
    before them is kept); a token68 credential (``Negotiate abc==``) is skipped.
    """
    challenges: list[tuple[str, dict[str, str]]] = []
    i, n = 0, len(header)
    while i < n:
        while i < n and header[i] in " \t,":
            i += 1
        match = _TOKEN_RE.match(header, i)
        if match is None:
            break
        name, i = match.group(), match.end()
        j = i
        while j < n and header[j] in " \t":
            j += 1
        if j < n and header[j] == "=" and challenges and not header.startswith("==", j):
            i = j + 1
            while i < n and header[i] in " \t":
                i += 1
            if i < n and header[i] == '"':
                value, i = _quoted(header, i)
                if value is None:
                    break
            else:
                match = _TOKEN_RE.match(header, i)
                value = match.group() if match else ""
                i = match.end() if match else i
            challenges[-1][1].setdefault(name.lower(), value)
        elif j < n and header[j] == "=":  # token68 (or a parameter before any scheme): skip to the next comma
            while i < n and header[i] != ",":
                i += 1
        else:
            challenges.append((name.lower(), {}))
    return challenges


def _quoted(text: str, start: int) -> tuple[str | None, int]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    return None, i  # unterminated


# --- the client ---------------------------------------------------------------------------------------------------


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """Passed as ``auth`` so that requests never adds ~/.netrc credentials on top of ours."""
    return request


def _new_session() -> requests.Session:
    session = requests.Session()
    # Ignore cookies: some registries set them and then expect browser-like CSRF handling (Harbor).
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    session.headers["User-Agent"] = f"omics-ecr-audit/{__version__}"
    return session


class RegistryClient:
    """Reads manifests and blobs from one registry (``host[:port]``, see :func:`registry_endpoint`).

    Anonymous by default; with ``credentials`` they are used on a Bearer challenge (to get a token from the realm)
    or a Basic one. Tokens are kept per repository for the client's life and fetched again once when refused.
    ``timeout`` bounds connecting and each socket read, and the whole of a manifest or token read. The token cache
    is locked; the session is requests', which does not promise thread safety (docs/registry-client.md).
    """

    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None = None,
        timeout: float = 30.0,
        max_manifest_bytes: int = 4 * 1024 * 1024,
        session: requests.Session | None = None,
    ) -> None:
        if not timeout > 0 or not max_manifest_bytes > 0:
            raise ValueError("timeout and max_manifest_bytes must be positive")
        self.registry = registry
        self.endpoint = registry_endpoint(registry)
        self._origin = urlsplit(self.endpoint)
        self._credentials = credentials
        self._timeout = timeout
        self._max_manifest_bytes = max_manifest_bytes
        self._session = session if session is not None else _new_session()
        self._lock = threading.Lock()
        self._authorization: dict[str, str] = {}  # repository -> Authorization value
        self._secrets: set[str] = set()
        if credentials is not None:
            basic = _basic(credentials)
            self._secrets.update({credentials.password, basic})

    def __repr__(self) -> str:
        user = f", user={self._credentials.username!r}" if self._credentials else ""
        return f"RegistryClient({self.registry!r}{user})"

    # -- public API ------------------------------------------------------------------------------------------------

    def manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest (or index) ``repository:reference`` as served, verified against a digest reference and
        against the registry's Docker-Content-Digest header."""
        _check_repository(repository)
        by_digest = _check_reference(reference)
        where = f"{self.registry}/{repository}{'@' if by_digest else ':'}{reference}"
        response = self._request(
            "GET", f"/v2/{repository}/manifests/{reference}", repository, where, accept=", ".join(ACCEPTED_MEDIA_TYPES)
        )
        deadline = time.monotonic() + self._timeout
        with response:
            self._raise_for_status(response, where, "manifest")
            data = self._read_bounded(response, self._max_manifest_bytes, where, "manifest", deadline)
            header_digest = response.headers.get("Docker-Content-Digest", "").strip()
            content_type = response.headers.get("Content-Type", "")
        digest = _sha256(data)
        if by_digest and digest != reference:
            raise RegistryError("digest_mismatch", f"{where}: the manifest served hashes to {digest}")
        if header_digest:
            _check_header_digest(header_digest, data, where)
        return Manifest(data=data, media_type=_media_type(content_type, data, where), digest=digest)

    def blob_size(self, repository: str, digest: str) -> int:
        """The size in bytes of blob ``digest`` (HEAD; redirects followed)."""
        _check_repository(repository)
        _check_blob_digest(digest)
        where = f"{self.registry}/{repository}@{digest}"
        response = self._request("HEAD", f"/v2/{repository}/blobs/{digest}", repository, where, blob=True)
        with response:
            self._raise_for_status(response, where, "blob")
            size = _content_length(response)
            header_digest = response.headers.get("Docker-Content-Digest", "").strip()
        if size is None:
            raise RegistryError("protocol", f"{where}: the registry sent no valid Content-Length for the blob")
        if header_digest and header_digest != digest and _SHA256_DIGEST.fullmatch(header_digest):
            raise RegistryError("digest_mismatch", f"{where}: the registry says the blob is {header_digest}")
        return size

    def blob_chunks(
        self, repository: str, digest: str, chunk_size: int = 8 * 1024 * 1024, *, expected_size: int | None = None
    ) -> Iterator[bytes]:
        """Blob ``digest``, streamed: every chunk is ``chunk_size`` bytes except the last (fewer, never empty).

        The request is sent (and not_found/unauthorized/... raised) when this is called; iterate the result to the
        end or close it. The sha256 of everything read is checked before the last chunk is yielded: on a mismatch
        RegistryError("digest_mismatch") is raised instead. ``expected_size`` (the descriptor's size), when given,
        is enforced too: more bytes are "too_large" as soon as they arrive, fewer a "digest_mismatch".
        """
        _check_repository(repository)
        _check_blob_digest(digest)
        if not isinstance(chunk_size, int) or chunk_size <= 0:
            raise ValueError("chunk_size must be a positive number of bytes")
        where = f"{self.registry}/{repository}@{digest}"
        response = self._request("GET", f"/v2/{repository}/blobs/{digest}", repository, where, blob=True)
        try:
            self._raise_for_status(response, where, "blob")
            announced = _content_length(response)
            if expected_size is not None and announced is not None and announced > expected_size:
                raise RegistryError(
                    "too_large",
                    f"{where}: the registry announces {announced} bytes, the descriptor says {expected_size}",
                )
        except BaseException:
            response.close()
            raise
        return self._stream(response, digest, chunk_size, expected_size, where)

    # -- streaming and bounded reads ----------------------------------------------------------------------------

    def _stream(
        self, response: requests.Response, digest: str, chunk_size: int, expected_size: int | None, where: str
    ) -> Iterator[bytes]:
        hasher = hashlib.sha256()
        buffer = bytearray()
        total = 0
        try:
            for piece in self._pieces(response, where, min(chunk_size, READ_PIECE)):
                total += len(piece)
                if expected_size is not None and total > expected_size:
                    raise RegistryError("too_large", f"{where}: the registry sent more than {expected_size} bytes")
                hasher.update(piece)
                buffer += piece
                while len(buffer) > chunk_size:  # strictly more: the last chunk waits for the digest check
                    yield bytes(buffer[:chunk_size])
                    del buffer[:chunk_size]
        finally:
            response.close()
        received = "sha256:" + hasher.hexdigest()
        if received != digest:
            raise RegistryError(
                "digest_mismatch",
                f"{where}: the {total} bytes received hash to {received}, not to the digest asked for",
            )
        if expected_size is not None and total != expected_size:
            raise RegistryError(
                "digest_mismatch", f"{where}: {total} bytes received, the descriptor says {expected_size}"
            )
        if buffer:
            yield bytes(buffer)

    def _pieces(self, response: requests.Response, where: str, size: int) -> Iterator[bytes]:
        try:
            for piece in response.iter_content(size):
                if piece:
                    yield piece
        except (requests.RequestException, HTTPException, OSError) as exc:
            raise RegistryError(
                "network", f"{where}: the connection broke off while reading ({type(exc).__name__})"
            ) from None

    def _read_bounded(self, response: requests.Response, limit: int, where: str, what: str, deadline: float) -> bytes:
        announced = _content_length(response)
        if announced is not None and announced > limit:
            raise RegistryError("too_large", f"{where}: the {what} is {announced} bytes, more than the {limit} allowed")
        data = bytearray()
        for piece in self._pieces(response, where, min(limit + 1, 64 * 1024)):
            data += piece
            if len(data) > limit:
                raise RegistryError("too_large", f"{where}: the {what} is more than the {limit} bytes allowed")
            if time.monotonic() > deadline:
                raise RegistryError("network", f"{where}: reading the {what} took longer than {self._timeout:g} s")
        return bytes(data)

    # -- requests, authentication, retries, redirects --------------------------------------------------------------

    def _request(
        self, method: str, path: str, repository: str, where: str, *, accept: str | None = None, blob: bool = False
    ) -> requests.Response:
        """The response to ``method path`` (streamed, status not checked), after authenticating if challenged."""
        headers = {"Accept-Encoding": "identity"}
        if accept:
            headers["Accept"] = accept
        url = self.endpoint + path
        fresh = False
        while True:
            with self._lock:
                authorization = self._authorization.get(repository)
            response = self._send(method, url, headers, authorization, where, follow_redirects=blob)
            final = urlsplit(response.url)
            if response.status_code != 401 or fresh or (final.scheme, final.netloc) != self._origin[:2]:
                return response  # a 401 from storage behind a redirect is not answered with credentials
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            authorization = self._authenticate(challenge, repository, where)
            with self._lock:
                self._authorization[repository] = authorization
            fresh = True

    def _authenticate(self, challenge: str, repository: str, where: str) -> str:
        """The Authorization value that answers ``challenge`` (a fresh token for Bearer)."""
        challenges = dict(reversed(parse_challenges(challenge)))  # the first of each scheme wins
        if "bearer" in challenges:
            return "Bearer " + self._token(challenges["bearer"], repository, where)
        if "basic" in challenges:
            if self._credentials is None:
                raise RegistryError(
                    "unauthorized", f"{where}: the registry requires credentials (Basic) and none were given"
                )
            if self._origin.scheme != "https" and not _is_loopback(self._origin.hostname):
                raise RegistryError("unauthorized", f"{where}: credentials are not sent over plain http")
            return "Basic " + _basic(self._credentials)
        schemes = ", ".join(sorted(challenges)) or "none"
        raise RegistryError(
            "unauthorized", f"{where}: the registry refused the request (HTTP 401; challenge: {schemes})"
        )

    def _token(self, params: Mapping[str, str], repository: str, where: str) -> str:
        realm = params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise RegistryError("protocol", f"{where}: the registry's Bearer challenge names no usable token realm")
        if parts.scheme == "http" and not (_is_loopback(parts.hostname) and _is_loopback(self._origin.hostname)):
            raise RegistryError("protocol", f"{where}: the token realm {parts.hostname} is plain http; not contacted")
        realm_host = parts.hostname
        query = {"service": params["service"]} if params.get("service") else {}
        query["scope"] = params.get("scope") or f"repository:{repository}:pull"
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        authorization = None if self._credentials is None else "Basic " + _basic(self._credentials)
        url = requests.Request("GET", realm, params=query).prepare().url or realm
        with self._send("GET", url, headers, authorization, where, follow_redirects=False) as response:
            deadline = time.monotonic() + self._timeout
            if response.status_code in (401, 403):
                who = "the credentials given" if self._credentials else "anonymous access"
                raise RegistryError(
                    "unauthorized",
                    f"{where}: the token service at {realm_host} refused {who} (HTTP {response.status_code}"
                    f"{self._error_detail(response, where)})",
                )
            if response.status_code != 200:
                raise self._status_error(response, where, f"token from {realm_host}")
            body = self._read_bounded(response, MAX_TOKEN_RESPONSE_BYTES, where, "token response", deadline)
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise RegistryError("protocol", f"{where}: the token service at {realm_host} sent no JSON") from None
        token = document.get("token") or document.get("access_token") if isinstance(document, dict) else None
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not _TOKEN_CHARS.fullmatch(token):
            raise RegistryError("protocol", f"{where}: the token service at {realm_host} sent no usable token")
        with self._lock:
            self._secrets.add(token)
        return token

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        authorization: str | None,
        where: str,
        *,
        follow_redirects: bool,
    ) -> requests.Response:
        """One request with retries (connection errors, 429, 5xx) and, if asked, redirects followed by hand."""
        attempts = len(RETRY_DELAYS) + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._send_once(method, url, headers, authorization, where, follow_redirects)
            except RegistryError:
                raise
            except (requests.RequestException, HTTPException, OSError) as exc:
                if last or isinstance(exc, requests.exceptions.SSLError | requests.exceptions.InvalidURL):
                    host = urlsplit(url).hostname
                    raise RegistryError(
                        "network", f"{where}: cannot reach {host} ({type(exc).__name__}, {attempt + 1} attempt(s))"
                    ) from None
                log.debug("registry retry", host=urlsplit(url).hostname, error=type(exc).__name__)
                time.sleep(RETRY_DELAYS[attempt])
                continue
            if response.status_code in RETRY_STATUSES and not last:
                wait = _retry_after(response, RETRY_DELAYS[attempt])
                if wait is not None:
                    response.close()
                    log.debug("registry retry", host=urlsplit(url).hostname, status=response.status_code, wait=wait)
                    time.sleep(wait)
                    continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        authorization: str | None,
        where: str,
        follow_redirects: bool,
    ) -> requests.Response:
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            sent = dict(headers)
            if authorization:
                sent["Authorization"] = authorization
            response = self._session.request(
                method,
                current,
                headers=sent,
                stream=True,
                allow_redirects=False,
                timeout=(self._timeout, self._timeout),
                auth=_no_auth,
            )
            if not follow_redirects or response.status_code not in _REDIRECT_STATUSES:
                return response
            location = response.headers.get("Location", "")
            response.close()
            if not location:
                raise RegistryError("protocol", f"{where}: HTTP {response.status_code} redirect without a Location")
            target = urlsplit(urljoin(current, location))
            here = urlsplit(current)
            if target.scheme not in ("http", "https") or not target.hostname:
                raise RegistryError("protocol", f"{where}: redirect to a non-http(s) URL refused")
            if here.scheme == "https" and target.scheme == "http" and not _is_loopback(target.hostname):
                raise RegistryError(
                    "protocol", f"{where}: redirect from https to plain http ({target.hostname}) refused"
                )
            if (target.scheme, target.netloc.lower()) != (self._origin.scheme, self._origin.netloc.lower()):
                authorization = None  # storage behind a redirect gets no registry credential
            current = target.geturl()
        raise RegistryError("protocol", f"{where}: more than {MAX_REDIRECTS} redirects")

    # -- statuses and messages -------------------------------------------------------------------------------------

    def _raise_for_status(self, response: requests.Response, where: str, what: str) -> None:
        if response.status_code == 200:
            return
        raise self._status_error(response, where, what)

    def _status_error(self, response: requests.Response, where: str, what: str) -> RegistryError:
        status = response.status_code
        detail = self._error_detail(response, where)
        if status == 401:
            return RegistryError(
                "unauthorized",
                f"{where}: {what} refused (HTTP 401{detail}): the credentials are missing or wrong, "
                "or the repository does not exist",
            )
        if status == 403:
            return RegistryError("denied", f"{where}: {what} access denied (HTTP 403{detail})")
        if status == 404:
            return RegistryError("not_found", f"{where}: {what} not found (HTTP 404{detail})")
        if status == 429:
            return RegistryError("network", f"{where}: {what}: the registry rate-limits this client (HTTP 429{detail})")
        if status >= 500:
            return RegistryError("network", f"{where}: {what}: the registry failed (HTTP {status}{detail})")
        return RegistryError("protocol", f"{where}: {what}: unexpected HTTP {status}{detail}")

    def _error_detail(self, response: requests.Response, where: str) -> str:
        """``; CODE: message`` from a distribution-spec error body (bounded, scrubbed, one short line), or ''."""
        if response.request is not None and response.request.method == "HEAD":
            return ""
        try:
            body = self._read_bounded(
                response, MAX_ERROR_BODY_BYTES, where, "error body", time.monotonic() + min(self._timeout, 5.0)
            )
            document = json.loads(body)
        except (RegistryError, ValueError, RecursionError):
            return ""
        errors = document.get("errors") if isinstance(document, dict) else None
        if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
            return ""
        code = errors[0].get("code")
        message = errors[0].get("message")
        shown = code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""
        if isinstance(message, str) and message.strip():
            shown += f"{': ' if shown else ''}{self._scrub(message)}"
        return f"; {shown}" if shown else ""

    def _scrub(self, text: str, limit: int = 160) -> str:
        """Server text for a message: printable, one line, short, every secret this client holds replaced."""
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
        return text if len(text) <= limit else text[: limit - 1] + "…"


def _basic(credentials: Credentials) -> str:
    return base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode("ascii")


def _content_length(response: requests.Response) -> int | None:
    raw = response.headers.get("Content-Length", "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 19 else None


def _retry_after(response: requests.Response, default: float) -> float | None:
    """Seconds to wait before retrying; None when the registry asks for longer than MAX_RETRY_AFTER."""
    raw = response.headers.get("Retry-After", "").strip()
    if not raw.isdigit():
        return default
    wanted = float(raw[:6])
    return None if wanted > MAX_RETRY_AFTER else max(default, wanted)


def _check_header_digest(header: str, data: bytes, where: str) -> None:
    algorithm, _, encoded = header.partition(":")
    length = _VERIFIABLE.get(algorithm)
    if length is None or len(encoded) != length or not re.fullmatch(r"[a-f0-9]+", encoded):
        raise RegistryError("protocol", f"{where}: the registry sent an unusable Docker-Content-Digest header")
    if hashlib.new(algorithm, data).hexdigest() != encoded:
        raise RegistryError(
            "digest_mismatch",
            f"{where}: the manifest served does not match the registry's Docker-Content-Digest {header}",
        )


def _media_type(content_type: str, data: bytes, where: str) -> str:
    declared = content_type.split(";", 1)[0].strip()
    if declared.lower() not in _GENERIC_CONTENT_TYPES:
        return declared
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        document = None
    media_type = document.get("mediaType") if isinstance(document, dict) else None
    if isinstance(media_type, str) and media_type.strip():
        return media_type.strip()
    raise RegistryError(
        "protocol", f"{where}: the manifest names no media type (Content-Type {declared or 'missing'}, no mediaType)"
    )


# --- credentials ---------------------------------------------------------------------------------------------------


def credentials_from_secret(secretsmanager_client: Any, secret_id: str) -> Credentials:
    """Registry credentials from a Secrets Manager secret: ECR pull-through cache's ``{"username", "accessToken"}``
    (or ``{"username", "password"}``). Errors name the secret, never its value."""
    from botocore.exceptions import BotoCoreError, ClientError

    what = f"secret {_shown(secret_id, 200)}"
    try:
        response = secretsmanager_client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "")) or "error"
        kind: ErrorKind = (
            "not_found"
            if code == "ResourceNotFoundException"
            else "denied"
            if code in ("AccessDeniedException", "AccessDenied")
            else "unauthorized"
        )
        raise RegistryError(kind, f"{what}: secretsmanager:GetSecretValue failed ({code})") from None
    except BotoCoreError as exc:
        raise RegistryError("network", f"{what}: secretsmanager:GetSecretValue failed ({type(exc).__name__})") from None
    text = response.get("SecretString")
    if not isinstance(text, str):
        raise RegistryError("unauthorized", f"{what}: holds no SecretString (a binary secret is not a credential)")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise RegistryError("unauthorized", f"{what}: the secret string is not JSON") from None
    if not isinstance(document, dict):
        raise RegistryError("unauthorized", f"{what}: the secret string is not a JSON object")
    username = document.get("username")
    password = document.get("accessToken", document.get("password"))
    if not isinstance(username, str) or not username or ":" in username:
        raise RegistryError("unauthorized", f"{what}: no usable \"username\" (a non-empty string without ':')")
    if not isinstance(password, str) or not password:
        raise RegistryError("unauthorized", f'{what}: no usable "accessToken" (or "password") string')
    return Credentials(username=username, password=password)


def _config_key_host(key: str) -> str:
    """The host of an ``auths`` key as Docker reads it: scheme and path dropped (``https://index.docker.io/v1/``)."""
    for scheme in ("http://", "https://"):
        if key.lower().startswith(scheme):
            key = key[len(scheme) :]
            break
    return key.split("/", 1)[0].lower()


def _same_registry(a: str, b: str) -> bool:
    return a == b or (a in DOCKER_HUB_ALIASES and b in DOCKER_HUB_ALIASES)


def credentials_from_docker_config(registry: str, path: Path | None = None) -> Credentials | None:
    """Credentials for ``registry`` from a Docker config (``path``, else ``$DOCKER_CONFIG/config.json``, else
    ``~/.docker/config.json``): ``auths[host].auth`` (base64 ``user:password``) or ``username``/``password``.

    None when the file does not exist, has no entry for the registry, the entry holds only an ``identitytoken``,
    or a credential helper (``credHelpers[host]`` or ``credsStore``) would answer for it: helpers are programs
    and are never run here. A file that is not a readable JSON object, or an entry that cannot be decoded, is a
    RegistryError("unauthorized") naming the file and the entry, never the value.
    """
    host, port = _split_registry(registry)
    wanted = host + (f":{port}" if port is not None else "")
    if path is None:
        folder = os.environ.get("DOCKER_CONFIG")
        path = Path(folder) / "config.json" if folder else Path.home() / ".docker" / "config.json"
    if not path.exists():
        return None
    try:
        document = parse_json(read_text(path, "Docker config", small=True), str(path), "Docker config")
    except InputError as exc:
        raise RegistryError("unauthorized", str(exc)) from None
    if not isinstance(document, dict):
        raise RegistryError("unauthorized", f"{path}: the Docker config is not a JSON object")
    helpers = document.get("credHelpers")
    if isinstance(helpers, dict) and any(_same_registry(_config_key_host(str(k)), wanted) for k in helpers):
        return None
    if document.get("credsStore"):
        return None
    auths = document.get("auths")
    if not isinstance(auths, dict):
        return None
    keys = sorted((k for k in auths if _same_registry(_config_key_host(str(k)), wanted)), key=lambda k: k != wanted)
    for key in keys:
        entry = auths[key]
        found = _entry_credentials(entry, f"{path}: auths entry {_shown(key)}")
        if found is not None:
            return found
    return None


def _entry_credentials(entry: Any, where: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise RegistryError("unauthorized", f"{where}: not a JSON object")
    encoded = entry.get("auth")
    if encoded:
        if not isinstance(encoded, str):
            raise RegistryError("unauthorized", f'{where}: "auth" is not a string')
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise RegistryError("unauthorized", f'{where}: "auth" is not base64 of UTF-8 "user:password"') from None
        username, colon, password = decoded.partition(":")
        if not colon or not username or not password:
            raise RegistryError("unauthorized", f'{where}: "auth" does not decode to "user:password"')
        return Credentials(username=username, password=password)
    user, secret = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(secret, str) and user and secret:
        return Credentials(username=user, password=secret)
    return None
