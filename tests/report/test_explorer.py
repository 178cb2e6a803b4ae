"""The explorer page's data in Python: exact distances, layouts, layers and transfer cost;
a self-contained page under a strict CSP; its inputs read back, damage named. The page in
a browser: test_explorer_browser.py."""

import base64
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.colors import to_hex

from langgeo import LanggeoError
from langgeo.geometry.embedding import classical_mds
from langgeo.geometry.trees import minimum_spanning_edges
from langgeo.layout import Layout
from langgeo.report.explorer import (CSP, TransferCost, embedded_layers, explorer_html,
                                     explorer_payload, read_representation, read_transfer_cost)
from tests.helpers.explorer import (languages, planted_cost, planted_layers, write_layers,
                                    write_transfer_csv)


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(page: str) -> list[tuple[str, dict]]:
    collect = Collect()
    collect.feed(page)
    return collect.tags


def decode_distances(conf: dict) -> np.ndarray:
    n = len(conf["codes"])
    d = np.zeros((n, n))
    d[np.triu_indices(n, k=1)] = np.frombuffer(base64.b64decode(conf["distances"]), "<f8")
    return d + d.T


def test_payload_carries_exact_distances_tree_layouts_and_labels():
    labels, codes, d, latent = languages(12)
    payload = explorer_payload({"ensemble": (codes, d, latent)}, labels,
                               {"ensemble": list(range(12))}, tsne_seed=0)
    conf = payload["configurations"][0]
    np.testing.assert_array_equal(decode_distances(conf), d)  # bit-exact
    assert conf["mst"] == minimum_spanning_edges(d)[0].tolist()
    np.testing.assert_allclose(conf["layouts"]["MDS"], latent[:, :2], rtol=1e-5)
    assert np.asarray(conf["layouts"]["t-SNE"]).shape == (12, 2)
    assert conf["clusters"] == [str(i) for i in range(12)]
    assert payload["languages"]["ab"] == ["Lokaian", "Family 1", "Family 1 / 0"]


def test_page_is_self_contained_under_a_strict_csp():
    labels, codes, d, latent = languages(8)
    labels.loc[0, "name"] = "</script><script>alert(1)</script>"
    labels.loc[1, "name"] = "%JS% %DATA%"  # template markers inside data stay text
    page = explorer_html(explorer_payload({"x": (codes, d, latent)}, labels, tsne_seed=None))
    tags = parse(page)
    csp = [a["content"] for t, a in tags if t == "meta" and a.get("http-equiv")
           == "Content-Security-Policy"]
    assert csp == [CSP]
    assert CSP == ("default-src 'none'; script-src 'unsafe-inline'; "
                   "style-src 'unsafe-inline'; img-src data: blob:")
    # Only two scripts (data and code), neither loaded from a URL; a name cannot add one.
    assert [t for t, _ in tags].count("script") == 2
    links = [v for _, a in tags for k, v in a.items() if k in ("src", "href", "action") and v]
    assert links == ["data:,"]
    data = next(m for m in re.finditer(r'<script type="application/json"[^>]*>(.*?)</script>',
                                       page, re.S))
    embedded = json.loads(data.group(1))["languages"]
    assert embedded["aa"][0] == "</script><script>alert(1)</script>"
    assert embedded["ab"][0] == "%JS% %DATA%"


def test_bad_input_is_a_clear_error():
    labels, codes, d, latent = languages(8)
    with pytest.raises(LanggeoError, match="at least one configuration"):
        explorer_payload({}, labels)
    with pytest.raises(LanggeoError, match="'b': latent vectors have shape \\(8, 1\\)"):
        explorer_payload({"b": (codes, d, latent[:, :1])}, labels, tsne_seed=None)
    with pytest.raises(LanggeoError, match=r"unknown configuration\(s\) \['c'\]"):
        explorer_payload({"b": (codes, d, latent)}, labels, {"c": [0] * 8}, tsne_seed=None)
    with pytest.raises(LanggeoError, match="'b': 3 cluster assignments for 8"):
        explorer_payload({"b": (codes, d, latent)}, labels, {"b": [0] * 3}, tsne_seed=None)
    with pytest.raises(LanggeoError, match=r"labels lack language\(s\) \['ah'\]"):
        explorer_payload({"b": (codes, d, latent)}, labels.iloc[:7], tsne_seed=None)


def test_payload_carries_layers_by_mds_and_the_transfer_scale():
    labels, codes, d, latent = languages(30)
    layers = planted_layers("m", codes[5:], 3)
    panel = [codes[0], codes[7], codes[9], codes[12]]
    cost = planted_cost(panel)
    payload = explorer_payload({"ensemble": (codes, d, latent)}, labels, tsne_seed=0,
                               representations=[layers], transfer=TransferCost(panel, cost),
                               transform="none")
    confs = payload["configurations"]
    assert [c["name"] for c in confs] == ["ensemble"] + [
        f"representation, m, layer {i}" for i in range(3)]
    for layer, conf in enumerate(confs[1:]):
        layer_codes, layer_d = layers.matrices[layer]
        assert conf["codes"] == layer_codes
        np.testing.assert_array_equal(decode_distances(conf), layer_d)
        # Classical MDS of the layer's own matrix, with the transform asked for; no t-SNE.
        np.testing.assert_allclose(conf["layouts"]["MDS"],
                                   classical_mds(layer_d, 2, "none")[0], rtol=1e-5)
        assert list(conf["layouts"]) == ["MDS"] and conf["clusters"] is None
        assert conf["layer"] == {"model": "m", "layer": layer,
                                 "ilo": layers.layers["ilo"][layer],
                                 "retrieval_p1": layers.layers["retrieval_p1"][layer]}
    transfer = payload["transfer"]
    assert transfer["panel"] == panel and transfer["cost"] == cost.tolist()
    assert transfer["range"] == [cost.min(), cost.max()] and transfer["colormap"] == "magma_r"
    assert transfer["lut"][0] == to_hex(colormaps["magma_r"](0)) and len(transfer["lut"]) == 256
    with pytest.raises(LanggeoError, match=r"shape \(3, 3\) for a panel of 4"):
        explorer_payload({"ensemble": (codes, d, latent)}, labels, tsne_seed=None,
                         transfer=TransferCost(panel, cost[:3, :3]))


def test_embedded_layers_keep_the_best_and_one_even_stride():
    sizes = [[10] * 19, [10] * 31]
    assert embedded_layers(sizes, [11, 15], 500) == [list(range(19)), list(range(31))]
    # Stride 5 would need 4 + 7 layers; stride 6 fits 3 + 5, each through its best layer.
    assert embedded_layers(sizes, [11, 15], 100) == [[5, 11, 17], [3, 9, 15, 21, 27]]
    # The best layers stay even when they alone exceed the budget.
    assert embedded_layers(sizes, [11, 15], 15) == [[11], [15]]
    assert embedded_layers([[10]], [0], 1) == [[0]] and embedded_layers([], [], 1) == []


def test_transfer_cost_and_layers_read_back_and_damage_is_named(tmp_path):
    labels, codes, d, latent = languages(10)
    panel, cost = codes[:5], planted_cost(codes[:5])
    csv = tmp_path / "pruning" / "matrix.csv"
    write_transfer_csv(csv, panel, cost)
    back = read_transfer_cost(csv)
    assert back.codes == panel
    np.testing.assert_allclose(back.cost, cost, rtol=1e-5)  # written with 6 digits
    layers = planted_layers("m", codes, 2)
    write_layers(tmp_path, layers)
    read = read_representation(Layout(tmp_path), "m")
    assert read.layers["layer"].tolist() == [0, 1]
    assert read.source == str(tmp_path / "data/interlingua/m")
    for (c1, d1), (c2, d2) in zip(read.matrices, layers.matrices):
        assert c1 == c2
        np.testing.assert_array_equal(d1, d2)

    text = csv.read_text()
    damaged = {"not a table": "\x00\x01garbage\n\"unclosed,\n",
               "no R column": text.replace(",R\n", ",Q\n", 1),
               "a pair missing": "\n".join(text.splitlines()[:-1]) + "\n",
               "R not a number": text.replace(text.splitlines()[-1],
                                              text.splitlines()[-1].replace(",60,", ",60,x"))}
    for why, content in damaged.items():
        csv.write_text(content)
        with pytest.raises(LanggeoError, match=re.escape(str(csv)) + ".*dvc repro -f -s "
                           "transfer") as info:
            read_transfer_cost(csv)
        assert "\n" not in str(info.value), why

    parquet = tmp_path / "data/interlingua/m/layer_01.parquet"
    parquet.write_bytes(parquet.read_bytes()[:-40])
    with pytest.raises(LanggeoError, match=re.escape(str(parquet)) + ".*`dvc checkout "
                       ".*interlingua@m"):
        read_representation(Layout(tmp_path), "m")
    parquet.unlink()
    with pytest.raises(LanggeoError, match=re.escape(str(parquet)) + ": missing"):
        read_representation(Layout(tmp_path), "m")
    (tmp_path / "reports/interlingua/m/layers.csv").write_text("layer,ilo\n0,0.1\n")
    with pytest.raises(LanggeoError, match="layers.csv needs .*'retrieval_p1'.*git checkout"):
        read_representation(Layout(tmp_path), "m")
