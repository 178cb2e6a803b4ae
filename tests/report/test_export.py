"""Export of latent vectors and distances for sharing (Parquet + CSV with labels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from langgeo import LanggeoError
from langgeo.data.labels import LABEL_COLUMNS, language_labels
from langgeo.formats.matrix_file import write_matrix
from langgeo.report.export import export_results

CODES = ["ru", "fr", "no"]


DIST = np.array([[0.0, 0.3, 0.25], [0.3, 0.0, 0.125], [0.25, 0.125, 0.0]])


COORDS = np.array([[0.5, -0.25], [-0.125, 0.375], [-0.375, -0.125]])


@pytest.fixture
def inputs(tmp_path):
    latent = pd.DataFrame(COORDS, columns=["mds_1", "mds_2"])
    latent.insert(0, "language", CODES)
    latent.to_parquet(tmp_path / "latent.parquet", index=False)
    write_matrix(tmp_path / "ensemble.parquet", CODES, DIST)
    # Labels in another order than the matrix, with an extra language: rows are matched by code.
    language_labels(["de", "no", "fr", "ru"]).to_parquet(tmp_path / "labels.parquet",
                                                         index=False)
    return tmp_path / "latent.parquet", tmp_path / "ensemble.parquet", tmp_path / "labels.parquet"


def test_export_writes_labelled_tables_in_both_formats(tmp_path, inputs):
    out = tmp_path / "share"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    paths = export_results(out, *inputs)
    assert [p.name for p in paths] == ["latent.parquet", "latent.csv", "distances.parquet",
                                       "distances.csv", "README.md"]
    assert (out / "notes.txt").read_text() == "mine"  # the folder is not wiped

    for name in ("latent", "distances"):
        parquet = pd.read_parquet(out / f"{name}.parquet")
        # keep_default_na: the code "no" (Norwegian) must stay a string.
        text = pd.read_csv(out / f"{name}.csv", keep_default_na=False)
        pd.testing.assert_frame_equal(parquet, text, check_dtype=False)
        assert list(parquet.columns[:6]) == list(LABEL_COLUMNS)
        assert parquet["code"].tolist() == CODES
    latent = pd.read_csv(out / "latent.csv", keep_default_na=False).set_index("code")
    assert latent.loc["no", "name"] == "Norwegian Bokmål"
    assert latent.loc["fr", ["family", "branch"]].tolist() == ["Indo-European", "Italic"]
    assert latent.loc["ru", "branch"] == "Balto-Slavic"
    np.testing.assert_array_equal(latent[["mds_1", "mds_2"]].to_numpy(), COORDS)
    distances = pd.read_csv(out / "distances.csv", keep_default_na=False)
    assert list(distances.columns[6:]) == CODES
    np.testing.assert_array_equal(distances[CODES].to_numpy(), DIST)  # exact round trip
    assert "normalized Hamming distance" in (out / "README.md").read_text()


def test_export_refuses_inputs_that_disagree(tmp_path, inputs):
    latent_path, distances_path, labels_path = inputs
    write_matrix(tmp_path / "other.parquet", ["ru", "fr"], DIST[:2, :2])
    with pytest.raises(LanggeoError, match="list different languages"):
        export_results(tmp_path / "a", latent_path, tmp_path / "other.parquet", labels_path)
    language_labels(["ru", "fr"]).to_parquet(tmp_path / "few.parquet", index=False)
    with pytest.raises(LanggeoError, match=r"no row for language\(s\) \['no'\]"):
        export_results(tmp_path / "b", latent_path, distances_path, tmp_path / "few.parquet")
    with pytest.raises(LanggeoError, match="stage embed"):
        export_results(tmp_path / "c", tmp_path / "none.parquet", distances_path, labels_path)
    assert not any((tmp_path / d).exists() for d in ("a", "b", "c"))
