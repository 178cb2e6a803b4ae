"""Which writing system a text is in (ISO 15924 codes)."""

from __future__ import annotations

from collections import Counter

# Scripts that a writing system mixes: Japanese (Han and kana), Korean (Hangul and Han).
_MIXED_SCRIPTS = {"Hira": "Jpan", "Kana": "Jpan", "Hang": "Kore"}


def dominant_script(text: str) -> str | None:
    """The ISO 15924 code of the script most letters of ``text`` are in (``Latn``, ``Cyrl``,
    ...); Japanese text with any kana is ``Jpan``, Korean with any Hangul ``Kore``. Common and
    inherited characters (digits, punctuation, combining marks) are not counted."""
    from fontTools import unicodedata

    counts = Counter(unicodedata.script(ch) for ch in text if ch.isalpha())
    for code in ("Zyyy", "Zinh", "Zzzz"):
        counts.pop(code, None)
    if not counts:
        return None
    for part, mixed in _MIXED_SCRIPTS.items():
        if counts.get(part, 0) > 0.05 * sum(counts.values()):
            return mixed
    return counts.most_common(1)[0][0]
