"""Choosing the AI provider from settings, in one place.

Gemini is used only when asked for (``ai_provider=gemini``) *and* a key is set; otherwise
the offline local provider runs, so a fresh install works without any account.
"""

from __future__ import annotations

from typing import Literal

from mindhit.logs import get_logger
from mindhit.settings import Settings
from processors.ai.base import AIProvider

__all__ = ["provider_from_settings"]

log = get_logger(__name__)


def provider_from_settings(
    settings: Settings, *, provider: Literal["local", "gemini"] | None = None
) -> AIProvider:
    """The provider the settings ask for (``provider`` overrides ``ai_provider``).

    Raises:
        ValueError: Gemini was explicitly requested but no API key is configured.
    """
    wanted = provider or settings.ai_provider
    if wanted == "gemini":
        if not settings.gemini_api_key:
            if provider == "gemini":
                raise ValueError("the gemini provider needs MINDHIT_GEMINI_API_KEY")
            log.warning("ai.gemini_without_key", fallback="local")
        else:
            from processors.ai.gemini import GeminiProvider

            return GeminiProvider(
                api_key=settings.gemini_api_key,
                model=settings.gemini_model,
                base_url=settings.gemini_base_url,
                timeout_s=settings.ai_timeout_s,
                attempts=settings.ai_attempts,
            )
    from processors.ai.local import LocalProvider

    return LocalProvider()
