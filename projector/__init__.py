"""The projector: folds the event log into PostgreSQL read tables, archives the log.

Layout: :mod:`projector.rows` (typed row operations and their merge rules, pure),
:mod:`projector.folds` (event → row operations, pure), :mod:`projector.pg` (applies
a batch and its checkpoint in one transaction), :mod:`projector.consumer` (the
stream loop), :mod:`projector.archive` (durable archive and stream retention),
:mod:`projector.replay` (rebuild into shadow tables and swap), :mod:`projector.erase`
(right to erasure), :mod:`projector.app` (wires it all from settings).
"""
