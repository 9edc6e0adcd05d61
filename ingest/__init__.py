"""The ingest gateway: authenticates device uploads and appends them to the raw event log.

``app.create_app`` builds the Litestar application from :class:`mindhit.settings.Settings`;
``cli`` contributes ``mindhit gateway``. Pure logic (validation, block lists,
coalescing plans) lives in plain modules; Redis and PostgreSQL sit behind adapters.
"""
