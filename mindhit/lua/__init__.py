"""Lua scripts run by :mod:`mindhit.streams` (kept as files next to their adapter)."""
