import logging
import struct

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist

from langgeo import LanggeoError, figures
from langgeo.embedding import classical_mds
from planted import planted_languages


def png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def planted(n: int, seed: int = 0):
    """n languages in 3 families of 2 branches each, their labels, distances and MDS."""
    family, branch, d = planted_languages(n, 3, seed)
    codes = [f"l{i:03d}" for i in range(n)]
    labels = pd.DataFrame({"code": codes, "name": [f"Lang {i}" for i in range(n)],
                           "family": [f"Fam{f}" for f in family],
                           "branch": [f"Fam{f}-{b}" for f, b in zip(family, branch)]})
    latent, eigenvalues = classical_mds(d)
    spectrum = pd.DataFrame({"component": np.arange(1, n + 1), "eigenvalue": eigenvalues,
                             "kept": np.arange(n) < latent.shape[1]})
    return labels, codes, d, latent, spectrum


def test_minimum_spanning_tree_of_points_on_a_line():
    x = np.array([0.0, 1.0, 3.0, 6.0])
    d = np.full((5, 5), 10.0)
    d[:4, :4] = np.abs(x[:, None] - x[None])
    d[2, 4] = d[4, 2] = d[4, 4] = 0.0  # language 4 is at distance 0 from 2: still an edge
    edges, weights = figures.minimum_spanning_edges(d)
    assert edges.tolist() == [[0, 1], [1, 2], [2, 3], [2, 4]]
    assert weights.tolist() == [1.0, 2.0, 3.0, 0.0]


def test_dendrogram_order_keeps_planted_groups_together():
    # Two tight groups interleaved by index: {0, 2, 4} and {1, 3, 5}.
    x = np.array([0.0, 10.0, 0.1, 10.1, 0.2, 10.2])
    order = figures.dendrogram_order(np.abs(x[:, None] - x[None])).tolist()
    assert sorted(order) == list(range(6))
    assert {order[0] % 2} == {i % 2 for i in order[:3]} != {i % 2 for i in order[3:]}


def test_confusion_table_counts_and_block_diagonal_order():
    gold = ["IE", "IE", "IE", "IE", "Ur", "Ur", "Tk"]
    clusters = [5, 5, 5, 7, 3, 3, 3]
    table = figures.confusion_table(clusters, gold)
    assert table.index.tolist() == ["IE", "Ur", "Tk"]
    assert table.columns.tolist() == [5, 7, 3]
    assert table.to_numpy().tolist() == [[3, 1, 0], [0, 0, 2], [0, 0, 1]]
    with pytest.raises(LanggeoError, match="3 cluster assignments for 7 languages"):
        figures.confusion_table(clusters[:3], gold)


def test_group_styles_give_big_groups_distinct_colours_first():
    groups = ["b"] * 3 + ["a"] + ["c"] * 5 + [f"g{i:02d}" for i in range(20)]
    styles = figures.group_styles(groups)
    assert list(styles)[:3] == ["c", "b", "a"]
    assert len({s for s in styles.values()}) == len(styles)  # 23 groups, 23 distinct styles
    assert styles["c"][1] == "o" and styles["g19"][1] == "s"


def test_tree_layout_draws_unit_edges_without_overlaps():
    # A star of 6 leaves whose third leaf carries a path of 4 more nodes.
    edges = np.array([[0, i] for i in range(1, 7)] + [[3, 7], [7, 8], [8, 9], [9, 10]])
    xy = figures.tree_layout(11, edges)
    assert xy.shape == (11, 2)
    lengths = np.linalg.norm(xy[edges[:, 0]] - xy[edges[:, 1]], axis=1)
    np.testing.assert_allclose(lengths, 1.0, atol=0.35)
    assert pdist(xy).min() > 0.4  # leaves of the star do not pile onto each other
    np.testing.assert_array_equal(xy, figures.tree_layout(11, edges))


def test_tsne_is_deterministic_given_the_seed():
    _, _, _, latent, _ = planted(15)
    a = figures.tsne_coords(latent, seed=3)
    assert a.shape == (15, 2)
    np.testing.assert_array_equal(a, figures.tsne_coords(latent, seed=3))


def test_write_figures_writes_every_png_and_skips_umap_when_missing(tmp_path, monkeypatch,
                                                                     caplog):
    labels, codes, d, latent, spectrum = planted(18)
    monkeypatch.setattr(figures, "umap_available", lambda: False)
    clusters = [i % 3 for i in range(18)]
    with caplog.at_level(logging.INFO, logger="langgeo.figures"):
        written = figures.write_figures(tmp_path / "figs", labels, codes, d, latent, spectrum,
                                        clusters=clusters, seed=1)
    names = ["heatmap.png", "mst.png", "mds.png", "tsne.png", "spectrum.png", "confusion.png"]
    assert [p.name for p in written] == names
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(names)
    for path in written:
        width, height = png_size(path)
        assert width > 300 and height > 200
    assert "umap.png skipped: umap-learn is not installed" in caplog.text
    with pytest.raises(LanggeoError, match="umap-learn"):
        figures.umap_coords(latent)


def test_heatmap_grows_with_the_number_of_languages(tmp_path):
    # Legibility for 100+ languages: every row keeps at least 12 pixels.
    for n in (10, 110):
        labels, codes, d, _, _ = planted(n)
        path = figures.heatmap_figure(tmp_path / f"h{n}.png", codes, d,
                                      labels["family"].tolist(), labels["name"].tolist())
        assert png_size(path)[1] >= 12 * n


def test_confusion_figure_returns_its_table(tmp_path):
    table = figures.confusion_figure(tmp_path / "c.png", [0, 0, 1, 1], ["A", "A", "A", "B"])
    assert table.to_numpy().tolist() == [[2, 1], [0, 1]]
    assert png_size(tmp_path / "c.png")[0] > 100


def test_bad_inputs_name_what_to_fix(tmp_path):
    labels, codes, d, latent, spectrum = planted(8)
    with pytest.raises(LanggeoError, match=r"labels lack language\(s\) \['l007'\]"):
        figures.write_figures(tmp_path, labels.iloc[:7], codes, d, latent, spectrum)
    with pytest.raises(LanggeoError, match="shape \\(8, 7\\) but there are 8"):
        figures.write_figures(tmp_path, labels, codes, d[:, :7], latent, spectrum)
    with pytest.raises(LanggeoError, match="latent vectors have shape"):
        figures.write_figures(tmp_path, labels, codes, d, latent[:5], spectrum)
    asymmetric = d.copy()
    asymmetric[0, 1] += 0.01
    with pytest.raises(LanggeoError, match="symmetric"):
        figures.mst_figure(tmp_path / "m.png", codes, asymmetric, ["f"] * 8)
    with pytest.raises(LanggeoError, match="one 'kept' flag per eigenvalue"):
        figures.spectrum_figure(tmp_path / "s.png", np.ones(3), np.ones(2, bool))
    assert list(tmp_path.iterdir()) == []
