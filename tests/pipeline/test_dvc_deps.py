"""dvc.yaml's code deps are complete by construction: every module a stage runs is among them."""

from pathlib import Path

import grimp
import yaml

from langgeo.pipeline.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]


def stage_commands() -> dict[str, tuple[str, list[str]]]:
    """Stage name -> (its command, its deps), from dvc.yaml (foreach/matrix stages once)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        body = stage.get("do", stage)
        if body.get("always_changed"):
            continue  # it runs every time, so no edit can leave its outputs stale
        out[name] = (body["cmd"].split()[1], body.get("deps", []))
    return out


def needed(graph: grimp.ImportGraph, module: str) -> set[str]:
    """The dep paths that cover ``module`` and everything it imports, lazily too: a file for
    a top-level or pipeline module, the folder of any other subpackage."""
    paths = set()
    for m in graph.find_upstream_modules(module) | {module}:
        parts = m.split(".")
        file = ROOT / "src" / Path(*parts).with_suffix(".py")
        if m == "langgeo":
            paths.add("src/langgeo/__init__.py")
        elif len(parts) == 2 and file.is_file() or parts[1] == "pipeline":
            if file.is_file():
                paths.add(file.relative_to(ROOT).as_posix())
        else:
            paths.add(f"src/langgeo/{parts[1]}")
    return paths


def test_every_stage_depends_on_the_code_it_runs_and_no_other():
    graph = grimp.build_graph("langgeo")
    stages = stage_commands()
    assert len(stages) >= 14
    for stage, (command, deps) in stages.items():
        target = COMMANDS[command][0].split(":")[0]
        module = f"langgeo.pipeline.{target}"
        assert target == f"stages.{stage}", f"stage {stage} runs {target}, not its own module"
        code = {d for d in deps if d.startswith("src/")}
        want = needed(graph, module)
        assert want - code == set(), f"stage {stage}: imports not among its deps"
        assert code - want == set(), f"stage {stage}: deps it does not import"


def test_the_check_sees_a_missing_dep():
    graph = grimp.build_graph("langgeo")
    want = needed(graph, "langgeo.pipeline.stages.embed")
    assert "src/langgeo/geometry" in want and "src/langgeo/params.py" in want
    graph.add_import(importer="langgeo.pipeline.stages.embed", imported="langgeo.studies.pruning")
    assert "src/langgeo/studies" in needed(graph, "langgeo.pipeline.stages.embed")
