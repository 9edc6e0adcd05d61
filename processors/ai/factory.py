"""Choosing the AI provider from settings, in one place.

A remote provider (``gemini``, ``openai``, ``anthropic``) is used only when asked for
(``ai_provider``) *and* its API key is set; otherwise the offline local provider runs, so
a fresh install works without any account.
"""

from __future__ import annotations

from typing import Literal

from mindhit.logs import get_logger
from mindhit.settings import Settings
from processors.ai.base import AIProvider

__all__ = ["PROVIDERS", "ProviderName", "provider_from_settings"]

log = get_logger(__name__)

ProviderName = Literal["local", "gemini", "openai", "anthropic"]
PROVIDERS: tuple[ProviderName, ...] = ("local", "gemini", "openai", "anthropic")


def _remote(settings: Settings, name: str, key: str) -> AIProvider:
    timeout_s, attempts = settings.ai_timeout_s, settings.ai_attempts
    if name == "gemini":
        from processors.ai.gemini import GeminiProvider

        return GeminiProvider(
            api_key=key,
            model=settings.gemini_model,
            base_url=settings.gemini_base_url,
            timeout_s=timeout_s,
            attempts=attempts,
        )
    if name == "openai":
        from processors.ai.openai_provider import OpenAIProvider

        return OpenAIProvider(
            api_key=key,
            model=settings.openai_model,
            base_url=settings.openai_base_url,
            timeout_s=timeout_s,
            attempts=attempts,
        )
    from processors.ai.anthropic_provider import AnthropicProvider

    return AnthropicProvider(
        api_key=key,
        model=settings.anthropic_model,
        base_url=settings.anthropic_base_url,
        timeout_s=timeout_s,
        attempts=attempts,
    )


def provider_from_settings(
    settings: Settings, *, provider: ProviderName | None = None
) -> AIProvider:
    """The provider the settings ask for (``provider`` overrides ``ai_provider``).

    Raises:
        ValueError: a remote provider was explicitly requested but has no API key.
    """
    wanted = provider or settings.ai_provider
    if wanted != "local":
        key = {
            "gemini": settings.gemini_api_key,
            "openai": settings.openai_api_key,
            "anthropic": settings.anthropic_api_key,
        }[wanted]
        if key:
            return _remote(settings, wanted, key)
        if provider == wanted:
            raise ValueError(f"the {wanted} provider needs MINDHIT_{wanted.upper()}_API_KEY")
        log.warning(f"ai.{wanted}_without_key", fallback="local")
    from processors.ai.local import LocalProvider

    return LocalProvider()
