"""The command line: bad params are one message and exit status 2."""

from __future__ import annotations

from langgeo.pipeline.cli import main
from tests.helpers.projects import set_params


def test_malformed_params_exit_non_zero(project, capsys):
    set_params(project, signatures={"score": "best"})
    assert main(["labels"]) == 2
    assert "params:" in capsys.readouterr().err
