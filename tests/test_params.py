import copy
import random

import pytest
import yaml

from langgeo import LanggeoError
from langgeo.params import flat_params, load_params, parse_params

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
