"""One OpenAPI document for the whole public HTTP API: gateway and dashboard.

Part of the composition layer, the one place that may import both services: it builds
both apps (offline, nothing is opened) and merges their documents. ``mindhit openapi``
writes the result and ``mindhit web`` hands it to the dashboard, which serves it at
``/schema/openapi.json`` without importing the gateway. Each operation names the server
that answers it (gateway or dashboard, both configurable), paths present in both are
merged by method, and a method defined twice, or a schema name defined differently, is an
error (so the two APIs can never silently shadow each other).
"""

from __future__ import annotations

import copy
from typing import Any

from mindhit.settings import Settings

__all__ = ["OpenAPIConflictError", "combined_openapi", "merge_documents"]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class OpenAPIConflictError(ValueError):
    """The two documents define the same operation or schema differently."""


def merge_documents(
    parts: list[tuple[dict[str, Any], str, str]], *, title: str, version: str
) -> dict[str, Any]:
    """Merge OpenAPI documents; ``parts`` is ``[(document, server_url, server_name)]``.

    Pure: no I/O. Every operation gets ``servers: [{url, description}]`` of its part.
    """
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "The gateway (device uploads, session control) and the dashboard"
            " (signed-in user's data) of MindHit. Each operation lists the server that"
            " answers it.",
        },
        "servers": [{"url": url, "description": name} for _, url, name in parts],
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {}},
        "tags": [],
    }
    seen_tags: set[str] = set()
    for document, url, name in parts:
        _merge_paths(merged["paths"], document.get("paths") or {}, url, name)
        _merge_components(merged["components"], document.get("components") or {})
        for tag in document.get("tags") or []:
            if tag.get("name") not in seen_tags:
                seen_tags.add(tag.get("name"))
                merged["tags"].append(tag)
    merged["paths"] = dict(sorted(merged["paths"].items()))
    return merged


def _merge_paths(merged: dict[str, Any], paths: dict[str, Any], url: str, name: str) -> None:
    """Add one part's operations, each naming its server; an operation twice is an error."""
    for path, item in paths.items():
        target = merged.setdefault(path, {})
        for method, operation in item.items():
            if method not in _METHODS:
                target.setdefault(method, operation)
                continue
            if method in target:
                raise OpenAPIConflictError(f"{method.upper()} {path} is defined twice")
            op = copy.deepcopy(operation)
            op["servers"] = [{"url": url, "description": name}]
            target[method] = op


def _merge_components(merged: dict[str, Any], components: dict[str, Any]) -> None:
    """Add one part's schemas and security schemes; one name defined differently is an error."""
    for section in ("schemas", "securitySchemes"):
        for key, schema in (components.get(section) or {}).items():
            existing = merged[section].get(key)
            if existing is not None and existing != schema:
                raise OpenAPIConflictError(f"components.{section}.{key} differs")
            merged[section][key] = schema


def combined_openapi(settings: Settings | None = None) -> dict[str, Any]:
    """The merged document of the gateway's and the dashboard's apps (built, not served)."""
    from ingest.app import create_app as gateway_app
    from web.app import create_app as web_app

    base = settings or Settings.from_env({})
    offline = Settings.from_env(
        {},
        redis_url=base.redis_url or "redis://127.0.0.1:6379/0",
        database_url=base.database_url or "postgresql://127.0.0.1/mindhit",
        secret_key=base.secret_key or "openapi-document-only",
        gateway_host=base.gateway_host,
        gateway_port=base.gateway_port,
        public_url=base.public_url,
    )
    gateway = gateway_app(offline).openapi_schema.to_schema()
    dashboard = web_app(offline).openapi_schema.to_schema()
    return merge_documents(
        [
            (gateway, f"http://{base.gateway_host}:{base.gateway_port}", "gateway"),
            (dashboard, base.public_url.rstrip("/"), "dashboard"),
        ],
        title="MindHit API",
        version="1.0.0",
    )
