"""Choosing the AI provider from settings, in one place.

A remote provider (``gemini``, ``openai``, ``anthropic``) is used only when asked for
(``ai_provider``) *and* its API key is set; otherwise the offline local provider runs, so
a fresh install works without any account.
"""

from __future__ import annotations

from typing import Any, Literal

from mindhit.logs import get_logger
from mindhit.settings import Settings
from processors.ai.base import AIProvider

__all__ = ["PROVIDERS", "ProviderName", "provider_from_settings"]

log = get_logger(__name__)

ProviderName = Literal["local", "gemini", "openai", "anthropic"]
PROVIDERS: tuple[ProviderName, ...] = ("local", "gemini", "openai", "anthropic")


def _remote(settings: Settings, name: str, key: str) -> AIProvider:
    limits: dict[str, Any] = {
        "api_key": key,
        "timeout_s": settings.ai_timeout_s,
        "attempts": settings.ai_attempts,
    }
    if name == "gemini":
        from processors.ai.gemini import GeminiProvider

        kind: Any = GeminiProvider
    elif name == "openai":
        from processors.ai.openai_provider import OpenAIProvider

        kind = OpenAIProvider
    else:
        from processors.ai.anthropic_provider import AnthropicProvider

        kind = AnthropicProvider
    model, base_url = getattr(settings, f"{name}_model"), getattr(settings, f"{name}_base_url")
    provider: AIProvider = kind(model=model, base_url=base_url, **limits)
    return provider


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
