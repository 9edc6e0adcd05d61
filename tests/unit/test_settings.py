"""Settings from the environment: the idle threshold and the replica wait, validated."""

from __future__ import annotations

import pytest

from mindhit.settings import Settings, SettingsError


def test_idle_threshold_defaults_to_idle_when_the_extension_reports_it() -> None:
    assert Settings.from_env({}).idle_threshold_s == 0
    assert Settings.from_env({"MINDHIT_IDLE_THRESHOLD_S": "90"}).idle_threshold_s == 90


@pytest.mark.parametrize("value", ["-1", "soon", "1.5"])
def test_idle_threshold_must_be_whole_seconds_not_below_zero(value: str) -> None:
    with pytest.raises(SettingsError, match="idle_threshold_s"):
        Settings.from_env({"MINDHIT_IDLE_THRESHOLD_S": value})


def test_the_public_url_follows_the_dashboard_port_unless_set() -> None:
    assert Settings.from_env({}).public_url == "http://127.0.0.1:8080"
    assert Settings.from_env({"MINDHIT_WEB_PORT": "9123"}).public_url == "http://127.0.0.1:9123"
    wildcard = Settings.from_env({"MINDHIT_WEB_HOST": "0.0.0.0", "MINDHIT_WEB_PORT": "81"})
    assert wildcard.public_url == "http://127.0.0.1:81"
    assert Settings.from_env({"MINDHIT_WEB_HOST": "::1"}).public_url == "http://[::1]:8080"
    chosen = {"MINDHIT_WEB_PORT": "9123", "MINDHIT_PUBLIC_URL": "https://mindhit.example.com"}
    assert Settings.from_env(chosen).public_url == "https://mindhit.example.com"


@pytest.mark.parametrize("value", ["0", "-5", "4001", "10000"])
def test_a_replica_wait_redis_would_hold_forever_or_past_the_socket_timeout_is_refused(
    value: str,
) -> None:
    """0 ms: Redis waits forever; past 4 s: the clients' 5 s socket timeout cuts the
    ``WAIT`` off and every upload would be answered 503 as if Redis were down."""
    with pytest.raises(SettingsError, match="wait_timeout_ms"):
        Settings.from_env({"MINDHIT_WAIT_TIMEOUT_MS": value})
    assert Settings.from_env({"MINDHIT_WAIT_TIMEOUT_MS": "1"}).wait_timeout_ms == 1
    assert Settings.from_env({"MINDHIT_WAIT_TIMEOUT_MS": "4000"}).wait_timeout_ms == 4000
