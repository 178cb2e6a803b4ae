"""The explorer page: its embedded data in Python, then the page itself driven in headless
Chromium (skipped with a reason where Chromium, ChromeDriver or selenium is missing)."""

import base64
import json
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_hex

from langgeo import LanggeoError
from langgeo.cli import main
from langgeo.distances import write_matrix
from langgeo.embedding import classical_mds
from langgeo import explorer
from langgeo.explorer import (CSP, Representation, TransferCost, embedded_layers,
                              explorer_html, explorer_payload, read_representation,
                              read_transfer_cost, write_explorer)
from langgeo.figures import minimum_spanning_edges
from langgeo.layout import Layout
from langgeo.params import load_params
from planted import planted_languages

REPO = Path(__file__).resolve().parents[1]

SYLLABLES = ["ka", "lo", "mi", "ra", "tu", "se", "vo", "pa", "di", "gre", "an", "ul", "zo",
             "ne", "ti", "ba"]


def languages(n: int, seed: int = 0):
    """n languages in 6 families of 2 branches, unique names, distances and their MDS."""
    family, branch, d = planted_languages(n, 6, seed, dims=5, spread=0.5)
    codes = [f"{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(n)]
    names = [(SYLLABLES[i % 16] + SYLLABLES[i // 16 % 16]).capitalize() + "ian" for i in range(n)]
    labels = pd.DataFrame({"code": codes, "name": names,
                           "family": [f"Family {f}" for f in family],
                           "branch": [f"Family {f} / {b % 2}" for f, b in zip(family, branch)]})
    return labels, codes, d, classical_mds(d)[0]


def nearest(d: np.ndarray, i: int, k: int) -> list[int]:
    order = np.argsort(d[i], kind="stable")  # ties by index, as the page breaks them
    return [int(j) for j in order if j != i][:k]


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


def planted_cost(panel: list[str], seed: int = 0) -> np.ndarray:
    """A transfer cost R for ``panel``: zero on the diagonal, mostly positive elsewhere."""
    cost = np.random.default_rng(seed).uniform(-0.2, 1.5, (len(panel), len(panel)))
    np.fill_diagonal(cost, 0.0)
    return cost


def planted_layers(model: str, codes: list[str], n_layers: int) -> Representation:
    """A model's layers: a different planted geometry per layer, ILO peaking mid-depth."""
    matrices = [(codes, languages(len(codes), seed=10 + layer)[2]) for layer in range(n_layers)]
    depth = np.arange(n_layers)
    table = pd.DataFrame({"layer": depth, "ilo": 0.2 - 0.01 * (depth - n_layers // 2) ** 2,
                          "retrieval_p1": 0.03 * depth})
    return Representation(model, table, matrices, f"data/interlingua/{model}")


def write_transfer_csv(path: Path, panel: list[str], cost: np.ndarray) -> None:
    """``cost`` as the transfer stage writes reports/pruning/matrix.csv (dense rows first)."""
    rows = [{"source": "dense", "target": b, "ppl": 50.0, "R": None} for b in panel]
    rows += [{"source": a, "target": b, "ppl": 60.0, "R": cost[i, j]}
             for i, a in enumerate(panel) for j, b in enumerate(panel)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False, float_format="%.6g")


def write_layers(root: Path, representation: Representation) -> None:
    """A representation as the interlingua stage writes it under ``root``: layers.csv in
    reports/interlingua/<model>/, the matrices in data/interlingua/<model>/."""
    layout, model = Layout(root), representation.model
    layout.interlingua(model).mkdir(parents=True, exist_ok=True)
    representation.layers.to_csv(layout.interlingua(model) / "layers.csv", index=False)
    for layer, (codes, d) in zip(representation.layers["layer"], representation.matrices):
        write_matrix(layout.layer_distances(model, layer), codes, d)


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


def explorer_inputs(root: Path) -> list[str]:
    """The inputs of the explorer stage for params.yaml's 2 models x 2 datasets, on 8 real
    codes: distances, labels and params (transfer and interlingua outputs not yet)."""
    codes = ["en", "de", "fr", "es", "ru", "uk", "hi", "ar"]
    families = ["Indo-European"] * 7 + ["Afro-Asiatic"]
    branches = ["Germanic", "Germanic", "Italic", "Italic", "Balto-Slavic", "Balto-Slavic",
                "Indo-Iranian", "Semitic"]
    (root / "data" / "distances").mkdir(parents=True)
    pd.DataFrame({"code": codes, "name": codes, "family": families, "branch": branches}
                 ).to_parquet(root / "data" / "labels.parquet")
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    write_matrix(root / "data/distances/ensemble.parquet", codes, languages(8)[2])
    for seed, (model, dataset) in enumerate([(m, ds) for m in ("gemma3-270m", "smollm2-135m")
                                             for ds in ("eld", "udhr")]):
        write_matrix(root / f"data/distances/{model}/{dataset}.parquet", codes,
                     languages(8, seed=seed + 1)[2])
    return codes


def page_data(path: Path) -> dict:
    found = re.search(r'<script type="application/json"[^>]*>(.*?)</script>',
                      path.read_text(), re.S)
    return json.loads(found.group(1))


def test_explorer_stage_leaves_out_absent_inputs_and_refuses_damaged_ones(tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    codes = explorer_inputs(tmp_path)
    page = tmp_path / "reports" / "explorer.html"
    assert main(["explorer"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("explorer: 5 weight configurations, representation layers none, "
                             "transfer cost none -> reports/explorer.html")
    assert out[0].endswith(f"not logged: no run config-{load_params().config_hash()} of the "
                           "current reports/metrics.json to add the page to (`langgeo "
                           "evaluate` or `langgeo track` first)")
    assert out[1:] == [
        "explorer: left out, their input is absent: colour by transfer cost "
        "(reports/pruning/matrix.csv: `dvc repro transfer`); gemma3-270m's layers "
        "(reports/interlingua/gemma3-270m, data/interlingua/gemma3-270m: `dvc repro "
        "interlingua@gemma3-270m`); smollm2-135m's layers (reports/interlingua/smollm2-135m, "
        "data/interlingua/smollm2-135m: `dvc repro interlingua@smollm2-135m`)"]
    data = page_data(page)
    assert "transfer" not in data and not any("layer" in c for c in data["configurations"])

    write_transfer_csv(tmp_path / "reports/pruning/matrix.csv", codes[:5],
                       planted_cost(codes[:5]))
    write_layers(tmp_path, planted_layers("gemma3-270m", codes[:7], 4))
    # The reports without the DVC-cached matrices (a clone before `dvc pull`): left out.
    write_layers(tmp_path, planted_layers("smollm2-135m", codes[:7], 3))
    shutil.rmtree(tmp_path / "data/interlingua/smollm2-135m")
    assert main(["explorer"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "representation layers gemma3-270m all 4, transfer cost a panel of 5 ->" in out[0]
    assert out[1] == ("explorer: left out, their input is absent: smollm2-135m's layers "
                      "(data/interlingua/smollm2-135m: `dvc repro interlingua@smollm2-135m`)")
    data = page_data(page)
    assert data["transfer"]["panel"] == codes[:5]
    assert [c["name"] for c in data["configurations"]][5:] == [
        f"representation, gemma3-270m, layer {i}" for i in range(4)]

    # Damaged input: one message naming the file and the fix, exit 2, no page written.
    parquet = tmp_path / "data/interlingua/gemma3-270m/layer_02.parquet"
    parquet.write_bytes(b"PAR1 not parquet")
    page.unlink()
    assert main(["explorer"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(parquet.relative_to(tmp_path)) in err
    assert "`dvc repro -f -s interlingua@gemma3-270m`" in err
    assert not page.exists() and list(page.parent.glob(".explorer*")) == []
    shutil.rmtree(tmp_path / "data/interlingua")
    (tmp_path / "reports/pruning/matrix.csv").write_text("source,target,R\nen,en,0\n")
    assert main(["explorer"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("langgeo explorer: error: reports/pruning/matrix.csv does not hold")
    assert err.endswith("`dvc repro -f -s transfer`") and not page.exists()


# --- the page in headless Chromium -------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic", "--window-size=1400,900"]
# Installed before any page script: records what the page's CSP blocked.
WATCH_CSP = ("window.__blocked = []; document.addEventListener('securitypolicyviolation', "
             "e => window.__blocked.push(e.violatedDirective + ' ' + e.blockedURI));")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("Chromium/ChromeDriver not installed (apt-get install -y chromium "
                    "chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # with the driver path given, Selenium Manager stays idle
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    downloads = tmp_path_factory.mktemp("downloads")
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_CSP})
    driver.downloads = downloads
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two configurations: 150 synthetic languages, and a second matrix for 40 of them."""
    labels, codes, d, latent = languages(150)
    _, _, d2, latent2 = languages(40, seed=1)
    clusters = {"ensemble": [f"k{i % 9}" for i in range(150)]}
    configs = {"ensemble": (codes, d, latent), "model-b/data-b": (codes[:40], d2, latent2)}
    path = tmp_path_factory.mktemp("explorer") / "explorer.html"
    start = time.perf_counter()
    write_explorer(path, configs, labels, clusters, tsne_seed=None)
    print(f"explorer for 150 + 40 languages: {path.stat().st_size / 1024:.0f} KiB, written "
          f"in {time.perf_counter() - start:.2f} s")
    return {"path": path, "labels": labels.set_index("code"), "configs": configs,
            "clusters": clusters}


def open_page(driver, path):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    driver.get_log("performance")  # drop what the browser itself loaded before the page
    driver.get(path.as_uri())
    WebDriverWait(driver, 10).until(
        lambda drv: drv.execute_script("return document.body.dataset.ready") == "true")


def requests_made(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def offline_problems(driver) -> list[str]:
    """Requests to anything but the page itself, data: and blob: URLs, and CSP violations."""
    off = [u for u in requests_made(driver) if not u.startswith(("file:", "data:", "blob:"))]
    return off + [f"blocked: {b}" for b in driver.execute_script("return window.__blocked")]


def find(driver, css):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, css)


def search(driver, text, enter=True):
    from selenium.webdriver.common.keys import Keys

    box = find(driver, "#search")[0]
    box.clear()
    box.send_keys(text + (Keys.ENTER if enter else ""))


def attributes(driver, css, *names) -> list[list[str]]:
    """Attributes of every element matching ``css``, in one round trip to the browser."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])]"
        ".map(e => arguments[1].map(n => e.getAttribute(n)))", css, list(names))


def neighbour_rows(driver) -> list[tuple[str, float]]:
    return [(code, float(d)) for code, d in
            attributes(driver, "#neighbours tbody tr", "data-code", "data-distance")]


def choose(driver, select_id, value):
    from selenium.webdriver.support.ui import Select

    Select(find(driver, f"#{select_id}")[0]).select_by_value(value)


def test_search_lists_nearest_neighbours_from_the_distance_matrix(browser, world):
    open_page(browser, world["path"])
    codes, d, _ = world["configs"]["ensemble"]
    i = 57
    search(browser, world["labels"].loc[codes[i], "name"])
    expected = [(codes[j], d[i, j]) for j in nearest(d, i, 10)]
    assert neighbour_rows(browser) == expected  # exact floats, in numpy's order
    title = find(browser, "#neighbour-title")[0].text
    assert title == f"Nearest to {world['labels'].loc[codes[i], 'name']} ({codes[i]}) in ensemble"

    from selenium.webdriver.common.keys import Keys

    find(browser, "#k")[0].send_keys(Keys.CONTROL, "a", Keys.NULL, "25", Keys.TAB)
    assert [c for c, _ in neighbour_rows(browser)] == [codes[j] for j in nearest(d, i, 25)]

    search(browser, codes[3], enter=False)  # an exact code selects while typing
    assert [c for c, _ in neighbour_rows(browser)] == [codes[j] for j in nearest(d, 3, 25)]

    # Another configuration ranks by its own matrix; the selection follows the language.
    choose(browser, "configuration", "1")
    codes2, d2, _ = world["configs"]["model-b/data-b"]
    assert [c for c, _ in neighbour_rows(browser)] == [codes2[j] for j in nearest(d2, 3, 25)]
    search(browser, codes[100])  # not in this configuration
    assert "no language matches" in find(browser, "#status")[0].text
    assert offline_problems(browser) == []


def test_minimum_spanning_tree_toggle(browser, world):
    open_page(browser, world["path"])
    assert find(browser, "#edges line") == []
    find(browser, "#mst")[0].click()
    codes, d, _ = world["configs"]["ensemble"]
    drawn = {codes for codes, in attributes(browser, "#edges line", "data-codes")}
    assert drawn == {f"{codes[a]}-{codes[b]}" for a, b in minimum_spanning_edges(d)[0]}
    assert len(drawn) == 149


def test_colour_by_family_branch_and_cluster(browser, world):
    open_page(browser, world["path"])
    labels = world["labels"]
    legend = lambda: [li.text for li in find(browser, "#legend li")]  # noqa: E731
    assert legend()[0] == "Family 0 (25)" and len(legend()) == 6
    choose(browser, "colour-by", "branch")
    assert len(legend()) == labels["branch"].nunique() == 12
    choose(browser, "colour-by", "cluster")
    counts = pd.Series(world["clusters"]["ensemble"]).value_counts()
    assert sorted(legend()) == sorted(f"cluster {c} ({n})" for c, n in counts.items())
    fills = {fill for fill, in attributes(browser, "#points circle", "fill")}
    assert len(fills) == 9
    # Clicking a legend entry leaves only that group in full colour.
    find(browser, "#legend li")[0].click()
    assert len(find(browser, "#points circle:not(.dim)")) == counts.iloc[0]
    # The second configuration has no clusters: its menu does not offer them.
    choose(browser, "configuration", "1")
    assert attributes(browser, "#colour-by option", "value") == [["family"], ["branch"]]


def test_hover_zoom_and_pan(browser, world):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

    open_page(browser, world["path"])
    point = find(browser, "#points circle[data-code='ab']")[0]
    ActionChains(browser).move_to_element(point).perform()
    tip = find(browser, "#tooltip")[0]
    assert tip.is_displayed()
    assert tip.text.splitlines() == ["ab — Lokaian", "family: Family 1", "branch: Family 1 / 0",
                                     "cluster: k1"]

    def positions():
        return np.array(attributes(browser, "#points circle", "cx", "cy"), dtype=float)

    before = positions()
    svg = find(browser, "#svg")[0]
    ActionChains(browser).scroll_from_origin(ScrollOrigin.from_element(svg), 0, -300).perform()
    time.sleep(0.1)  # the page redraws on the next animation frame
    zoomed = positions()
    assert np.ptp(zoomed[:, 0]) > 1.2 * np.ptp(before[:, 0])

    corner = -svg.rect["width"] / 2 + 5, -svg.rect["height"] / 2 + 5  # empty: points are inset
    (ActionChains(browser).move_to_element_with_offset(svg, *corner).click_and_hold()
     .move_by_offset(60, 40).release().perform())
    time.sleep(0.1)
    np.testing.assert_allclose(positions() - zoomed, np.tile([60.0, 40.0], (150, 1)), atol=1.5)


def test_export_csv_downloads_the_current_view(browser, world):
    open_page(browser, world["path"])
    codes, d, latent = world["configs"]["ensemble"]
    search(browser, codes[10])
    for old in browser.downloads.iterdir():
        old.unlink()
    find(browser, "#export")[0].click()
    target = browser.downloads / "langgeo-ensemble-MDS.csv"
    deadline = time.time() + 10
    while not target.exists() and time.time() < deadline:
        time.sleep(0.05)
    table = pd.read_csv(target, keep_default_na=False)
    assert table["code"].tolist() == codes
    assert set(table["configuration"]) == {"ensemble"} and set(table["layout"]) == {"MDS"}
    np.testing.assert_array_equal(table["distance_to_selected"].to_numpy(float), d[10])
    np.testing.assert_allclose(table[["x", "y"]].to_numpy(), latent[:, :2], rtol=1e-5)
    assert table["selected"].tolist() == [i == 10 for i in range(150)]
    assert table["name"].tolist() == world["labels"].loc[codes, "name"].tolist()
    assert table["in_view"].all()
    assert offline_problems(browser) == []


def test_layout_switch_to_tsne(browser, tmp_path):
    labels, codes, d, latent = languages(20)
    path = write_explorer(tmp_path / "small.html", {"only": (codes, d, latent)}, labels)
    open_page(browser, path)
    search(browser, codes[4])
    before = attributes(browser, "#points circle", "cx")
    choose(browser, "layout", "t-SNE")
    assert attributes(browser, "#points circle", "cx") != before
    assert [c for c, _ in neighbour_rows(browser)] == [codes[j] for j in nearest(d, 4, 10)]


def test_loads_fast_offline_and_screenshot(browser, world, tmp_path_factory):
    open_page(browser, world["path"])
    ready_ms = browser.execute_script(
        "return performance.getEntriesByName('langgeo-ready')[0].startTime")
    print(f"explorer ready {ready_ms:.0f} ms after navigation (150 languages)")
    assert ready_ms < 5000
    find(browser, "#mst")[0].click()
    search(browser, world["configs"]["ensemble"][0][20])
    assert offline_problems(browser) == []
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    shot = tmp_path_factory.mktemp("screenshots") / "explorer.png"
    assert browser.save_screenshot(str(shot))
    print(f"explorer screenshot: {shot}")


def test_offline_check_catches_a_planted_request(browser, world, tmp_path):
    planted = tmp_path / "planted.html"
    planted.write_text(world["path"].read_text().replace(
        "<main>", '<main><img src="http://127.0.0.1:9/planted.png" alt="">'))
    open_page(browser, planted)
    # Both detectors fire: the browser's network log and the page's CSP violation event.
    assert offline_problems(browser) == ["http://127.0.0.1:9/planted.png",
                                         "blocked: img-src http://127.0.0.1:9/planted.png"]


def test_placed_texts_are_drawn_in_the_mds_map(browser, tmp_path):
    from langgeo.placement import Space

    labels, codes, d, latent = languages(20)
    space = Space(codes[1:], labels.set_index("code"), d[1:, 1:], classical_mds(d[1:, 1:])[0])
    placement = space.place_distances(d[[0], 1:], ["mine"], k=3)
    path = write_explorer(tmp_path / "placed.html",
                          {"ensemble": (space.codes, space.distances, space.latent)},
                          labels, tsne_seed=None, placed=placement)
    open_page(browser, path)
    diamonds = find(browser, "#placed rect")
    assert [r.get_attribute("data-name") for r in diamonds] == ["mine"]
    # Drawn where Gower's formula put it: its screen position agrees with the reference
    # points' through the same view transform.
    x, y = placement.coords[0, :2]
    view = browser.execute_script("const r = document.querySelector('#placed rect');"
                                  "return [+r.getAttribute('x') + 5, +r.getAttribute('y') + 5];")
    first = find(browser, "#points circle[data-code='%s']" % space.codes[0])[0]
    cx, cy = float(first.get_attribute("cx")), float(first.get_attribute("cy"))
    second = find(browser, "#points circle[data-code='%s']" % space.codes[1])[0]
    sx = (float(second.get_attribute("cx")) - cx) / (space.latent[1, 0] - space.latent[0, 0])
    assert view[0] == pytest.approx(cx + sx * (x - space.latent[0, 0]), abs=0.5)
    assert view[1] == pytest.approx(cy - sx * (y - space.latent[0, 1]), abs=0.5)
    assert offline_problems(browser) == []


@pytest.fixture(scope="module")
def layered(tmp_path_factory):
    """40 languages, a pruning panel of 6 of them, and two models' layers: 5 layers of 30 of
    the languages (in another order) and 3 layers of 20."""
    labels, codes, d, latent = languages(40)
    panel = [codes[i] for i in (3, 0, 17, 21, 30, 38)]
    cost = planted_cost(panel, seed=4)
    m1 = planted_layers("m1", codes[10:][::-1], 5)
    m2 = planted_layers("m2", codes[:20], 3)
    path = write_explorer(tmp_path_factory.mktemp("layered") / "explorer.html",
                          {"ensemble": (codes, d, latent)}, labels, tsne_seed=None,
                          representations=[m1, m2], transfer=TransferCost(panel, cost))
    return {"path": path, "codes": codes, "panel": panel, "cost": cost,
            "layers": {"m1": m1, "m2": m2}, "d": d}


def expected_fill(layered, source: str, code: str) -> str:
    panel, cost = layered["panel"], layered["cost"]
    if code not in panel:
        return "#d0d0d0"
    value = cost[panel.index(source), panel.index(code)]
    return to_hex(colormaps["magma_r"](Normalize(cost.min(), cost.max())(value)))


def test_colour_by_transfer_cost_from_a_chosen_source(browser, layered):
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(browser, layered["path"])
    panel, cost, codes = layered["panel"], layered["cost"], layered["codes"]
    assert not find(browser, "#source-control")[0].is_displayed()
    assert not find(browser, "#scale")[0].is_displayed()
    choose(browser, "colour-by", "transfer")
    assert find(browser, "#source-control")[0].is_displayed()
    assert [v for v, in attributes(browser, "#transfer-source option", "value")] == panel
    for source in (panel[0], panel[3]):
        choose(browser, "transfer-source", source)
        fills = dict(attributes(browser, "#points circle", "data-code", "fill"))
        assert fills == {c: expected_fill(layered, source, c) for c in codes}
        assert attributes(browser, "#points circle.source", "data-code") == [[source]]
        assert find(browser, "#legend-title")[0].text.startswith(
            f"transfer cost R from {source} — ")
    assert [li.text for li in find(browser, "#legend li")] == [
        "in the pruning panel (6)", "not in the pruning panel (34)"]
    assert [t.text for t in find(browser, "#scale-ticks span")] == [
        f"{v:.3f}" for v in (cost.min(), (cost.min() + cost.max()) / 2, cost.max())]

    source = panel[3]
    for target in (panel[2], codes[5]):  # in the panel, outside it
        point = find(browser, f"#points circle[data-code='{target}']")[0]
        ActionChains(browser).move_to_element(point).perform()
        lines = find(browser, "#tooltip")[0].text.splitlines()
        hovered = lines[0].split(" — ")[0]  # a point drawn over the target may take the hover
        assert lines[-1] == (f"R from {source}: {cost[3, panel.index(hovered)]:.4f} nats/token"
                             if hovered in panel else "R: not in the pruning panel")

    search(browser, panel[2])
    assert find(browser, "#cost-head")[0].text == f"R from {source}"
    rows = attributes(browser, "#neighbours tbody tr", "data-code", "data-cost")
    assert len(rows) == 10
    for code, value in rows:
        if code in panel:
            assert float(value) == cost[3, panel.index(code)]
        else:
            assert value == ""
    # Back to family colours: no scale, no R column, no ring.
    choose(browser, "colour-by", "family")
    assert not find(browser, "#scale")[0].is_displayed()
    assert not find(browser, "#cost-head")[0].is_displayed()
    assert find(browser, "#points circle.source") == []
    assert offline_problems(browser) == []


def test_switch_to_a_layer_of_the_representation_geometry(browser, layered):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, layered["path"])
    assert [v for v, in attributes(browser, "#configuration option", "value")] == [
        "0", "layers:m1", "layers:m2"]
    assert not find(browser, "#layer-control")[0].is_displayed()
    choose(browser, "configuration", "layers:m1")
    m1 = layered["layers"]["m1"]
    best = int(m1.layers["ilo"].idxmax())  # opens on the layer of highest mean ILO
    row = m1.layers.iloc[best]
    assert find(browser, "#layer-info")[0].text == (
        f"layer {best} (0–4) · mean ILO {row['ilo']:.3f} · retrieval P@1 "
        f"{row['retrieval_p1']:.3f}")
    assert f"representation, m1, layer {best}" in find(browser, "#status")[0].text
    codes, d = m1.matrices[best]
    search(browser, codes[3])
    assert neighbour_rows(browser) == [(codes[j], d[3, j]) for j in nearest(d, 3, 10)]

    find(browser, "#layer")[0].send_keys(Keys.ARROW_RIGHT)  # the slider, by keyboard
    codes, d = m1.matrices[best + 1]
    assert find(browser, "#layer-info")[0].text.startswith(f"layer {best + 1} (0–4)")
    assert neighbour_rows(browser) == [(codes[j], d[3, j]) for j in nearest(d, 3, 10)]
    assert len(find(browser, "#points circle")) == 30

    # The weight geometry again, then the model's layers return where they were left.
    choose(browser, "configuration", "0")
    assert not find(browser, "#layer-control")[0].is_displayed()
    i = layered["codes"].index(codes[3])
    assert [c for c, _ in neighbour_rows(browser)] == [
        layered["codes"][j] for j in nearest(layered["d"], i, 10)]
    choose(browser, "configuration", "layers:m1")
    assert find(browser, "#layer-info")[0].text.startswith(f"layer {best + 1} (0–4)")
    choose(browser, "configuration", "layers:m2")
    assert find(browser, "#layer")[0].get_attribute("max") == "2"
    assert offline_problems(browser) == []


def test_layers_beyond_the_budget_are_left_out_and_the_page_says_where(browser, tmp_path,
                                                                      monkeypatch):
    from selenium.webdriver.common.keys import Keys

    labels, codes, d, latent = languages(20)
    m = planted_layers("m", codes, 9)  # mean ILO highest at layer 4
    weights = {"ensemble": (codes, d, latent)}
    every = explorer_payload(weights, labels, tsne_seed=None, representations=[m])
    assert every["representations"] == [{"model": "m", "layers": list(range(9)),
                                          "embedded": list(range(9)),
                                          "source": "data/interlingua/m"}]
    sizes = [len(json.dumps(c, separators=(",", ":"))) for c in every["configurations"][1:]]
    # Room for 3.5 layers: stride 2 from layer 4 needs 5, stride 3 keeps 1, 4 and 7.
    monkeypatch.setattr(explorer, "LAYER_BUDGET", int(3.5 * max(sizes)))
    path = write_explorer(tmp_path / "budget.html", weights, labels, tsne_seed=None,
                          representations=[m])
    data = page_data(path)
    assert data["representations"][0]["embedded"] == [1, 4, 7]
    assert [c["name"] for c in data["configurations"]] == ["ensemble"] + [
        f"representation, m, layer {i}" for i in (1, 4, 7)]

    open_page(browser, path)
    choose(browser, "configuration", "layers:m")
    assert find(browser, "#layer")[0].get_attribute("max") == "2"

    def label(layer: int) -> str:
        row = m.layers.iloc[layer]
        return (f"layer {layer} (0–8) · mean ILO {row['ilo']:.3f} · retrieval P@1 "
                f"{row['retrieval_p1']:.3f} · 3 of 9 layers on this page (1, 4, 7), all in "
                "data/interlingua/m")

    assert find(browser, "#layer-info")[0].text == label(4)
    search(browser, codes[2])
    slider = find(browser, "#layer")[0]
    for key, layer in [(Keys.ARROW_RIGHT, 7), (Keys.ARROW_RIGHT, 7), (Keys.ARROW_LEFT, 4),
                       (Keys.ARROW_LEFT, 1), (Keys.ARROW_LEFT, 1)]:
        slider.send_keys(key)
        assert find(browser, "#layer-info")[0].text == label(layer)
        layer_codes, layer_d = m.matrices[layer]
        assert neighbour_rows(browser) == [(layer_codes[j], layer_d[2, j])
                                           for j in nearest(layer_d, 2, 10)]
    assert offline_problems(browser) == []


def test_modes_without_their_input_are_absent(browser, world):
    open_page(browser, world["path"])
    assert "transfer" not in [v for v, in attributes(browser, "#colour-by option", "value")]
    assert not [v for v, in attributes(browser, "#configuration option", "value")
                if v.startswith("layers:")]
    for absent in ("#layer-control", "#source-control", "#scale", "#cost-head"):
        assert not find(browser, absent)[0].is_displayed()


def test_page_at_real_sizes(browser, tmp_path):
    """57 languages, ensemble + 2 x 2 weight configurations with t-SNE, Gemma 3's 19 and
    SmolLM2's 31 layers, a panel of 12: the page's size and speed."""
    labels, codes, d, latent = languages(57)
    weights = {"ensemble": (codes, d, latent)}
    for seed, name in enumerate(["g/eld", "g/udhr", "s/eld", "s/udhr"], start=1):
        _, _, d2, latent2 = languages(57, seed=seed)
        weights[name] = (codes, d2, latent2)
    start = time.perf_counter()
    path = write_explorer(tmp_path / "real.html", weights, labels, tsne_seed=0,
                          representations=[planted_layers("gemma3-270m", codes, 19),
                                           planted_layers("smollm2-135m", codes, 31)],
                          transfer=TransferCost(codes[:12], planted_cost(codes[:12])))
    written = time.perf_counter() - start
    size = path.stat().st_size
    open_page(browser, path)
    ready_ms = browser.execute_script(
        "return performance.getEntriesByName('langgeo-ready')[0].startTime")
    choose(browser, "configuration", "layers:smollm2-135m")
    search(browser, codes[7])
    sweep_ms = browser.execute_script(
        "const s = document.getElementById('layer'), t = performance.now();"
        "for (let v = 0; v <= +s.max; v++) { s.value = v; s.dispatchEvent(new Event('input')); }"
        "return (performance.now() - t) / (+s.max + 1);")
    print(f"explorer at real sizes: {size / 1024:.0f} KiB, written in {written:.1f} s, ready "
          f"{ready_ms:.0f} ms, {sweep_ms:.1f} ms per layer switch")
    assert size < 1.5e6 and ready_ms < 5000 and sweep_ms < 500
    assert offline_problems(browser) == []
