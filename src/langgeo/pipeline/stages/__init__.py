"""The DVC stages, one module each, named as in ``dvc.yaml``.

Each module has ``run(params, layout, ...) -> str``: it reads its inputs through
:class:`langgeo.layout.Layout`, writes its outputs (each whole or not at all) and returns the
line the CLI prints. The stages in pipeline order: prepare_model, labels, calibrate,
signatures, distances, embed, attribute, report, evaluate, export, synthetic,
pruning_matrix, transfer, hidden_states, interlingua, explorer, track. The studies' forward
passes (pruning_matrix, hidden_states) are stages of their own, so that a change of the
distances re-runs only the cheap comparisons after them.
"""
