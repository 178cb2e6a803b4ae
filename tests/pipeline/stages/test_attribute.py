"""Stage attribute: from factor files alone, the same table as from the stored bits."""

from __future__ import annotations

import contextlib

from langgeo.pipeline.cli import main
from tests.helpers.jobs import calibrated_copy  # noqa: F401 (the fixture project)
from tests.helpers.jobs import out_dir, stage


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
