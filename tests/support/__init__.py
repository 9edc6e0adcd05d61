"""Test helpers shared across areas (e.g. the local Gemini stub)."""
