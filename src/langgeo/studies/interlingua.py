"""Interlingual Local Overlap (ILO) of hidden states on parallel text, with its controls.

The score of *High-Dimensional Interlingual Representations of Large Language Models*
(Wilie et al., 2025), computed per layer on points laid out as ``(n_languages, n_units, dim)``:
point ``(l, u)`` is language ``l``'s representation of the parallel unit ``u`` (a UDHR
paragraph). All languages' points share one space; each point's ``k`` nearest neighbours by
cosine similarity (itself excluded) are found in row blocks, so the ``n × n`` similarity
matrix is never held whole. Then, for language ``l``:

- a point *bridges* when its neighbours come from at least ``t`` languages other than its own;
  ``Bridge(l)`` is the share of ``l``'s points that bridge;
- ``Reach(l)`` is the share of the other ``n_languages - 1`` languages that appear among the
  neighbours of at least one of ``l``'s points;
- ``ILO(l)`` is the harmonic mean of the two (0 when both are 0).

The score alone can mislead: unstructured noise has neighbours from random languages, so it
bridges and reaches well. Hence the controls: the same score for Gaussian points of the same
shape and for the real points under shuffled language labels, and translation retrieval
(precision at 1 of finding unit ``u`` of language ``b`` as the nearest of ``b``'s points to
``u`` in language ``a``), which noise passes only by chance (``1 / n_units``).

Languages need not hold the same units (``keys``, :func:`langgeo.studies.representations.
pairwise_units`): the ILO score uses every point, since it only counts the languages among a
point's neighbours; retrieval and the representation distance compare a pair of languages on
the units both hold (the same key), so each pair has its own number of aligned units
(:func:`shared_units`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from langgeo import LanggeoError
from langgeo._util import single_threaded
from langgeo.evaluation.protocol import evaluate_distances, mantel_test

#: Rows of the similarity matrix held at once: 1024 rows × 26,400 points (440 languages ×
#: 60 units) is 108 MB of float32, well within memory for any realistic language count.
BLOCK_ROWS = 1024


def check_neighbourhood(n_languages: int, n_units: int, k: int, t: int) -> None:
    """Raise :class:`LanggeoError` unless ``k`` neighbours and a bridge threshold ``t`` can be
    met: ``1 <= t <= k``, ``t <= n_languages - 1`` (a point has at most that many other
    languages) and ``k <= n_languages * n_units - 1`` (every other point; with languages of
    different unit counts, ``n_units`` is the fewest, which guarantees it)."""
    if n_languages < 2 or n_units < 1:
        raise LanggeoError(f"interlingua needs at least 2 languages with at least 1 shared "
                           f"unit, got {n_languages} languages and {n_units} units")
    if k < 1 or t < 1:
        raise LanggeoError(f"params: 'interlingua.k' ({k}) and 'interlingua.t' ({t}) must be "
                           "positive integers")
    if t > k:
        raise LanggeoError(f"params: 'interlingua.t' ({t}) exceeds 'interlingua.k' ({k}): "
                           f"{k} neighbours cannot come from {t} languages; lower t")
    if t > n_languages - 1:
        raise LanggeoError(f"params: 'interlingua.t' ({t}) is more than the {n_languages - 1} "
                           f"other languages of {n_languages}; lower t or add languages")
    if k > n_languages * n_units - 1:
        raise LanggeoError(f"params: 'interlingua.k' ({k}) is more than the "
                           f"{n_languages * n_units - 1} other points; lower k")


def _unit_rows(points: np.ndarray) -> np.ndarray:
    """Flattened ``(n_languages * n_units, dim)`` float32 rows of unit length (a zero vector
    stays zero, similar to nothing)."""
    flat = np.ascontiguousarray(points, dtype=np.float32).reshape(-1, points.shape[-1])
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return flat / np.maximum(norms, np.finfo(np.float32).tiny)


def unit_keys(points: np.ndarray, keys: np.ndarray | None) -> np.ndarray:
    """int64 ``(n_languages, n_units)`` key of each point, ``-1`` where a language has no
    point; ``None`` means every language holds unit ``u`` at place ``u``."""
    n_languages, n_units = points.shape[:2]
    if keys is None:
        return np.tile(np.arange(n_units, dtype=np.int64), (n_languages, 1))
    keys = np.asarray(keys, dtype=np.int64)
    if keys.shape != (n_languages, n_units):
        raise LanggeoError(f"unit keys of shape {keys.shape} do not match points of shape "
                           f"{points.shape}")
    return keys


def held_keys(keys: np.ndarray) -> np.ndarray:
    """bool ``(n_languages, n_keys)``: which keys each language holds."""
    held = np.zeros((keys.shape[0], int(keys.max()) + 1), dtype=bool)
    rows, cols = np.nonzero(keys >= 0)
    held[rows, keys[rows, cols]] = True
    return held


def shared_units(keys: np.ndarray) -> np.ndarray:
    """int64 ``(n_languages, n_languages)``: the units each pair of languages both hold (the
    diagonal: each language's own count)."""
    held = held_keys(keys).astype(np.int64)
    return held @ held.T


def neighbours_and_retrieval(points: np.ndarray, k: int, block_rows: int = BLOCK_ROWS,
                             keys: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k-nearest neighbours of every point and translation-retrieval hits.

    Parameters
    ----------
    points : (n_languages, n_units, dim) array; point ``(l, u)`` is row ``l * n_units + u``.
    k : neighbours per point, itself excluded.
    block_rows : similarity rows computed at once (memory ``block_rows × n`` float32).
    keys : (n_languages, n_units) unit keys, ``-1`` where a language has no point
        (:func:`unit_keys`; None: every language holds every unit, in the same place).

    Returns
    -------
    neighbours : (n, k) int64 row indices, most similar first (equal similarities: lower
        index first among those selected); absent points neither have (row of ``-1``) nor
        are neighbours.
    hits : (n_languages, n_languages) int64; ``hits[a, b]`` counts the units ``u`` that a and
        b both hold whose most similar point, among b's points of the units both hold, is
        b's ``u`` when queried from a's ``u`` (the first on ties); the diagonal is 0.
    """
    if points.ndim != 3:
        raise LanggeoError(f"points must be (n_languages, n_units, dim), got shape "
                           f"{points.shape}")
    n_languages, n_units, _ = points.shape
    keys = unit_keys(points, keys)
    held = held_keys(keys)
    flat_keys = keys.ravel()
    present = flat_keys >= 0
    language = np.repeat(np.arange(n_languages), n_units)
    x = _unit_rows(points)
    n = x.shape[0]
    if not 1 <= k <= present.sum() - 1:
        raise LanggeoError(f"k = {k} neighbours are impossible among {present.sum()} points")
    neighbours = np.full((n, k), -1, dtype=np.int64)
    hits = np.zeros((n_languages, n_languages), dtype=np.int64)
    absent = np.where(present, 0.0, -np.inf).astype(np.float32)
    column_keys = np.where(present, flat_keys, 0)
    for start in range(0, n, block_rows):
        rows = np.arange(start, min(start + block_rows, n))
        rows = rows[present[rows]]
        if not len(rows):
            continue
        sim = x[rows] @ x.T + absent
        # A query of a's unit compares b's points of the units a holds too.
        comparable = held[language[rows]][:, column_keys] & present
        best = np.where(comparable, sim, -np.inf).reshape(len(rows), n_languages,
                                                          n_units).argmax(axis=2)
        found = keys[np.arange(n_languages), best] == flat_keys[rows][:, None]
        found &= held[:, flat_keys[rows]].T  # only the targets that hold the unit count
        np.add.at(hits, language[rows], found.astype(np.int64))
        sim[np.arange(len(rows)), rows] = -np.inf
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        order = np.lexsort((top, -np.take_along_axis(sim, top, axis=1)))
        neighbours[rows] = np.take_along_axis(top, order, axis=1)
    hits[np.diag_indices(n_languages)] = 0
    return neighbours, hits


@dataclass(frozen=True)
class Overlap:
    """Per-language scores, each an ``(n_languages,)`` float64 array in [0, 1]."""

    bridge: np.ndarray
    reach: np.ndarray
    ilo: np.ndarray


def harmonic_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise ``2ab / (a + b)``, 0 where both are 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    total = a + b
    return np.divide(2 * a * b, total, out=np.zeros_like(total), where=total > 0)


def overlap(neighbours: np.ndarray, labels: np.ndarray, n_languages: int, t: int) -> Overlap:
    """Bridge, Reach and ILO from a neighbour table.

    Parameters
    ----------
    neighbours : (n, k) row indices of each point's neighbours.
    labels : (n,) language index (0 .. n_languages - 1) of each point.
    t : a point bridges when its neighbours span at least ``t`` other languages.
    """
    labels = np.asarray(labels, dtype=np.int64)
    neighbour_labels = np.sort(labels[neighbours], axis=1)
    first = np.ones_like(neighbour_labels, dtype=bool)
    first[:, 1:] = neighbour_labels[:, 1:] != neighbour_labels[:, :-1]
    other_languages = (first & (neighbour_labels != labels[:, None])).sum(axis=1)
    counts = np.bincount(labels, minlength=n_languages)
    bridge = np.bincount(labels, weights=other_languages >= t, minlength=n_languages)
    bridge = np.divide(bridge, counts, out=np.zeros(n_languages), where=counts > 0)
    seen = np.zeros((n_languages, n_languages), dtype=bool)
    seen[np.repeat(labels, neighbours.shape[1]), neighbour_labels.ravel()] = True
    seen[np.diag_indices(n_languages)] = False
    reach = seen.sum(axis=1) / (n_languages - 1)
    return Overlap(bridge, reach, harmonic_mean(bridge, reach))


def representation_distances(points: np.ndarray, centre: bool = True,
                             keys: np.ndarray | None = None) -> np.ndarray:
    """Distance between languages from their representations of the same units.

    ``d(a, b) = mean_u (1 - cos(x_a,u, x_b,u))`` over the units both a and b hold (``keys``;
    all when None), after subtracting from each language's points their mean when ``centre``
    (so what is compared is how each language arranges the shared content, not the offset
    that identifies the language). For unit vectors ``1 - cos = ‖x - y‖² / 2``, so with the
    same units for every pair ``d`` is a squared Euclidean distance between the languages'
    concatenated unit vectors and its square root embeds exactly (as for the Hamming
    distances of signatures); aligned per pair it is a mean over each pair's own units.

    Parameters
    ----------
    points : (n_languages, n_units, dim).
    keys : (n_languages, n_units) unit keys, ``-1`` where a language has no point.

    Returns
    -------
    (n_languages, n_languages) float64, symmetric, zero diagonal, values in [0, 2]. Raises
    :class:`LanggeoError` when a pair holds no unit in common.
    """
    keys = unit_keys(points, keys)
    present = keys >= 0
    x = np.where(present[..., None], np.asarray(points, dtype=np.float64), 0.0)
    if centre:
        means = x.sum(axis=1, keepdims=True) / np.maximum(present.sum(axis=1), 1)[:, None, None]
        x = np.where(present[..., None], x - means, 0.0)
    norms = np.linalg.norm(x, axis=2, keepdims=True)
    x = x / np.maximum(norms, np.finfo(np.float64).tiny)
    n_languages, _, dim = x.shape
    held = held_keys(keys)
    dense = np.zeros((n_languages, held.shape[1], dim))
    rows, cols = np.nonzero(present)
    dense[rows, keys[rows, cols]] = x[rows, cols]
    flat = dense.reshape(n_languages, -1)
    shared = shared_units(keys)
    if (shared == 0).any():
        a, b = np.argwhere(shared == 0)[0]
        raise LanggeoError(f"languages {a} and {b} (of {n_languages}) hold no unit in common, "
                           "so their representations cannot be compared; keep more units "
                           "per language (params 'interlingua.max_units')")
    d = 1.0 - (flat @ flat.T) / shared
    d = np.clip((d + d.T) / 2, 0.0, 2.0)
    d[np.diag_indices_from(d)] = 0.0
    return d


@dataclass(frozen=True)
class LayerScores:
    """One layer: per-language scores of the real points and under shuffled language
    labels, and the translation retrieval precision at 1 (``(n_languages, n_languages)``,
    source × target, NaN diagonal)."""

    real: Overlap
    shuffled: Overlap
    retrieval: np.ndarray


def layer_scores(points: np.ndarray, k: int, t: int, seed: int,
                 block_rows: int = BLOCK_ROWS, keys: np.ndarray | None = None) -> LayerScores:
    """ILO, the shuffled-label control and retrieval for one layer's
    ``(n_languages, n_units, dim)`` points (``keys``: which unit each is, ``-1`` none; see
    :func:`neighbours_and_retrieval`). ILO uses every point; retrieval from a to b is the
    share of the units both hold that are found (NaN where they hold none). The shuffle
    permutes the language labels of all points, seeded with ``seed`` (the same permutation
    for every layer)."""
    n_languages, n_units, _ = points.shape
    keys = unit_keys(points, keys)
    present = (keys >= 0).ravel()
    check_neighbourhood(n_languages, int((keys >= 0).sum(axis=1).min()), k, t)
    neighbours, hits = neighbours_and_retrieval(points, k, block_rows, keys)
    # Only the points that exist, renumbered: the score counts languages among neighbours.
    compact = np.cumsum(present) - 1
    labels = np.repeat(np.arange(n_languages), n_units)[present]
    neighbours = compact[neighbours[present]]
    shuffled = np.random.default_rng(seed).permutation(labels)
    shared = shared_units(keys)
    with np.errstate(divide="ignore", invalid="ignore"):
        retrieval = np.where(shared > 0, hits / shared, np.nan)
    retrieval[np.diag_indices(n_languages)] = np.nan
    return LayerScores(overlap(neighbours, labels, n_languages, t),
                       overlap(neighbours, shuffled, n_languages, t), retrieval)


def gaussian_control(shape: tuple[int, int, int], k: int, t: int, seed: int,
                     block_rows: int = BLOCK_ROWS, keys: np.ndarray | None = None
                     ) -> LayerScores:
    """The scores of standard normal points of ``shape`` ``(n_languages, n_units, dim)``
    (with the real points' ``keys``), seeded with ``seed``: what ILO and retrieval give for
    points with no structure at all (it depends on the shape and keys only, so one draw
    serves every layer of a model)."""
    noise = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    return layer_scores(noise, k, t, seed, block_rows, keys)


def score_tables(scores: Sequence[LayerScores], gaussian: LayerScores,
                 languages: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long tables of a model's layers (layer 0: the embedding output).

    Returns
    -------
    per_language : one row per (layer, language): ``bridge``, ``reach``, ``ilo``, the
        controls' ``shuffled_ilo`` and ``gaussian_ilo``, and ``retrieval_p1`` (mean P@1
        with this language as the source).
    per_layer : one row per layer: means over languages of ``bridge``, ``reach``, ``ilo``
        and of the same under ``shuffled_`` labels and for ``gaussian_`` points;
        ``retrieval_p1`` and ``gaussian_retrieval_p1``, means over ordered language pairs.
    """
    rows, layers = [], []
    for layer, s in enumerate(scores):
        with warnings.catch_warnings():  # NaN for a language that shares no unit: as meant
            warnings.simplefilter("ignore", RuntimeWarning)
            source = np.nanmean(s.retrieval, axis=1)
        for i, lang in enumerate(languages):
            rows.append({"layer": layer, "language": lang, "bridge": s.real.bridge[i],
                         "reach": s.real.reach[i], "ilo": s.real.ilo[i],
                         "shuffled_ilo": s.shuffled.ilo[i], "gaussian_ilo": gaussian.real.ilo[i],
                         "retrieval_p1": source[i]})
        entry = {"layer": layer}
        for prefix, o in (("", s.real), ("shuffled_", s.shuffled), ("gaussian_", gaussian.real)):
            entry.update({f"{prefix}bridge": o.bridge.mean(), f"{prefix}reach": o.reach.mean(),
                          f"{prefix}ilo": o.ilo.mean()})
        entry["retrieval_p1"] = float(np.nanmean(s.retrieval))
        entry["gaussian_retrieval_p1"] = float(np.nanmean(gaussian.retrieval))
        layers.append(entry)
    return pd.DataFrame(rows), pd.DataFrame(layers)


def geometry_table(layer_distances: Sequence[np.ndarray], gold: Mapping[str, Sequence[str]],
                   weights: np.ndarray | None, *, transform: str = "sqrt",
                   kmeans_seeds: int = 10, seed: int = 0, n_permutations: int = 999,
                   mantel_permutations: int = 9999, min_cluster_size: int = 2) -> pd.DataFrame:
    """Each layer's representation distances scored like every other geometry.

    Per layer: :func:`langgeo.evaluation.protocol.evaluate_distances` against each gold level
    (without the bootstrap interval, to keep a scan over dozens of layers in seconds), and,
    when ``weights`` (the weight distances over the same languages, in the same order) is
    given, the Mantel test of the two geometries (:func:`langgeo.evaluation.protocol.mantel_test`).

    Returns
    -------
    One row per layer: ``<level>_kmeans_ari`` (mean over seeds), ``<level>_kmeans_ari_p``,
    ``<level>_agglomerative_ari``, ``<level>_silhouette``, and ``mantel_rho``,
    ``mantel_p`` (NaN without ``weights``).
    """
    rows = []
    for layer, d in enumerate(layer_distances):
        m = evaluate_distances(d, gold, transform=transform, kmeans_seeds=kmeans_seeds,
                               seed=seed, n_permutations=n_permutations, n_bootstrap=0,
                               min_cluster_size=min_cluster_size)
        row = {"layer": layer}
        for level in gold:
            row.update({f"{level}_kmeans_ari": m[f"{level}/kmeans/ari_mean"],
                        f"{level}_kmeans_ari_p": m[f"{level}/kmeans/ari_p"],
                        f"{level}_agglomerative_ari": m[f"{level}/agglomerative/ari"],
                        f"{level}_silhouette": m[f"{level}/silhouette_distances"]})
        rho, p = (mantel_test(d, weights, mantel_permutations, seed) if weights is not None
                  else (np.nan, np.nan))
        row.update({"mantel_rho": rho, "mantel_p": p})
        rows.append(row)
    return pd.DataFrame(rows)


def overlap_tables(states: np.ndarray, languages: Sequence[str], *, k: int, t: int,
                   seed: int, block_rows: int = BLOCK_ROWS, keys: np.ndarray | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`score_tables` of every layer of ``states`` ``(n_layers + 1, n_languages,
    n_units, hidden)``: ILO, its shuffled-label and Gaussian controls, and retrieval."""
    from tqdm import tqdm

    n_languages = states.shape[1]
    keys = unit_keys(states[0], keys)
    check_neighbourhood(n_languages, int((keys >= 0).sum(axis=1).min()), k, t)
    scores = [layer_scores(layer, k, t, seed, block_rows, keys)
              for layer in tqdm(states, desc="ILO per layer", unit="layer")]
    noise = gaussian_control(states.shape[1:], k, t, seed, block_rows, keys)
    return score_tables(scores, noise, languages)


@dataclass(frozen=True)
class ModelLayers:
    """Everything the interlingua stage reports for one model (see :func:`analyse_layers`)."""

    per_language: pd.DataFrame
    per_layer: pd.DataFrame
    distances: list[np.ndarray]


@single_threaded
def analyse_layers(states: np.ndarray, languages: Sequence[str],
                   gold: Mapping[str, Sequence[str]], weights: np.ndarray | None, *,
                   k: int = 5, t: int = 3, seed: int = 0, centre: bool = True,
                   block_rows: int = BLOCK_ROWS, keys: np.ndarray | None = None,
                   **evaluation) -> ModelLayers:
    """ILO, controls, retrieval and the representation geometry of every layer.

    Parameters
    ----------
    states : (n_layers + 1, n_languages, n_units, hidden) pooled hidden states.
    languages : the n_languages codes, in order.
    gold : gold level -> n_languages labels, for :func:`geometry_table`.
    weights : (n_languages, n_languages) weight distances, or None.
    keys : (n_languages, n_units) unit keys, ``-1`` where a language has no point (None: every
        language holds every unit in the same place).
    evaluation : passed to :func:`geometry_table` (``transform``, ``kmeans_seeds``,
        ``n_permutations``, ``mantel_permutations``, ``min_cluster_size``).
    """
    per_language, per_layer = overlap_tables(states, languages, k=k, t=t, seed=seed,
                                             block_rows=block_rows, keys=keys)
    distances = [representation_distances(layer, centre, keys) for layer in states]
    geometry = geometry_table(distances, gold, weights, seed=seed, **evaluation)
    return ModelLayers(per_language, per_layer.merge(geometry, on="layer"), distances)
