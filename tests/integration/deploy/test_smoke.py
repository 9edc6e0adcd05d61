"""Kubernetes-shaped smoke test: the chart's pods, run as plain processes, come up.

What Kubernetes would do with ``values-local.yaml`` is replayed here without a cluster:
the migration hook Job runs first and must succeed; then every Deployment's container
is started with the image's entrypoint (``mindhit``), the chart's arguments and the
environment the chart renders (ConfigMap + Secret), and must pass its readiness probe
(``/readyz``) and liveness probe (``/healthz``); then the pods must work together as
configured: a user and a device token made with ``mindhit`` in the web pod (as NOTES.txt
tells operators), a session and a batch sent to the gateway, and the session and its
page visits folded into PostgreSQL by the processors and the projector; finally each
gets SIGTERM, as on a rollout, and must exit within the pod's termination grace period.
Only what a cluster provides differently is replaced: the data stores' host names become
loopback (the real test Redis and a fresh PostgreSQL database), and each pod's port
becomes a free local port. Three flavours: ``values-local.yaml`` (kind),
``values-prod.yaml`` (production: ``MINDHIT_ENV=production``, Gemini, appends that wait
for a Redis replica, so a private primary/replica pair stands in for ElastiCache and the
Gemini REST stub for Google's API, which must receive the configured key and model) and
``values-dev.yaml`` (the dev environment on EKS: production mode and the replica wait,
the offline AI provider). One process per component: the group's members sharing the
partitions are tested with the worker groups themselves.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx
import psycopg
import pytest

from mindhit.cli import cli
from tests.conftest import PG_ADMIN_URL, TEST_DB
from tests.support.gemini_stub import GeminiStub
from tests.support.servers import PrivateRedis, attach_replica
from tests.support.servers import free_port as _free_port
from tests.unit.ingest.factories import event_dicts, upload_body

from .chart import ROOT, Workload, render, resolve_env, workloads

pytestmark = [pytest.mark.integration, pytest.mark.slow]

READY_TIMEOUT_S = 90.0
FOLD_TIMEOUT_S = 60.0
PROD_DATABASE_URL = "postgresql://mindhit:pw@mindhit-prod.rds.example:5432/mindhit?sslmode=require"
# the shapes terraform writes: prod's ElastiCache in cluster mode, dev's without
PROD_REDIS_URL = (
    "rediss+cluster://:token@clustercfg.mindhit-prod.abc123.euw1.cache.amazonaws.com:6379/0"
)
DEV_REDIS_URL = "rediss://:token@master.mindhit-dev.abc123.euw1.cache.amazonaws.com:6379/0"


@dataclass(frozen=True)
class Flavour:
    """A values file, and the data-store URLs its pods would get from the cluster."""

    values_file: str
    sets: tuple[str, ...]
    database_url: str
    redis_url: str
    # appends wait for a replica (MINDHIT_WAIT_REPLICAS=1), as on ElastiCache
    replicated: bool = False
    # the AI provider is Gemini, reached through its REST stub
    gemini: bool = False


def _eks_secret(redis_url: str, gemini_key: bool) -> tuple[str, ...]:
    """The Secret deploy.yml syncs from Secrets Manager (rendered here: no cluster holds it)."""
    return (
        "secrets.existingSecret=",
        f"secrets.values.MINDHIT_DATABASE_URL={PROD_DATABASE_URL}",
        f"secrets.values.MINDHIT_REDIS_URL={redis_url}",
        "secrets.values.MINDHIT_SECRET_KEY=" + "k" * 48,
        *(("secrets.values.MINDHIT_GEMINI_API_KEY=test-key",) if gemini_key else ()),
    )


FLAVOURS = {
    # kind: in-cluster PostgreSQL and Redis Services
    "local": Flavour(
        "values-local.yaml",
        (),
        "postgresql://mindhit:mindhit-local@mindhit-postgresql:5432/mindhit",
        "redis://mindhit-redis:6379/0",
    ),
    # EKS: RDS/ElastiCache URLs and the Gemini key from the Secret deploy.yml syncs
    "prod": Flavour(
        "values-prod.yaml",
        _eks_secret(PROD_REDIS_URL, gemini_key=True),
        PROD_DATABASE_URL,
        PROD_REDIS_URL,
        replicated=True,
        gemini=True,
    ),
    # the dev environment on EKS: the same stores, the offline AI provider
    "dev": Flavour(
        "values-dev.yaml",
        _eks_secret(DEV_REDIS_URL, gemini_key=False),
        PROD_DATABASE_URL,
        DEV_REDIS_URL,
        replicated=True,
    ),
}


def _entrypoint() -> list[str]:
    """The image's ENTRYPOINT, resolved to this virtualenv's console script."""
    match = re.search(r"^ENTRYPOINT \[\"(\w+)\"\]$", (ROOT / "Dockerfile").read_text(), re.M)
    assert match, "Dockerfile must have an exec-form ENTRYPOINT"
    script = Path(sys.executable).parent / match[1]
    assert script.exists(), f"the image's entrypoint {match[1]} is not installed"
    return [str(script)]


def _registered_commands() -> set[str]:
    with click.Context(cli) as ctx:
        return set(cli.list_commands(ctx))


@pytest.fixture
def fresh_database_url() -> Iterator[str]:
    """An empty database: the migration Job must create the whole schema."""
    name = f"{TEST_DB}_deploy_smoke"
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Pod:
    """One container of the chart, run as a local process with its rendered environment."""

    def __init__(self, workload: Workload, env: dict[str, str], log_path: Path) -> None:
        self.workload = workload
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return int(self.env[f"MINDHIT_{self.workload.component.upper()}_PORT"])

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                _entrypoint() + self.workload.args,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.env["MINDHIT_DATA_DIR"],
                start_new_session=True,
            )

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def stop(self, grace_s: float) -> float | None:
        """SIGTERM as the kubelet does; seconds until exit, None if it had to be killed."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            return 0.0
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace_s)
            return time.monotonic() - started
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None


def _pod_env(
    workload: Workload,
    docs: list[dict[str, object]],
    *,
    flavour: Flavour,
    gemini_url: str,
    redis_url: str,
    database_url: str,
    key_prefix: str,
    data_dir: Path,
    ports: dict[str, int],
) -> dict[str, str]:
    env = resolve_env(workload.container, docs)  # type: ignore[arg-type]
    # what the cluster provides: data-store host names -> loopback servers, one IP per pod
    assert env["MINDHIT_REDIS_URL"] == flavour.redis_url
    assert env["MINDHIT_DATABASE_URL"] == flavour.database_url
    if gemini_url:
        assert env["MINDHIT_AI_PROVIDER"] == "gemini" and env["MINDHIT_GEMINI_API_KEY"]
        env["MINDHIT_GEMINI_BASE_URL"] = gemini_url  # the remote AI service's local stand-in
    env["MINDHIT_REDIS_URL"] = redis_url
    env["MINDHIT_DATABASE_URL"] = database_url
    env["MINDHIT_KEY_PREFIX"] = key_prefix
    for component, port in ports.items():
        assert env[f"MINDHIT_{component.upper()}_HOST"] == "0.0.0.0"
        env[f"MINDHIT_{component.upper()}_HOST"] = "127.0.0.1"
        env[f"MINDHIT_{component.upper()}_PORT"] = str(port)
        if f"MINDHIT_{component.upper()}_METRICS_PORT" in env:
            env[f"MINDHIT_{component.upper()}_METRICS_PORT"] = str(_free_port())
    data_dir.mkdir(parents=True, exist_ok=True)
    env["MINDHIT_DATA_DIR"] = str(data_dir)  # the pod's emptyDir
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    env["HOME"] = str(data_dir)
    return env


@pytest.fixture
def gemini() -> Iterator[GeminiStub]:
    """The Gemini REST API's local stand-in (the one allowed fake)."""
    stub = GeminiStub(api_key="test-key")
    stub.start_in_thread()
    yield stub
    stub.stop_thread()


@pytest.fixture
def replicated_redis(tmp_path: Path) -> Iterator[str]:
    """A private Redis primary with one replica, like ElastiCache's replication group.

    Production waits for a replica before acknowledging (MINDHIT_WAIT_REPLICAS=1); the
    shared test Redis has none, and attaching one to it would change other tests.
    """
    primary = PrivateRedis(tmp_path / "redis-primary", appendonly=False)
    primary.start()
    try:
        replica = attach_replica(primary, tmp_path / "redis-replica", appendonly=False)
    except BaseException:
        primary.stop()
        raise
    try:
        yield primary.url
    finally:
        replica.stop()
        primary.stop()


@pytest.mark.parametrize("name", sorted(FLAVOURS))
def test_chart_pods_come_up_ready_and_stop_on_sigterm(
    name: str,
    redis_url: str,
    fresh_database_url: str,
    key_prefix: str,
    gemini: GeminiStub,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    flavour = FLAVOURS[name]
    docs = render(flavour.values_file, *flavour.sets)
    if flavour.replicated:
        redis_url = request.getfixturevalue("replicated_redis")
    found = workloads(docs)
    components = ("gateway", "processors", "projector", "web")
    ports = {component: _free_port() for component in components}

    def pod(workload: Workload) -> Pod:
        env = _pod_env(
            workload,
            docs,  # type: ignore[arg-type]
            flavour=flavour,
            gemini_url=gemini.base_url if flavour.gemini else "",
            redis_url=redis_url,
            database_url=fresh_database_url,
            key_prefix=key_prefix,
            data_dir=tmp_path / workload.name,
            ports=ports,
        )
        return Pod(workload, env, tmp_path / f"{workload.name}.log")

    # 1. the migration hook Job: runs to completion on an empty database
    (job,) = [w for w in found if w.kind == "Job"]
    assert job.args == ["migrate"]
    migrate = pod(job)
    migrate.start()
    assert migrate.proc is not None
    assert migrate.proc.wait(timeout=120) == 0, migrate.log_tail()
    with psycopg.connect(fresh_database_url) as conn:
        tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables")}
    assert {"users", "device_tokens"} <= tables

    # 2. every Deployment's container, with the image's entrypoint and the chart's args
    deployments = [w for w in found if w.kind == "Deployment"]
    assert sorted(w.component for w in deployments) == sorted(components)
    registered = _registered_commands()
    missing = [w.args[0] for w in deployments if w.args[0] not in registered]
    assert not missing, f"the chart runs `mindhit {missing}`, which the CLI does not have"
    pods = [pod(w) for w in deployments]
    grace_s = float(deployments[0].pod_spec["terminationGracePeriodSeconds"])
    try:
        for p in pods:
            p.start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        waiting = list(pods)
        while waiting and time.monotonic() < deadline:
            for p in list(waiting):
                assert p.proc is not None
                if p.proc.poll() is not None:
                    pytest.fail(f"{p.workload.name} exited ({p.proc.returncode}):\n{p.log_tail()}")
                if p.get("/readyz") == 200:
                    waiting.remove(p)
            time.sleep(0.25)
        assert not waiting, "\n\n".join(
            f"{p.workload.name} not ready on /readyz ({p.get('/readyz')}):\n{p.log_tail()}"
            for p in waiting
        )
        for p in pods:
            assert p.get("/healthz") == 200, f"{p.workload.name} /healthz\n{p.log_tail()}"
        by_component = {p.workload.component: p for p in pods}
        _helm_test_passes(docs, by_component)
        _a_session_flows_through(by_component, fresh_database_url)
        if flavour.gemini:  # the AI settings reach the real client: it called the API
            _wait_for(lambda: bool(gemini.requests), "a Gemini request", by_component)
            assert {r.api_key for r in gemini.requests} == {"test-key"}
            model = by_component["processors"].env["MINDHIT_GEMINI_MODEL"]
            assert {r.model for r in gemini.requests} == {model}
    finally:
        # 3. a rollout: SIGTERM, then the grace period, then SIGKILL
        stopped = {p.workload.name: p.stop(grace_s) for p in pods if p.proc is not None}
    slow = {name: took for name, took in stopped.items() if took is None}
    assert not slow, f"did not exit within {grace_s}s of SIGTERM: {sorted(slow)}"


def _helm_test_passes(docs: list[dict[str, Any]], pods: dict[str, Pod]) -> None:
    """The chart's `helm test` pod, its Service URLs pointed at the local processes."""
    (test_pod,) = [d for d in docs if d["kind"] == "Pod"]
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    container = test_pod["spec"]["containers"][0]
    assert container["command"][0] == "python"
    script, *urls = container["args"]
    local = []
    for url in urls:
        match = re.fullmatch(r"http://mindhit-(\w+):(\d+)/readyz", url)
        assert match, url
        pod = pods[match[1]]
        assert int(match[2]) == int(pod.workload.container["ports"][0]["containerPort"])
        local.append(f"http://127.0.0.1:{pod.port}/readyz")
    assert len(local) == 4
    done = subprocess.run(
        [sys.executable, *container["command"][1:], script, *local],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _a_session_flows_through(pods: dict[str, Pod], database_url: str) -> None:
    """Operator and extension steps against the pods; the read tables must fill."""
    web = pods["web"]

    def mindhit(*args: str) -> str:
        done = subprocess.run(
            _entrypoint() + list(args), env=web.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.strip()

    mindhit("user", "create", "smoke@example.com")
    token = mindhit("token", "create", "--user", "smoke@example.com", "--device", "laptop")
    gateway = f"http://127.0.0.1:{pods['gateway'].port}"
    headers = {"Authorization": f"Bearer {token.splitlines()[-1]}"}
    with httpx.Client(base_url=gateway, headers=headers, timeout=10) as client:
        started = client.post("/v1/sessions")
        assert started.status_code == 201, started.text
        session_id = started.json()["session_id"]
        first_ts = started.json()["started_at"] + 1_000
        events = event_dicts(60, session_id=session_id, ts=first_ts, client_id="smoke")
        answer = client.post("/v1/events", content=upload_body(events, client_id="smoke"))
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"] == 60
        stopped = client.post(f"/v1/sessions/{session_id}/stop")
        assert stopped.status_code == 202, stopped.text
    deadline = time.monotonic() + FOLD_TIMEOUT_S
    sessions = visits = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            sessions = _count(conn, "sessions", session_id)
            visits = _count(conn, "page_visits", session_id)
            if sessions and visits:
                return
            time.sleep(0.5)
    logs = "\n\n".join(f"{n}:\n{p.log_tail(15)}" for n, p in pods.items())
    pytest.fail(f"session rows {sessions}, visit rows {visits} after {FOLD_TIMEOUT_S}s\n{logs}")


def _wait_for(condition: Any, what: str, pods: dict[str, Pod]) -> None:
    deadline = time.monotonic() + FOLD_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n\n".join(f"{n}:\n{p.log_tail(15)}" for n, p in pods.items())
            pytest.fail(f"no {what} within {FOLD_TIMEOUT_S}s\n{logs}")
        time.sleep(0.25)


def _count(conn: psycopg.Connection[tuple[int]], table: str, session_id: str) -> int:
    query = f"SELECT count(*) FROM {table} WHERE session_id = %s"  # table is a constant
    row = conn.execute(query, (session_id,)).fetchone()  # type: ignore[call-overload]
    return int(row[0]) if row else 0
