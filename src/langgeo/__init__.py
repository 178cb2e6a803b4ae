"""langgeo: a metric space of languages built from the weights of multilingual LLMs."""

__version__ = "0.1.0"


class LanggeoError(Exception):
    """An error in the user's input or environment, reported as one clear message."""
