"""Results for sharing: latent vectors and distances as plain Parquet + CSV, one row per language
with its code, name and Glottolog labels, readable without langgeo (pandas, R, a spreadsheet)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from langgeo import LanggeoError, __version__
from langgeo.data.labels import LABEL_COLUMNS
from langgeo.formats.matrix_file import read_matrix
from langgeo.formats.phylo_file import (
    distance_long_table,
    write_distance_csv,
    write_newick,
    write_nexus,
    write_phylip,
)
from langgeo.formats.storage import atomic_path, write_parquet
from langgeo.geometry.trees import nj_tree

README = """\
# langgeo results

One row per language, in the same order in every file. The first columns of each file are
the language's identity and gold labels:

| column | meaning |
| --- | --- |
| `code` | our language code (ISO 639-1 where one exists, else ISO 639-3) |
| `iso639_3` | the ISO 639-3 individual language of the text |
| `name` | English name |
| `glottocode` | Glottolog languoid |
| `family` | Glottolog top-level family (an isolate is its own family) |
| `branch` | Glottolog primary branch below the family |

- `latent.parquet`, `latent.csv`: then `mds_1 ... mds_k`, the coordinates of the language in
  the latent space (classical MDS of the distances, by default of their square roots),
  largest eigenvalue first.
- `distances.parquet`, `distances.csv`: then one column per language `code`: the
  normalized Hamming distance between the two languages' weight-importance signatures
  (fraction of differing bits, in [0, 1]), averaged over models x datasets. Symmetric, zero
  diagonal.

For the tools of computational historical linguistics (PHYLIP, SplitsTree, R's ape, Biopython):

- `tree.nwk`: the neighbour-joining tree of the distances (Newick, branch lengths in the
  distances' units, unrooted).
- `distances.phy`: the distance matrix as PHYLIP's square format (names are the codes).
- `distances.nex`: the same as NEXUS, a TAXA and a DISTANCES block.
- `distances_long.csv`: one row per pair of languages and measure (`language_a`,
  `language_b`, `value`, `measure`, `model`, `dataset`, `tokens`, `commit`): the ensemble
  and each (model, dataset) pair; `commit` is the version of the code.
"""


def _read_labels(path: Path, codes: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise LanggeoError(f"labels {path} not found; run `dvc repro` (stage labels) first")
    labels = pd.read_parquet(path)
    missing_columns = [c for c in LABEL_COLUMNS if c not in labels.columns]
    if missing_columns:
        raise LanggeoError(f"labels {path} lack column(s) {missing_columns}; run `dvc repro` "
                           "(stage labels) to rewrite them")
    labels = labels.drop_duplicates("code").set_index("code", drop=False)
    unlabelled = [c for c in codes if c not in labels.index]
    if unlabelled:
        raise LanggeoError(f"labels {path} have no row for language(s) {unlabelled}; run "
                           "`dvc repro` (stage labels) so they match params 'languages'")
    return labels.loc[codes, list(LABEL_COLUMNS)].reset_index(drop=True)


def export_results(out_dir: str | os.PathLike[str], latent_path: str | os.PathLike[str],
                   distances_path: str | os.PathLike[str],
                   labels_path: str | os.PathLike[str]) -> list[Path]:
    """Write the latent vectors and the distance matrix with language names and labels.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created if needed). Only the files listed below are replaced,
        each atomically; anything else in the folder is left alone.
    latent_path : path
        ``data/embedding/latent.parquet``: column ``language`` and ``mds_1..k``.
    distances_path : path
        A square matrix written by :func:`langgeo.formats.matrix_file.write_matrix`, e.g.
        ``data/distances/ensemble.parquet``.
    labels_path : path
        ``data/labels.parquet``: the columns of :data:`langgeo.data.labels.LABEL_COLUMNS`.

    Returns
    -------
    paths : list of Path
        ``latent.parquet``, ``latent.csv`` (n_languages rows; label columns then
        ``mds_1..k``), ``distances.parquet``, ``distances.csv`` (n_languages rows; label
        columns then one float column per language code) and ``README.md`` describing them,
        all in ``out_dir``, in that order.

    Raises
    ------
    LanggeoError
        If an input is missing, or the latent vectors, distances and labels do not cover the
        same languages.
    """
    latent_path, out_dir = Path(latent_path), Path(out_dir)
    if not latent_path.is_file():
        raise LanggeoError(f"latent vectors {latent_path} not found; run `dvc repro` (stage "
                           "embed) first")
    latent = pd.read_parquet(latent_path)
    codes, matrix = read_matrix(distances_path)
    if latent["language"].tolist() != codes:
        raise LanggeoError(f"latent vectors {latent_path} and distances {distances_path} list "
                           f"different languages ({latent['language'].tolist()} vs {codes}); "
                           "run `dvc repro` to bring them up to date")
    labels = _read_labels(Path(labels_path), codes)
    coords = latent.drop(columns="language").reset_index(drop=True)
    tables = {
        "latent": pd.concat([labels, coords], axis=1),
        "distances": pd.concat([labels, pd.DataFrame(matrix, columns=codes)], axis=1),
    }
    written = []
    for stem, table in tables.items():
        parquet, text = out_dir / f"{stem}.parquet", out_dir / f"{stem}.csv"
        write_parquet(pa.Table.from_pandas(table, preserve_index=False), parquet)
        with atomic_path(text) as tmp:
            table.to_csv(tmp, index=False)
        written += [parquet, text]
    readme = out_dir / "README.md"
    with atomic_path(readme) as tmp:
        tmp.write_text(README)
    return written + [readme]


def export_phylogenetics(out_dir: str | os.PathLike[str], codes: list[str],
                         ensemble: np.ndarray,
                         pairs: dict[tuple[str, str], tuple[list[str], np.ndarray, int]]
                         ) -> list[Path]:
    """Write the ensemble's NJ tree (``tree.nwk``), its distance matrix as PHYLIP
    (``distances.phy``) and NEXUS (``distances.nex``), and every matrix as one long CSV
    (``distances_long.csv``: the ensemble, then each (model, dataset) pair of ``pairs``:
    (model, dataset) -> (its codes, its ``(m, m)`` distances, its calibration tokens)).
    Returns the paths, in that order."""
    out_dir = Path(out_dir)
    version = f"langgeo {__version__}"
    paths = [out_dir / "tree.nwk", out_dir / "distances.phy", out_dir / "distances.nex",
             out_dir / "distances_long.csv"]
    write_newick(paths[0], nj_tree(ensemble, codes).newick)
    write_phylip(paths[1], ensemble, codes)
    write_nexus(paths[2], ensemble, codes)
    tables = [distance_long_table(ensemble, codes, measure="hamming ensemble", commit=version)]
    tables += [distance_long_table(d, pair_codes, measure="hamming", model=model,
                                   dataset=dataset, tokens=tokens, commit=version)
               for (model, dataset), (pair_codes, d, tokens) in pairs.items()]
    write_distance_csv(paths[3], tables)
    return paths
