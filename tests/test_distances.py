import numpy as np
import pytest

from langgeo import LanggeoError
from langgeo.distances import pairwise_hamming, read_matrix, signature_distances, write_matrix
from langgeo.signatures import Signature


def test_popcount_matches_brute_force_across_blocks():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, size=(5, 1003)).astype(bool)
    packed = np.stack([np.packbits(b) for b in bits])
    expected = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    for block in (3, 8, 1 << 20):  # blocks smaller than, equal to and larger than a word
        assert (pairwise_hamming(packed, block_bytes=block) == expected).all()


def make_signature(language, masks):
    return Signature({"language": language}, list(masks),
                     {m: b.shape for m, b in masks.items()},
                     {m: np.packbits(b.reshape(-1)) for m, b in masks.items()})


def test_distances_are_normalized_over_all_matrices():
    a = make_signature("a", {"x": np.zeros((2, 4), bool), "y": np.zeros(3, bool)})
    b = make_signature("b", {"x": np.ones((2, 4), bool), "y": np.array([1, 0, 0], bool)})
    d = signature_distances([a, b])
    assert d[0, 1] == d[1, 0] == pytest.approx(9 / 11)
    assert d[0, 0] == 0


def test_mismatched_signatures_are_rejected():
    a = make_signature("a", {"x": np.zeros(8, bool)})
    b = make_signature("b", {"z": np.zeros(8, bool)})
    with pytest.raises(LanggeoError, match="different weight matrices"):
        signature_distances([a, b])


def test_matrix_round_trip(tmp_path):
    m = np.array([[0, 0.25], [0.25, 0]])
    write_matrix(tmp_path / "m.parquet", ["fr", "de"], m)
    codes, back = read_matrix(tmp_path / "m.parquet")
    assert codes == ["fr", "de"] and (back == m).all()
