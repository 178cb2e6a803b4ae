"""langgeo.method.binarize: exactly half of the bits set, ties broken by index, per matrix
or over all matrices."""

import numpy as np
import pytest
import torch

from langgeo.method.binarize import top_half
from tests.helpers.signatures import signature_of


def test_top_half_is_exact_and_breaks_ties_by_index():
    assert top_half(np.zeros(6)).tolist() == [True, True, True, False, False, False]
    scores = np.array([5.0, 1.0, 3.0, 3.0, 3.0, 0.0, 9.0])
    mask = top_half(scores)
    assert mask.sum() == 3
    assert mask.tolist() == [True, False, True, False, False, False, True]


@pytest.mark.parametrize("shape", [(7, 5), (64, 33), (1, 1)])
def test_top_half_keeps_half_of_any_matrix(shape):
    scores = torch.randint(0, 4, shape).float()  # many ties
    assert top_half(scores).sum() == np.prod(shape) // 2


def test_per_matrix_and_global_medians(tiny_model):
    ids = torch.randint(3, 300, (4, 16), generator=torch.Generator().manual_seed(0))
    per_matrix = signature_of(tiny_model, ids)
    assert all(b.sum() == b.size // 2 for b in per_matrix.values())
    global_bits = signature_of(tiny_model, ids, binarization="global")
    total = sum(b.size for b in global_bits.values())
    assert sum(int(b.sum()) for b in global_bits.values()) == total // 2
    assert any(b.sum() != b.size // 2 for b in global_bits.values())
