"""Language or writing system? A natural experiment on the UDHR: the same declaration, in the
same language, in two scripts (``srp_latn``/``srp_cyrl``, Hindi/Urdu, ...), and orthographic
or regional variants of one language (``deu_1901``/``deu_1996``, ``por_BR``/``por_PT``, ...).

For one model, the signatures of those declarations are compared with each other and with
the reference languages of the pipeline (the same model and settings, on the UDHR): how far
apart the two scripts of one language are, against how far that language is from its nearest
*other* language written in the same script; and the ladder of distances, which the weights
would order orthography < region < script < related language < unrelated language if they
saw language through script. Distances are normalized Hamming distances, in total and per
block (``layer``), so that the blocks where the two scripts of one language are closest can
be found (:func:`layer_criterion`) without looking at any gold label.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from langgeo import LanggeoError
from langgeo.geometry.hamming import TOTAL, HammingCounts

#: The ladder's rungs, from the smallest expected difference to the largest.
RUNGS = ("orthography", "region", "script", "related language", "unrelated language")


@dataclass(frozen=True)
class Text:
    """One text of the experiment: a declaration or a reference language, with its ISO 639-3
    language, ISO 15924 script and Glottolog family and branch (labels of its language), and
    the UDHR declaration it was computed from (a reference's may be one of the declarations:
    Malay's is ``mly_latn``)."""

    name: str
    reference: bool
    iso639_3: str
    script: str
    family: str
    branch: str
    declaration: str = ""


def _other_language(a: Text, b: Text, same: Mapping[str, set[str]]) -> bool:
    """Whether reference ``b`` is another language than ``a`` (not the same ISO 639-3
    language, not a text of ``a``'s own set, not computed from one of its declarations)."""
    own = same.get(a.name, set()) | {a.name}
    return b.iso639_3 != a.iso639_3 and b.name not in own and b.declaration not in own


def experiment_tables(texts: Sequence[Text], counts: HammingCounts,
                      sets: Mapping[str, Sequence[Sequence[str]]]
                      ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The experiment's three tables from the Hamming counts between ``texts`` (in order).

    ``sets``: rung (``script``, ``orthography``, ``region``) -> groups of declarations that
    are one language; every two members of a group form a pair.

    Returns
    -------
    pairs : one row per pair: ``rung``, ``a``, ``b``, ``distance``, and for each member the
        nearest other language in its own script (``nearest_a``, ``nearest_a_distance``, the
        same for b) and ``ratio``: the pair's distance over the smaller of those two (above 1,
        the script separates one language more than it separates two languages).
    ladder : one row per rung: ``n`` distances, their ``mean``, ``min`` and ``max``;
        ``related language`` is each member's nearest reference of its own primary branch
        (another language), ``unrelated language`` its mean distance to the references of
        other families.
    layers : one row per block: the :func:`layer_criterion` of the ``script`` pairs.
    """
    index = {t.name: i for i, t in enumerate(texts)}
    missing = [n for groups in sets.values() for g in groups for n in g if n not in index]
    if missing:
        raise LanggeoError(f"script experiment: no signature for {missing}")
    same = {n: set(g) for groups in sets.values() for g in groups for n in g}
    total = counts.distances()[TOTAL]
    references = [i for i, t in enumerate(texts) if t.reference]

    def nearest(i: int, keep) -> tuple[str, float]:
        candidates = [j for j in references if keep(texts[j]) and
                      _other_language(texts[i], texts[j], same)]
        if not candidates:
            return "", float("nan")
        j = min(candidates, key=lambda j: (total[i, j], j))
        return texts[j].name, float(total[i, j])

    rows, ladder = [], {rung: [] for rung in RUNGS}
    for rung, groups in sets.items():
        for group in groups:
            for a, b in itertools.combinations(group, 2):
                i, j = index[a], index[b]
                near_a = nearest(i, lambda t, s=texts[i].script: t.script == s)
                near_b = nearest(j, lambda t, s=texts[j].script: t.script == s)
                rows.append({"rung": rung, "a": a, "b": b, "distance": float(total[i, j]),
                             "nearest_a": near_a[0], "nearest_a_distance": near_a[1],
                             "nearest_b": near_b[0], "nearest_b_distance": near_b[1],
                             "ratio": float(total[i, j]) / np.nanmin([near_a[1], near_b[1]])})
                ladder[rung].append(float(total[i, j]))
            for name in group:
                i = index[name]
                related = nearest(i, lambda t, x=texts[i]: t.branch == x.branch)[1]
                if not np.isnan(related):
                    ladder["related language"].append(related)
                unrelated = [total[i, j] for j in references
                             if texts[j].family != texts[i].family]
                if unrelated:
                    ladder["unrelated language"].append(float(np.mean(unrelated)))
    pairs = pd.DataFrame(rows)
    steps = pd.DataFrame([{"rung": rung, "n": len(v), "mean": np.mean(v) if v else np.nan,
                           "min": np.min(v) if v else np.nan, "max": np.max(v) if v else np.nan}
                          for rung, v in ladder.items()])
    return pairs, steps, layer_criterion(texts, counts, pairs[pairs["rung"] == "script"])


def layer_criterion(texts: Sequence[Text], counts: HammingCounts,
                    script_pairs: pd.DataFrame) -> pd.DataFrame:
    """Per block: how close the two scripts of one language are, relative to languages.

    ``ratio = mean over script pairs of d_block(a, b) / mean over their members of
    d_block(member, its nearest other language in its own script)``, the nearest chosen on
    the whole signature (``nearest_a``, ``nearest_b`` of the pairs table). Below 1, the block
    puts one language's two scripts closer than two languages of one script. It uses the
    declarations and the references' scripts only, no gold label.
    """
    if script_pairs.empty:
        raise LanggeoError("script experiment: no pair of one language in two scripts")
    index = {t.name: i for i, t in enumerate(texts)}
    distances = counts.distances()
    rows = []
    for (family, group), d in distances.items():
        if family != "layer":
            continue
        within = [d[index[r.a], index[r.b]] for r in script_pairs.itertuples()]
        across = [d[index[m], index[n]] for r in script_pairs.itertuples()
                  for m, n in ((r.a, r.nearest_a), (r.b, r.nearest_b)) if n]
        rows.append({"layer": int(group), "bits": counts.bits[family, group],
                     "scripts_of_one_language": float(np.mean(within)),
                     "nearest_other_language": float(np.mean(across)),
                     "ratio": float(np.mean(within) / np.mean(across))})
    return pd.DataFrame(rows).sort_values("layer", ignore_index=True)


def select_layers(criterion: pd.DataFrame, share: float = 0.5) -> list[int]:
    """The blocks a script-robust geometry keeps: the ``share`` of blocks with the lowest
    :func:`layer_criterion` ratio (at least one), fixed before any gold label is seen."""
    if not 0 < share <= 1:
        raise LanggeoError(f"the share of blocks to keep must be in (0, 1], got {share}")
    keep = max(1, round(share * len(criterion)))
    return sorted(criterion.nsmallest(keep, "ratio")["layer"].astype(int).tolist())
