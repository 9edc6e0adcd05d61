"""Everyday subjects people browse, for naming a group whose title phrases are weak.

Why: a group's label comes from its pages' titles (:mod:`processors.ai.labels`), which
works when the pages share a phrase ("Chess opening", "Heat pump") but not when each
page names its own corner of a subject: football pages share only "World" ("FIFA World
Cup History", "The Best Young Footballers in the World"), personal-finance pages
"Fund", cooking pages one recipe's "Neapolitan pizza dough". A person would say
Football, Personal finance, Cooking. This list holds such everyday subjects (sports,
hobbies, home, food, money, health, travel, science, technology, arts); with word
vectors at hand (:mod:`processors.ai.wordvectors`) a weak group is named by the subject
nearest its words (:func:`processors.ai.labels.name_groups`). Each entry is
``"Name: anchor words"``: the subject's vector is the mean of its anchors' unit vectors
(the name's own words when no anchors are given). Anchors are plain, frequent words
that GloVe knows well; a name is in sentence case, as a label is written. The list keeps
to broad subjects: a narrow one the vectors cannot tell from its broad neighbour is left
out ("Baking" sits nearer every recipe's flour, dough and oven than "Cooking" does, so a
group of risotto, roast chicken and cookie pages came out "Baking"); a group about one
narrow subject usually shares a strong title phrase anyway ("Sourdough").

:func:`nearest_topic` centres both sides on the subjects' mean vector (what every
subject shares says nothing about which one a group is) and takes the nearest subject
only when it is close (:data:`TOPIC_FLOOR`) and clearly closer than the next
(:data:`TOPIC_MARGIN`), or when the next is one of its own narrower subjects
(:data:`BROADER`: "Taxes" under "Personal finance", "Space exploration" under
"Astronomy"), a little less near (:data:`FAMILY_MARGIN`), and every other subject is
clearly farther: a group of a budgeting and a retirement-account page is near both
"Personal finance" and "Taxes", and the broader name is right whichever narrow one it
is. Pure and deterministic; the subjects' vectors are computed once per lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from processors.ai.features import WordLookup

__all__ = ["BROADER", "FAMILY_MARGIN", "TOPICS", "TOPIC_FLOOR", "TOPIC_MARGIN", "nearest_topic"]

TOPIC_FLOOR = 0.55
"""Least cosine (centred) between a group's words and a subject for the subject to name it."""
TOPIC_MARGIN = 0.08
"""How much nearer the group the best subject must be than the second best."""
FAMILY_MARGIN = 0.02
"""How much nearer a broader subject must be than its narrower one coming second."""

TOPICS: tuple[str, ...] = (
    # Sports and outdoors
    "Football: football soccer",
    "American football: nfl quarterback touchdown",
    "Basketball: basketball nba",
    "Baseball: baseball mlb",
    "Cricket: cricket wicket",
    "Rugby: rugby",
    "Tennis: tennis",
    "Golf: golf golfer",
    "Ice hockey: hockey nhl",
    "Boxing: boxing boxer",
    "Martial arts: karate judo",
    "Formula One: formula racing",
    "Cycling: cycling bike",
    "Running: runners jogging marathon",
    "Swimming: swimming swimmer",
    "Hiking: hiking hikers hike trek",
    "Camping: camping campsite",
    "Climbing: climbing climbers",
    "Skiing: skiing ski",
    "Snowboarding: snowboarding snowboard",
    "Surfing: surfing surf",
    "Sailing: sailing boat",
    "Fishing: fishing anglers",
    "Hunting: hunting hunters",
    "Yoga: yoga",
    "Fitness: fitness workout exercise",
    "Olympics: olympics olympic",
    # Food and drink
    "Cooking: cooking recipes cook dishes kitchen",
    "Coffee: coffee espresso",
    "Tea: tea",
    "Wine: wine",
    "Beer brewing: beer brewing brewers hops ale",
    "Cocktails: cocktails",
    "Restaurants: restaurants restaurant",
    "Vegetarian food: vegetarian vegan",
    "Nutrition: nutrition diet",
    "Fermentation: fermented sauerkraut kimchi",
    # Home and garden
    "Gardening: gardening garden vegetables",
    "Houseplants: houseplants",
    "Home improvement: renovation remodeling",
    "Woodworking: woodworking",
    "Interior design: decor interior",
    "Home heating: heating furnace boiler",
    "Solar power: solar panels electricity",
    "Cleaning: cleaning",
    "Real estate: estate housing",
    # Money and work
    "Personal finance: finance savings money",
    "Investing: investing investors stocks",
    "Mortgages: mortgage mortgages",
    "Taxes: taxes tax",
    "Insurance: insurance",
    "Banking: banking banks",
    "Economics: economics economy",
    "Careers: career careers jobs",
    "Small business: business entrepreneurs",
    "Marketing: marketing advertising",
    # Health and family
    "Health: health medical",
    "Heart health: cardiovascular heart",
    "Mental health: depression anxiety",
    "Sleep: sleep",
    "Parenting: parenting parents",
    "Pregnancy: pregnancy",
    "Weddings: wedding weddings",
    "Pets: pets",
    "Dogs: dogs dog",
    "Cats: cats cat",
    "Aquariums: aquarium fish",
    "Horses: horses horse",
    "Fashion: fashion clothing",
    "Beauty: beauty makeup cosmetics",
    # Travel and places
    "Travel: travel travelers tourism",
    "Flights: flights airline",
    "Cars: cars car",
    "Motorcycles: motorcycle motorcycles",
    # Science and nature
    "Astronomy: astronomy astronomers planets",
    "Space exploration: nasa spacecraft",
    "Physics: physics",
    "Chemistry: chemistry",
    "Biology: biology",
    "Geology: geology",
    "Weather: weather",
    "Climate: climate",
    "Wildlife: wildlife animals",
    "Birds: birds",
    "Mathematics: mathematics math",
    "Medicine: medicine doctors",
    "Archaeology: archaeology",
    "Dinosaurs: dinosaurs",
    # Technology
    "Programming: programming software code",
    "Python programming: python programming",
    "Web development: javascript html",
    "Computers: computers computer",
    "Smartphones: smartphones iphone",
    "Video games: games gaming",
    "Artificial intelligence: intelligence ai",
    "Photography: photography camera",
    "Electronics: electronics",
    "Cybersecurity: cybersecurity security",
    "Internet: internet online",
    # Arts, culture, society
    "Music: music",
    "Guitar: guitar",
    "Piano: piano",
    "Movies: movies film",
    "Television: television tv",
    "Books: books novels",
    "Writing: writing writers",
    "Art: art painting",
    "Drawing: drawing sketches pencil",
    "Knitting: knitting yarn",
    "Sewing: sewing",
    "Crafts: crafts",
    "Board games: chess board",
    "Chess: chess",
    "History: history historical",
    "Philosophy: philosophy",
    "Religion: religion",
    "Politics: politics political",
    "Law: law legal",
    "Education: education schools",
    "Languages: languages language",
    "News: news",
    "Celebrities: celebrity celebrities",
)


BROADER: dict[str, str] = {
    "Investing": "Personal finance",
    "Mortgages": "Personal finance",
    "Taxes": "Personal finance",
    "Insurance": "Personal finance",
    "Banking": "Personal finance",
    "Space exploration": "Astronomy",
    "Python programming": "Programming",
    "Web development": "Programming",
}
"""A narrower subject → the broader one it belongs to (both in :data:`TOPICS`)."""


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-9 else vector


@lru_cache(maxsize=4)
def _topic_vectors(lookup: WordLookup) -> tuple[list[str], np.ndarray, np.ndarray] | None:
    """The subjects' names, their centred unit vectors (rows) and the mean removed."""
    names: list[str] = []
    rows: list[np.ndarray] = []
    for entry in TOPICS:
        name, _, anchors = entry.partition(":")
        found = [lookup(word) for word in (anchors.split() or name.lower().split())]
        vectors = [_unit(np.asarray(v, dtype=float)) for v in found if v is not None and np.any(v)]
        if vectors:
            names.append(name)
            rows.append(_unit(np.mean(vectors, axis=0)))
    if len(rows) < 2:
        return None
    matrix = np.array(rows)
    mean = matrix.mean(axis=0)
    return names, np.array([_unit(row - mean) for row in matrix]), mean


def nearest_topic(weights: Mapping[str, float], lookup: WordLookup) -> str | None:
    """The subject nearest a group's words (lower case → weight), or ``None`` if none is clearly.

    The group's vector is the weighted sum of its words' unit vectors.
    """
    topics = _topic_vectors(lookup)
    if topics is None:
        return None
    names, matrix, mean = topics
    total = np.zeros(matrix.shape[1])
    for word in sorted(weights):
        vector = lookup(word)
        if vector is not None and np.any(vector) and weights[word] > 0:
            total += _unit(np.asarray(vector, dtype=float)) * weights[word]
    if not np.any(total):
        return None
    cosine = matrix @ _unit(_unit(total) - mean)
    ranked = [int(i) for i in np.argsort(-cosine, kind="stable")]
    first, second = ranked[0], ranked[1]
    best = float(cosine[first])
    if best < TOPIC_FLOOR:
        return None
    if best - cosine[second] >= TOPIC_MARGIN:
        return names[first]
    family = {names[first], *(n for n, broad in BROADER.items() if broad == names[first])}
    if names[second] not in family or best - cosine[second] < FAMILY_MARGIN:
        return None
    outside = next(i for i in ranked if names[i] not in family)
    return names[first] if best - cosine[outside] >= TOPIC_MARGIN else None
