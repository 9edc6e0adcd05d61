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


async def test_openai_and_anthropic_need_a_key_and_take_their_settings() -> None:
    from processors.ai.anthropic_provider import AnthropicProvider
    from processors.ai.openai_provider import OpenAIProvider

    for name, kind in (("openai", OpenAIProvider), ("anthropic", AnthropicProvider)):
        without = Settings.from_env({"MINDHIT_AI_PROVIDER": name})
        assert isinstance(provider_from_settings(without), LocalProvider)
        try:
            provider_from_settings(without, provider=name)  # type: ignore[arg-type]
        except ValueError as exc:
            assert f"MINDHIT_{name.upper()}_API_KEY" in str(exc)
        else:
            raise AssertionError("an explicit provider without a key must fail")
        settings = Settings.from_env(
            {
                "MINDHIT_AI_PROVIDER": name,
                f"MINDHIT_{name.upper()}_API_KEY": "k",
                f"MINDHIT_{name.upper()}_MODEL": "m-1",
                "MINDHIT_AI_TIMEOUT_S": "4",
                "MINDHIT_AI_ATTEMPTS": "2",
            }
        )
        provider = provider_from_settings(settings)
        assert isinstance(provider, kind)
        assert (provider.model, provider.policy.timeout_s, provider.policy.attempts) == (
            "m-1",
            4.0,
            2,
        )
        await provider.aclose()
