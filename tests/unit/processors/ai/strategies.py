"""Hypothesis strategies shared by the mind map's property tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


def similarity_of(data: st.DataObject, count: int) -> np.ndarray:
    """A symmetric ``count`` × ``count`` page similarity in [0, 1] with ones on the diagonal."""
    cells = st.lists(st.floats(0, 1), min_size=count * count, max_size=count * count)
    raw = np.array(data.draw(cells)).reshape(count, count)
    similarity = (raw + raw.T) / 2
    np.fill_diagonal(similarity, 1.0)
    return similarity
