"""Structured logging: structlog JSON in production, pretty console on a terminal.

Call :func:`configure_logging` once when a command starts. Standard-library
loggers (uvicorn, faust, psycopg) are routed through the same renderer so every
line of a process has one format.
"""

from __future__ import annotations

import logging
import sys

import structlog

from mindhit.settings import Settings

__all__ = ["configure_logging", "get_logger"]


def configure_logging(settings: Settings, *, component: str = "mindhit") -> None:
    """Configure structlog and stdlib logging for this process."""
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and not sys.stderr.isatty()
    )
    level = getattr(logging, settings.log_level.upper())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a logger made before a later configure_logging (a second
        # in-process command, a test) follows the new configuration too.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.contextvars.bind_contextvars(component=component)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """Return a structured logger named ``name``."""
    return structlog.get_logger(name)  # type: ignore[no-any-return]
