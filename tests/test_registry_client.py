"""auditor.registry against a real registry (Debian's docker-registry, the CNCF distribution server) on 127.0.0.1,
anonymous and behind Docker's token authentication (tests/support/local_registry.py), plus small scripted servers
for what a well-behaved registry never does (redirects to storage and elsewhere, 503s, endless bodies, lies).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import pickle
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from auditor import registry as registry_module
from auditor.manifests import (
    ACCEPTED_MEDIA_TYPES,
    MEDIA_DOCKER_LIST,
    MEDIA_DOCKER_V2,
    MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST,
)
from auditor.registry import (
    Credentials,
    RegistryClient,
    RegistryError,
    credentials_from_docker_config,
    credentials_from_secret,
    parse_challenges,
    registry_endpoint,
)
from tests.support import local_registry
from tests.support.local_registry import LocalRegistry, push_image, push_index, start_registry

MIB = 1024 * 1024


@dataclass
class Pushed:
    image: str  # team/tool:1.0, OCI manifest, one large layer
    docker_image: str  # team/docker:2, Docker v2 schema 2
    index: str  # team/multi:v1, OCI index with attestations
    docker_list: str  # team/list:v1, Docker manifest list
    large_layer: str
    large_layer_size: int


@pytest.fixture(scope="module")
def open_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalRegistry, Pushed]]:
    reg = start_registry(tmp_path_factory.mktemp("open-registry"))
    try:
        image = push_image(reg, "team/tool", "1.0", layer_sizes=[6 * MIB + 123, 2048], config={"Cmd": ["bash"]})
        layers = _manifest_json(reg, "team/tool", image)["layers"]
        pushed = Pushed(
            image=image,
            docker_image=push_image(reg, "team/docker", "2", media_type=MEDIA_DOCKER_V2),
            index=push_index(reg, "team/multi", "v1", platforms=["linux/amd64", "linux/arm64/v8"], attestations=True),
            docker_list=push_index(reg, "team/list", "v1", platforms=["linux/amd64"], media_type=MEDIA_DOCKER_LIST),
            large_layer=layers[0]["digest"],
            large_layer_size=layers[0]["size"],
        )
        yield reg, pushed
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    reg = start_registry(tmp_path_factory.mktemp("token-registry"), token_auth=True)
    try:
        push_image(reg, "private/tool", "1.0")
        push_image(reg, "private/other", "1.0", config={"Env": ["OTHER=1"]})
        push_image(reg, "public/tool", "1.0")
        yield reg
    finally:
        reg.stop()


def _manifest_json(reg: LocalRegistry, repository: str, reference: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        RegistryClient(reg.host, credentials=reg.credentials).manifest(repository, reference).data
    )
    return document


def _raw_manifest(reg: LocalRegistry, repository: str, reference: str, accept: str) -> bytes:
    """The bytes the registry stores, read without the client under test."""
    response = requests.get(f"{reg.url}/v2/{repository}/manifests/{reference}", headers={"Accept": accept}, timeout=10)
    response.raise_for_status()
    return response.content


class _NoRequests(requests.Session):
    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a request was sent")


def test_a_missing_registry_binary_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(local_registry, "REGISTRY_BINARY", str(tmp_path / "docker-registry"))
    with pytest.raises(local_registry.RegistryUnavailable, match=r"package `docker-registry`.*\.ci/run"):
        start_registry(tmp_path / "root")


# --- anonymous pulls ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repository", "tag", "attribute", "media_type"),
    [
        ("team/tool", "1.0", "image", MEDIA_OCI_MANIFEST),
        ("team/docker", "2", "docker_image", MEDIA_DOCKER_V2),
        ("team/multi", "v1", "index", MEDIA_OCI_INDEX),
        ("team/list", "v1", "docker_list", MEDIA_DOCKER_LIST),
    ],
)
def test_manifest_by_tag_and_by_digest_is_the_exact_bytes(
    open_registry: tuple[LocalRegistry, Pushed], repository: str, tag: str, attribute: str, media_type: str
) -> None:
    reg, pushed = open_registry
    digest = getattr(pushed, attribute)
    client = RegistryClient(reg.host)
    by_tag = client.manifest(repository, tag)
    by_digest = client.manifest(repository, digest)
    assert by_tag == by_digest
    assert by_tag.digest == digest == "sha256:" + hashlib.sha256(by_tag.data).hexdigest()
    assert by_tag.media_type == media_type
    assert by_tag.data == _raw_manifest(reg, repository, digest, media_type)


def test_index_children_and_attestations_are_reachable(open_registry: tuple[LocalRegistry, Pushed]) -> None:
    reg, pushed = open_registry
    client = RegistryClient(reg.host)
    index = json.loads(client.manifest("team/multi", pushed.index).data)
    platforms = [entry["platform"] for entry in index["manifests"]]
    assert {"os": "linux", "architecture": "arm64", "variant": "v8"} in platforms
    assert platforms.count({"architecture": "unknown", "os": "unknown"}) == 2
    for entry in index["manifests"]:
        child = client.manifest("team/multi", entry["digest"])
        assert child.media_type == entry["mediaType"] == MEDIA_OCI_MANIFEST
        assert len(child.data) == entry["size"]
        config = json.loads(child.data)["config"]
        assert client.blob_size("team/multi", config["digest"]) == config["size"]


def test_large_blob_streams_in_exact_chunks_and_verifies(open_registry: tuple[LocalRegistry, Pushed]) -> None:
    reg, pushed = open_registry
    client = RegistryClient(reg.host)
    assert client.blob_size("team/tool", pushed.large_layer) == pushed.large_layer_size
    chunks = list(client.blob_chunks("team/tool", pushed.large_layer, chunk_size=MIB))
    assert [len(c) for c in chunks[:-1]] == [MIB] * (len(chunks) - 1)
    assert 0 < len(chunks[-1]) <= MIB
    data = b"".join(chunks)
    assert len(data) == pushed.large_layer_size > 6 * MIB
    assert "sha256:" + hashlib.sha256(data).hexdigest() == pushed.large_layer
    one = list(client.blob_chunks("team/tool", pushed.large_layer, expected_size=pushed.large_layer_size))
    assert len(one) == 1 and one[0] == data  # the default chunk (8 MiB) holds it whole


def test_blob_larger_than_its_descriptor_is_too_large(open_registry: tuple[LocalRegistry, Pushed]) -> None:
    reg, pushed = open_registry
    with pytest.raises(RegistryError) as caught:
        RegistryClient(reg.host).blob_chunks("team/tool", pushed.large_layer, expected_size=1000)
    assert caught.value.kind == "too_large"


def test_tampered_blob_is_a_digest_mismatch_and_its_last_chunk_is_withheld(
    open_registry: tuple[LocalRegistry, Pushed],
) -> None:
    reg, _ = open_registry
    digest = push_image(reg, "team/tampered", "1", layer_sizes=[3 * MIB + 7])
    layer = _manifest_json(reg, "team/tampered", digest)["layers"][0]
    path = reg.blob_file(layer["digest"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    received: list[bytes] = []
    with pytest.raises(RegistryError) as caught:
        for chunk in RegistryClient(reg.host).blob_chunks("team/tampered", layer["digest"], chunk_size=MIB):
            received.append(chunk)
    assert caught.value.kind == "digest_mismatch"
    assert layer["digest"] in str(caught.value)
    assert sum(map(len, received)) == 3 * MIB < layer["size"]  # the last chunk never reached the caller


def test_tampered_manifest_served_for_its_digest_is_a_digest_mismatch(
    open_registry: tuple[LocalRegistry, Pushed],
) -> None:
    reg, _ = open_registry
    digest = push_image(reg, "team/forged", "1", config={"Env": ["A=1"]})
    path = reg.blob_file(digest)
    path.write_bytes(path.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion": 2'))
    client = RegistryClient(reg.host)
    for reference in (digest, "1"):  # by digest: the reference; by tag: the registry's Docker-Content-Digest
        with pytest.raises(RegistryError) as caught:
            client.manifest("team/forged", reference)
        assert caught.value.kind == "digest_mismatch", reference


def test_missing_manifest_blob_and_repository_are_not_found(open_registry: tuple[LocalRegistry, Pushed]) -> None:
    reg, _ = open_registry
    client = RegistryClient(reg.host)
    missing = "sha256:" + "0" * 64
    calls: list[Callable[[], object]] = [
        lambda: client.manifest("team/tool", "no-such-tag"),
        lambda: client.manifest("team/tool", missing),
        lambda: client.manifest("nobody/here", "latest"),
        lambda: client.blob_size("team/tool", missing),
        lambda: client.blob_chunks("team/tool", missing),
    ]
    for call in calls:
        with pytest.raises(RegistryError) as caught:
            call()
        assert caught.value.kind == "not_found", caught.value
        assert "\n" not in str(caught.value)


def test_manifest_over_the_limit_is_too_large(open_registry: tuple[LocalRegistry, Pushed]) -> None:
    reg, pushed = open_registry
    with pytest.raises(RegistryError) as caught:
        RegistryClient(reg.host, max_manifest_bytes=100).manifest("team/multi", "v1")
    assert caught.value.kind == "too_large"
    assert RegistryClient(reg.host, max_manifest_bytes=4096).manifest("team/multi", "v1").digest == pushed.index


@pytest.mark.parametrize(
    "repository",
    ["Team/tool", "team//tool", "../etc/passwd", "team/tool?x=1", "team tool", "", "/team", "team/", "team/-x",
     "team/tool:1.0", "team/tool@sha256", "a" * 256, "team/tool#x", "team/to\nol", "%2e%2e/x"],
)  # fmt: skip
def test_invalid_repository_names_are_refused_before_any_request(repository: str) -> None:
    client = RegistryClient("127.0.0.1:9", session=_NoRequests())
    digest = "sha256:" + "a" * 64
    for call in (
        lambda: client.manifest(repository, "latest"),
        lambda: client.blob_size(repository, digest),
        lambda: client.blob_chunks(repository, digest),
    ):
        with pytest.raises(RegistryError) as caught:
            call()
        assert caught.value.kind == "protocol" and "not requested" in str(caught.value)


@pytest.mark.parametrize(
    "reference",
    ["", "-tag", ".tag", "a" * 129, "tag/x", "../x", "t g", "sha256:" + "a" * 63, "sha256:" + "A" * 64,
     "sha512:" + "a" * 128, "tag?x", "tag\r\nX-Evil: 1"],
)  # fmt: skip
def test_invalid_references_and_digests_are_refused_before_any_request(reference: str) -> None:
    client = RegistryClient("127.0.0.1:9", session=_NoRequests())
    with pytest.raises(RegistryError) as caught:
        client.manifest("team/tool", reference)
    assert caught.value.kind == "protocol"
    with pytest.raises(RegistryError):
        client.blob_chunks("team/tool", reference)


def test_accepted_names_and_references_follow_the_grammar() -> None:
    client = RegistryClient("127.0.0.1:9", session=_NoRequests())
    for repository in ("a", "library/ubuntu", "a.b_c__d---e/f0/g", "biocontainers/samtools"):
        for reference in ("latest", "_x", "1.17--h00cdaf9_0", "V" * 128, "sha256:" + "f" * 64):
            with pytest.raises(AssertionError, match="a request was sent"):
                client.manifest(repository, reference)


@pytest.mark.parametrize(
    ("registry", "endpoint"),
    [
        ("docker.io", "https://registry-1.docker.io"),
        ("index.docker.io", "https://registry-1.docker.io"),
        ("registry-1.docker.io", "https://registry-1.docker.io"),
        ("quay.io", "https://quay.io"),
        ("Public.ECR.aws", "https://public.ecr.aws"),
        ("registry.example.com:8443", "https://registry.example.com:8443"),
        ("127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("127.1.2.3:80", "http://127.1.2.3:80"),
        ("localhost:5000", "http://localhost:5000"),
        ("localhost", "http://localhost"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("[2001:db8::1]:5000", "https://[2001:db8::1]:5000"),
        ("10.0.0.1:5000", "https://10.0.0.1:5000"),
    ],
)
def test_registry_endpoint(registry: str, endpoint: str) -> None:
    assert registry_endpoint(registry) == endpoint


@pytest.mark.parametrize(
    "registry",
    ["https://quay.io", "quay.io/path", "quay.io:0", "quay.io:99999", "", "user@quay.io", "[::zz]:1", "-x.io", "a b"],
)
def test_registry_endpoint_refuses_what_is_not_a_host(registry: str) -> None:
    with pytest.raises(RegistryError) as caught:
        registry_endpoint(registry)
    assert caught.value.kind == "protocol"


# --- token authentication -----------------------------------------------------------------------------------------


def test_token_auth_with_the_right_credentials(auth_registry: LocalRegistry) -> None:
    issuer = auth_registry.token_issuer
    assert issuer is not None and auth_registry.credentials is not None
    client = RegistryClient(auth_registry.host, credentials=auth_registry.credentials)
    before = len(issuer.requests_seen)
    manifest = client.manifest("private/tool", "1.0")
    config = json.loads(manifest.data)["config"]
    assert client.manifest("private/tool", manifest.digest) == manifest
    assert client.blob_size("private/tool", config["digest"]) == config["size"]
    assert b"".join(client.blob_chunks("private/tool", config["digest"]))
    other = client.manifest("private/other", "1.0")  # another repository: another scope, another token
    assert other.digest != manifest.digest
    seen = issuer.requests_seen[before:]
    assert [(r["scopes"], r["authorization"]) for r in seen] == [
        (["repository:private/tool:pull"], "basic"),
        (["repository:private/other:pull"], "basic"),
    ]
    assert seen[0]["service"] == ["omics-ecr-audit-test-registry"]


def test_anonymous_token_opens_a_public_repository(auth_registry: LocalRegistry) -> None:
    manifest = RegistryClient(auth_registry.host).manifest("public/tool", "1.0")
    assert manifest.media_type == MEDIA_OCI_MANIFEST


@pytest.mark.parametrize("password", [None, "wrong-password-b6d1c0"])
def test_token_auth_without_or_with_wrong_credentials_is_unauthorized(
    auth_registry: LocalRegistry, password: str | None
) -> None:
    credentials = None if password is None else Credentials(username="tester", password=password)
    client = RegistryClient(auth_registry.host, credentials=credentials)
    for call in (
        lambda: client.manifest("private/tool", "1.0"),
        lambda: client.blob_size("private/tool", "sha256:" + "0" * 64),
    ):
        with pytest.raises(RegistryError) as caught:
            call()
        assert caught.value.kind == "unauthorized"
        if password is not None:
            for text in (str(caught.value), repr(caught.value), repr(client), repr(credentials)):
                assert password not in text
                assert base64.b64encode(f"tester:{password}".encode()).decode() not in text


def test_credentials_never_show_their_password(auth_registry: LocalRegistry) -> None:
    credentials = auth_registry.credentials
    assert credentials is not None
    assert credentials.password not in repr(credentials) and credentials.password not in str(credentials)
    assert credentials.username in repr(credentials)


def test_registry_error_is_one_line_and_pickles() -> None:
    error = RegistryError("denied", "a\nb   c")
    assert str(error) == "a b c"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, str(copy)) == ("denied", "a b c")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull"',
            [("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                         "scope": "repository:library/x:pull"})],
        ),
        ('Basic realm="Registry Realm"', [("basic", {"realm": "Registry Realm"})]),
        ('Basic realm="a", Bearer realm="b" , service=svc',
         [("basic", {"realm": "a"}), ("bearer", {"realm": "b", "service": "svc"})]),
        ('Bearer realm="with \\"quote\\", comma"', [("bearer", {"realm": 'with "quote", comma'})]),
        ("Negotiate abc==, Basic realm=x", [("negotiate", {}), ("basic", {"realm": "x"})]),
        ('Bearer realm="unterminated', [("bearer", {})]),
        ("", []),
    ],
)  # fmt: skip
def test_parse_challenges(header: str, expected: list[tuple[str, dict[str, str]]]) -> None:
    assert parse_challenges(header) == expected


# --- credentials from Secrets Manager and Docker's config ---------------------------------------------------------


def test_credentials_from_secret(aws: boto3.Session, auth_registry: LocalRegistry) -> None:
    assert auth_registry.credentials is not None
    secrets = aws.client("secretsmanager")
    token_secret = {"username": "tester", "accessToken": auth_registry.credentials.password}
    secrets.create_secret(Name="ecr-pullthroughcache/local", SecretString=json.dumps(token_secret))
    secrets.create_secret(Name="plain", SecretString=json.dumps({"username": "u", "password": "p-1"}))
    found = credentials_from_secret(secrets, "ecr-pullthroughcache/local")
    assert found == auth_registry.credentials
    assert RegistryClient(auth_registry.host, credentials=found).manifest("private/tool", "1.0").data
    assert credentials_from_secret(secrets, "plain") == Credentials("u", "p-1")


@pytest.mark.parametrize(
    "secret_string",
    [
        "not json hunter2-secret",
        json.dumps(["hunter2-secret"]),
        json.dumps({"username": "u"}),
        json.dumps({"accessToken": "hunter2-secret"}),
        json.dumps({"username": "", "accessToken": "hunter2-secret"}),
        json.dumps({"username": "u:x", "accessToken": "hunter2-secret"}),
        json.dumps({"username": "u", "accessToken": 12345678}),
    ],
)
def test_malformed_secret_is_unauthorized_naming_the_secret_not_its_value(
    aws: boto3.Session, secret_string: str
) -> None:
    secrets = aws.client("secretsmanager")
    secrets.create_secret(Name="ecr-pullthroughcache/bad", SecretString=secret_string)
    with pytest.raises(RegistryError) as caught:
        credentials_from_secret(secrets, "ecr-pullthroughcache/bad")
    assert caught.value.kind == "unauthorized"
    assert "ecr-pullthroughcache/bad" in str(caught.value)
    assert "hunter2" not in str(caught.value) and "12345678" not in str(caught.value)


def test_missing_secret_is_not_found(aws: boto3.Session) -> None:
    with pytest.raises(RegistryError) as caught:
        credentials_from_secret(aws.client("secretsmanager"), "ecr-pullthroughcache/none")
    assert caught.value.kind == "not_found"
    assert "ecr-pullthroughcache/none" in str(caught.value)


def _docker_config(folder: Path, document: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(document))
    return path


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_credentials_from_docker_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, auth_registry: LocalRegistry
) -> None:
    assert auth_registry.credentials is not None
    password = auth_registry.credentials.password
    _docker_config(
        tmp_path / "docker",
        {
            "auths": {
                auth_registry.host: {"auth": _auth("tester", password)},
                "https://index.docker.io/v1/": {"auth": _auth("hubuser", "hub:pass:with:colons")},
                "quay.io": {"username": "quser", "password": "qpass"},
                "ghcr.io": {"identitytoken": "refresh-token"},
                "gcr.io": {},
            }
        },
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    found = credentials_from_docker_config(auth_registry.host)
    assert found == auth_registry.credentials
    assert RegistryClient(auth_registry.host, credentials=found).manifest("private/tool", "1.0").data
    assert credentials_from_docker_config("docker.io") == Credentials("hubuser", "hub:pass:with:colons")
    assert credentials_from_docker_config("registry-1.docker.io") == Credentials("hubuser", "hub:pass:with:colons")
    assert credentials_from_docker_config("quay.io") == Credentials("quser", "qpass")
    for none in ("ghcr.io", "gcr.io", "public.ecr.aws"):
        assert credentials_from_docker_config(none) is None
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "nowhere"))
    assert credentials_from_docker_config("quay.io") is None


def test_docker_config_with_credential_helpers_gives_none(tmp_path: Path) -> None:
    inline = {"auths": {"quay.io": {"auth": _auth("u", "p")}}}
    helper = _docker_config(tmp_path / "a", inline | {"credHelpers": {"quay.io": "secretservice"}})
    store = _docker_config(tmp_path / "b", inline | {"credsStore": "desktop"})
    assert credentials_from_docker_config("quay.io", helper) is None
    assert credentials_from_docker_config("ghcr.io", helper) is None
    assert credentials_from_docker_config("quay.io", store) is None


@pytest.mark.parametrize(
    "document",
    [
        {"auths": {"quay.io": {"auth": "%%%hunter2%%%"}}},
        {"auths": {"quay.io": {"auth": base64.b64encode(b"hunter2-no-colon").decode()}}},
        {"auths": {"quay.io": "hunter2"}},
        ["hunter2"],
    ],
)
def test_malformed_docker_config_is_unauthorized_without_the_value(tmp_path: Path, document: object) -> None:
    path = _docker_config(tmp_path, document)
    with pytest.raises(RegistryError) as caught:
        credentials_from_docker_config("quay.io", path)
    assert caught.value.kind == "unauthorized" and str(path) in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_docker_config_read_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMICS_ECR_AUDIT_MAX_INPUT_MB", "1")
    path = tmp_path / "config.json"
    path.write_text('{"auths": {}, "pad": "' + "x" * (2 * MIB) + '"}')
    with pytest.raises(RegistryError) as caught:
        credentials_from_docker_config("quay.io", path)
    assert caught.value.kind == "unauthorized" and "larger than" in str(caught.value)


# --- scripted servers: what a real registry does not do on its own -------------------------------------------------


@dataclass
class Scripted:
    """A loopback HTTP server answering each path with a scripted function; records every request."""

    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = field(default_factory=dict)
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def scripted() -> Iterator[Callable[[], Scripted]]:
    servers: list[ThreadingHTTPServer] = []

    def make() -> Scripted:
        state = Scripted()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _any(self) -> None:
                path = self.path.split("?", 1)[0]
                state.seen.append((self.command, self.path, dict(self.headers.items())))
                route = state.routes.get(path)
                if route is None:
                    _reply(self, 404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}')
                    return
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    route(self)

            do_GET = do_HEAD = _any

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        state.server = server
        servers.append(server)
        return state

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def _reply(
    handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


BLOB = b"layer bytes " * 1000
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
TOKEN = "tok-" + "s3cr3t" * 6
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_OCI_MANIFEST, "layers": []}).encode()


def _token_protected(registry: Scripted, then: Callable[[BaseHTTPRequestHandler], None]) -> Callable[..., None]:
    def route(handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("Authorization") != f"Bearer {TOKEN}":
            challenge = f'Bearer realm="http://{registry.host}/token",service="svc",scope="repository:r/x:pull"'
            _reply(handler, 401, b"{}", {"WWW-Authenticate": challenge})
            return
        then(handler)

    return route


def test_blob_redirect_to_storage_drops_the_authorization(scripted: Callable[[], Scripted]) -> None:
    registry, storage = scripted(), scripted()
    registry.routes["/token"] = lambda h: _reply(h, 200, json.dumps({"token": TOKEN}).encode())
    location = f"http://{storage.host}/bucket/blob?X-Amz-Signature=presigned-secret"
    registry.routes[f"/v2/r/x/blobs/{BLOB_DIGEST}"] = _token_protected(
        registry, lambda h: _reply(h, 307, headers={"Location": location})
    )
    storage.routes["/bucket/blob"] = lambda h: _reply(h, 200, BLOB)
    client = RegistryClient(registry.host, credentials=Credentials("u", "pw-4a7f2c"))
    assert b"".join(client.blob_chunks("r/x", BLOB_DIGEST, chunk_size=1000)) == BLOB
    assert client.blob_size("r/x", BLOB_DIGEST) == len(BLOB)
    assert all("Authorization" not in headers for _, _, headers in storage.seen)
    assert [m for m, _, _ in storage.seen] == ["GET", "HEAD"]
    token_request = next(headers for _, path, headers in registry.seen if path.startswith("/token"))
    assert token_request["Authorization"] == "Basic " + _auth("u", "pw-4a7f2c")


def test_storage_401_behind_a_redirect_gets_no_credentials(scripted: Callable[[], Scripted]) -> None:
    registry, storage = scripted(), scripted()
    registry.routes[f"/v2/r/x/blobs/{BLOB_DIGEST}"] = lambda h: _reply(
        h, 302, headers={"Location": f"http://{storage.host}/blob"}
    )
    storage.routes["/blob"] = lambda h: _reply(h, 401, headers={"WWW-Authenticate": 'Basic realm="phish"'})
    with pytest.raises(RegistryError) as caught:
        RegistryClient(registry.host, credentials=Credentials("u", "pw-77")).blob_chunks("r/x", BLOB_DIGEST)
    assert caught.value.kind == "unauthorized"
    assert all("Authorization" not in headers for _, _, headers in storage.seen)


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("file:///etc/passwd", "non-http(s)"),
        ("ftp://127.0.0.1/blob?sig=presigned-secret", "non-http(s)"),
        ("/v2/r/x/blobs/" + BLOB_DIGEST, "redirects"),  # to itself, forever
    ],
)
def test_bad_redirects_are_refused(scripted: Callable[[], Scripted], location: str, why: str) -> None:
    registry = scripted()
    registry.routes[f"/v2/r/x/blobs/{BLOB_DIGEST}"] = lambda h: _reply(h, 302, headers={"Location": location})
    with pytest.raises(RegistryError) as caught:
        RegistryClient(registry.host).blob_chunks("r/x", BLOB_DIGEST)
    assert caught.value.kind == "protocol" and why in str(caught.value)
    assert "presigned-secret" not in str(caught.value)


def test_https_to_http_redirect_is_refused() -> None:
    class Redirecting(requests.Session):
        def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
            response = requests.Response()
            response.status_code = 307
            response.headers["Location"] = "http://storage.example.com/blob"
            response.raw = io.BytesIO()
            response.url = str(url)
            return response

    with pytest.raises(RegistryError) as caught:
        RegistryClient("registry.example.com", session=Redirecting()).blob_chunks("r/x", BLOB_DIGEST)
    assert caught.value.kind == "protocol" and "plain http" in str(caught.value)


def test_basic_auth_challenge(scripted: Callable[[], Scripted]) -> None:
    registry = scripted()
    expected = "Basic " + _auth("u", "basic-pw-9")

    def manifest(handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("Authorization") != expected:
            _reply(handler, 401, b"{}", {"WWW-Authenticate": 'Basic realm="Registry"'})
        else:
            _reply(handler, 200, MANIFEST, {"Content-Type": MEDIA_OCI_MANIFEST})

    registry.routes["/v2/r/x/manifests/1"] = manifest
    good = RegistryClient(registry.host, credentials=Credentials("u", "basic-pw-9"))
    assert good.manifest("r/x", "1").data == MANIFEST
    for credentials in (None, Credentials("u", "basic-wrong-9")):
        with pytest.raises(RegistryError) as caught:
            RegistryClient(registry.host, credentials=credentials).manifest("r/x", "1")
        assert caught.value.kind == "unauthorized" and "basic-wrong-9" not in str(caught.value)


def test_server_text_is_scrubbed_of_secrets(scripted: Callable[[], Scripted]) -> None:
    registry = scripted()
    registry.routes["/token"] = lambda h: _reply(h, 200, json.dumps({"access_token": TOKEN}).encode())
    body = json.dumps({"errors": [{"code": "DENIED", "message": f"token {TOKEN} for pw-echo-55 lacks scope\n"}]})
    registry.routes["/v2/r/x/manifests/1"] = _token_protected(registry, lambda h: _reply(h, 403, body.encode()))
    with pytest.raises(RegistryError) as caught:
        RegistryClient(registry.host, credentials=Credentials("u", "pw-echo-55")).manifest("r/x", "1")
    assert caught.value.kind == "denied"
    assert str(caught.value).endswith("(HTTP 403; DENIED: token *** for *** lacks scope)")


def test_5xx_and_429_are_retried_a_bounded_number_of_times(
    scripted: Callable[[], Scripted], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_module, "RETRY_DELAYS", (0.01, 0.01))
    registry = scripted()
    answers = iter([503, 429, 200, 503, 502, 500])

    def flaky(handler: BaseHTTPRequestHandler) -> None:
        status = next(answers)
        _reply(handler, status, MANIFEST if status == 200 else b"", {"Content-Type": MEDIA_OCI_MANIFEST})

    registry.routes["/v2/r/x/manifests/1"] = flaky
    client = RegistryClient(registry.host)
    assert client.manifest("r/x", "1").data == MANIFEST
    with pytest.raises(RegistryError) as caught:
        client.manifest("r/x", "1")
    assert caught.value.kind == "network" and "HTTP 500" in str(caught.value)
    assert len(registry.seen) == 6


def test_connection_refused_is_a_network_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "RETRY_DELAYS", (0.01, 0.01))
    with pytest.raises(RegistryError) as caught:
        RegistryClient("127.0.0.1:9", timeout=2).manifest("r/x", "1")
    assert caught.value.kind == "network" and "3 attempt(s)" in str(caught.value)


def test_endless_manifest_body_is_cut_at_the_limit(scripted: Callable[[], Scripted]) -> None:
    registry = scripted()

    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.protocol_version = "HTTP/1.0"  # no Content-Length: the body ends when the connection does
        handler.send_response(200)
        handler.send_header("Content-Type", MEDIA_OCI_MANIFEST)
        handler.end_headers()
        for _ in range(64):
            handler.wfile.write(b" " * MIB)

    registry.routes["/v2/r/x/manifests/1"] = endless
    with pytest.raises(RegistryError) as caught:
        RegistryClient(registry.host, max_manifest_bytes=MIB).manifest("r/x", "1")
    assert caught.value.kind == "too_large"


def test_manifest_media_type_falls_back_to_the_json_and_digest_header_is_checked(
    scripted: Callable[[], Scripted],
) -> None:
    registry = scripted()
    good = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
    registry.routes["/v2/r/x/manifests/generic"] = lambda h: _reply(
        h, 200, MANIFEST, {"Content-Type": "application/json; charset=utf-8", "Docker-Content-Digest": good}
    )
    registry.routes["/v2/r/x/manifests/untyped"] = lambda h: _reply(h, 200, b'{"schemaVersion":2}')
    registry.routes["/v2/r/x/manifests/lying"] = lambda h: _reply(
        h, 200, MANIFEST, {"Content-Type": MEDIA_OCI_MANIFEST, "Docker-Content-Digest": "sha256:" + "1" * 64}
    )
    client = RegistryClient(registry.host)
    assert client.manifest("r/x", "generic").media_type == MEDIA_OCI_MANIFEST
    for tag, kind in (("untyped", "protocol"), ("lying", "digest_mismatch")):
        with pytest.raises(RegistryError) as caught:
            client.manifest("r/x", tag)
        assert caught.value.kind == kind
    accept = next(headers["Accept"] for _, path, headers in registry.seen if path.endswith("/generic"))
    assert accept.split(", ") == list(ACCEPTED_MEDIA_TYPES)
