"""The MindHit core shared by every service, and (in :mod:`mindhit.cli`) the composition layer.

The core holds what is neither a contract (``schema``) nor one service's logic: the one
settings object, logging, the clock, the Redis client factory, the one module that
appends to and reads the event log, the transport's key layout, database connections
and migrations, accounts, and where Redis and PostgreSQL are (local, configured or
embedded). It imports ``schema`` only, never a service. :mod:`mindhit.cli` (the
``mindhit`` command line, ``up``, ``demo``, the merged OpenAPI document) is the one
place that imports services and wires them together.
"""

__version__ = "0.1.0"
