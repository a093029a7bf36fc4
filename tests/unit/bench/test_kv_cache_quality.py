"""The measures of devtools.kv_cache_quality on distributions small enough to work out by
hand: KL divergence, same top token and perplexity, and how a text is cut into chunks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from devtools.kv_cache_quality import chunks, compare, joined, log_softmax


def _logp(*rows: list[float]) -> np.ndarray:
    return np.log(np.asarray(rows, dtype=np.float64))


def test_log_softmax_gives_log_probabilities_that_sum_to_one() -> None:
    found = log_softmax(np.asarray([[1000.0, 1000.0], [0.0, math.log(3.0)]]))

    assert np.exp(found) == pytest.approx(np.asarray([[0.5, 0.5], [0.25, 0.75]]))


def test_kld_is_zero_for_the_same_distribution_and_positive_otherwise() -> None:
    reference = _logp([0.5, 0.5], [0.9, 0.1])
    other = _logp([0.5, 0.5], [0.4, 0.6])

    found = compare(reference, other, np.asarray([0, 1]))

    assert found.kld[0] == pytest.approx(0.0)
    assert found.kld[1] == pytest.approx(0.9 * math.log(0.9 / 0.4) + 0.1 * math.log(0.1 / 0.6))
    assert list(found.same_top) == [1.0, 0.0]


def test_perplexity_is_taken_from_the_targets_probabilities() -> None:
    reference = _logp([0.5, 0.5], [0.25, 0.75])
    other = _logp([0.5, 0.5], [0.5, 0.5])

    found = compare(reference, other, np.asarray([0, 1]))

    assert found.perplexity == pytest.approx(2.0)
    assert found.reference_perplexity == pytest.approx(1 / math.sqrt(0.5 * 0.75))


def test_joined_keeps_every_position_of_every_chunk() -> None:
    one = compare(_logp([0.5, 0.5]), _logp([0.5, 0.5]), np.asarray([0]))
    two = compare(_logp([0.9, 0.1]), _logp([0.1, 0.9]), np.asarray([1]))

    found = joined([one, two])

    assert list(found.same_top) == [1.0, 0.0]
    assert found.kld[1] == pytest.approx(0.8 * math.log(9.0))


def test_chunks_are_whole_and_stop_at_the_limit() -> None:
    assert list(chunks(list(range(10)), 4, limit=5)) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert list(chunks(list(range(10)), 4, limit=1)) == [[0, 1, 2, 3]]
