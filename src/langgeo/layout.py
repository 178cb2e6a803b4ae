"""Where every stage reads and writes: one fixed layout of the repository, which ``dvc.yaml``
mirrors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """Where every stage reads and writes, relative to the repository root."""

    root: Path = Path(".")

    def model(self, model: str) -> Path:
        return self.root / "models" / model

    def shards(self, dataset: str) -> Path:
        return self.root / "data" / "calibration" / dataset

    def labels(self) -> Path:
        return self.root / "data" / "labels.parquet"

    def signatures(self, model: str, dataset: str) -> Path:
        return self.root / "data" / "signatures" / model / dataset

    def distances(self) -> Path:
        return self.root / "data" / "distances"

    def pair_distances(self, model: str, dataset: str) -> Path:
        return self.distances() / model / f"{dataset}.parquet"

    def ensemble_distances(self) -> Path:
        return self.distances() / "ensemble.parquet"

    def embedding(self) -> Path:
        return self.root / "data" / "embedding"

    def latent(self) -> Path:
        """The ensemble's latent vectors (classical MDS), written by the embed stage."""
        return self.embedding() / "latent.parquet"

    def spectrum(self) -> Path:
        return self.embedding() / "spectrum.parquet"

    def pair_latent(self, model: str, dataset: str) -> Path:
        """One (model, dataset) pair's latent vectors, written by the embed stage."""
        return self.embedding() / model / f"{dataset}.parquet"

    def metrics(self) -> Path:
        return self.root / "reports" / "metrics.json"

    def figures(self) -> Path:
        return self.root / "reports" / "figures"

    def comparison(self) -> Path:
        return self.root / "reports" / "comparison.csv"

    def attribution(self) -> Path:
        return self.root / "reports" / "attribution.csv"

    def export(self) -> Path:
        return self.root / "reports" / "export"

    def explorer(self) -> Path:
        return self.root / "reports" / "explorer.html"

    def placed(self) -> Path:
        """Written by `langgeo place`, outside the DVC-owned folders."""
        return self.root / "reports" / "place"

    def synthetic(self) -> Path:
        return self.root / "reports" / "synthetic.csv"

    def interlingua(self, model: str) -> Path:
        return self.root / "reports" / "interlingua" / model

    def representation_distances(self, model: str) -> Path:
        """The interlingua stage's per-layer distance matrices: O(languages²) per layer, so
        data under DVC rather than a report in git."""
        return self.root / "data" / "interlingua" / model

    def scripts(self, model: str) -> Path:
        """The script experiment's reports for one model."""
        return self.root / "reports" / "scripts" / model

    def robust(self) -> Path:
        """The script-robust geometry's reports (stage robust)."""
        return self.root / "reports" / "robust"

    def hidden_states(self, model: str) -> Path:
        """The pooled hidden states of the interlingua units (stage hidden_states)."""
        return self.root / "data" / "hidden_states" / model

    def layer_distances(self, model: str, layer: int) -> Path:
        return self.representation_distances(model) / f"layer_{layer:02d}.parquet"

    def pruning(self) -> Path:
        return self.root / "reports" / "pruning"

    def transfer_cost(self) -> Path:
        return self.pruning() / "matrix.csv"

    def pruning_data(self, model: str, dataset: str) -> Path:
        """The transfer stage's perplexity matrix and masks."""
        return self.root / "data" / "pruning" / model / dataset

    def finetune_data(self, model: str, dataset: str) -> Path:
        """The fine-tuning study's gain matrices (stage finetune_matrix)."""
        return self.root / "data" / "finetune" / model / dataset

    def finetune(self) -> Path:
        """The fine-tuning study's reports: the freezing comparison, the alignment after
        fine-tuning, figures (stage finetune)."""
        return self.root / "reports" / "finetune"

    def rankings(self) -> Path:
        """The ranking of transfer sources by every distance (stage rankings)."""
        return self.root / "reports" / "rankings"

    def pruned(self, model: str, language: str, method: str) -> Path:
        """Where `langgeo prune` writes a model pruned for one language, by default."""
        return self.root / "models" / "pruned" / f"{model}-{language}-{method}"

    def preset_reports(self, name: str) -> Path:
        """Where `langgeo preset` copies a preset's reports."""
        return self.root / "reports" / "presets" / name

    def compare(self) -> Path:
        """Written by `langgeo compare` from MLflow, outside the DVC-owned folders."""
        return self.root / "reports" / "compare"
