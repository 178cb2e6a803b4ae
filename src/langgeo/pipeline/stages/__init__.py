"""The DVC stages, one module each, named as in ``dvc.yaml``.

Each module has ``run(params, layout, ...) -> str``: it reads its inputs through
:class:`langgeo.layout.Layout`, writes its outputs (each whole or not at all) and returns the
line the CLI prints. The stages in pipeline order: prepare_model, labels, calibrate,
signatures, distances, embed, attribute, report, evaluate, export, synthetic, transfer,
interlingua, explorer; then ``langgeo track`` logs their MLflow runs.
"""
