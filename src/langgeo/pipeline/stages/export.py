"""Stage ``export``: the latent vectors and distances for sharing, and the NJ tree and distance
matrices in the formats of computational historical linguistics (``reports/export/``)."""

from __future__ import annotations

from langgeo.formats.matrix_file import read_matrix
from langgeo.layout import Layout
from langgeo.params import Params
from langgeo.report.export import export_phylogenetics, export_results


def run(params: Params, layout: Layout) -> str:
    paths = export_results(layout.export(), layout.latent(), layout.ensemble_distances(),
                           layout.labels())
    codes, ensemble = read_matrix(layout.ensemble_distances())
    pairs = {(m, d): (*read_matrix(layout.pair_distances(m, d)), params.tokens(d))
             for m, d in params.pairs()}
    paths += export_phylogenetics(layout.export(), codes, ensemble, pairs)
    return (f"export: {len(paths)} files (latent vectors and distances, Parquet + CSV, with "
            f"codes, names and labels; the NJ tree as Newick, the distances as PHYLIP, NEXUS "
            f"and a long CSV) -> {layout.export()}")
