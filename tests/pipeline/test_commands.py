"""The commands that are not stages: ``compare`` (configurations side by side), ``place`` (a
text placed in the space the stages built), ``prune`` (a pruned model with its card), and
``ui``, which leads to the runs table with ARI and purity in view, checked in headless
Chromium (skipped with a reason where Chromium, ChromeDriver or selenium is missing)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from langgeo.params import parse_params
from langgeo.pipeline.cli import main
from langgeo.pipeline.tracking import compare_pair_runs, configuration_name, log_configuration
from tests.helpers.projects import REPO


def metrics(ari: float) -> dict:
    return {"branch/kmeans/ari_mean": ari, "branch/kmeans/ari_std": 0.01,
            "branch/kmeans/purity_mean": 0.7, "branch/agglomerative/ari": 0.5}


def log(root, raw, eld_tokens: int, udhr_tokens: int, ari: float) -> None:
    raw = yaml.safe_load(yaml.safe_dump(raw))
    raw["calibration"]["tokens_per_language"] = eld_tokens
    raw["dataset_catalog"]["udhr"]["tokens_per_language"] = udhr_tokens
    params = parse_params(raw)
    children = {}
    for dataset, tokens in (("eld", eld_tokens), ("udhr", udhr_tokens)):
        pair = {"model": "gemma3-270m", "dataset": dataset, "tokens_per_language": tokens}
        children[f"pair/gemma3-270m/{dataset}"] = ({**pair, "kind": "pair"}, metrics(0.9))
        children[f"common/pair/gemma3-270m/{dataset}"] = (
            {**pair, "kind": "common"}, metrics(ari + (0.1 if dataset == "udhr" else 0)))
    children["common/ours"] = ({"kind": "common", "matrix": "ours"}, metrics(0.0))
    log_configuration(params, metrics(ari), children, [], root=root)


def test_pair_sweep_uses_the_common_languages_and_each_pairs_own_tokens(tmp_path, monkeypatch):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    log(tmp_path, raw, 512, 512, 0.2)
    log(tmp_path, raw, 1024, 1024, 0.3)
    log(tmp_path, raw, 4096, 1024, 0.4)

    pairs = compare_pair_runs("langgeo", root=tmp_path)
    assert (pairs["languages"] == "common").all() and len(pairs) == 6
    assert set(pairs["dtype"]) == {raw["signatures"]["dtype"]}
    assert set(pairs["score"]) == {"sparsegpt"}
    eld = pairs[pairs["dataset"] == "eld"].set_index("tokens_per_language")
    assert eld["branch/kmeans/ari_mean"].to_dict() == {4096: 0.4, 1024: 0.3, 512: 0.2}
    udhr = pairs[pairs["dataset"] == "udhr"]
    assert sorted(udhr["tokens_per_language"]) == [512, 1024, 1024]

    with contextlib.chdir(tmp_path):
        assert main(["compare"]) == 0
    assert (tmp_path / "reports/compare/pairs_tokens_sweep.png").stat().st_size > 10_000
    written = pd.read_csv(tmp_path / "reports/compare/pairs.csv")
    assert len(written) == 6 and set(written["run"]) == {"common/pair/gemma3-270m/eld",
                                                          "common/pair/gemma3-270m/udhr"}


LANGUAGES = ["fr", "es", "de", "ru", "ja", "it"]


def run_stage(*argv):
    from langgeo.pipeline.cli import main

    assert main(["--params", "params.yaml", *argv]) == 0


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model_dir):
    """A reference space on the tiny model, built by the stage commands themselves."""
    import os

    import yaml

    from tests.conftest import REPO_PARAMS

    root = tmp_path_factory.mktemp("space")
    params = yaml.safe_load(REPO_PARAMS.read_text())
    params.update(languages=LANGUAGES, models=["tiny"], datasets=["eld"],
                  calibration={"tokens_per_language": 256, "seq_len": 64})
    params["model_catalog"]["tiny"] = {"source": "pretrained", "id": str(tiny_model_dir)}
    params["signatures"]["keep_scores"] = 0
    params["distances"]["kind"] = "factors"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    before = os.getcwd()
    os.chdir(root)
    try:
        run_stage("prepare-model", "--model", "tiny")
        run_stage("labels")
        run_stage("calibrate", "--dataset", "eld")
        run_stage("signatures", "--model", "tiny", "--dataset", "eld")
        full = {kind: None for kind in ("factors", "hamming")}
        for kind in full:
            params["distances"]["kind"] = kind
            (root / "params.yaml").write_text(yaml.safe_dump(params))
            run_stage("distances")
            from langgeo.formats.matrix_file import read_matrix

            full[kind] = read_matrix(root / "data/distances/ensemble.parquet")
        # The reference leaves Italian out; its calibration text is then placed.
        params["languages"] = LANGUAGES[:-1]
        params["distances"]["kind"] = "factors"
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        run_stage("distances")
        run_stage("embed")
    finally:
        os.chdir(before)
    return root, params, full


def write_text(path, documents):
    path.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["factors", "hamming"])
def test_place_a_left_out_language_reproduces_its_distances(project, kind, tmp_path, capsys):
    import os

    import yaml

    from langgeo.data.shards import read_shard

    root, params, full = project
    params = {**params, "distances": {"kind": kind}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    it = write_text(tmp_path / "it.txt", read_shard(root / "data/calibration/eld/it.parquet"))
    before = os.getcwd()
    os.chdir(root)
    try:
        run_stage("distances")
        run_stage("embed")
        run_stage("place", "--text", str(it), "--language", "it", "--k", "3", "--explorer",
                  "--out", str(tmp_path / "out"))
    finally:
        os.chdir(before)
    codes, matrix = full[kind]
    i = codes.index("it")
    others = [j for j in range(len(codes)) if j != i]
    neighbours = pd.read_csv(tmp_path / "out/neighbours.csv")
    # The same text gives the same signature, hence exactly its distances in the full space.
    expected = sorted(others, key=lambda j: (matrix[i, j], j))[:3]
    assert neighbours["code"].tolist() == [codes[j] for j in expected]
    np.testing.assert_allclose(neighbours["distance"], matrix[i, expected], rtol=1e-5)
    placement = pd.read_csv(tmp_path / "out/placement.csv")
    assert placement.loc[0, "text"] == "it" and "mds_1" in placement
    assert 0 < placement.loc[0, "family_confidence"] <= 1
    page = (tmp_path / "out/explorer.html").read_text()
    assert '"placed":[{"name":"it"' in page
    assert "nearest:" in capsys.readouterr().out


def test_place_refuses_bad_input(project, tmp_path, capsys):
    import os

    import yaml

    from langgeo.pipeline.cli import main

    root, params, _ = project
    params = {**params, "distances": {"kind": "factors"}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    short = write_text(tmp_path / "short.txt", ["un petit texte"])
    empty = write_text(tmp_path / "empty.txt", ["   "])
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    other = {**params, "calibration": {"tokens_per_language": 128, "seq_len": 64}}
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    from langgeo.data.shards import read_shard

    it = write_text(tmp_path / "it.txt", read_shard(root / "data/calibration/eld/it.parquet"))
    before = os.getcwd()
    os.chdir(root)
    try:
        cases = [(["--text", str(short)], r"text tokens, fewer than the \d+ needed"),
                 (["--text", str(empty)], "holds no text"),
                 (["--text", str(binary)], "not UTF-8 text"),
                 (["--params", str(tmp_path / "other.yaml"), "--text", str(it)],
                  "other settings .* tokens 256 \\(params/model: 128\\)")]
        for argv, message in cases:
            params_args = argv[:2] if argv[0] == "--params" else ["--params", "params.yaml"]
            rest = argv[2:] if argv[0] == "--params" else argv
            assert main([*params_args, "place", *rest, "--out", str(tmp_path / "x")]) == 2
            assert re.search(message, capsys.readouterr().err), message
        # A code that is no language is named with its close matches; 'unknown' is allowed.
        assert main(["--params", "params.yaml", "place", "--text", str(it), "--language",
                     "itt", "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert "'itt' is no language code" in err and "did you mean" in err and "it" in err
        # A folder of the user's is never written into.
        mine = tmp_path / "mine"
        mine.mkdir()
        (mine / "notes.txt").write_text("my notes")
        assert main(["--params", "params.yaml", "place", "--text", str(it), "--out",
                     str(mine)]) == 2
        assert "did not write" in capsys.readouterr().err
        assert [p.name for p in mine.iterdir()] == ["notes.txt"]
        (root / "data/signatures/tiny/eld/fr.factors.parquet").rename(tmp_path / "fr.f")
        try:
            assert main(["--params", "params.yaml", "place", "--text", str(it)]) == 2
            err = capsys.readouterr().err
            assert "dvc pull" in err and "fr.factors.parquet" in err
        finally:
            (tmp_path / "fr.f").rename(root / "data/signatures/tiny/eld/fr.factors.parquet")
    finally:
        os.chdir(before)
    assert not (tmp_path / "x").exists()


@pytest.mark.usefixtures("one_thread")
def test_prune_command_writes_a_loadable_model_with_a_card(scratch, capsys):
    from transformers import AutoModelForCausalLM

    from langgeo.method.anatomy import block_linears
    from langgeo.pipeline.cli import main

    assert main(["prune", "--language", "ru", "--out", "pruned-ru"]) == 0
    assert "pruned for 'ru': sparsity 0.5000" in capsys.readouterr().out
    model = AutoModelForCausalLM.from_pretrained(scratch / "pruned-ru")
    weights = [m.weight for m in block_linears(model).values()]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros >= 0.5
    card = (scratch / "pruned-ru" / "README.md").read_text()
    assert "measured sparsity | 0.500000" in card and "| dense |" in card and "| pruned |" in card


@pytest.mark.usefixtures("one_thread")
def test_prune_never_writes_into_a_folder_of_the_users(scratch, capsys):
    from langgeo.formats.storage import OUTPUT_MARKER
    from langgeo.pipeline.cli import main

    mine = scratch / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    assert main(["prune", "--language", "ru", "--out", "mine"]) == 2
    err = capsys.readouterr().err
    assert "mine" in err and "did not write" in err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert (mine / "notes.txt").read_text() == "my notes"
    # A folder it wrote itself is replaced on a second run; a file is refused as well.
    assert main(["prune", "--language", "ru", "--out", "ours"]) == 0
    assert (scratch / "ours" / OUTPUT_MARKER).is_file()
    (scratch / "ours" / "stale.bin").write_text("from the first run")
    assert main(["prune", "--language", "ru", "--out", "ours"]) == 0
    assert not (scratch / "ours" / "stale.bin").exists()
    (scratch / "a-file").write_text("data")
    assert main(["prune", "--language", "ru", "--out", "a-file"]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert (scratch / "a-file").read_text() == "data"


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("change,message", [
    ({"sparsity": 1.5}, "strictly between 0 and 1"),
    ({"pattern": "2:5"}, "n:m|divisible"),
    ({"panel": ["fr", "es", "de", "xx"]}, "not in 'languages'"),
    ({"heldout_tokens": 1 << 20}, "held-out"),
])
def test_bad_pruning_input_exits_2_without_output(scratch, capsys, change, message):
    import yaml

    from langgeo.pipeline.cli import main

    params = yaml.safe_load((scratch / "params.yaml").read_text())
    params["pruning"].update(change)
    (scratch / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["prune", "--language", "fr", "--out", "out"]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (scratch / "out").exists()


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic", "--window-size=1600,900"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
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
    run_name = configuration_name(params)
    assert run_id

    port = free_port()
    env = {**os.environ, "DVC_ROOT": str(tmp_path), "MLFLOW_PORT": str(port),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, "-m", "langgeo.pipeline.cli", "ui"], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
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
