"""Placing new points in a space: Gower's out-of-sample MDS, neighbours, label guesses."""

import re

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist, pdist, squareform

from langgeo import LanggeoError
from langgeo.embedding import add_points, classical_mds
from langgeo.placement import Space, vote
from planted import planted_languages


def planted_space(n=24, n_families=4, seed=0):
    family, branch, d = planted_languages(n, n_families, seed)
    codes = [f"l{i:02d}" for i in range(n)]
    labels = pd.DataFrame({"code": codes, "name": [f"Lang {i}" for i in range(n)],
                           "family": [f"F{f}" for f in family],
                           "branch": [f"B{b}" for b in branch]}).set_index("code")
    return Space(codes, labels, d, classical_mds(d)[0])


def test_gower_puts_an_embedded_point_back_where_it_was():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(12, 3))
    new = rng.normal(size=(2, 3))
    # Squared Euclidean distances, embedded with the sqrt transform: exactly Euclidean.
    reference = squareform(pdist(points, "sqeuclidean"))
    coords, _ = classical_mds(reference)
    placed = add_points(coords, cdist(new, points, "sqeuclidean"))
    # The placed points' distances to the references are the true ones.
    np.testing.assert_allclose(cdist(placed, coords, "sqeuclidean"),
                               cdist(new, points, "sqeuclidean"), rtol=1e-9, atol=1e-9)
    # A reference point's own distances give back its own coordinates.
    np.testing.assert_allclose(add_points(coords, reference[[3]]), coords[[3]], atol=1e-9)
    same = add_points(coords, reference[[3]] ** 0.5, transform="none")
    np.testing.assert_allclose(same, coords[[3]], atol=1e-9)
    with pytest.raises(LanggeoError, match="do not match"):
        add_points(coords, reference[:, :5])


def test_vote_weights_by_inverse_distance():
    assert vote(["a", "b", "b"], [0.1, 0.5, 0.5]) == ("a", pytest.approx(10 / 14))
    assert vote(["a", "b"], [0.2, 0.2])[0] == "a"  # a tie goes to the nearer neighbour


@pytest.mark.parametrize("held_out", [0, 5, 13, 22])
def test_leave_one_out_lands_among_its_real_neighbours(held_out):
    full = planted_space()
    code = full.codes[held_out]
    reference = full.without(code)
    latent_before = reference.latent.copy()
    row = full.distances[held_out, [full.codes.index(c) for c in reference.codes]]
    placement = reference.place_distances(row[None, :], [code], k=3)

    assert np.array_equal(reference.latent, latent_before)  # the references do not move
    real = full.neighbours(code, 3)["code"].tolist()
    assert placement.neighbours[code]["code"].tolist() == real
    guess = placement.guesses.iloc[0]
    assert guess["family"] == full.labels.loc[code, "family"]
    assert guess["branch"] == full.labels.loc[code, "branch"]
    assert 0.5 < guess["family_confidence"] <= 1.0
    # Its latent position is close to where the full embedding would put it, relative to
    # the others: its nearest reference in the map is one of its real neighbours.
    nearest_in_map = np.argmin(((reference.latent - placement.coords[0]) ** 2).sum(1))
    assert reference.codes[nearest_in_map] in full.neighbours(code, 5)["code"].tolist()


def test_neighbours_and_unknown_codes():
    s = planted_space()
    table = s.neighbours("l00", 4)
    assert list(table.columns) == ["code", "name", "family", "branch", "distance"]
    assert table["distance"].is_monotonic_increasing and "l00" not in table["code"].tolist()
    with pytest.raises(LanggeoError, match="'xx' is not in this space"):
        s.neighbours("xx")


LANGUAGES = ["fr", "es", "de", "ru", "ja", "it"]


def run_stage(*argv):
    from langgeo.cli import main

    assert main(["--params", "params.yaml", *argv]) == 0


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model_dir):
    """A reference space on the tiny model, built by the stage commands themselves."""
    import os

    import yaml

    from conftest import REPO_PARAMS

    root = tmp_path_factory.mktemp("space")
    params = yaml.safe_load(REPO_PARAMS.read_text())
    params.update(languages=LANGUAGES, models=["tiny"], datasets=["eld"],
                  calibration={"tokens_per_language": 256, "seq_len": 64})
    params["model_catalog"]["tiny"] = {"source": "pretrained", "id": str(tiny_model_dir)}
    params["signatures"]["keep_scores"] = 0
    params["distances"]["kind"] = "factors"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    before = os.getcwd()
    os.chdir(root)
    try:
        run_stage("prepare-model", "--model", "tiny")
        run_stage("labels")
        run_stage("calibrate", "--dataset", "eld")
        run_stage("signatures", "--model", "tiny", "--dataset", "eld")
        full = {kind: None for kind in ("factors", "hamming")}
        for kind in full:
            params["distances"]["kind"] = kind
            (root / "params.yaml").write_text(yaml.safe_dump(params))
            run_stage("distances")
            from langgeo.distances import read_matrix

            full[kind] = read_matrix(root / "data/distances/ensemble.parquet")
        # The reference leaves Italian out; its calibration text is then placed.
        params["languages"] = LANGUAGES[:-1]
        params["distances"]["kind"] = "factors"
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        run_stage("distances")
        run_stage("embed")
    finally:
        os.chdir(before)
    return root, params, full


def write_text(path, documents):
    path.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["factors", "hamming"])
def test_place_a_left_out_language_reproduces_its_distances(project, kind, tmp_path, capsys):
    import os

    import yaml

    from langgeo.corpus import read_shard

    root, params, full = project
    params = {**params, "distances": {"kind": kind}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    it = write_text(tmp_path / "it.txt", read_shard(root / "data/calibration/eld/it.parquet"))
    before = os.getcwd()
    os.chdir(root)
    try:
        run_stage("distances")
        run_stage("embed")
        run_stage("place", "--text", str(it), "--language", "it", "--k", "3", "--explorer",
                  "--out", str(tmp_path / "out"))
    finally:
        os.chdir(before)
    codes, matrix = full[kind]
    i = codes.index("it")
    others = [j for j in range(len(codes)) if j != i]
    neighbours = pd.read_csv(tmp_path / "out/neighbours.csv")
    # The same text gives the same signature, hence exactly its distances in the full space.
    expected = sorted(others, key=lambda j: (matrix[i, j], j))[:3]
    assert neighbours["code"].tolist() == [codes[j] for j in expected]
    np.testing.assert_allclose(neighbours["distance"], matrix[i, expected], rtol=1e-5)
    placement = pd.read_csv(tmp_path / "out/placement.csv")
    assert placement.loc[0, "text"] == "it" and "mds_1" in placement
    assert 0 < placement.loc[0, "family_confidence"] <= 1
    page = (tmp_path / "out/explorer.html").read_text()
    assert '"placed":[{"name":"it"' in page
    assert "nearest:" in capsys.readouterr().out


def test_place_refuses_bad_input(project, tmp_path, capsys):
    import os

    import yaml

    from langgeo.cli import main

    root, params, _ = project
    params = {**params, "distances": {"kind": "factors"}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    short = write_text(tmp_path / "short.txt", ["un petit texte"])
    empty = write_text(tmp_path / "empty.txt", ["   "])
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    other = {**params, "calibration": {"tokens_per_language": 128, "seq_len": 64}}
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    from langgeo.corpus import read_shard

    it = write_text(tmp_path / "it.txt", read_shard(root / "data/calibration/eld/it.parquet"))
    before = os.getcwd()
    os.chdir(root)
    try:
        cases = [(["--text", str(short)], r"text tokens, fewer than the \d+ needed"),
                 (["--text", str(empty)], "holds no text"),
                 (["--text", str(binary)], "not UTF-8 text"),
                 (["--params", str(tmp_path / "other.yaml"), "--text", str(it)],
                  "other settings .* tokens 256 \\(params/model: 128\\)")]
        for argv, message in cases:
            params_args = argv[:2] if argv[0] == "--params" else ["--params", "params.yaml"]
            rest = argv[2:] if argv[0] == "--params" else argv
            assert main([*params_args, "place", *rest, "--out", str(tmp_path / "x")]) == 2
            assert re.search(message, capsys.readouterr().err), message
        # A code that is no language is named with its close matches; 'unknown' is allowed.
        assert main(["--params", "params.yaml", "place", "--text", str(it), "--language",
                     "itt", "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert "'itt' is no language code" in err and "did you mean" in err and "it" in err
        # A folder of the user's is never written into.
        mine = tmp_path / "mine"
        mine.mkdir()
        (mine / "notes.txt").write_text("my notes")
        assert main(["--params", "params.yaml", "place", "--text", str(it), "--out",
                     str(mine)]) == 2
        assert "did not write" in capsys.readouterr().err
        assert [p.name for p in mine.iterdir()] == ["notes.txt"]
        (root / "data/signatures/tiny/eld/fr.factors.parquet").rename(tmp_path / "fr.f")
        try:
            assert main(["--params", "params.yaml", "place", "--text", str(it)]) == 2
            err = capsys.readouterr().err
            assert "dvc pull" in err and "fr.factors.parquet" in err
        finally:
            (tmp_path / "fr.f").rename(root / "data/signatures/tiny/eld/fr.factors.parquet")
    finally:
        os.chdir(before)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("batch_size", [2, 3])
def test_several_sizes_from_one_pass_match_passes_of_their_own(tiny_model_dir, batch_size,
                                                                 one_thread):
    # batch 2: 256 and 512 tokens (2 and 4 sequences) share the pass of 1024; batch 3: their
    # batches differ from the longest's, so they get passes of their own. Same bits either way.
    from langgeo.corpus import eld_documents
    from langgeo.models import load_model, load_tokenizer
    from langgeo.placement import text_signature, text_signatures

    model, tokenizer = load_model(tiny_model_dir), load_tokenizer(tiny_model_dir)
    docs = eld_documents()["it"][:300]
    together = text_signatures(model, tokenizer, docs, [1024, 256, 512], 128,
                               batch_size=batch_size)
    assert sorted(together) == [256, 512, 1024]
    for size, signature in together.items():
        alone = text_signature(model, tokenizer, docs, size, 128, batch_size=batch_size)
        assert signature.tokens == alone.tokens == size
        assert signature.factors.metadata == alone.factors.metadata
        assert signature.factors.factors.keys() == alone.factors.factors.keys()
        for h, want in alone.factors.factors.items():
            assert np.array_equal(signature.factors.factors[h], want)
        assert signature.bits.keys() == alone.bits.keys()
        assert all(np.array_equal(signature.bits[m], alone.bits[m]) for m in alone.bits)
    small, large = together[256].bits, together[1024].bits
    assert any(not np.array_equal(small[m], large[m]) for m in small)  # sizes do differ
    with pytest.raises(LanggeoError, match="no calibration size"):
        text_signatures(model, tokenizer, docs, [], 128)
