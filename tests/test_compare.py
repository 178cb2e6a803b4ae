"""`langgeo compare`: configurations logged to MLflow side by side, and each (model, dataset)
pair's ARI against its own tokens per language."""

from __future__ import annotations

import contextlib

import pandas as pd
import yaml

from langgeo.cli import main
from langgeo.params import parse_params
from langgeo.tracking import compare_pair_runs, log_configuration
from test_ui import REPO


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
