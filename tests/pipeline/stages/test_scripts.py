"""Stage scripts: a declaration code that does not exist is one message with close matches,
before any model is loaded."""

from __future__ import annotations

from langgeo.pipeline.cli import main
from tests.helpers.projects import set_params


def test_an_unknown_declaration_names_close_matches(project, capsys):
    set_params(project, datasets=["udhr"],
               dataset_catalog={"udhr": {"source": "udhr", "tokens_per_language": 128}},
               scripts={"dataset": "udhr", "script": [["srp_ltn", "srp_cyrl"]],
                        "orthography": [], "region": [], "layer_share": 0.5})
    assert main(["scripts", "--model", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "srp_ltn" in err and "srp_latn" in err
    assert not (project / "reports").exists()
