"""Stage robust on the tiny model: every variant evaluated, the a-priori one marked, the full
signature the distances stage's matrix; missing or stale script reports refused."""

from __future__ import annotations

import contextlib
import json

import pandas as pd
import pytest

from langgeo.formats.signature_file import read_signature
from langgeo.geometry.hamming import module_groups
from langgeo.pipeline.cli import main
from langgeo.studies.robust_geometry import FULL, WEIGHTED, share_name
from tests.helpers.jobs import (
    SHARDED,
    calibrated_copy,  # noqa: F401 (the fixture project)
    out_dir,
    stage,
)

SMALL = {"kmeans_seeds": 2, "n_permutations": 19, "n_bootstrap": 5, "mantel_permutations": 19,
         "tree_permutations": 9}


def write_scripts(project) -> list[int]:
    """reports/scripts/tiny as the scripts stage writes it: a criterion over the tiny model's
    blocks (ratios made up, increasing with depth) and the blocks of the default share."""
    modules = read_signature(out_dir(project) / f"{SHARDED[0]}.parquet").modules
    layers = sorted({int(g) for m in modules if (g := module_groups(m)["layer"]) != "none"})
    folder = project / "reports" / "scripts" / "tiny"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"layer": layers, "ratio": [0.5 + k for k in range(len(layers))]}).to_csv(
        folder / "layers.csv", index=False)
    chosen = layers[:max(1, round(0.5 * len(layers)))]
    (folder / "summary.json").write_text(json.dumps({"script_robust_layers": chosen}))
    return layers


@pytest.fixture
def ready(project, capsys):
    with contextlib.chdir(project):
        assert main(["labels"]) == 0
    rc, log = stage(project, capsys, evaluation=SMALL)
    assert rc == 0, log
    return project


def test_every_variant_is_evaluated_and_the_a_priori_one_marked(ready, capsys):
    layers = write_scripts(ready)
    rc, log = stage(ready, capsys, "robust")
    assert rc == 0, log
    metrics = json.loads((ready / "reports" / "robust" / "metrics.json").read_text())
    variants = metrics["variants"]
    order = [FULL, share_name(0.25), share_name(0.5), share_name(0.75), WEIGHTED]
    assert sorted(variants) == sorted(order)
    assert [n for n, m in variants.items() if m["a_priori"]] == [share_name(0.5)]
    assert variants[share_name(0.5)]["blocks"]["tiny"] == [
        str(x) for x in layers[:round(0.5 * len(layers))]]
    assert variants[FULL]["bits_share"] == 1.0 > variants[share_name(0.5)]["bits_share"]
    for m in variants.values():
        assert m["n_languages"] == len(SHARDED)
        assert -1 <= m["mantel/script/rho"] <= 1 and 0 < m["mantel/genetic/p"] <= 1
        assert 0 <= m["tree/nj/gqd"] <= 1
    table = pd.read_csv(ready / "reports" / "robust" / "comparison.csv")
    assert table["variant"].tolist() == order
    assert "(a priori)" in log and "MLflow run" in log
    # The full signature is the distances stage's matrix: same protocol, same numbers.
    assert stage(ready, capsys, "distances")[0] == 0
    assert stage(ready, capsys, "embed")[0] == 0
    rc, log = stage(ready, capsys, "evaluate")
    assert rc == 0, log
    ours = json.loads((ready / "reports" / "metrics.json").read_text())["ours"]
    for key in ("branch/kmeans/ari_mean", "branch/agglomerative/ari", "tree/nj/gqd"):
        assert variants[FULL][key] == pytest.approx(ours[key])
    rc, log = stage(ready, capsys, "summary")
    assert rc == 0 and "script-robust geometry" in log
    assert f"{share_name(0.5)} (a priori): k-means ARI" in log


def test_missing_or_stale_script_reports_are_refused(ready, capsys):
    rc, log = stage(ready, capsys, "robust")
    assert rc == 2 and "dvc repro scripts@tiny" in log
    layers = write_scripts(ready)
    # Blocks another share would have chosen: the criterion's worst one.
    (ready / "reports" / "scripts" / "tiny" / "summary.json").write_text(
        json.dumps({"script_robust_layers": layers[-1:]}))
    rc, log = stage(ready, capsys, "robust")
    assert rc == 2 and "another 'scripts.layer_share'" in log
    assert not (ready / "reports" / "robust").exists()
