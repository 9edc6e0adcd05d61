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

NIGHT_SKY = [
    ("What Is a Black Hole?", 346_083),
    ("Thai Green Chicken Curry", 235_900),
    ("Jupiter: Facts About the Largest Planet", 294_665),
    ("How Astronomers Find Exoplanets", 137_627),
    ("How to Make Neapolitan Pizza Dough at Home", 171_958),
    ("Meteor Showers Calendar and Viewing Tips", 392_895),
    ("Choosing Your First Telescope", 320_922),
]
"""A demo session (``mindhit demo``, seed 11): five astronomy pages, two cooking side trips
(title, active ms). It was once named "Telescope and green chicken curry"."""

FOOTBALL = [
    ("Champions League Final Match Report", 58_272),
    ("Tactics Explained: Gegenpressing", 225_119),
    ("How to Make Neapolitan Pizza Dough at Home", 173_452),
    ("The Food Lab: Perfect Roast Chicken", 169_627),
    ("How to Take the Perfect Penalty Kick", 44_708),
    ("How the Football Transfer Window Works", 74_091),
    ("FIFA World Cup History", 100_229),
    ("Premier League Title Race: Who Will Win?", 216_563),
    ("The Offside Rule Explained", 208_050),
]
"""A demo session (seed 15): seven football pages, two cooking ones. It was once named
"League and neapolitan pizza dough"."""

TRIP_PLANNING = [
    ("Iceland Ring Road: A Ten Day Itinerary", 241_002),
    ("Tour du Mont Blanc: A Hiker's Guide", 143_601),
    ("Half Dome Trail via the Mist Trail", 216_603),
    ("How to Read a Topographic Map", 283_928),
    ("How to Budget Money: The 50/30/20 Rule", 312_568),
    ("Day Hiking Checklist: The Ten Essentials", 87_438),
    ("Hiking the W Trek in Torres del Paine", 102_201),
    ("401(k) vs IRA: Which Retirement Account?", 296_266),
]
"""A demo session (seed 11): six hiking pages, two personal-finance ones (36 % of the
time). It was once named "Hiking and IRA"."""
