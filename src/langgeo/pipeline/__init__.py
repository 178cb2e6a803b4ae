"""Running it all: the ``langgeo`` command line (:mod:`~langgeo.pipeline.cli`), one module per DVC
stage (:mod:`~langgeo.pipeline.stages`), the signature jobs and the engines that run them, the
presets, and the MLflow tracking."""
