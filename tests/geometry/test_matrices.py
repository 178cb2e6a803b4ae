"""Distance matrices checked once, with the problem and the remedy named."""

import numpy as np
import pytest

from langgeo import LanggeoError
from langgeo.geometry.matrices import check_matrix


@pytest.mark.parametrize("bad, codes, match", [
    (np.zeros((2, 3)), None, r"must be square, got shape \(2, 3\)"),
    (np.zeros((3, 3)), ["a", "b"], r"shape \(3, 3\) but there are 2 language codes"),
    (np.zeros((2, 2)), ["a", "a"], "not distinct"),
    (np.array([[0, 1], [1, np.inf]]), None, "finite"),
    (np.array([[0, -1], [-1, 0]]), None, "non-negative"),
    (np.array([[1, 1], [1, 0]]), None, "zero diagonal"),
    (np.array([[0, 1], [2, 0]]), None, "symmetric"),
])
def test_check_matrix_names_the_problem_and_the_remedy(bad, codes, match):
    with pytest.raises(LanggeoError, match=match) as error:
        check_matrix(bad, codes, what="matrix X", hint="rerun Y")
    assert str(error.value).startswith("matrix X") and str(error.value).endswith("; rerun Y")
    ok = np.array([[0, 0.5], [0.5, 0]], dtype=np.float32)
    assert check_matrix(ok, ["a", "b"]).dtype == np.float64
