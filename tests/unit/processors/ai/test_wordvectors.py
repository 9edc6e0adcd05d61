"""Word vectors: read from the installed package, absent without it, a table of any size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from processors.ai import wordvectors
from processors.ai.wordvectors import WordVectors, load_word_vectors


def _cosine(a: np.ndarray | None, b: np.ndarray | None) -> float:
    assert a is not None and b is not None
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_the_installed_vectors_know_what_goes_with_what() -> None:
    vectors = load_word_vectors()
    assert vectors is not None and len(vectors) == wordvectors.VOCABULARY
    assert vectors("qwzxv") is None
    marathon = vectors("marathon")
    assert _cosine(marathon, vectors("running")) > _cosine(marathon, vectors("espresso"))
    assert _cosine(vectors("hops"), vectors("beer")) > _cosine(vectors("hops"), vectors("tennis"))


def test_a_missing_package_means_no_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wordvectors, "_PACKAGE", "no_such_vector_package")
    monkeypatch.setattr(wordvectors, "_loaded", {})
    assert load_word_vectors() is None


def test_a_directory_in_the_packages_format_is_read(tmp_path: Path) -> None:
    pq.write_table(pa.table({"index": ["the", "hops", "beer"]}), tmp_path / wordvectors._WORDS)
    np.save(tmp_path / wordvectors._VECTORS, np.eye(3, 4, dtype=np.float32))
    table = WordVectors.from_directory(tmp_path)
    assert len(table) == 3
    assert table("beer") is not None and table("beer").tolist() == [0.0, 0.0, 1.0, 0.0]
    assert table("wine") is None
    assert WordVectors.from_directory(tmp_path, vocabulary=2)("beer") is None
    with pytest.raises(ValueError, match="2 words for 3 vectors"):
        WordVectors(["a", "b"], np.eye(3))
