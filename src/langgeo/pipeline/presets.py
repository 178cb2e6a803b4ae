"""Named configurations beside ``params.yaml``, run without overwriting it.

A preset is a file ``params.<name>.yaml`` at the repository root holding any top-level keys
of ``params.yaml`` (``languages``, ``datasets``, ...); each key it holds replaces that key
(mappings merge key by key, as ``dvc exp run -S`` merges them).
:func:`run_preset` validates the merged params, then runs the pipeline as a DVC experiment
in a temporary copy of the workspace (``dvc exp run --temp -S key=value ...``): the user's
``params.yaml`` and outputs stay as they are, unchanged stages (the prepared models) come
from the DVC cache, every configuration is logged to the same MLflow store, and the
experiment's ``reports/`` are copied to ``reports/presets/<name>/``. ``dvc exp show`` lists
the experiments; ``dvc exp apply <name>`` makes one the workspace.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError

from langgeo import LanggeoError
from langgeo.formats.storage import check_output_folder, output_folder
from langgeo.params import Params, load_params, parse_params


def preset_path(name: str, root: Path = Path(".")) -> Path:
    path = root / f"params.{name}.yaml"
    if not path.is_file():
        known = sorted(p.name[len("params."):-len(".yaml")] for p in root.glob("params.*.yaml"))
        raise LanggeoError(f"no preset {name!r}: {path} not found; presets here: {known}")
    return path


def _merged(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay`` applied as ``dvc exp run -S`` applies it: mappings merge key
    by key, anything else (lists included) is replaced."""
    out = dict(base)
    for key, value in overlay.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = _merged(base[key], value) if both else value
    return out


def preset_params(name: str, root: Path = Path(".")) -> tuple[dict[str, Any], Params]:
    """The preset's keys and the validated params they give on top of ``params.yaml``."""
    path = preset_path(name, root)
    try:
        overlay = YAML(typ="safe", pure=True).load(path.read_text())
    except YAMLError as exc:
        raise LanggeoError(f"preset {path} is not valid YAML: {exc}") from exc
    if not isinstance(overlay, dict) or not overlay:
        raise LanggeoError(f"preset {path} must be a YAML mapping of params.yaml keys")
    base = load_params(root / "params.yaml").raw
    unknown = sorted(set(overlay) - set(base))
    if unknown:
        raise LanggeoError(f"preset {path} sets key(s) {unknown} that params.yaml does not "
                           f"have; keys: {sorted(base)}")
    try:
        params = parse_params(_merged(base, overlay))
    except LanggeoError as exc:
        raise LanggeoError(f"preset {path}: {exc}") from exc
    # The transfer stage depends on the calibration folder and model it names: both must be
    # among the preset's, or `dvc exp run` fails on a missing dependency after other work.
    pruning = params.pruning
    if pruning is not None and (pruning.dataset not in [d.name for d in params.datasets]
                                or pruning.model not in [m.name for m in params.models]):
        raise LanggeoError(f"preset {path}: 'pruning.dataset' {pruning.dataset!r} and "
                           f"'pruning.model' {pruning.model!r} must be among its 'datasets' "
                           f"{[d.name for d in params.datasets]} and 'models' "
                           f"{[m.name for m in params.models]}; set 'pruning' in the preset")
    return overlay, params


def _override(value: Any) -> str:
    """A params value in the override grammar of ``dvc exp run -S`` (Hydra's): JSON, except
    that mapping keys stand unquoted (``{udhr: {source: udhr}}``)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_override(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_override(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _overrides(overlay: dict[str, Any], base: dict[str, Any], prefix: str = "") -> list[str]:
    """The ``-S`` values that turn ``base`` into ``overlay`` merged onto it. A mapping that
    adds keys (a new catalog entry) is given key by key: Hydra refuses a key that ``base``
    lacks unless it is appended with ``+``."""
    out = []
    for key, value in overlay.items():
        path = f"{prefix}{key}"
        if key not in base:
            out.append(f"+{path}={_override(value)}")
        elif isinstance(value, dict) and isinstance(base[key], dict) and set(value) - set(
                base[key]):
            out += _overrides(value, base[key], f"{path}.")
        else:
            out.append(f"{path}={_override(value)}")
    return out


def experiment_command(name: str, overlay: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """``dvc exp run`` in a temporary workspace, one ``-S`` per preset key (per new key of a
    mapping that ``base``, the params of ``params.yaml``, lacks)."""
    command = ["dvc", "exp", "run", "--temp", "--name", name]
    for value in _overrides(overlay, base):
        command += ["-S", value]
    return command


def _git(*args: str, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)


def experiment_ref(name: str, root: Path = Path(".")) -> str | None:
    """The git ref of the DVC experiment called ``name``, or None."""
    refs = _git("for-each-ref", "--format=%(refname)", "refs/exps", root=root)
    found = [r for r in refs.stdout.decode().split() if r.rsplit("/", 1)[-1] == name]
    return found[-1] if found else None


def preset_reports(name: str, root: Path = Path(".")) -> Path:
    """Where preset ``name``'s reports are copied: ``reports/presets/<name>/``."""
    return root / "reports" / "presets" / name


def copy_reports(name: str, root: Path = Path(".")) -> Path:
    """Copy ``reports/`` of experiment ``name`` to ``reports/presets/<name>/``."""
    ref = experiment_ref(name, root)
    if ref is None:
        raise LanggeoError(f"no DVC experiment named {name!r}; see `dvc exp show`")
    archive = _git("archive", "--format=tar", ref, "reports", ":(exclude)reports/presets",
                   root=root)
    if archive.returncode:
        raise LanggeoError(f"git archive of experiment {name!r} failed: "
                           f"{archive.stderr.decode().strip()}")
    out = preset_reports(name, root)
    with output_folder(out, f"preset {name!r}") as tmp, \
            tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tmp.parent, filter="data")
        (tmp.parent / "reports").rename(tmp)
    return out


def run_preset(name: str, root: Path = Path(".")) -> Path:
    """Run preset ``name`` as the DVC experiment ``name`` (replacing an earlier one of that
    name) and return the folder its reports were copied to."""
    overlay, _ = preset_params(name, root)
    # Before hours of work, not after: the reports folder must be one langgeo wrote.
    check_output_folder(preset_reports(name, root), f"preset {name!r}")
    if experiment_ref(name, root) is not None:
        subprocess.run(["dvc", "exp", "remove", name], cwd=root, check=False)
    base = load_params(root / "params.yaml").raw
    result = subprocess.run(experiment_command(name, overlay, base), cwd=root, check=False)
    if result.returncode:
        raise LanggeoError(f"preset {name!r}: `dvc exp run` failed (exit {result.returncode}, "
                           "its message is above); params.yaml and the workspace are unchanged")
    return copy_reports(name, root)


def udhr_languages(candidates: list[str], tokenizers: list, tokens: int,
                   seq_len: int) -> tuple[list[str], dict[str, str]]:
    """Which of ``candidates`` (our codes) a UDHR preset can hold, and why the others not.

    A language is kept when it has a declaration (:func:`langgeo.data.udhr.udhr_declaration`),
    a Glottolog label and, in every tokenizer, the text tokens that ``tokens`` calibration
    tokens per language need. Returns the kept codes in order and ``{code: reason}``.
    """
    from langgeo.data import udhr
    from langgeo.data.labels import language_labels
    from langgeo.data.shards import document_tokens, text_tokens_needed
    from langgeo.data.udhr import udhr_declaration

    kept, excluded = [], {}
    for code in candidates:
        declaration = udhr_declaration(code)
        if declaration is None:
            excluded[code] = "no UDHR declaration of stage >= 4 in its script"
            continue
        try:
            language_labels([code])
        except LanggeoError:
            excluded[code] = "no Glottolog lineage in urielplus"
            continue
        texts = [u.text for u in udhr.units(declaration)]
        counts = [sum(map(len, document_tokens(t, texts))) for t in tokenizers]
        needs = [text_tokens_needed(tokens, seq_len, t.bos_token_id is not None)
                 for t in tokenizers]
        if any(c < n for c, n in zip(counts, needs)):
            excluded[code] = (f"declaration {declaration} has {min(counts)} tokens, fewer than "
                              f"the {max(needs)} needed")
            continue
        kept.append(code)
    return kept, excluded


# What the generated UDHR presets set: both embedded models on the parallel corpus alone.
_UDHR_PRESET = {"models": ["gemma3-270m", "smollm2-135m"], "datasets": ["udhr"]}

# udhr-all only, and stated in its header. The interlingua kNN cost grows with
# (languages x units)^2: one layer at 440 languages x 60 units took 495 s here, and the two
# models have 50 layers; 20 units cost ~9x less.
_UDHR_ALL_INTERLINGUA = {"max_units": 20}


def _pruning_on_udhr(pruning: dict[str, Any], languages: list[str]) -> dict[str, Any]:
    """The pruning panel of ``params.yaml`` moved to UDHR: the panel's languages the preset
    holds, 1024 calibration and 512 held-out tokens (the shortest default declaration, the
    Mandarin one, has 1,829 Gemma tokens)."""
    return {**pruning, "dataset": "udhr", "calibration_tokens": 1024, "heldout_tokens": 512,
            "panel": [code for code in pruning["panel"] if code in languages]}


def _write_preset(path: Path, header: str, languages: list[str],
                  excluded: dict[str, str], pruning: dict[str, Any],
                  extra: dict[str, Any]) -> None:
    lines = [f"# {line}".rstrip() for line in header.strip().splitlines()]
    lines += ["# Not included, with the reason (written by `python -m langgeo.pipeline.presets`):"]
    lines += [f"#   {code}: {why}" for code, why in excluded.items()]
    body = {"languages": languages, **_UDHR_PRESET,
            "pruning": _pruning_on_udhr(pruning, languages), **extra}
    lines += [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in body.items()]
    path.write_text("\n".join(lines) + "\n")


def _udhr_codes() -> tuple[list[str], dict[str, str]]:
    """One of our codes per ISO 639-3 code of a stage >= 4 declaration: the code of
    ``languages.csv`` where it has the language, else the ISO 639-3 code itself (written to
    ``languages.csv`` with the declaration's name, so that it can be labelled)."""
    import csv

    from langgeo.data import udhr
    from langgeo.data.labels import _load_glottolog
    from langgeo.data.languages import known_languages

    known = known_languages()
    ours = dict(zip(known["iso639_3"], known["code"]))
    table = udhr.declarations()
    table = table[(table["stage"] >= udhr.MIN_STAGE) & (table["iso6393"] != "und")]
    iso_to_glottocode, lineages = _load_glottolog()
    rows, codes, unlabelled = [], [], {}
    for iso, group in table.groupby("iso6393", sort=True):
        if iso in ours:
            codes.append(ours[iso])
        elif iso_to_glottocode.get(iso) in lineages:
            name = group.sort_values("code")["name"].iloc[0].split(" (")[0]
            rows.append({"code": iso, "iso639_3": iso, "name": name})
            codes.append(iso)
        else:
            unlabelled[iso] = "no Glottolog lineage in urielplus"
    if rows:
        path = Path(__file__).parents[1] / "data" / "resources" / "languages.csv"
        with path.open("a", newline="") as f:
            csv.DictWriter(f, ["code", "iso639_3", "name"], lineterminator="\n").writerows(rows)
    return codes, unlabelled


def write_finetune_presets(root: Path = Path(".")) -> list[Path]:
    """Write ``params.finetune.yaml`` and ``params.finetune-gemma.yaml``: the fine-tuning study
    on the whole pruning panel of ``params.yaml``, both modes, with its a-priori learning rate,
    steps and alignment sources, for SmolLM2-135M and for Gemma 3 270M (one model per
    configuration: ``finetune.model`` names one)."""
    raw = load_params(root / "params.yaml").raw
    panel = raw["pruning"]["panel"]
    written = []
    for name, model in (("finetune", "smollm2-135m"), ("finetune-gemma", "gemma3-270m")):
        path = root / f"params.{name}.yaml"
        path.write_text(f"""# The fine-tuning study (issue 25) on the whole pruning panel, {len(panel)} languages, {model},
# both modes (full; frozen: embeddings, the first {raw['finetune']['frozen_fraction']} of the blocks, final norm, LM head);
# lr, steps and alignment sources as params.yaml (fixed a priori: docs/studies/finetune.md).
# `make preset NAME={name}` (a DVC experiment; params.yaml is not changed). Written by
# `python -m langgeo.pipeline.presets`.
finetune: {json.dumps({"model": model, "panel": panel, "modes": ["full", "frozen"]})}
""")
        written.append(path)
    return written


def main() -> None:
    """Write ``params.udhr-paper.yaml`` and ``params.udhr-all.yaml`` for the UDHR token count
    and models of ``params.yaml`` (prepared models must exist under ``models/``), and the
    fine-tuning presets (:func:`write_finetune_presets`)."""
    import csv
    import importlib.resources

    from langgeo.method.models import load_tokenizer

    params = load_params()
    tokens, seq_len = params.tokens("udhr"), params.calibration.seq_len
    tokenizers = [load_tokenizer(Path("models") / m) for m in _UDHR_PRESET["models"]]
    text = importlib.resources.files("langgeo.data").joinpath("resources", "paper_languages.csv")
    paper = [row["code"] for row in csv.DictReader(io.StringIO(text.read_text()))]
    kept, excluded = udhr_languages(paper, tokenizers, tokens, seq_len)
    _write_preset(Path("params.udhr-paper.yaml"), f"""
The paper's languages (src/langgeo/data/resources/paper_languages.csv) that UDHR holds, on both
embedded models, UDHR alone ({tokens} tokens per language). Offline:
`make preset NAME=udhr-paper` (a DVC experiment; params.yaml is not changed).
{len(kept)} of {len(paper)} languages.""", kept, excluded, params.raw["pruning"], {})
    print(f"params.udhr-paper.yaml: {len(kept)} languages, {len(excluded)} left out")
    candidates, unlabelled = _udhr_codes()
    from langgeo.data.languages import _load_known

    _load_known.cache_clear()
    kept, excluded = udhr_languages(candidates, tokenizers, tokens, seq_len)
    excluded.update(unlabelled)
    candidates += list(unlabelled)
    _write_preset(Path("params.udhr-all.yaml"), f"""
Every language with a UDHR declaration of stage >= 4 and a Glottolog lineage, one declaration
per ISO 639-3 code, on both embedded models, UDHR alone ({tokens} tokens per language).
Offline: `make preset NAME=udhr-all` (a DVC experiment; params.yaml is not changed).
{len(kept)} of {len(candidates)} languages.
interlingua: {_UDHR_ALL_INTERLINGUA['max_units']} units per language, not 60: its kNN cost grows with (languages x units)^2,
so ~9x less; a cost choice made before any run, not tuned on results.""",
                  kept, excluded, params.raw["pruning"], {"interlingua": _UDHR_ALL_INTERLINGUA})
    print(f"params.udhr-all.yaml: {len(kept)} languages, {len(excluded)} left out")
    for path in write_finetune_presets():
        print(f"{path}: the fine-tuning study on the pruning panel")


if __name__ == "__main__":
    main()
