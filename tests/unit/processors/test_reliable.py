"""Which handler errors are retried (Redis trouble) and which skip the entry (a bug)."""

from __future__ import annotations

import pytest
from redis._parsers.base import BaseParser
from redis.exceptions import ClusterError, ResponseError

from processors.agents.reliable import is_transient


@pytest.mark.parametrize(
    "reply",
    [
        "OOM command not allowed when used memory > 'maxmemory'.",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "CLUSTERDOWN The cluster is down",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "LOADING Redis is loading the dataset in memory",
        "READONLY You can't write against a read only replica.",
    ],
)
def test_redis_refusals_are_retried_as_redis_py_raises_them(reply: str) -> None:
    """redis-py drops the error code from these messages: the class must tell."""
    assert is_transient(BaseParser.parse_error(reply))


def test_a_command_given_up_on_while_its_slot_moved_is_retried() -> None:
    assert is_transient(ClusterError("TTL exhausted."))


def test_a_script_error_carrying_a_code_is_retried_and_others_are_not() -> None:
    assert is_transient(ResponseError("OOM command not allowed when used memory > 'maxmemory'"))
    assert not is_transient(ResponseError("ERR user_script:1: attempt to index a nil value"))
    assert not is_transient(ClusterError("some other cluster failure"))
    assert not is_transient(ValueError("bad entry"))
