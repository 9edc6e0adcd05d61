"""The one settings object, read from ``MINDHIT_*`` environment variables.

Every tunable of every component is a field here; the README, compose.yaml and
the Helm chart list exactly these names (a test keeps them in step). Settings are
read when a command starts, never at import time, and are frozen afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

__all__ = ["ENV_PREFIX", "Settings", "SettingsError", "env_names"]

ENV_PREFIX = "MINDHIT_"


class SettingsError(ValueError):
    """An environment variable holds a value its setting cannot take."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """All of MindHit's configuration. Field ``x`` is read from ``MINDHIT_X``.

    Attributes:
        env: ``development`` or ``production`` (production refuses unsafe defaults).
        log_format: ``auto`` (pretty on a terminal, JSON otherwise), ``json`` or ``console``.
        log_level: minimum level logged.
        redis_url: Redis for the event log (``redis+cluster://host:port`` or
            ``rediss+cluster://`` for Redis Cluster, whose URL may list several seed
            nodes: ``redis+cluster://h1:p1,h2:p2,h3:p3/0``; ``rediss`` is TLS, the
            server's certificate verified, e.g. against ``?ssl_ca_certs=/path/ca.pem``);
            empty = local 127.0.0.1:6379 or embedded.
        database_url: PostgreSQL for accounts and read tables; empty = local or embedded.
        data_dir: where embedded Redis/PostgreSQL keep their data.
        embedded_services: without a Redis/PostgreSQL URL: ``auto`` uses local servers on
            the standard ports, else embedded ones; ``always`` embedded; ``never`` fails.
        key_prefix: prefix of every Redis key MindHit owns.
        partitions: partitions per topic (raw events are partitioned by user).
        gateway_host: interface the gateway binds to.
        gateway_port: port of the gateway (``POST /v1/events``).
        gateway_metrics_port: internal port of the gateway's ``/metrics`` (on
            ``gateway_host``; never routed by the ingress; ``0`` = not served).
        web_host: interface the dashboard binds to.
        web_port: port of the dashboard.
        web_metrics_port: internal port of the dashboard's ``/metrics`` (on ``web_host``;
            never routed by the ingress; ``0`` = not served).
        trusted_proxies: proxy networks (comma-separated CIDRs) whose forwarded header
            names the client; empty = the connection's address is the client.
        forwarded_header: the header those proxies write: ``x-forwarded-for`` or
            ``forwarded`` (RFC 7239).
        processors_host: interface of the processors' metrics/health server.
        processors_port: port of the processors' metrics/health server.
        projector_host: interface of the projector's metrics/health server.
        projector_port: port of the projector's metrics/health server.
        projector_lease_ms: lease of a projector replica on its partitions; a killed
            replica's partitions move to the others within about 1.3 times this.
        public_url: URL users reach the dashboard at (links in emails, extension pairing);
            empty = ``http://WEB_HOST:WEB_PORT`` (loopback for a wildcard host).
        gateway_public_url: URL the extension uploads to, handed over when it pairs; empty =
            ``http://{gateway_host}:{gateway_port}``.
        max_body_bytes: largest accepted upload body.
        wait_replicas: replicas that must acknowledge an append before the gateway does.
        wait_timeout_ms: how long to wait for those replicas (1–4000: the Redis clients'
            socket timeout is 5 s).
        producer_timeout_s: how long a processors worker retries its appends while Redis is
            unreachable, and its check that the replicas hold them before a commit, before
            it stops uncommitted (the next worker replays from the last commit).
        allow_volatile_redis: in production, let the gateway start on a Redis that keeps
            nothing across a restart (no AOF, no RDB save points) and has no replicas to
            wait for; acknowledged uploads are then lost when Redis restarts.
        batch_dedupe_seconds: how long a client's last batch ids are remembered after its last
            upload (a retry of one of them is stored once).
        blocked_domains: global block list (comma-separated domains; subdomains included).
        quarantine_maxlen: most entries the stream of rejected events keeps.
        quarantine_max_bytes: most memory the stream of rejected events takes (each entry
            is capped at 1 KiB: the reason and a short excerpt of the event).
        token_cache_seconds: how long the gateway caches device-token lookups.
        content_ttl_days: how long page texts, URL versions and enrichments stay in Redis
            after their last use (``0`` = until erased).
        quota_requests_per_s: gateway requests a user may make per second, sustained
            (all their device tokens together; ``0`` = no request quota).
        quota_request_burst: gateway requests a user may make at once, above that rate.
        quota_bytes_per_s: upload bytes a user may send per second, sustained (``0`` = no
            byte quota).
        quota_byte_burst: upload bytes a user may send at once (at least
            ``max_body_bytes``).
        idle_threshold_s: 0 = idle exactly when the extension reports it; N = the user
            counts as idle N seconds after their last input (applied by the processors,
            also when replaying).
        ai_provider: ``local`` (offline, default), ``gemini``, ``openai`` or ``anthropic``.
        gemini_api_key: API key; when set and ``ai_provider`` is ``gemini``, Gemini is used.
        gemini_model: Gemini model name.
        gemini_base_url: override of the Gemini endpoint (tests point it at a stub).
        openai_api_key: API key; when set and ``ai_provider`` is ``openai``, OpenAI is used.
        openai_model: OpenAI model name (chat completions with JSON-schema output).
        openai_base_url: override of the OpenAI endpoint, e.g. ``http://host:port/v1``.
        anthropic_api_key: API key; when set and ``ai_provider`` is ``anthropic``, Claude is used.
        anthropic_model: Anthropic (Claude) model name.
        anthropic_base_url: override of the Anthropic endpoint (tests point it at a stub).
        ai_timeout_s: timeout of one AI call.
        ai_attempts: attempts per AI call (429/5xx/malformed answers are retried).
        smtp_url: SMTP server for reports and account mail (``smtp://user:pass@host:port``,
            STARTTLS required; ``smtps://`` implicit TLS; ``smtp+insecure://`` plain); empty = off
            (in production nobody can then finish a sign-up: the operator makes the accounts).
        smtp_from: sender address of session reports and account mail.
        commit_interval_s: how often stream consumers commit their offsets.
        stream_retention_s: how long stream entries stay in Redis after they were appended,
            once archived and consumed by every reader (``0`` = leave at once).
        retention_days: history kept per user, in days (``0`` = forever); the default and
            the most a user may choose; older event-archive partitions are dropped.
        session_idle_close_s: a recording session with no event for this long is stopped
            (the extension records what it recorded after that moment again in a new
            session).
        delete_undo_s: how long a deleted session can be restored before it is erased.
        housekeeping_interval_s: how often the projector runs deletions, retention and idle closing.
        secret_key: signs dashboard cookies; generated into data_dir when empty.
        admin_emails: addresses allowed on the ops page once confirmed (comma-separated);
            ``mindhit user admin EMAIL`` sets the admin flag instead.
    """

    env: Literal["development", "production"] = "development"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    redis_url: str = ""
    database_url: str = ""
    data_dir: str = ".mindhit"
    embedded_services: Literal["auto", "always", "never"] = "auto"
    key_prefix: str = "mindhit"
    partitions: int = 8
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    gateway_metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 9000
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    web_metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 9080
    trusted_proxies: tuple[str, ...] = ()
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"
    processors_host: str = "127.0.0.1"
    processors_port: int = 8001
    projector_host: str = "127.0.0.1"
    projector_port: int = 8002
    projector_lease_ms: Annotated[int, msgspec.Meta(ge=300)] = 10_000
    public_url: str = ""
    gateway_public_url: str = ""
    max_body_bytes: int = 2 * 1024 * 1024
    wait_replicas: Annotated[int, msgspec.Meta(ge=0)] = 0
    # ≥ 1: WAIT n 0 would block forever; ≤ 4000: below the clients' 5 s socket timeout,
    # which would cut a longer WAIT off and report Redis unreachable
    wait_timeout_ms: Annotated[int, msgspec.Meta(ge=1, le=4000)] = 100
    producer_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=1200)] = 30.0
    allow_volatile_redis: bool = False
    batch_dedupe_seconds: int = 7 * 24 * 3600
    blocked_domains: tuple[str, ...] = ()
    quarantine_maxlen: int = 10_000
    quarantine_max_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 8 * 1024 * 1024
    token_cache_seconds: float = 5.0
    content_ttl_days: Annotated[int, msgspec.Meta(ge=0)] = 30
    quota_requests_per_s: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    quota_request_burst: Annotated[int, msgspec.Meta(ge=1)] = 100
    quota_bytes_per_s: Annotated[int, msgspec.Meta(ge=0)] = 512 * 1024
    quota_byte_burst: Annotated[int, msgspec.Meta(ge=0)] = 16 * 1024 * 1024
    idle_threshold_s: Annotated[int, msgspec.Meta(ge=0)] = 0
    ai_provider: Literal["local", "gemini", "openai", "anthropic"] = "local"
    gemini_api_key: str = ""
    gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str = ""
    openai_api_key: str = ""
    openai_model: str = "gpt-4.1-mini"
    openai_base_url: str = ""
    anthropic_api_key: str = ""
    anthropic_model: str = "claude-haiku-4-5"
    anthropic_base_url: str = ""
    ai_timeout_s: float = 30.0
    ai_attempts: int = 3
    smtp_url: str = ""
    smtp_from: str = "MindHit <reports@mindhit.local>"
    commit_interval_s: float = 1.0
    stream_retention_s: Annotated[float, msgspec.Meta(ge=0)] = 600.0
    retention_days: Annotated[int, msgspec.Meta(ge=0)] = 0
    session_idle_close_s: Annotated[float, msgspec.Meta(gt=0)] = 7200.0
    delete_undo_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    housekeeping_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    secret_key: str = ""
    admin_emails: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.public_url:
            host = "127.0.0.1" if self.web_host in {"", "0.0.0.0", "::"} else self.web_host
            host = f"[{host}]" if ":" in host else host
            msgspec.structs.force_setattr(self, "public_url", f"http://{host}:{self.web_port}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``MINDHIT_*`` variables, then apply keyword overrides."""
        environ = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        for name, field_type in _FIELD_TYPES.items():
            value = environ.get(ENV_PREFIX + name.upper())
            if value is None:
                continue
            raw[name] = _split(value) if field_type == "tuple" else value
        raw.update(overrides)
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"invalid setting: {exc}") from exc

    @property
    def data_path(self) -> Path:
        """``data_dir`` as an absolute path."""
        return Path(self.data_dir).expanduser().resolve()


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


_FIELD_TYPES: dict[str, str] = {
    field.name: ("tuple" if "tuple" in str(field.type) else "scalar")
    for field in msgspec.structs.fields(Settings)
}


def env_names() -> list[str]:
    """Every environment variable MindHit reads, in declaration order."""
    return [ENV_PREFIX + name.upper() for name in _FIELD_TYPES]
