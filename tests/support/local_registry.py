"""A real OCI registry on 127.0.0.1 for tests: Debian's ``docker-registry`` (the CNCF distribution server 2.8)
with filesystem storage, optionally behind Docker's token authentication served by a small token server in
this process; and helpers that push images to it through the registry's own push API.

* :func:`start_registry` picks free loopback ports (never the package's default 5000), writes the server's
  configuration under ``root`` and waits until ``/v2/`` answers. The binary missing is an error naming the
  Debian package (``.ci/run`` installs it), never a skip.
* With ``token_auth`` the registry answers every anonymous request with ``401`` and a Bearer challenge
  (realm, service, scope). The token server (https://distribution.github.io/distribution/spec/auth/token/)
  grants: with the right Basic credentials, every ``pull``/``push`` asked for; anonymously, ``pull`` on
  repositories under ``public/`` only (like Docker Hub: an anonymous token that opens public repositories);
  with wrong credentials, ``401``. Tokens are JWTs signed RS256 with a throwaway key; the registry trusts them
  through the ``x5c`` header, whose self-signed certificate is the configured ``rootcertbundle``.
* :func:`push_image` and :func:`push_index` push like a client: ``POST`` an upload then ``PUT ?digest=`` with
  the whole blob, or ``PATCH`` it in chunks first when it is large; manifests by ``PUT``. Layers are real gzip'd
  tars (``auditor.sandbox.images``' layer helper); content is deterministic, so digests are stable.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import gzip
import hashlib
import io
import json
import random
import re
import secrets
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from auditor.registry import Credentials
from auditor.sandbox.images import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    _layer_tar,
)

REGISTRY_BINARY = "/usr/bin/docker-registry"
SERVICE = "omics-ecr-audit-test-registry"
ISSUER = "omics-ecr-audit-test-token-issuer"
USERNAME = "tester"
PUBLIC_PREFIX = "public/"  # repositories anonymous tokens may pull
CHUNKED_UPLOAD_ABOVE = 1024 * 1024  # blobs larger than this are PATCHed in chunks of this size
_CONFIG_AND_LAYER = {DOCKER_MANIFEST_V2: (DOCKER_CONFIG, DOCKER_LAYER), OCI_MANIFEST: (OCI_CONFIG, OCI_LAYER)}
_CHILD = {OCI_INDEX: OCI_MANIFEST, DOCKER_MANIFEST_LIST: DOCKER_MANIFEST_V2}
_START_TIMEOUT = 20.0


class RegistryUnavailable(RuntimeError):
    """The local registry could not be started; the message says why and how to install it."""


# --- the token server ---------------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class _TokenIssuer:
    credentials: Credentials
    key: rsa.RSAPrivateKey
    certificate_der: bytes
    requests_seen: list[dict[str, Any]] = field(default_factory=list)  # what each token request carried

    def token(self, access: list[dict[str, Any]], subject: str) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.certificate_der).decode("ascii")]}
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}".encode()
        signature = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode('ascii')}.{_b64url(signature)}"

    def grant(self, scopes: list[str], authenticated: bool) -> list[dict[str, Any]]:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            wanted = [a for a in actions.split(",") if a in ("pull", "push")]
            if not authenticated:
                wanted = [a for a in wanted if a == "pull" and name.startswith(PUBLIC_PREFIX)]
            access.append({"type": "repository", "name": name, "actions": wanted})
        return access


def _self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def _token_handler(issuer: _TokenIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _answer(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/token":
                self._answer(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
                return
            query = parse_qs(url.query)
            scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
            header = self.headers.get("Authorization", "")
            authenticated = False
            if header:
                expected = f"{issuer.credentials.username}:{issuer.credentials.password}".encode()
                given = base64.b64decode(header.removeprefix("Basic ").encode(), validate=False)
                if not header.startswith("Basic ") or not secrets.compare_digest(given, expected):
                    issuer.requests_seen.append({"scopes": scopes, "authorization": "wrong"})
                    self._answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]})
                    return
                authenticated = True
            issuer.requests_seen.append(
                {"scopes": scopes, "authorization": "basic" if authenticated else None, "service": query.get("service")}
            )
            token = issuer.token(issuer.grant(scopes, authenticated), USERNAME if authenticated else "")
            self._answer(200, {"token": token, "access_token": token, "expires_in": 300})

    return Handler


# --- the registry -------------------------------------------------------------------------------------------------


@dataclass
class LocalRegistry:
    """A running registry on 127.0.0.1; ``credentials`` are set in token-auth mode."""

    host: str  # "127.0.0.1:PORT"
    credentials: Credentials | None
    root: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    token_server: ThreadingHTTPServer | None = field(default=None, repr=False)
    token_issuer: _TokenIssuer | None = field(default=None, repr=False)
    _session: requests.Session = field(default_factory=requests.Session, repr=False)
    _tokens: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps blob ``digest`` on disk (filesystem driver layout)."""
        algorithm, _, encoded = digest.partition(":")
        return self.storage / "docker/registry/v2/blobs" / algorithm / encoded[:2] / encoded / "data"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.token_server is not None:
            self.token_server.shutdown()
            self.token_server.server_close()
        self._session.close()

    def __enter__(self) -> LocalRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- pushing (a minimal client of the registry's push API) -----------------------------------------------

    def _request(self, method: str, url: str, repository: str, **kwargs: Any) -> requests.Response:
        if not url.startswith("http"):
            url = self.url + url
        given = dict(kwargs.pop("headers", None) or {})
        for _attempt in range(2):
            headers = dict(given)
            token = self._tokens.get(repository)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            response = self._session.request(method, url, headers=headers, timeout=30, **kwargs)
            if response.status_code != 401 or self.credentials is None:
                return response
            challenge = dict(re.findall(r'(\w+)="([^"]*)"', response.headers.get("WWW-Authenticate", "")))
            answer = self._session.get(
                challenge["realm"],
                params={"service": challenge.get("service", ""), "scope": f"repository:{repository}:pull,push"},
                auth=(self.credentials.username, self.credentials.password),
                timeout=30,
            )
            answer.raise_for_status()
            self._tokens[repository] = answer.json()["token"]
        return response

    def upload_blob(self, repository: str, data: bytes) -> str:
        """Push ``data`` as a blob (monolithic, or chunked PATCHes above CHUNKED_UPLOAD_ABOVE); returns its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self._request("HEAD", f"/v2/{repository}/blobs/{digest}", repository).status_code == 200:
            return digest
        started = self._request("POST", f"/v2/{repository}/blobs/uploads/", repository)
        _expect(started, 202, "start a blob upload")
        location = started.headers["Location"]
        if len(data) > CHUNKED_UPLOAD_ABOVE:
            for start in range(0, len(data), CHUNKED_UPLOAD_ABOVE):
                chunk = data[start : start + CHUNKED_UPLOAD_ABOVE]
                patched = self._request(
                    "PATCH",
                    location,
                    repository,
                    data=chunk,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{start}-{start + len(chunk) - 1}",
                        "Content-Length": str(len(chunk)),
                    },
                )
                _expect(patched, 202, "upload a blob chunk")
                location = patched.headers["Location"]
            body = b""
        else:
            body = data
        separator = "&" if "?" in location else "?"
        finished = self._request(
            "PUT",
            f"{location}{separator}digest={digest}",
            repository,
            data=body,
            headers={"Content-Type": "application/octet-stream"},
        )
        _expect(finished, 201, "finish a blob upload")
        return digest

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> str:
        """PUT a manifest (the exact ``data``) under a tag or its digest; returns its digest."""
        response = self._request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            repository,
            data=data,
            headers={"Content-Type": media_type},
        )
        _expect(response, 201, f"put manifest {repository}:{reference}")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        served = response.headers.get("Docker-Content-Digest")
        assert served in (None, digest), f"registry computed {served}, expected {digest}"
        return digest


def _expect(response: requests.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise AssertionError(f"local registry: {what}: HTTP {response.status_code} {response.text[:300]}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _registry_config(root: Path, port: int, token: tuple[str, Path] | None) -> str:
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root / "storage")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    if token is not None:
        realm, bundle = token
        config["auth"] = {
            "token": {"realm": realm, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": str(bundle)}
        }
    return json.dumps(config, indent=2)  # JSON is YAML


def _binary() -> str:
    found = shutil.which("docker-registry") or REGISTRY_BINARY
    if not Path(found).is_file():
        raise RegistryUnavailable(
            f"the registry server {REGISTRY_BINARY} is missing: install Debian's package `docker-registry` "
            "(apt-get install docker-registry; .ci/run installs it when it is missing)"
        )
    return found


def _wait_until_up(reg: LocalRegistry, log_path: Path) -> bool:
    """True once /v2/ answers; False when the process exited (e.g. its port was taken meanwhile)."""
    deadline = time.monotonic() + _START_TIMEOUT
    assert reg.process is not None
    while time.monotonic() < deadline:
        if reg.process.poll() is not None:
            return False
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{reg.url}/v2/", timeout=2).status_code in (200, 401):
                return True
        time.sleep(0.05)
    reg.stop()
    raise RegistryUnavailable(f"the local registry did not answer within {_START_TIMEOUT:g} s; log: {_tail(log_path)}")


def _tail(path: Path) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-5:]) or "(empty)"
    except OSError:
        return "(none)"


def start_registry(root: Path, *, token_auth: bool = False) -> LocalRegistry:
    """Start a registry on a free 127.0.0.1 port with its storage under ``root``; see the module docstring."""
    binary = _binary()
    root.mkdir(parents=True, exist_ok=True)
    credentials: Credentials | None = None
    token_server: ThreadingHTTPServer | None = None
    issuer: _TokenIssuer | None = None
    token_config: tuple[str, Path] | None = None
    if token_auth:
        credentials = Credentials(username=USERNAME, password="pw-" + secrets.token_urlsafe(18))
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = _self_signed(key)
        bundle = root / "token-signer.crt"
        bundle.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        issuer = _TokenIssuer(credentials, key, certificate.public_bytes(serialization.Encoding.DER))
        token_server = ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(issuer))
        token_server.daemon_threads = True
        threading.Thread(
            target=token_server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-token-server", daemon=True
        ).start()
        token_config = (f"http://127.0.0.1:{token_server.server_address[1]}/token", bundle)
    log_path = root / "registry.log"
    for _attempt in range(3):  # the free port may be taken between probing and binding
        port = _free_port()
        config_path = root / "config.yml"
        config_path.write_text(_registry_config(root, port, token_config))
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [binary, "serve", str(config_path)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        reg = LocalRegistry(
            host=f"127.0.0.1:{port}",
            credentials=credentials,
            root=root,
            process=process,
            token_server=token_server,
            token_issuer=issuer,
        )
        if _wait_until_up(reg, log_path):
            return reg
    if token_server is not None:
        token_server.shutdown()
        token_server.server_close()
    raise RegistryUnavailable(f"the local registry exited at start three times; log: {_tail(log_path)}")


# --- images -------------------------------------------------------------------------------------------------------


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _sized_layer(size: int, seed: str) -> tuple[bytes, bytes]:
    """A gzip'd tar holding one file of ``size`` pseudo-random (incompressible) bytes: (compressed, tar)."""
    content = random.Random(seed).randbytes(size)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo("data/blob.bin")
        info.size = size
        info.mtime = 0
        archive.addfile(info, io.BytesIO(content))
    tar = raw.getvalue()
    return gzip.compress(tar, compresslevel=1, mtime=0), tar


def _parse_platform(platform: str) -> dict[str, str]:
    parts = platform.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"platform must be os/architecture[/variant], got {platform!r}")
    found = {"architecture": parts[1], "os": parts[0]}
    if len(parts) == 3:
        found["variant"] = parts[2]
    return found


def _descriptor(media_type: str, digest: str, size: int) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size}


def _push_manifest(
    reg: LocalRegistry,
    repository: str,
    reference: str | None,
    *,
    platform: str,
    config: dict[str, Any] | None,
    layer_sizes: list[int] | None,
    media_type: str,
) -> tuple[str, int]:
    if media_type not in _CONFIG_AND_LAYER:
        raise ValueError(f"push_image pushes {' or '.join(_CONFIG_AND_LAYER)}, not {media_type}")
    config_type, layer_type = _CONFIG_AND_LAYER[media_type]
    fields = _parse_platform(platform)
    if layer_sizes is None:
        layers = [_layer_tar(f"local registry image for {platform}\n".encode())]
    else:
        layers = [_sized_layer(size, f"{repository}|{platform}|{i}|{size}") for i, size in enumerate(layer_sizes)]
    document = fields | {
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest() for _, tar in layers]},
        "config": dict(config or {}),
    }
    config_blob = _canonical(document)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": _descriptor(config_type, reg.upload_blob(repository, config_blob), len(config_blob)),
        "layers": [_descriptor(layer_type, reg.upload_blob(repository, gz), len(gz)) for gz, _ in layers],
    }
    data = _canonical(manifest)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    reg.put_manifest(repository, reference or digest, data, media_type)
    return digest, len(data)


def push_image(
    reg: LocalRegistry,
    repository: str,
    tag: str | None,
    *,
    platform: str = "linux/amd64",
    config: dict[str, Any] | None = None,
    layer_sizes: list[int] | None = None,
    media_type: str = OCI_MANIFEST,
) -> str:
    """Push a single-platform image (OCI manifest or Docker v2 schema 2); returns the manifest digest.

    ``config`` is the config blob's run-time section (``Entrypoint``, ``Env``...); ``layer_sizes`` gives one
    layer per size, each a gzip'd tar of that many pseudo-random bytes (so slightly larger than the size);
    by default one small layer. ``tag`` None pushes by digest only.
    """
    digest, _ = _push_manifest(
        reg, repository, tag, platform=platform, config=config, layer_sizes=layer_sizes, media_type=media_type
    )
    return digest


def _push_attestation(reg: LocalRegistry, repository: str, subject: str) -> dict[str, Any]:
    statement = _canonical(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "subject": [{"name": "_", "digest": {"sha256": subject.removeprefix("sha256:")}}],
            "predicate": {"builder": {"id": "local-registry"}},
        }
    )
    statement_digest = reg.upload_blob(repository, statement)
    config = _canonical(
        {"architecture": "unknown", "os": "unknown", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}
    )
    manifest = _canonical(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": _descriptor(OCI_CONFIG, reg.upload_blob(repository, config), len(config)),
            "layers": [
                _descriptor("application/vnd.in-toto+json", statement_digest, len(statement))
                | {"annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}
            ],
        }
    )
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    reg.put_manifest(repository, digest, manifest, OCI_MANIFEST)
    return _descriptor(OCI_MANIFEST, digest, len(manifest)) | {
        "platform": {"architecture": "unknown", "os": "unknown"},
        "annotations": {"vnd.docker.reference.digest": subject, "vnd.docker.reference.type": "attestation-manifest"},
    }


def push_index(
    reg: LocalRegistry,
    repository: str,
    tag: str | None,
    *,
    platforms: list[str],
    configs: dict[str, dict[str, Any]] | None = None,
    media_type: str = OCI_INDEX,
    attestations: bool = False,
) -> str:
    """Push a multi-platform image: one untagged child per platform (OCI manifests under an OCI index, Docker v2
    under a Docker manifest list), BuildKit-style attestation manifests (``unknown/unknown``) with
    ``attestations``, then the index under ``tag`` (or by digest); returns the index digest."""
    if media_type not in _CHILD:
        raise ValueError(f"push_index pushes {' or '.join(_CHILD)}, not {media_type}")
    entries: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    for platform in platforms:
        digest, size = _push_manifest(
            reg,
            repository,
            None,
            platform=platform,
            config=(configs or {}).get(platform),
            layer_sizes=None,
            media_type=_CHILD[media_type],
        )
        entries.append(_descriptor(_CHILD[media_type], digest, size) | {"platform": _parse_platform(platform)})
        if attestations:
            extra.append(_push_attestation(reg, repository, digest))
    index = _canonical({"schemaVersion": 2, "mediaType": media_type, "manifests": entries + extra})
    digest = "sha256:" + hashlib.sha256(index).hexdigest()
    reg.put_manifest(repository, tag or digest, index, media_type)
    return digest
