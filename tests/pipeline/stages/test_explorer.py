"""Stage explorer: inputs that are absent are left out and named, damaged ones refused."""

import contextlib
import shutil
from pathlib import Path

import pandas as pd

from langgeo.formats.matrix_file import write_matrix
from langgeo.pipeline.cli import main
from tests.helpers.explorer import (languages, page_data, planted_cost, planted_layers,
                                    write_layers, write_transfer_csv)
from tests.helpers.projects import REPO


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
    with contextlib.chdir(root):
        assert main(["embed"]) == 0
    return codes


def test_explorer_stage_leaves_out_absent_inputs_and_refuses_damaged_ones(tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    codes = explorer_inputs(tmp_path)
    capsys.readouterr()
    page = tmp_path / "reports" / "explorer.html"
    assert main(["explorer"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("explorer: 5 weight configurations, representation layers none, "
                             "transfer cost none -> reports/explorer.html")
    assert out[0].endswith(" KiB)")
    # The page is a file only: the track stage adds it to the configuration's run.
    assert not (tmp_path / "mlruns.db").exists()
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
