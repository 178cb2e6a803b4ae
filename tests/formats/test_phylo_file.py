"""Newick, PHYLIP, NEXUS and the long CSV, each read back by a library that did not write it:
Biopython (Newick), scikit-bio's PHYLIP distance-matrix reader, commonnexus (NEXUS DISTANCES)
and pandas / the csv module (CSV)."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pandas as pd
import pytest

from langgeo import LanggeoError
from langgeo.formats.phylo_file import (
    LONG_CSV_COLUMNS,
    distance_long_table,
    newick_string,
    phylip_names,
    write_distance_csv,
    write_newick,
    write_nexus,
    write_phylip,
)

NAMES = ["zh", "Old English", "it's", "a_b", "Proto-Indo-European (reconstructed)"]


def matrix(n: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = rng.uniform(0.01, 2.0, size=(n, n))
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0.0)
    return d


def read_biopython_newick(path):
    with warnings.catch_warnings():
        # Biopython warns when a pyproject.toml sits next to it in site-packages.
        warnings.simplefilter("ignore")
        from Bio import Phylo
    return Phylo.read(str(path), "newick")


# Additive distances of the tree ((n0:1, n1:2):0.5, n2:1.5, (n3:0.7, n4:0.3):0.9).
ADDITIVE = np.array([
    [0.0, 3.0, 3.0, 3.1, 2.7],
    [3.0, 0.0, 4.0, 4.1, 3.7],
    [3.0, 4.0, 0.0, 3.1, 2.7],
    [3.1, 4.1, 3.1, 0.0, 1.0],
    [2.7, 3.7, 2.7, 1.0, 0.0],
])


def test_newick_read_back_by_biopython(tmp_path):
    from langgeo.geometry.trees import nj_tree

    tree = nj_tree(ADDITIVE, NAMES)
    path = tmp_path / "tree.nwk"
    write_newick(path, tree.newick)
    text = path.read_text()
    assert text.count("\n") == 1 and text.rstrip().endswith(";")
    parsed = read_biopython_newick(path)
    assert sorted(leaf.name for leaf in parsed.get_terminals()) == sorted(NAMES)
    # NJ on additive distances gives back the tree: Biopython's path lengths are the input.
    for i, a in enumerate(NAMES):
        for j, b in enumerate(NAMES):
            if i < j:
                assert parsed.distance(a, b) == pytest.approx(ADDITIVE[i, j], abs=1e-9)


def test_newick_string_quoting_and_deep_trees():
    assert newick_string((None, None, (("a", 1.5, ()), ("b c", None, ()),
                                        ("d'e", 0.25, ())))) == "(a:1.5,'b c','d''e':0.25);"
    # A caterpillar of 2,000 leaves: no recursion limit.
    node = ("x0", 1.0, ())
    for k in range(1, 2000):
        node = (None, 1.0, (node, (f"x{k}", 1.0, ())))
    assert newick_string(node).count("x") == 2000
    with pytest.raises(LanggeoError, match="leaf has no name"):
        newick_string((None, None, ((None, 1.0, ()), ("a", 1.0, ()))))
    with pytest.raises(LanggeoError, match="finite"):
        newick_string((None, None, (("a", float("nan"), ()), ("b", 1.0, ()))))


@pytest.mark.filterwarnings("ignore:Best guess was")  # its sniffer finds both variants valid
@pytest.mark.parametrize("variant", ["strict", "relaxed"])
def test_phylip_read_back_by_scikit_bio(tmp_path, variant):
    from skbio import DistanceMatrix

    d = matrix()
    path = tmp_path / f"{variant}.phy"
    written = write_phylip(path, d, NAMES, variant=variant)
    assert written == phylip_names(NAMES, variant)
    lines = path.read_text().splitlines()
    assert lines[0] == "5" and len(lines) == 6
    if variant == "strict":
        assert written == ["zh", "Old_Englis", "it's", "a_b", "Proto-Indo"]
        assert all(line[10] == " " for line in lines[1:])
    else:
        assert written == ["zh", "Old_English", "it's", "a_b",
                           "Proto-Indo-European__reconstructed_"]
    read = DistanceMatrix.read(str(path), format="phylip_dm", strict=variant == "strict")
    assert [name.strip() for name in read.ids] == written
    assert np.allclose(read.data, d, atol=1e-10)
    # Names without blanks, at most 10 characters, padded to 10: valid in both variants.
    relaxed = DistanceMatrix.read(str(path), format="phylip_dm", strict=False)
    assert list(relaxed.ids) == written and np.allclose(relaxed.data, d, atol=1e-10)


def test_phylip_strict_names_are_made_unique(tmp_path):
    names = ["Indo-European A", "Indo-European B", "Indo-European C", "x", "y"]
    written = write_phylip(tmp_path / "m.phy", matrix(), names)
    assert written == ["Indo-Europ", "Indo-Eur_2", "Indo-Eur_3", "x", "y"]
    assert all(len(name) <= 10 for name in written)
    with pytest.raises(LanggeoError, match="not distinct"):
        phylip_names(["a b", "a_b"], "relaxed")
    with pytest.raises(LanggeoError, match="variant"):
        phylip_names(["a"], "loose")
    with pytest.raises(LanggeoError, match="NaN"):
        write_phylip(tmp_path / "n.phy", np.full((5, 5), np.nan), names)
    with pytest.raises(LanggeoError, match="5 names"):
        write_phylip(tmp_path / "n.phy", matrix(4), names)


def test_nexus_read_back_by_commonnexus(tmp_path):
    from commonnexus import Nexus

    d = matrix()
    path = tmp_path / "distances.nex"
    write_nexus(path, d, NAMES, comment="ensemble [test]")
    nexus = Nexus.from_file(path)
    assert list(nexus.TAXA.TAXLABELS.labels.values()) == NAMES
    read = nexus.DISTANCES.get_matrix()
    assert list(read) == NAMES
    back = np.array([[float(read[a][b]) for b in NAMES] for a in NAMES])
    assert np.allclose(back, d, atol=1e-10)
    text = path.read_text()
    assert text.startswith("#NEXUS") and "FORMAT TRIANGLE=BOTH DIAGONAL LABELS=LEFT;" in text


def test_long_csv_read_back(tmp_path):
    codes = ["am", "ar", "de", "en"]
    d = matrix(4)
    d[0, 3] = d[3, 0] = np.nan  # a pair not measured stays NaN
    tables = [distance_long_table(d, codes, measure="hamming", model="gemma3-270m",
                                  dataset="eld", tokens=20000, commit="abc123"),
              distance_long_table(d * 2, codes, measure="uriel_genetic")]
    path = tmp_path / "distances.csv"
    write_distance_csv(path, tables)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(LONG_CSV_COLUMNS)
    assert len(rows) == 2 * 6
    assert rows[0] == {"language_a": "am", "language_b": "ar", "value": repr(float(d[0, 1])),
                       "measure": "hamming", "model": "gemma3-270m", "dataset": "eld",
                       "tokens": "20000", "commit": "abc123"}
    frame = pd.read_csv(path)
    first = frame[frame["measure"] == "hamming"]
    i, j = np.triu_indices(4, k=1)
    assert np.allclose(first["value"], d[i, j], equal_nan=True, rtol=0, atol=0)
    assert frame.loc[frame["measure"] == "uriel_genetic", "tokens"].isna().all()
    with pytest.raises(LanggeoError, match="no table"):
        write_distance_csv(path, [])
    with pytest.raises(LanggeoError, match="name the measure"):
        distance_long_table(d, codes, measure="")
