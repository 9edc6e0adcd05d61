"""Owner keys are settled at most once per tenth of their TTL per projector process."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projector.owner_keys import RENEW_FRACTION, OwnerKeys

pairs = st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from("xyz")), max_size=12)


class _Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


@given(first=pairs, second=pairs, elapsed=st.floats(0, 100))
def test_due_is_whatever_was_not_settled_within_the_renew_window(
    first: list[tuple[str, str]], second: list[tuple[str, str]], elapsed: float
) -> None:
    clock = _Clock()
    keys = OwnerKeys(None, "p", 100, clock)  # type: ignore[arg-type]
    assert keys.due(first) == list(dict.fromkeys(first))
    keys._settled.update(dict.fromkeys(first, clock.t))
    clock.t += elapsed
    expected = [
        s for s in dict.fromkeys(second) if s not in first or elapsed > RENEW_FRACTION * 100
    ]
    assert keys.due(second) == expected
