"""The provider is chosen from settings: local unless Gemini is asked for and has a key."""

from __future__ import annotations

from mindhit.settings import Settings
from processors.ai.factory import provider_from_settings
from processors.ai.gemini import GeminiProvider
from processors.ai.local import LocalProvider


async def test_local_is_the_default() -> None:
    assert isinstance(provider_from_settings(Settings.from_env({})), LocalProvider)


async def test_gemini_without_a_key_falls_back_to_local() -> None:
    settings = Settings.from_env({"MINDHIT_AI_PROVIDER": "gemini"})
    assert isinstance(provider_from_settings(settings), LocalProvider)


async def test_gemini_with_a_key_uses_the_configured_model_and_limits() -> None:
    settings = Settings.from_env(
        {
            "MINDHIT_AI_PROVIDER": "gemini",
            "MINDHIT_GEMINI_API_KEY": "k",
            "MINDHIT_GEMINI_MODEL": "gemini-x",
            "MINDHIT_AI_TIMEOUT_S": "7.5",
            "MINDHIT_AI_ATTEMPTS": "5",
        }
    )
    provider = provider_from_settings(settings)
    assert isinstance(provider, GeminiProvider)
    assert (provider.model, provider.timeout_s, provider.attempts) == ("gemini-x", 7.5, 5)
    await provider.aclose()
    assert isinstance(provider_from_settings(settings, provider="local"), LocalProvider)
