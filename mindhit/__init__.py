"""The MindHit runtime kernel shared by every service.

Holds what is neither a contract (``schema``) nor one service's logic: the one
settings object, logging, the ``mindhit`` command line, database migrations,
connections to Redis and PostgreSQL (local, configured or embedded), the one
function that appends to the event log, and the process supervisor of ``mindhit up``.
"""

__version__ = "0.1.0"
