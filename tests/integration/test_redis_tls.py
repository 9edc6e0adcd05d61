"""Redis over TLS with an AUTH token, as production runs it (ElastiCache in-transit
encryption: ``rediss://`` for one node group, ``rediss+cluster://`` in cluster mode).

Private ``redis-server``s that speak TLS only (``--port 0``), with a certificate signed
by a CA made for the test (``openssl``), and ``requirepass``. What a user of the
product would notice if this broke: in production no service could reach Redis, or
would reach it without checking whom it talks to, or would pay Python's command packing
on every command. So: the clients :func:`connect_redis` makes verify the server's
certificate (a server signed by another CA is refused), authenticate, and run what the
services run (scripts, pipelines, a blocking stream read) on connections that pack
commands with hiredis.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
import redis.asyncio as aioredis

from mindhit.redis_client import HiredisSSLConnection, connect_redis
from tests.support.servers import free_port

TOKEN = "s3cret-token"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA (certificate, key) in ``directory``."""
    cert, key = directory / f"{name}-ca.pem", directory / f"{name}-ca.key"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", f"/CN={name} test CA", "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    return cert, key


def make_server_cert(directory: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """A server certificate (certificate, key) for 127.0.0.1 and localhost, signed by ``ca``."""
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    extensions = directory / "server.ext"
    extensions.write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(key), "-out", str(csr),
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    return cert, key


class TlsRedis:
    """``redis-server``s on TLS ports only, AUTH required; one, or three clustered."""

    def __init__(self, directory: Path, ca_cert: Path, cert: tuple[Path, Path]) -> None:
        self.directory, self.ca_cert, self.cert = directory, ca_cert, cert
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, nodes: int = 1, *, cluster: bool = False) -> None:
        """Start ``nodes`` servers (with ``cluster``: joined into one cluster)."""
        binary = shutil.which("redis-server")
        assert binary, "redis-server is required (apt-get install redis-server)"
        for _ in range(nodes):
            port = free_port()
            node_dir = self.directory / str(port)
            node_dir.mkdir()
            args = [
                *("--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"),
                *("--tls-cert-file", str(self.cert[0]), "--tls-key-file", str(self.cert[1])),
                *("--tls-ca-cert-file", str(self.ca_cert), "--tls-auth-clients", "no"),
                *("--requirepass", TOKEN, "--masterauth", TOKEN, "--dir", str(node_dir)),
                *("--save", "", "--appendonly", "no", "--logfile", str(node_dir / "redis.log")),
            ]
            if cluster:
                args += [
                    *("--cluster-enabled", "yes", "--tls-cluster", "yes"),
                    *("--tls-replication", "yes", "--cluster-port", str(free_port())),
                ]
            self.processes.append(subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL))
            self.ports.append(port)
        for port in self.ports:
            self._wait(port, lambda client: bool(client.ping()))
        if cluster:
            subprocess.run(
                ["redis-cli", "--tls", "--cacert", str(self.ca_cert), "-a", TOKEN,
                 "--no-auth-warning", "--cluster", "create",
                 *(f"127.0.0.1:{port}" for port in self.ports), "--cluster-yes"],
                check=True, stdout=subprocess.DEVNULL, timeout=30,
            )  # fmt: skip
            for port in self.ports:
                self._wait(
                    port, lambda c: b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO")
                )

    def _wait(self, port: int, ready: Callable[[redis.Redis], bool], timeout: float = 30.0) -> None:
        client = redis.Redis(
            port=port, password=TOKEN, ssl=True, ssl_ca_certs=str(self.ca_cert), socket_timeout=1
        )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    if ready(client):
                        return
                except (redis.ConnectionError, redis.ResponseError):
                    pass
                time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError(f"TLS redis-server on {port} did not become ready")

    def url(self, scheme: str = "rediss", ca_cert: Path | None = None) -> str:
        """The URL a deployment would set: TLS, the AUTH token, the CA to trust."""
        ca = quote(str(ca_cert or self.ca_cert), safe="/")
        return f"{scheme}://:{TOKEN}@127.0.0.1:{self.ports[0]}/0?ssl_ca_certs={ca}"

    def stop(self) -> None:
        """End every server."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The CA the servers' certificate is signed by, that certificate, and another CA."""
    assert shutil.which("openssl"), "openssl is required (apt-get install openssl)"
    directory = tmp_path_factory.mktemp("tls")
    ca = make_ca(directory, "mindhit")
    cert, key = make_server_cert(directory, ca)
    stranger, _ = make_ca(directory, "stranger")
    return {"ca": ca[0], "cert": cert, "key": key, "stranger": stranger}


@pytest.fixture
def tls_redis(tmp_path: Path, certificates: dict[str, Path]) -> Iterator[TlsRedis]:
    servers = TlsRedis(tmp_path, certificates["ca"], (certificates["cert"], certificates["key"]))
    yield servers
    servers.stop()


async def _what_services_do(client: aioredis.Redis) -> None:
    """Scripts, a pipeline and a blocking stream read, as the gateway and consumers run."""
    append = client.register_script("return redis.call('XADD', KEYS[1], '*', 'v', ARGV[1])")
    first = await append(keys=["{p0}:raw"], args=[b"x" * 10_000])
    async with client.pipeline(transaction=False) as pipe:
        pipe.set("{p0}:seen", "1")
        pipe.xlen("{p0}:raw")
        assert await pipe.execute() == [True, 1]
    reader = asyncio.ensure_future(client.xread({"{p0}:raw": first}, block=5000))
    await asyncio.sleep(0.05)
    await client.xadd("{p0}:raw", {"v": "late"})
    read: Any = await asyncio.wait_for(reader, 10)
    assert [fields for _, entries in read for _, fields in entries] == [{b"v": b"late"}]


async def test_services_reach_a_tls_redis_with_auth_and_pack_in_c(tls_redis: TlsRedis) -> None:
    tls_redis.start()
    for options in ({}, {"pool_timeout": 1.0}):  # the consumers' client; the gateway's
        client = connect_redis(tls_redis.url(), **options)  # type: ignore[arg-type]
        try:
            await client.delete("{p0}:raw", "{p0}:seen")
            await _what_services_do(client)
            assert client.connection_pool.connection_class is HiredisSSLConnection
        finally:
            await client.aclose()


async def test_a_server_signed_by_another_ca_is_refused(
    tls_redis: TlsRedis, certificates: dict[str, Path]
) -> None:
    tls_redis.start()
    client = connect_redis(tls_redis.url(ca_cert=certificates["stranger"]))
    try:
        with pytest.raises(redis.ConnectionError, match=r"(?i)certificate verify failed"):
            await client.ping()
    finally:
        await client.aclose()


async def test_services_reach_a_tls_redis_cluster_with_auth_and_pack_in_c(
    tls_redis: TlsRedis,
) -> None:
    tls_redis.start(3, cluster=True)
    client = connect_redis(tls_redis.url("rediss+cluster"))
    try:
        for partition in range(3):
            await client.delete(f"{{p{partition}}}:raw", f"{{p{partition}}}:seen")
        await _what_services_do(client)
        nodes = client.get_nodes()  # type: ignore[attr-defined]
        assert len(nodes) == 3
        assert {node.connection_class for node in nodes} == {HiredisSSLConnection}
        for partition in range(3):  # every master, each over TLS
            assert await client.set(f"{{p{partition}}}:seen", "1")
    finally:
        await client.aclose()
