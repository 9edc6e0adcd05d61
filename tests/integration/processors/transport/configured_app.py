"""A worker configured from MindHit settings (``MINDHIT_*``) through ``faust_app_options``."""

from __future__ import annotations

import os

import faust

from mindhit.settings import Settings
from processors.transport.app_config import faust_app_options, run_worker

settings = Settings.from_env()
app = faust.App("configured", **faust_app_options(settings, os.environ["T_REDIS_URL"]))
numbers = app.topic("numbers")
seen = app.Table("seen", default=int)


@app.agent(numbers)
async def count(stream: faust.StreamT[bytes]) -> None:
    async for key in stream.events():
        seen[key.key] += 1


if __name__ == "__main__":
    run_worker(app)
