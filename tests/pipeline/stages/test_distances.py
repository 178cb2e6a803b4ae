"""Stage distances: damaged or mixed signature files refused before any work."""

from __future__ import annotations

from tests.helpers.jobs import calibrated_copy  # noqa: F401 (the fixture project)
from tests.helpers.jobs import out_dir, stage


def test_distances_refuse_damaged_or_mixed_signature_files(project, capsys):
    from langgeo.formats.signature_file import read_signature, write_signature

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
