"""Page titles shared by the mind map's naming tests."""

from __future__ import annotations

ESPRESSO_AND_CHESS = [
    "Dialing In Espresso at Home: Grind and Dose",
    "Espresso Extraction Explained",
    "Why is my espresso sour? : r/espresso",
    "Chess Opening Principles for Beginners",
    "The Sicilian Defence: a chess opening for fighters",
    "Building a chess opening repertoire",
]
"""Two subjects, three pages each, whose titles share a strong phrase ("Espresso",
"Chess opening")."""
