"""The figures of a space: every PNG written, legible at 100+ languages, bad input named."""

import logging
import struct

import numpy as np
import pytest

from langgeo import LanggeoError
from langgeo.report import figures, projections
from tests.helpers.planted import planted_figure_inputs


def png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


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


def test_write_figures_writes_every_png_and_skips_umap_when_missing(tmp_path, monkeypatch,
                                                                     caplog):
    labels, codes, d, latent, spectrum = planted_figure_inputs(18)
    monkeypatch.setattr(figures, "umap_available", lambda: False)
    monkeypatch.setattr(projections, "umap_available", lambda: False)
    clusters = [i % 3 for i in range(18)]
    with caplog.at_level(logging.INFO, logger="langgeo.report.figures"):
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
        projections.umap_coords(latent)


def test_heatmap_grows_with_the_number_of_languages(tmp_path):
    # Legibility for 100+ languages: every row keeps at least 12 pixels.
    for n in (10, 110):
        labels, codes, d, _, _ = planted_figure_inputs(n)
        path = figures.heatmap_figure(tmp_path / f"h{n}.png", codes, d,
                                      labels["family"].tolist(), labels["name"].tolist())
        assert png_size(path)[1] >= 12 * n


def test_confusion_figure_returns_its_table(tmp_path):
    table = figures.confusion_figure(tmp_path / "c.png", [0, 0, 1, 1], ["A", "A", "A", "B"])
    assert table.to_numpy().tolist() == [[2, 1], [0, 1]]
    assert png_size(tmp_path / "c.png")[0] > 100


def test_bad_inputs_name_what_to_fix(tmp_path):
    labels, codes, d, latent, spectrum = planted_figure_inputs(8)
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
