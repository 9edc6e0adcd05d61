"""Stream processors: the Faust app, its agents, and the Redis Streams transport for Faust.

Each agent is a thin loop around a pure function ``(state, events) -> (state, derived)``;
derived events go to their own topics (see :mod:`schema.topics`) for the projector.
"""
