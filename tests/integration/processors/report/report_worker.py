"""The processors' app with reports on, its outbox timer every ``T_REPORT_RETRY_S`` seconds.

Run by the outbox worker test as ``python -m`` (settings from ``MINDHIT_*``): the real
Faust app on the Redis Streams transport, as ``mindhit processors`` builds it, but
with a test-sized retry interval.
"""

from __future__ import annotations

import os

from mindhit.settings import Settings
from processors.app import build_app
from processors.report import reporter_from_settings
from processors.transport.app_config import run_worker

settings = Settings.from_env()
app = build_app(
    settings,
    settings.redis_url,
    web=False,
    on_built=reporter_from_settings(settings, settings.database_url),
    report_retry_s=float(os.environ["T_REPORT_RETRY_S"]),
)

if __name__ == "__main__":
    run_worker(app)
