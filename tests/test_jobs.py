"""The signature stage as jobs: incremental, resumable, fault-tolerant, on either engine.

Determinism promise tested here: the same inputs on the same machine (same CPU kernels,
same thread count) give byte-identical files, whichever engine runs them and however often
a run is interrupted. Across machines bits may differ (README, "Determinism").
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from langgeo.cli import main
from test_pipeline import make_project

SHARDED = ["fr", "es", "de", "ru"]


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, tiny_model_dir):
    """A scratch project with calibration shards for SHARDED (the signature stage reads only
    the languages its params list)."""
    root = make_project(tmp_path_factory.mktemp("jobs") / "p", tiny_model_dir,
                        languages=SHARDED)
    (root / "models").mkdir()
    os.symlink(tiny_model_dir, root / "models" / "tiny")
    with contextlib.chdir(root):
        assert main(["calibrate", "--dataset", "eld"]) == 0
    return root


@pytest.fixture
def project(calibrated, tmp_path):
    copy = tmp_path / "p"
    shutil.copytree(calibrated, copy, symlinks=True)
    return copy


def set_params(root: Path, **sections) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(params.get(key), dict):
            params[key].update(value)
        else:
            params[key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def stage(root: Path, capsys, command: str = "signatures", **sections) -> tuple[int, str]:
    set_params(root, **sections)
    args = ["--model", "tiny", "--dataset", "eld"] if command == "signatures" else []
    with contextlib.chdir(root):
        rc = main([command, *args])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def out_dir(root: Path) -> Path:
    return root / "data" / "signatures" / "tiny" / "eld"


def contents(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out_dir(root).iterdir())}


def leftovers(root: Path) -> list[Path]:
    return [p for p in (root / "data").rglob(".*.tmp")]


def test_adding_or_removing_a_language_computes_only_that_language(project, calibrated,
                                                                   tmp_path, capsys):
    assert stage(project, capsys, languages=["fr", "es"])[0] == 0
    inodes = {p.name: p.stat().st_ino for p in out_dir(project).iterdir()}
    rc, log = stage(project, capsys, languages=["fr", "es", "de"])
    assert rc == 0 and "2 of 3 languages up to date, 1 to compute" in log
    assert "computed 1, reused 2" in log
    # The finished languages were not rewritten.
    assert all(out_dir(project).joinpath(n).stat().st_ino == i for n, i in inodes.items())
    rc, log = stage(project, capsys, languages=["fr", "de"])
    assert rc == 0 and "2 of 2 languages up to date" in log and "removed 3 stale" in log
    assert sorted(contents(project)) == ["de.factors.parquet", "de.parquet", "de.scores.parquet",
                                         "fr.factors.parquet", "fr.parquet", "fr.scores.parquet"]
    # The same files as a run of exactly these languages from scratch.
    fresh = tmp_path / "fresh"
    shutil.copytree(calibrated, fresh, symlinks=True)
    assert stage(fresh, capsys, languages=["fr", "de"])[0] == 0
    assert contents(fresh) == contents(project)


def test_a_changed_input_recomputes(project, capsys):
    assert stage(project, capsys, languages=["fr", "es"])[0] == 0
    rc, log = stage(project, capsys, signatures={"damping": 0.02})
    assert rc == 0 and "0 of 2 languages up to date" in log
    shard = project / "data" / "calibration" / "eld" / "fr.parquet"
    table = pq.read_table(shard)
    pq.write_table(table.slice(0, table.num_rows).replace_schema_metadata(
        {**table.schema.metadata, b"edited": b"1"}), shard)
    rc, log = stage(project, capsys)
    assert rc == 0 and "1 of 2 languages up to date, 1 to compute" in log
    rc, log = stage(project, capsys, signatures={"keep_scores": 0})
    assert rc == 0 and "removed 2 stale" in log and sorted(contents(project)) == [
        "es.factors.parquet", "es.parquet", "fr.factors.parquet", "fr.parquet"]


def test_temporaries_and_damaged_outputs_of_a_dead_run_are_repaired(project, capsys):
    assert stage(project, capsys, languages=["fr", "es"])[0] == 0
    reference = contents(project)
    (out_dir(project) / ".fr.parquet.abc123.tmp").mkdir()
    (out_dir(project) / ".fr.parquet.abc123.tmp" / "fr.parquet").write_bytes(b"half")
    (out_dir(project).parent / ".eld.xyz.tmp").mkdir()  # an older, whole-folder temporary
    damaged = out_dir(project) / "es.parquet"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    rc, log = stage(project, capsys)
    assert rc == 0 and "1 of 2 languages up to date, 1 to compute" in log
    assert "2 temporary" in log and leftovers(project) == []
    assert contents(project) == reference


def test_a_failing_job_keeps_the_others(project, capsys, monkeypatch):
    import langgeo.engines
    from langgeo import LanggeoError

    real = langgeo.engines.compute_signature

    def flaky(job, out, documents=None):
        if job.language == "es":
            raise LanggeoError("injected failure")
        return real(job, out, documents)

    monkeypatch.setattr(langgeo.engines, "compute_signature", flaky)
    rc, log = stage(project, capsys, languages=["fr", "es", "de"])
    assert rc == 2 and "1 of 3 languages failed" in log and "es: injected failure" in log
    assert sorted(contents(project)) == ["de.factors.parquet", "de.parquet", "de.scores.parquet",
                                         "fr.factors.parquet", "fr.parquet", "fr.scores.parquet"]
    assert leftovers(project) == []
    monkeypatch.setattr(langgeo.engines, "compute_signature", real)
    rc, log = stage(project, capsys)
    assert rc == 0 and "2 of 3 languages up to date, 1 to compute" in log


@pytest.mark.parametrize("damage", [b"", b"not parquet at all", None])
def test_a_damaged_shard_fails_before_any_work(project, capsys, damage):
    shard = project / "data" / "calibration" / "eld" / "de.parquet"
    shard.write_bytes(shard.read_bytes()[:-40] if damage is None else damage)
    rc, log = stage(project, capsys, languages=["fr", "es", "de"])
    assert rc == 2
    assert str(Path("data/calibration/eld/de.parquet")) in log and "dvc checkout" in log
    assert "Traceback" not in log and not out_dir(project).exists()


def test_distances_refuse_damaged_or_mixed_signature_files(project, capsys):
    from langgeo.signatures import read_signature, write_signature

    assert stage(project, capsys, languages=["fr", "es", "de"])[0] == 0
    es = out_dir(project) / "es.parquet"
    sig = read_signature(es)
    bits = {m: sig.bits(m) for m in sig.modules}
    write_signature(es, bits, {**sig.metadata, "score": "wanda", "seed": 1})
    fr = out_dir(project) / "fr.parquet"
    fr.write_bytes(fr.read_bytes()[:-100])
    rc, log = stage(project, capsys, "distances")
    assert rc == 2 and "Traceback" not in log
    assert "fr.parquet: not a readable Parquet file" in log and "dvc checkout" in log
    assert "es.parquet: computed with other settings" in log
    assert "score 'wanda' (expected 'sparsegpt')" in log and "seed 1 (expected 0)" in log
    assert not (project / "data" / "distances").exists()
    # Continuous distances read the score samples: those are checked too.
    scores = out_dir(project) / "de.scores.parquet"
    scores.write_bytes(b"PAR1")
    rc, log = stage(project, capsys, "distances", distances={"kind": "l2"})
    assert rc == 2 and "de.scores.parquet: not a readable Parquet file" in log


def run_cli(root: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "langgeo.cli", "signatures", "--model",
                             "tiny", "--dataset", "eld"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_sigkill_mid_run_then_rerun_gives_identical_files(project, calibrated, tmp_path,
                                                          capsys):
    set_params(project, languages=SHARDED)
    reference = tmp_path / "reference"
    shutil.copytree(project, reference, symlinks=True)
    assert stage(reference, capsys)[0] == 0
    # Killed at a random point after the first language is on disk: mid-run for sure
    # (one subprocess only: each costs seconds of imports).
    process = run_cli(project)
    while not list(out_dir(project).glob("*.parquet")) and process.poll() is None:
        time.sleep(0.005)
    time.sleep(random.Random(12).uniform(0, 0.1))
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    rc, log = stage(project, capsys)
    assert rc == 0 and "languages up to date" in log
    assert contents(project) == contents(reference)
    assert leftovers(project) == []


def test_ray_engine_gives_the_same_bits_as_local(project, tmp_path, capsys):
    ray = pytest.importorskip("ray")
    assert stage(project, capsys, languages=["fr", "es", "de"])[0] == 0
    local = contents(project)
    shutil.rmtree(out_dir(project))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rc, log = stage(project, capsys, engine={"kind": "ray", "cpus_per_job": 2})
    finally:
        ray.shutdown()
    assert rc == 0 and "3 to compute on the ray engine" in log
    assert contents(project) == local


def test_unreachable_ray_cluster_is_one_message(project, capsys):
    pytest.importorskip("ray")
    rc, log = stage(project, capsys, languages=["fr"],
                    engine={"kind": "ray", "address": "ray://127.0.0.1:1"})
    assert rc == 2 and "no Ray cluster reachable at engine.address='ray://127.0.0.1:1'" in log
    assert "Traceback" not in log and not list(out_dir(project).glob("*.parquet"))


def test_damaged_mlflow_store_is_found_before_evaluating(tmp_path):
    import sqlite3

    from langgeo import LanggeoError
    from langgeo.tracking import check_store

    store = tmp_path / "mlruns.db"
    with contextlib.closing(sqlite3.connect(store)) as db:
        db.execute("CREATE TABLE runs (id TEXT, payload TEXT)")
        db.executemany("INSERT INTO runs VALUES (?, ?)",
                       [(str(i), "x" * 500) for i in range(400)])
        db.commit()
    check_store(tmp_path)  # healthy
    data = bytearray(store.read_bytes())
    data[len(data) // 2:len(data) // 2 + 4096] = b"\xff" * 4096
    store.write_bytes(bytes(data))
    with pytest.raises(LanggeoError, match=r"damaged .*\.dump > mlruns\.sql"):
        check_store(tmp_path)
    store.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LanggeoError, match="damaged"):
        check_store(tmp_path)


def test_attribution_without_stored_bits_equals_the_one_from_bits(project, capsys):
    with contextlib.chdir(project):
        assert main(["labels"]) == 0
    assert stage(project, capsys)[0] == 0
    rc, log = stage(project, capsys, "attribute")
    assert rc == 0, log
    from_bits = (project / "reports" / "attribution.csv").read_text()
    rc, log = stage(project, capsys, signatures={"store_bits": False},
                    distances={"kind": "factors"})
    assert rc == 0, log
    assert not any(p.name.endswith(".parquet") and ".factors." not in p.name
                   and ".scores." not in p.name for p in out_dir(project).iterdir())
    rc, log = stage(project, capsys, "attribute")
    assert rc == 0, log
    assert (project / "reports" / "attribution.csv").read_text() == from_bits
