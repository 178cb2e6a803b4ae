"""`langgeo ui` (what `make ui` runs) leads to the runs table with ARI and purity in view,
checked in headless Chromium (skipped with a reason where Chromium, ChromeDriver or selenium
is missing)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from langgeo.params import parse_params
from langgeo.tracking import log_configuration, runs_view

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic", "--window-size=1600,900"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_runs_view_names_the_headline_metrics():
    view = runs_view("family")
    assert view["selectedColumns"][:3] == ["metrics.`family/kmeans/ari_mean`",
                                           "metrics.`family/kmeans/ari_std`",
                                           "metrics.`family/kmeans/purity_mean`"]
    assert "params.`calibration.tokens_per_language`" in view["selectedColumns"]


def test_make_ui_opens_the_runs_table_with_ari_and_purity(tmp_path):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("Chromium/ChromeDriver not installed (apt-get install -y chromium "
                    "chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    params = parse_params(raw)
    # Values no other metric of the run has, so that finding them in the page is meaningful.
    metrics = {"branch/kmeans/ari_mean": 0.4321, "branch/kmeans/ari_std": 0.0123,
               "branch/kmeans/purity_mean": 0.8765, "branch/agglomerative/ari": 0.5555,
               **{f"family/{m}/nmi": 0.111 for m in ("kmeans", "agglomerative", "hdbscan")},
               **{f"branch/hdbscan/extra_{i}": 0.222 for i in range(30)}}
    child = {"pair/tiny/eld": ({"kind": "pair"}, {"branch/kmeans/ari_mean": 0.3})}
    run_id = log_configuration(params, metrics, child, [], root=tmp_path)
    run_name = f"config-{params.config_hash()}"
    assert run_id

    port = free_port()
    env = {**os.environ, "DVC_ROOT": str(tmp_path), "MLFLOW_PORT": str(port),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, "-m", "langgeo.cli", "ui"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              start_new_session=True)
    driver = None
    try:
        start = time.perf_counter()
        url = None
        for line in server.stdout:
            found = re.search(r"runs table .*: (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url and url.startswith(f"http://127.0.0.1:{port}/#/experiments/")
        assert "/runs?" in url
        print(f"server up and URL printed after {time.perf_counter() - start:.1f} s: {url}")

        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
        driver.get(url)

        def table_text(drv):
            text = drv.find_element("tag name", "body").text
            return text if run_name in text and "0.432" in text else False

        text = WebDriverWait(driver, 30, poll_frequency=0.5).until(table_text)
        print(f"runs table shown after {time.perf_counter() - start:.1f} s")
        # The headline columns are in view without scrolling or choosing columns: the run's
        # ARI and purity, not the other metrics, and the header names them.
        assert "branch/kmeans/ari_mean" in text and "branch/kmeans/purity_mean" in text
        assert "0.8765" in text and "0.0123" in text and "0.5555" in text
        assert "0.222" not in text and "extra_0" not in text
        assert "Training runs" in text and "No data" not in text
    finally:
        if driver is not None:
            driver.quit()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
