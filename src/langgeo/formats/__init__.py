"""The files langgeo writes and reads (pyarrow, no torch): signatures, factors, score samples,
distance matrices and latent vectors, and atomic writes. Every format is stated in its module's
docstring and readable without langgeo."""
