"""Error answers: every failure is an :class:`schema.api.ErrorBody`.

Handlers raise :class:`ApiError`; Litestar's own HTTP errors (404, 405, 413 for an
oversized body, 400 for an invalid JSON body) and dependency failures (Redis,
PostgreSQL → 503 with ``Retry-After``) are mapped here so clients see one shape.
"""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
import psycopg_pool
import redis.exceptions as redis_errors
from litestar import Request, Response
from litestar.exceptions import HTTPException

from mindhit.logs import get_logger
from mindhit.redis_client import redirected_only
from mindhit.upload_log import LogEpochError, ReplicationTimeoutError
from schema.api import ErrorBody

__all__ = [
    "RETRY_AFTER_SECONDS",
    "ApiError",
    "error_response",
    "exception_handlers",
    "is_redis_unavailable",
]

RETRY_AFTER_SECONDS = 1
_UNAVAILABLE_REPLIES = ("OOM", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "LOADING", "READONLY")

_UNAVAILABLE_ERRORS = (
    redis_errors.ConnectionError,  # also BusyLoadingError (restarting, loading its data)
    redis_errors.ReadOnlyError,  # a replica after a failover
    redis_errors.TimeoutError,
    redis_errors.OutOfMemoryError,
    redis_errors.BusyLoadingError,
    # Redis Cluster failover or resharding (redis-py drops these codes from the message)
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
    redis_errors.MasterDownError,
    ReplicationTimeoutError,
)

log = get_logger("ingest")


class ApiError(Exception):
    """An answer other than success, with the fields of :class:`ErrorBody`."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        field: str | None = None,
        position: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.field = field
        self.position = position
        self.headers = headers or {}


def error_response(
    status_code: int,
    detail: str,
    *,
    field: str | None = None,
    position: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    """An :class:`ErrorBody` JSON response."""
    body = ErrorBody(status_code=status_code, detail=detail, field=field, position=position)
    return Response(
        content=msgspec.json.encode(body),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def is_redis_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis cannot take writes now (so the client should retry)."""
    if isinstance(exc, _UNAVAILABLE_ERRORS) or redirected_only(exc):
        return True
    return isinstance(exc, redis_errors.ResponseError) and str(exc).startswith(_UNAVAILABLE_REPLIES)


def _api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[bytes]:
    return error_response(
        exc.status_code, exc.detail, field=exc.field, position=exc.position, headers=exc.headers
    )


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    detail = exc.detail
    extra = getattr(exc, "extra", None)
    if isinstance(extra, list) and extra and isinstance(extra[0], dict):
        message = extra[0].get("message")
        if message:
            detail = f"{detail}: {message}"
    return error_response(exc.status_code, detail, headers=dict(exc.headers or {}))


def _unavailable(request: Request[Any, Any, Any], dependency: str) -> Response[bytes]:
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is not None:
        gateway.metrics.unavailable.labels(dependency=dependency.split()[-1]).inc()
    return error_response(
        503,
        f"{dependency} unavailable; retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _redis_error(request: Request[Any, Any, Any], exc: redis_errors.RedisError) -> Response[bytes]:
    if is_redis_unavailable(exc):
        log.warning("redis_unavailable", error=str(exc))
        return _unavailable(request, "redis")
    log.error("redis_error", error=str(exc))
    return error_response(500, "internal error")


def _replication_error(
    request: Request[Any, Any, Any], exc: ReplicationTimeoutError
) -> Response[bytes]:
    log.warning("replication_timeout", error=str(exc))
    return _unavailable(request, "redis replicas")


def _log_lost(request: Request[Any, Any, Any], exc: LogEpochError) -> Response[bytes]:
    """The partition's log was lost: the client keeps the upload and retries after recovery."""
    log.error("log_lost_upload_refused", partition=exc.partition, error=str(exc))
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is not None:
        gateway.metrics.unavailable.labels(dependency="log").inc()
    return error_response(
        503, f"{exc}; retry later", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


def _database_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.warning("database_unavailable", error=str(exc))
    return _unavailable(request, "postgres")


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.error("internal_error", path=request.url.path, error=repr(exc), exc_info=exc)
    return error_response(500, "internal error")


exception_handlers: dict[int | type[Exception], Any] = {
    Exception: _internal_error,
    ApiError: _api_error,
    HTTPException: _http_error,
    redis_errors.RedisError: _redis_error,
    ReplicationTimeoutError: _replication_error,
    LogEpochError: _log_lost,
    psycopg.OperationalError: _database_error,
    psycopg_pool.PoolTimeout: _database_error,
}
