"""The explorer page driven in headless Chromium (skipped with a reason where Chromium,
ChromeDriver or selenium is missing): search, neighbours, colours, layers, transfer cost,
export, offline under its CSP, its size and speed at real sizes."""

import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_hex

from langgeo.geometry.embedding import classical_mds
from langgeo.geometry.trees import minimum_spanning_edges
from langgeo.report import explorer
from langgeo.report.explorer import TransferCost, explorer_payload, write_explorer
from tests.helpers.explorer import languages, nearest, page_data, planted_cost, planted_layers

# Slow, and they need a browser.
pytestmark = pytest.mark.integration


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
    from langgeo.studies.placement import Space

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
