"""params.yaml: each section a frozen dataclass, every key and number checked, one clear
error per mistake."""

import copy
import dataclasses
import json
import math
import random
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
import yaml
from ruamel.yaml import YAML

from langgeo import LanggeoError
from langgeo.params import (DatasetSpec, Params, flat_params, load_params, parse_params,
                            parse_pattern)

DEFAULT = yaml.safe_load(open("params.yaml"))


def mutated(path, value):
    raw = copy.deepcopy(DEFAULT)
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return raw


def test_repository_params_are_valid():
    params = parse_params(DEFAULT)
    assert len(params.languages) == 59 and params.models[0].name == "gemma3-270m"
    assert flat_params(params)["signatures.score"] == "sparsegpt"
    assert params.config_hash() == parse_params(copy.deepcopy(DEFAULT)).config_hash()


@pytest.mark.parametrize("path, value, message", [
    ("calibration.tokens_per_language", KeyError, "missing 'calibration.tokens_per_language'"),
    ("calibration.tokens_per_language", "many", "must be int"),
    ("calibration.tokens_per_language", 1000, "multiple of 'calibration.seq_len'"),
    ("calibration.seq_len", -4, "positive integer"),
    ("signatures.score", "random", "choose one of"),
    ("signatures.batch_size", True, "must be int"),
    ("signatures.damping", 0, "must be > 0"),
    ("models", ["gpt-9"], "not in 'model_catalog'"),
    ("datasets", [], "is empty"),
    ("languages", ["fr", "fr"], "twice"),
    ("embedding.n_components", 0, "null or a positive integer"),
    ("signatures.store_bits", "no", "'signatures.store_bits' must be bool"),
    ("signatures.store_bits", False, "hamming needs the stored bits"),
])
def test_malformed_params_are_named(path, value, message):
    with pytest.raises(LanggeoError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_params(mutated(path, value))


def test_factor_distances_need_no_bits_nor_score_samples():
    raw = mutated("signatures.store_bits", False)
    raw["distances"]["kind"] = "factors"
    raw["signatures"]["keep_scores"] = 0
    params = parse_params(raw)
    assert not params.signatures.store_bits and params.distances.kind == "factors"
    assert parse_params(mutated("signatures.store_bits", KeyError)).signatures.store_bits


def test_unreadable_files(tmp_path):
    with pytest.raises(LanggeoError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1,\n")
    with pytest.raises(LanggeoError, match="not valid YAML"):
        load_params(tmp_path / "bad.yaml")


def test_params_are_read_as_yaml_1_2_like_dvc(tmp_path):
    # `dvc exp run -S` rewrites params.yaml and may drop the quotes around "no" (Norwegian).
    text = open("params.yaml").read().replace('"no"', "no")
    (tmp_path / "params.yaml").write_text(text)
    assert "no" in load_params(tmp_path / "params.yaml").languages


@pytest.mark.parametrize("path, typo, nearest", [
    ("calibration", "tokens_per_langauge", "tokens_per_language"),
    ("signatures", "bianrization", "binarization"),
    ("", "langauges", "languages"),
    ("engine", "max_retry", "max_retries"),
    ("model_catalog.gemma3-270m", "gguf_flie", "gguf_file"),
    ("dataset_catalog.eld", "sorce", "source"),
])
def test_unknown_keys_are_rejected_with_the_nearest_valid_one(path, typo, nearest):
    raw = copy.deepcopy(DEFAULT)
    node = raw
    for key in filter(None, path.split(".") if path else []):
        node = node[key]
    if path.startswith("dataset_catalog"):
        node.clear()
        node.update(source="eld")
    node[typo] = node.get(nearest, 1)
    with pytest.raises(LanggeoError, match=rf"unknown key\(s\) \['{typo}'\].*'{nearest}'"):
        parse_params(raw)


def test_engine_params():
    assert parse_params(copy.deepcopy(DEFAULT)).engine.kind == "local"
    for bad, message in [({"kind": "spark"}, "choose one of"),
                         ({"kind": "ray", "address": "10.0.0.1:6379"}, "ray://"),
                         ({"kind": "ray", "cpus_per_job": 0}, "positive integer")]:
        with pytest.raises(LanggeoError, match=message):
            parse_params(mutated("engine", bad))


def test_fuzzed_params_give_params_or_one_clear_error():
    """Random deletions, typos and wrong types anywhere in params: never anything but valid
    params or a LanggeoError that names a key."""
    rng = random.Random(0)
    values = [None, True, -1, 0, 2.5, "x", [], {}, ["fr"], {"a": 1}]

    def nodes(node, prefix=()):
        if isinstance(node, dict):
            for key, value in node.items():
                yield node, key, prefix + (key,)
                yield from nodes(value, prefix + (key,))

    for _ in range(300):
        raw = copy.deepcopy(DEFAULT)
        for _ in range(rng.randint(1, 3)):
            parent, key, _ = rng.choice(list(nodes(raw)))
            action = rng.choice(["delete", "typo", "value"])
            if action == "delete":
                del parent[key]
            elif action == "typo":
                i = rng.randrange(len(key))
                parent[key[:i] + key[i + 1:] + key[i]] = parent.pop(key)
            else:
                parent[key] = copy.deepcopy(rng.choice(values))
        try:
            parse_params(raw)
        except LanggeoError as exc:
            assert str(exc).startswith("params: "), exc


# --- every number finite and in range, walked from the declarations -------------------------

ROOT = Path(__file__).resolve().parents[1]


# As load_params reads it (YAML 1.2).
RUAMEL_DEFAULT = YAML(typ="safe", pure=True).load((ROOT / "params.yaml").read_text())


def _unwrap(tp):
    if isinstance(tp, types.UnionType):
        return next(a for a in typing.get_args(tp) if a is not type(None)), True
    return tp, False


def numeric_fields(cls=Params, prefix=(), catalog=None):
    """(path in the params mapping, dotted key, number type, field metadata, names to list)
    for every field of every params section that holds numbers (a number, a list of numbers,
    a mapping of lists of numbers), found from the dataclass declarations alone. A catalog
    entry's field is placed in an entry of ``params.yaml`` whose source understands it, and
    that entry is then the only one listed (``names``), so that it is read."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.metadata["from_key"]:
            continue
        tp, _ = _unwrap(hints[f.name])
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if dataclasses.is_dataclass(tp):
            yield from numeric_fields(tp, prefix + (f.name,))
        elif origin is tuple and dataclasses.is_dataclass(args[0]):
            name = f.metadata["catalog"]
            yield from numeric_fields(args[0], (name,), catalog=(name, f.name))
        else:
            # a number, tuple[number, ...] or dict[str, tuple[number, ...]]
            kind = {tuple: lambda: args[0], dict: lambda: typing.get_args(args[1])[0]}.get(
                origin, lambda: tp)()
            if kind not in (int, float):
                continue
            path, names = prefix + (f.name,), None
            if catalog:
                sources = f.metadata["sources"]
                entry = next(n for n, e in RUAMEL_DEFAULT[catalog[0]].items()
                             if sources is None or e["source"] in sources)
                path, names = (catalog[0], entry, f.name), (catalog[1], [entry])
            yield path, ".".join(path), kind, f.metadata, names


def bad_numbers(kind, meta):
    """Values a field of number type ``kind`` with bounds ``meta`` must refuse."""
    bad = [math.nan, math.inf, -math.inf, True, False, "1"]
    if kind is int:
        bad += [1.5, 2.0]
    for bound, offsets in (("gt", (0, -1)), ("ge", (-1,)), ("lt", (0, 1)), ("le", (1,))):
        if meta[bound] is not None:
            bad += [meta[bound] + d for d in offsets]
    return bad


NUMERIC = list(numeric_fields())


def test_the_walk_finds_every_numeric_field():
    keys = {key for _, key, *_ in NUMERIC}
    assert len(keys) == len(NUMERIC) >= 30, sorted(keys)
    assert {"seed", "signatures.damping", "engine.gpus_per_job", "embedding.n_components",
            "synthetic.transformations", "pruning.sparsity", "interlingua.max_units",
            "dataset_catalog.wikipedia.shuffle_buffer",
            "dataset_catalog.eld.tokens_per_language"} <= keys
    # Every one is bounded: a count, a size or a seed has a least meaningful value.
    assert all(meta["gt"] is not None or meta["ge"] is not None for *_, meta, _ in NUMERIC)


@pytest.mark.parametrize("path, key, kind, meta, names", NUMERIC, ids=[n[1] for n in NUMERIC])
def test_every_numeric_param_must_be_finite_and_in_range(path, key, kind, meta, names):
    def spoiled(value):
        """params.yaml with ``value`` at ``path`` and the key the message must name."""
        raw = copy.deepcopy(RUAMEL_DEFAULT)
        if names:
            raw[names[0]] = names[1]
        *parents, last = path
        node = raw
        for part in parents:
            node = node[part]
        current = node.get(last)
        if isinstance(current, dict):  # name -> list of numbers: spoil the first number
            first = next(iter(current))
            node[last] = {**current, first: [value, *current[first][1:]]}
            return raw, f"'{key}.{first}[0]'"
        if isinstance(current, list):
            node[last] = [value, *current[1:]]
            return raw, f"'{key}[0]'"
        node[last] = value
        return raw, f"'{key}'"

    raw = copy.deepcopy(RUAMEL_DEFAULT)
    if names:
        raw[names[0]] = names[1]
    parse_params(raw)  # only the spoiled value below is wrong
    for value in bad_numbers(kind, meta):
        raw, named = spoiled(value)
        with pytest.raises(LanggeoError) as exc:
            parse_params(raw)
        message = str(exc.value)
        assert message.startswith(f"params: {named} must be "), (value, message)
        if kind is float and isinstance(value, float) and not math.isfinite(value):
            assert "must be a finite number" in message, message


def test_nan_in_the_file_is_refused(tmp_path):
    # The bug: `.nan` is YAML 1.2 for NaN, and NaN compares False with every bound.
    text = (ROOT / "params.yaml").read_text().replace("damping: 0.01", "damping: .nan", 1)
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(LanggeoError, match=r"^params: 'signatures.damping' must be a finite "
                                           r"number > 0, got nan$"):
        load_params(tmp_path / "params.yaml")


def test_reading_params_imports_nothing_heavy():
    # In a fresh interpreter: other tests' imports would hide one here.
    heavy = ("torch", "transformers", "sklearn", "pandas", "pyarrow", "langgeo.studies.pruning",
             "langgeo.evaluation.baselines")
    code = ("import sys; from langgeo.params import load_params; load_params('params.yaml'); "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_uriel_kinds_and_pruning_names_have_one_source():
    from langgeo import params
    from langgeo.evaluation import baselines

    assert baselines.URIEL_KINDS is params.URIEL_KINDS
    assert tuple(baselines._KINDS) == params.URIEL_KINDS


# --- the sections of the datasets, interlingua, synthetic and pruning ---------------------

def test_params_per_dataset_tokens_and_checksums():
    raw = yaml.safe_load(open("params.yaml"))
    params = parse_params(raw)
    assert [m.name for m in params.models] == ["gemma3-270m", "smollm2-135m"]
    assert params.tokens("udhr") == 1024 and params.tokens("eld") == 4096
    bad = json.loads(json.dumps(raw))
    bad["dataset_catalog"]["udhr"]["tokens_per_language"] = 1000
    with pytest.raises(LanggeoError, match=r"udhr.tokens_per_language' \(1000\) must be a "
                                           r"multiple of 'calibration.seq_len' \(512\)"):
        parse_params(bad)
    bad = json.loads(json.dumps(raw))
    bad["model_catalog"]["smollm2-135m"]["sha256"] = "abc"
    with pytest.raises(LanggeoError, match="sha256' must be 64 lowercase hex digits"):
        parse_params(bad)


def test_interlingua_params():
    import copy

    import yaml

    from langgeo.params import Interlingua, parse_params

    raw = yaml.safe_load(open("params.yaml"))
    raw["dataset_catalog"]["udhr"] = {"source": "udhr"}
    raw.pop("interlingua", None)
    assert parse_params(raw).interlingua == Interlingua()
    raw["interlingua"] = {"dataset": "udhr", "max_units": None, "pooling": "mean_no_bos",
                          "k": 7, "t": 4, "centre": False, "batch_size": 2, "seed": 3}
    assert parse_params(raw).interlingua == Interlingua("udhr", None, "mean_no_bos", 7, 4,
                                                        False, 2, 3)
    for key, value, message in [("t", 9, "exceeds"), ("dataset", "eld", "source udhr"),
                                ("pooling", "max", "choose one of"), ("k", 0, "positive"),
                                ("centre", "yes", "must be bool"), ("colour", 1, "unknown")]:
        bad = copy.deepcopy(raw)
        bad["interlingua"][key] = value
        with pytest.raises(LanggeoError, match=message):
            parse_params(bad)


def params_with(section):
    from pathlib import Path

    import yaml

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    raw["synthetic"] = section
    return raw


def test_synthetic_params_are_validated():
    good = {"language": "fr", "dataset": "eld", "tokens": 2048, "seed": 0,
            "transformations": {"substitute": [0.05, 0.1]}}
    params = parse_params(params_with(good))
    assert params.synthetic.transformations == {"substitute": (0.05, 0.1)}
    assert params.synthetic_dataset().source == "eld"
    # Any catalog entry will do, also one outside 'datasets'.
    other = parse_params(params_with({**good, "dataset": "wikipedia"}))
    assert other.synthetic_dataset().hub_id == "wikimedia/wikipedia"
    with pytest.raises(LanggeoError, match="not in 'dataset_catalog'"):
        parse_params(params_with({**good, "dataset": "nowhere"})).synthetic_dataset()
    for bad, message in [
                         ({"tokens": 1000}, "multiple of 'calibration.seq_len'"),
                         ({"transformations": {"rot13": [0.1, 0.2]}}, "choose from"),
                         ({"transformations": {"scramble": [0.1]}}, "at least two distinct"),
                         ({"transformations": {"scramble": [0.1, 2]}}, r"in \(0, 1\]")]:
        with pytest.raises(LanggeoError, match=message):
            parse_params(params_with({**good, **bad}))


PAPER = ROOT / "params.paper.yaml"
BASE = yaml.safe_load(PAPER.read_text())


@pytest.mark.parametrize("entry, message", [
    ({"source": "hub", "config_template": "{culturax}"}, "missing 'dataset_catalog.d.hub_id'"),
    ({"source": "hub", "hub_id": "x"}, "missing 'dataset_catalog.d.config_template'"),
    ({"source": "hub", "hub_id": "x", "config_template": "{culturax"}, "not a valid template"),
    ({"source": "hub", "hub_id": "x", "config_template": "{}"}, "must name columns"),
    ({"source": "hub", "hub_id": "x", "config_template": "{code}", "min_char": 5},
     r"unknown key\(s\) \['min_char'\]"),
    ({"source": "hub", "hub_id": "x", "config_template": "{code}", "min_chars": -1}, ">= 0"),
    ({"source": "hub", "hub_id": "x", "config_template": "{code}", "shuffle_buffer": 0},
     "positive integer"),
    ({"source": "hub", "hub_id": "x", "config_template": "{code}", "revision": 3},
     "revision' must be a string"),
    ({"source": "local"}, "missing 'dataset_catalog.d.path'"),
    ({"source": "local", "path": "p", "hub_id": "x"}, r"unknown key\(s\) \['hub_id'\]"),
    ({"source": "eld", "path": "p"}, r"unknown key\(s\) \['path'\]"),
    ({"source": "udhr", "romanize": "yes"}, "'dataset_catalog.d.romanize' must be bool"),
])
def test_malformed_dataset_entries_are_named(entry, message):
    raw = copy.deepcopy(BASE)
    raw["dataset_catalog"] = {"d": entry}
    raw["datasets"] = ["d"]
    with pytest.raises(LanggeoError, match=message):
        parse_params(raw)


def test_dataset_entry_defaults():
    raw = copy.deepcopy(BASE)
    raw["dataset_catalog"] = {"d": {"source": "local", "path": "corpora/mine"}}
    raw["datasets"] = ["d"]
    assert parse_params(raw).dataset("d") == DatasetSpec(
        "d", "local", path="corpora/mine", text_field="text", shuffle_buffer=10_000,
        min_chars=0)


@pytest.mark.parametrize("sparsity", [0, 1, 1.5, -0.2, True, "half"])
def test_sparsity_outside_the_open_interval_is_refused(sparsity):
    with pytest.raises(LanggeoError, match="strictly between 0 and 1"):
        parse_pattern(sparsity)


@pytest.mark.parametrize("pattern", ["3:3", "4:2", "0:4", "2-4", "two:four"])
def test_malformed_patterns_are_refused(pattern):
    with pytest.raises(LanggeoError, match="n:m"):
        parse_pattern(0.5, pattern)
