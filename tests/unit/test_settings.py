"""Settings from the environment: the idle threshold's default and its validation."""

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
