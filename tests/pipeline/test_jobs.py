"""The signature stage as jobs: incremental, resumable, fault-tolerant, on either engine.

Determinism promise tested here: the same inputs on the same machine (same CPU kernels,
same thread count) give byte-identical files, whichever engine runs them and however often
a run is interrupted. Across machines bits may differ (docs/method.md, "Determinism").
"""

from __future__ import annotations

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

from tests.helpers.jobs import calibrated_copy  # noqa: F401 (the fixture project)
from tests.helpers.jobs import SHARDED, contents, leftovers, out_dir, set_params, stage


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
    import langgeo.pipeline.engines
    from langgeo import LanggeoError

    real = langgeo.pipeline.engines.compute_signature

    def flaky(job, out, documents=None):
        if job.language == "es":
            raise LanggeoError("injected failure")
        return real(job, out, documents)

    monkeypatch.setattr(langgeo.pipeline.engines, "compute_signature", flaky)
    rc, log = stage(project, capsys, languages=["fr", "es", "de"])
    assert rc == 2 and "1 of 3 languages failed" in log and "es: injected failure" in log
    assert sorted(contents(project)) == ["de.factors.parquet", "de.parquet", "de.scores.parquet",
                                         "fr.factors.parquet", "fr.parquet", "fr.scores.parquet"]
    assert leftovers(project) == []
    monkeypatch.setattr(langgeo.pipeline.engines, "compute_signature", real)
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


def run_cli(root: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "langgeo.pipeline.cli", "signatures", "--model",
                             "tiny", "--dataset", "eld"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.integration
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
