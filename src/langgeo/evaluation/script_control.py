"""How much of the geometry is writing system: the evaluation restricted to the languages of
one script, and a partial Mantel test against genealogy that controls for script identity.

Languages that share a script share tokens, so part of what their signatures have in common
may be orthography rather than language. Two checks separate the two:

- the same protocol (:func:`langgeo.evaluation.protocol.evaluate_distances`) on the Latin-script
  languages only, where script cannot tell any two languages apart;
- the partial Mantel test (:func:`langgeo.evaluation.protocol.partial_mantel_test`) of our distances
  against URIEL+ genetic distances given the script-identity distances, on all languages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from langgeo.data.languages import CORPUS_SCRIPTS
from langgeo.evaluation.baselines import script_distances
from langgeo.evaluation.protocol import mantel_test, partial_mantel_test

#: The script whose languages form the restricted evaluation (the largest group in the
#: embedded default: 31 of 59 languages).
SCRIPT = "Latn"
#: Fewer languages than this leave the protocol undefined (MDS, clustering).
MIN_LANGUAGES = 3


def script_members(codes: Sequence[str], script: str = SCRIPT,
                   scripts: Mapping[str, str] | None = None) -> list[int]:
    """Positions in ``codes`` of the languages written in ``script`` (ISO 15924), by the
    table of :func:`langgeo.evaluation.baselines.script_distances` (default
    :data:`CORPUS_SCRIPTS`)."""
    scripts = CORPUS_SCRIPTS if scripts is None else scripts
    return [i for i, code in enumerate(codes) if scripts.get(code) == script]


def _positions(subset: Sequence[str], codes: Sequence[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(codes)}
    return np.array([index[c] for c in subset if c in index], dtype=int)


def script_control(codes: Sequence[str], ensemble: np.ndarray,
                   pairs: Mapping[str, tuple[Sequence[str], np.ndarray]],
                   baselines: Mapping[str, np.ndarray], genetic: np.ndarray,
                   evaluate: Callable[[np.ndarray, Sequence[str]], dict],
                   n_permutations: int, seed: int, script: str = SCRIPT,
                   scripts: Mapping[str, str] | None = None) -> dict:
    """Both script checks for the ensemble, each (model, dataset) pair and the baselines.

    Parameters
    ----------
    codes : the n language codes of ``ensemble``, ``genetic`` and ``baselines``.
    ensemble : (n, n) our distances.
    pairs : name -> (its codes, its (m, m) distances); each pair's codes a subset of ``codes``.
    baselines : name -> (n, n) baseline distances (the script baseline itself is skipped in
        the restricted evaluation: it is constant there).
    genetic : (n, n) URIEL+ genetic distances.
    evaluate : ``evaluate(distances, codes)``, the protocol's metrics of a matrix over those
        languages (the caller fixes its params and gold labels, so that every matrix gets
        the same).
    n_permutations, seed : of the Mantel tests.

    Returns
    -------
    JSON-ready dict: ``script``, ``languages`` (the restricted codes), ``skipped`` (a reason,
    or None), ``ours`` / ``per_pair`` / ``baselines`` (the protocol's metrics on the
    restricted languages; baselines with ``mantel_rho_vs_ours`` and ``mantel_p`` there too),
    and ``partial_mantel``: ``{"ours": ..., "pairs": {name: ...}}``, each the result of
    :func:`partial_mantel_test` (ours vs genetic given script identity, all languages).
    """
    codes = list(codes)
    script_matrix = script_distances(codes, scripts).distances
    partial = {"ours": partial_mantel_test(ensemble, genetic, script_matrix, n_permutations,
                                           seed), "pairs": {}}
    # A pair identical to the ensemble (a single pair) reuses its results: the tests and the
    # protocol are deterministic.
    same = {name: list(pair_codes) == codes and np.array_equal(matrix, ensemble)
            for name, (pair_codes, matrix) in pairs.items()}
    for name, (pair_codes, matrix) in pairs.items():
        at = _positions(pair_codes, codes)
        partial["pairs"][name] = dict(partial["ours"]) if same[name] else partial_mantel_test(
            matrix, genetic[np.ix_(at, at)], script_matrix[np.ix_(at, at)], n_permutations,
            seed)

    members = script_members(codes, script, scripts)
    subset = [codes[i] for i in members]
    out = {"script": script, "languages": subset, "skipped": None, "ours": None,
           "per_pair": {}, "baselines": {}, "partial_mantel": partial}
    if len(subset) < MIN_LANGUAGES:
        out["skipped"] = (f"only {len(subset)} {script}-script language(s); the protocol "
                          f"needs {MIN_LANGUAGES}")
        return out
    at = np.asarray(members)
    ours = ensemble[np.ix_(at, at)]
    out["ours"] = evaluate(ours, subset)
    for name, (pair_codes, matrix) in pairs.items():
        if same[name]:
            out["per_pair"][name] = dict(out["ours"])
            continue
        inside = [c for c in subset if c in set(pair_codes)]
        if len(inside) < MIN_LANGUAGES:
            continue
        where = _positions(inside, pair_codes)
        out["per_pair"][name] = evaluate(matrix[np.ix_(where, where)], inside)
    for name, matrix in baselines.items():
        restricted = matrix[np.ix_(at, at)]
        if np.ptp(restricted[np.triu_indices(len(at), 1)]) == 0:
            continue  # constant on these languages (script identity): nothing to evaluate
        rho, p = mantel_test(ours, restricted, n_permutations, seed)
        out["baselines"][name] = {**evaluate(restricted, subset),
                                  "mantel_rho_vs_ours": rho, "mantel_p": p}
    return out
