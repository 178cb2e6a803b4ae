import re

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from langgeo import LanggeoError
from langgeo.transfer import transfer_test


# Tiny matrices: on a busy 2-core machine the thread pool costs more than the work.
pytestmark = pytest.mark.usefixtures("one_thread")


def planted(n, noise, seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, 2))
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    cost = d + noise * rng.normal(size=(n, n))
    np.fill_diagonal(cost, 0.0)
    return d, cost


def test_correlations_are_spearman_of_the_off_diagonal_pairs():
    d, cost = planted(8, 0.3, 0)
    result = transfer_test(d, cost, n_permutations=99)
    off = ~np.eye(8, dtype=bool)
    assert result["rho"] == pytest.approx(spearmanr(d[off], cost[off]).statistic)
    for b in range(8):
        others = [a for a in range(8) if a != b]
        assert result["per_target"][b]["rho"] == pytest.approx(
            spearmanr(d[others, b], cost[others, b]).statistic)
    assert result["mean_target_rho"] == pytest.approx(
        np.mean([v["rho"] for v in result["per_target"].values()]))


def test_planted_transfer_is_significant_and_noise_is_not():
    d, cost = planted(12, 0.1, 1)
    strong = transfer_test(d, cost, n_permutations=999, seed=0)
    assert strong["rho"] > 0.8 and strong["p"] < 0.01 and strong["mean_target_p"] < 0.01
    rng = np.random.default_rng(2)
    ps = [transfer_test(d, rng.normal(size=(12, 12)), n_permutations=199, seed=s)["p"]
          for s in range(20)]
    # Under the null p is uniform: most runs are not significant, and not all are tiny.
    assert np.mean(np.array(ps) < 0.05) <= 0.2 and np.median(ps) > 0.2


def test_bad_shapes_are_refused():
    with pytest.raises(LanggeoError, match="n >= 4"):
        transfer_test(np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(LanggeoError, match=r"\(n, n\)"):
        transfer_test(np.zeros((5, 5)), np.zeros((5, 4)))


def test_cross_lingual_matrix_on_a_tiny_model(tiny_model_dir):
    from langgeo.corpus import eld_documents, pack_sequences, shuffled
    from langgeo.models import load_model, load_tokenizer
    from langgeo.perplexity import heldout_windows, split_documents
    from langgeo.pruning import block_weights, parse_pattern
    from langgeo.transfer import PanelText, cross_lingual_matrix, lsp_summary

    model, tokenizer = load_model(tiny_model_dir), load_tokenizer(tiny_model_dir)
    dense = block_weights(model)
    texts = {}
    for lang in ("fr", "de", "ru"):
        order = shuffled(eld_documents()[lang], lang, 0)
        cal, held = split_documents(order, tokenizer, 64, 64, 32, lang, "eld")
        texts[lang] = PanelText(pack_sequences(tokenizer, cal, 64, 32),
                                *heldout_windows(tokenizer, held, 64, 32))
    result = cross_lingual_matrix(model, texts, "sparsegpt", parse_pattern(0.5), 0.01, 2,
                                  progress=False)
    cost = result.cost()
    assert cost.shape == (3, 3) and np.allclose(np.diag(cost), 0)
    assert {r.sparsity for r in result.pruned.values()} == {0.5}
    table = result.table()
    assert len(table) == 3 * 4 and set(table["source"]) == {"dense", "fr", "de", "ru"}
    # The model is dense again afterwards.
    assert all(torch.equal(w, dense[n]) for n, w in block_weights(model).items())
    assert lsp_summary(result, "fr")["targets"] == 2



@pytest.fixture
def scratch(tmp_path, tiny_model_dir, monkeypatch):
    """A project folder whose params prune the tiny model on five eld languages."""
    from pathlib import Path

    import yaml

    params = yaml.safe_load((Path(__file__).parents[1] / "params.yaml").read_text())
    params.update(languages=["fr", "es", "de", "ru", "ja"], models=["tiny"])
    params["model_catalog"]["tiny"] = {"source": "pretrained", "id": str(tiny_model_dir)}
    params["pruning"].update(model="tiny", panel=["fr", "es", "de", "ru"],
                             calibration_tokens=128, heldout_tokens=128, seq_len=64)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny").symlink_to(tiny_model_dir)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_prune_command_writes_a_loadable_model_with_a_card(scratch, capsys):
    from transformers import AutoModelForCausalLM

    from langgeo.calibration import block_linears
    from langgeo.cli import main

    assert main(["prune", "--language", "ru", "--out", "pruned-ru"]) == 0
    assert "pruned for 'ru': sparsity 0.5000" in capsys.readouterr().out
    model = AutoModelForCausalLM.from_pretrained(scratch / "pruned-ru")
    weights = [m.weight for m in block_linears(model).values()]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros >= 0.5
    card = (scratch / "pruned-ru" / "README.md").read_text()
    assert "measured sparsity | 0.500000" in card and "| dense |" in card and "| pruned |" in card


def test_prune_never_writes_into_a_folder_of_the_users(scratch, capsys):
    from langgeo.cli import main
    from langgeo.storage import OUTPUT_MARKER

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


@pytest.mark.parametrize("change,message", [
    ({"sparsity": 1.5}, "strictly between 0 and 1"),
    ({"pattern": "2:5"}, "n:m|divisible"),
    ({"panel": ["fr", "es", "de", "xx"]}, "not in 'languages'"),
    ({"heldout_tokens": 1 << 20}, "held-out"),
])
def test_bad_pruning_input_exits_2_without_output(scratch, capsys, change, message):
    import yaml

    from langgeo.cli import main

    params = yaml.safe_load((scratch / "params.yaml").read_text())
    params["pruning"].update(change)
    (scratch / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["prune", "--language", "fr", "--out", "out"]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (scratch / "out").exists()


def test_transfer_stage_writes_matrix_masks_reports_and_mlflow(scratch, capsys, monkeypatch):
    import json

    import pandas as pd

    from langgeo.cli import main
    from langgeo.distances import write_matrix
    from langgeo.families import language_labels
    from langgeo.signatures import read_signature

    monkeypatch.delenv("DVC_ROOT", raising=False)
    codes = ["fr", "es", "de", "ru", "ja"]
    rng = np.random.default_rng(0)
    upper = np.triu(rng.uniform(0.1, 0.5, (5, 5)), 1)
    write_matrix(scratch / "data/distances/ensemble.parquet", codes, upper + upper.T)
    language_labels(codes).to_parquet(scratch / "data/labels.parquet", index=False)
    assert main(["transfer"]) == 0
    out = capsys.readouterr().out
    assert "transfer: 4 languages" in out and "uriel_genetic" in out
    summary = json.loads((scratch / "reports/pruning/transfer.json").read_text())
    assert set(summary["tests"]) >= {"ours", "sparsegpt_mask", "uriel_geographic", "random"}
    assert set(summary["tests"]["ours"]["per_target"]) == {"fr", "es", "de", "ru"}
    matrix = pd.read_parquet(scratch / "data/pruning/tiny/eld/matrix.parquet")
    assert len(matrix) == 4 * 5
    pruned = matrix[matrix["source"] != "dense"]
    assert (pruned[pruned["source"] == pruned["target"]]["R"] == 0).all()
    signature = read_signature(scratch / "data/pruning/tiny/eld/masks/fr.parquet")
    assert signature.n_bits > 0
    for figure in ("cost.png", "scatter.png"):
        assert (scratch / "reports/pruning" / figure).stat().st_size > 0
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{scratch / 'mlruns.db'}")
    runs = mlflow.search_runs(experiment_names=["langgeo-pruning"])
    assert len(runs) == 1 and runs["metrics.ours/p"].iloc[0] == summary["tests"]["ours"]["p"]
