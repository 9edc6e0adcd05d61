"""What we ask the remote models, and the response schemas their structured output follows.

The prompt carries the pages as a JSON list after the line ``Pages (JSON):`` (the test
stubs in ``tests/support/`` read them from there). Page text is cut to its lead so a long
session stays within a reasonable prompt size. Gemini takes its own ``types.Schema``;
OpenAI (``response_format`` JSON schema, strict) and Anthropic (a tool's
``input_schema``) take the same plain JSON Schemas, :data:`ENRICH_JSON_SCHEMA` and
:data:`MINDMAP_JSON_SCHEMA`. Every answer is decoded into :class:`GeminiEnrichment` or
:class:`GeminiMap`, whoever sent it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import msgspec
from google.genai import types

from processors.ai.base import MindmapPage, PageInput
from processors.ai.mindmap import Branch, MapPlan

__all__ = [
    "ENRICH_JSON_SCHEMA",
    "ENRICH_SCHEMA",
    "MINDMAP_JSON_SCHEMA",
    "MINDMAP_SCHEMA",
    "PAGES_MARKER",
    "SYSTEM",
    "GeminiEnrichment",
    "GeminiMap",
    "enrich_prompt",
    "mindmap_prompt",
    "to_plan",
]

PAGES_MARKER = "Pages (JSON):"
ENRICH_TEXT_CHARS = 6000
MINDMAP_TEXT_CHARS = 700

SYSTEM = (
    "You help a person understand their own web browsing. Answer only with JSON that "
    "follows the response schema. Labels are short (2-4 words), concrete and in the "
    "language of the pages; never invent pages or facts that are not in the input."
)

_STR = types.Schema(type=types.Type.STRING)

ENRICH_SCHEMA = types.Schema(
    type=types.Type.OBJECT,
    properties={
        "summary": types.Schema(type=types.Type.STRING, description="2 sentences at most"),
        "tags": types.Schema(type=types.Type.ARRAY, items=_STR, min_items=3, max_items=7),
        "topic": types.Schema(type=types.Type.STRING, description="2-4 words"),
    },
    required=["summary", "tags", "topic"],
    property_ordering=["summary", "tags", "topic"],
)

_PAGE_REF = types.Schema(
    type=types.Type.OBJECT,
    properties={
        "index": types.Schema(type=types.Type.INTEGER),
        "why": types.Schema(type=types.Type.STRING, description="why this page is here"),
    },
    required=["index", "why"],
)

MINDMAP_SCHEMA = types.Schema(
    type=types.Type.OBJECT,
    properties={
        "label": types.Schema(type=types.Type.STRING, description="central topic, 2-6 words"),
        "why": types.Schema(type=types.Type.STRING, description="one sentence overview"),
        "subtopics": types.Schema(
            type=types.Type.ARRAY,
            min_items=1,
            max_items=8,
            items=types.Schema(
                type=types.Type.OBJECT,
                properties={
                    "label": types.Schema(type=types.Type.STRING, description="2-4 words"),
                    "why": types.Schema(
                        type=types.Type.STRING, description="why these pages belong together"
                    ),
                    "summary": types.Schema(
                        type=types.Type.STRING, description="one sentence on what they say"
                    ),
                    "pages": types.Schema(type=types.Type.ARRAY, items=_PAGE_REF, min_items=1),
                },
                required=["label", "why", "summary", "pages"],
            ),
        ),
    },
    required=["label", "why", "subtopics"],
    property_ordering=["label", "why", "subtopics"],
)


def _object(properties: dict[str, object]) -> dict[str, object]:
    """A strict JSON Schema object: every property required, nothing else allowed."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_JSON_STR: dict[str, object] = {"type": "string"}

ENRICH_JSON_SCHEMA = _object(
    {
        "summary": {"type": "string", "description": "2 sentences at most"},
        "tags": {"type": "array", "items": _JSON_STR, "description": "3 to 7 short tags"},
        "topic": {"type": "string", "description": "2-4 words"},
    }
)

MINDMAP_JSON_SCHEMA = _object(
    {
        "label": {"type": "string", "description": "central topic, 2-6 words"},
        "why": {"type": "string", "description": "one sentence overview"},
        "subtopics": {
            "type": "array",
            "description": "1 to 8 subtopics",
            "items": _object(
                {
                    "label": {"type": "string", "description": "2-4 words"},
                    "why": {"type": "string", "description": "why these pages belong together"},
                    "summary": {"type": "string", "description": "one sentence on what they say"},
                    "pages": {
                        "type": "array",
                        "items": _object({"index": {"type": "integer"}, "why": {"type": "string"}}),
                    },
                }
            ),
        },
    }
)


class GeminiEnrichment(msgspec.Struct, frozen=True):
    """The enrichment answer as the schema defines it."""

    summary: str
    tags: list[str]
    topic: str


class GeminiPageRef(msgspec.Struct, frozen=True):
    """A page placed in a subtopic, by its index in the prompt."""

    index: int
    why: str = ""


class GeminiSubtopic(msgspec.Struct, frozen=True):
    """One subtopic of the answer."""

    label: str
    why: str
    pages: list[GeminiPageRef]
    summary: str = ""


class GeminiMap(msgspec.Struct, frozen=True):
    """The mind-map answer as the schema defines it."""

    label: str
    why: str
    subtopics: list[GeminiSubtopic]


def enrich_prompt(page: PageInput) -> str:
    """The request to summarize, tag and classify one page."""
    return (
        "Summarize this web page in at most two sentences, give 3 to 7 short tags and one "
        "topic of 2-4 words.\n"
        f"URL: {page.url}\nTitle: {page.title}\nLanguage: {page.lang or 'unknown'}\n"
        f"Text:\n{page.text[:ENRICH_TEXT_CHARS]}"
    )


def mindmap_prompt(pages: Sequence[MindmapPage]) -> str:
    """The request to group a session's pages into subtopics under one central topic."""
    listed = [
        {
            "index": index,
            "title": page.title,
            "url": page.url,
            "minutes": round(page.dwell_ms / 60000, 1),
            "tags": page.tags,
            "text": (page.summary or page.text)[:MINDMAP_TEXT_CHARS],
        }
        for index, page in enumerate(pages)
    ]
    return (
        "Build a mind map of this browsing session. Group the pages into 1 to 8 subtopics "
        "by what they are about (not by website), give the session one central topic, say "
        "briefly why the pages of each subtopic belong together and sum up each subtopic in "
        'one sentence. Subtopic labels are noun phrases a person would use ("Espresso '
        'extraction", "Chess openings"), never two keywords joined by "&". Place every '
        "page index exactly once. Time spent (minutes) shows what mattered most.\n"
        f"{PAGES_MARKER}\n{json.dumps(listed, ensure_ascii=False)}"
    )


def to_plan(answer: GeminiMap) -> MapPlan:
    """Turn the model's answer into a plan (validated later by ``assemble``)."""
    return MapPlan(
        label=answer.label,
        why=answer.why,
        branches=[
            Branch(
                label=sub.label,
                why=sub.why,
                members=[ref.index for ref in sub.pages],
                page_why=[ref.why for ref in sub.pages],
                summary=sub.summary,
            )
            for sub in answer.subtopics
        ],
    )
