"""The MindHit dashboard: sessions, timeline, mind map, search, settings and pipeline health.

It reads only the projector's PostgreSQL read tables (plus lag figures); it never reads
the raw event log. ``web.app.create_app`` is the only place that reads settings and
builds clients.
"""
