"""``mindhit mindmap``: build a session mind map outside the pipeline, from a JSON file.

Useful for tuning prompts, comparing providers and the quality bench. The input is a JSON
list of ``{url, title, text, dwell_ms}`` objects (``url_hash``, ``summary``, ``tags``,
``topic`` optional, other fields ignored, so the demo corpus file works as is); the output
is ``{"root": {"label", "weight_ms", "why", "children": [...]}, "provider": ...}`` with
the pages as leaves carrying their ``url``.
"""

from __future__ import annotations

import asyncio
import sys

import click
import msgspec

from mindhit.command_context import settings_from
from processors.ai.base import AIError, MindmapPage
from processors.ai.factory import PROVIDERS, ProviderName, provider_from_settings
from schema.derived import MindmapNode

__all__ = ["commands", "mindmap"]


class _InputPage(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    title: str = ""
    text: str = ""
    dwell_ms: int = 0
    url_hash: str = ""
    summary: str = ""
    tags: list[str] = []
    topic: str = ""


class _Output(msgspec.Struct, frozen=True):
    root: MindmapNode
    provider: str


async def _build(pages: list[MindmapPage], settings_provider: object, name: str | None) -> _Output:
    provider = provider_from_settings(settings_provider, provider=name)  # type: ignore[arg-type]
    try:
        root = await provider.build_mindmap(pages)
    finally:
        await provider.aclose()
    return _Output(root=root, provider=provider.name)


@click.command("mindmap")
@click.option(
    "--input",
    "input_file",
    required=True,
    type=click.File("rb"),
    help="JSON list of pages {url, title, text, dwell_ms}; '-' reads stdin.",
)
@click.option(
    "--provider",
    type=click.Choice(list(PROVIDERS)),
    default=None,
    help="Override MINDHIT_AI_PROVIDER for this run.",
)
@click.option("--compact", is_flag=True, help="Print the JSON on one line.")
@click.pass_context
def mindmap(
    ctx: click.Context,
    input_file: click.utils.LazyFile,
    provider: ProviderName | None,
    compact: bool,
) -> None:
    """Build a mind map from a JSON list of pages and print it as JSON."""
    settings = settings_from(ctx)
    try:
        raw = msgspec.json.decode(input_file.read(), type=list[_InputPage])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise click.BadParameter(f"not a JSON list of pages: {exc}", param_hint="--input") from exc
    pages = [MindmapPage(**msgspec.structs.asdict(page)) for page in raw]
    try:
        output = asyncio.run(_build(pages, settings, provider))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except AIError as exc:
        raise click.ClickException(f"mind map failed: {exc.reason}") from exc
    encoded = msgspec.json.encode(output)
    if not compact:
        encoded = msgspec.json.format(encoded, indent=2)
    sys.stdout.write(encoded.decode() + "\n")


commands: list[click.Command] = [mindmap]
