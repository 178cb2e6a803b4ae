"""The explorer page: its embedded data in Python, then the page itself driven in headless
Chromium (skipped with a reason where Chromium, ChromeDriver or selenium is missing)."""

import base64
import json
import re
import shutil
import time
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from langgeo import LanggeoError
from langgeo.embedding import classical_mds
from langgeo.explorer import CSP, explorer_html, explorer_payload, write_explorer
from langgeo.figures import minimum_spanning_edges
from planted import planted_languages

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
