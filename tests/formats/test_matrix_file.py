"""Matrix files: codes and distances back exactly as written."""

import numpy as np

from langgeo.formats.matrix_file import read_matrix, write_matrix


def test_matrix_round_trip(tmp_path):
    m = np.array([[0, 0.25], [0.25, 0]])
    write_matrix(tmp_path / "m.parquet", ["fr", "de"], m)
    codes, back = read_matrix(tmp_path / "m.parquet")
    assert codes == ["fr", "de"] and (back == m).all()
