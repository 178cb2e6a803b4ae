"""Tests for langgeo.data.labels: Glottolog family and primary-branch labels."""

import pandas as pd
import pytest

from langgeo import LanggeoError
from langgeo.data.labels import language_labels
from langgeo.data.languages import known_languages
from tests.helpers.languages import CORPUS_CODES


@pytest.fixture(scope="module")
def corpus_labels() -> pd.DataFrame:
    return language_labels(CORPUS_CODES).set_index("code")


def test_corpus_has_59_languages():
    assert len(CORPUS_CODES) == 59
    assert len(set(CORPUS_CODES)) == 59


def test_french_is_indo_european_italic(corpus_labels):
    french = corpus_labels.loc["fr"]
    assert french["iso639_3"] == "fra"
    assert french["family"] == "Indo-European"
    assert french["branch"] == "Italic"


def test_classical_indo_european_is_never_a_branch(corpus_labels):
    assert "Classical Indo-European" not in set(corpus_labels["branch"])


def test_basque_is_its_own_family_and_branch(corpus_labels):
    basque = corpus_labels.loc["eu"]
    assert basque["family"] == "Basque"
    assert basque["branch"] == "Basque"


def test_family_without_subgroups_is_its_own_branch(corpus_labels):
    korean = corpus_labels.loc["ko"]
    assert (korean["family"], korean["branch"]) == ("Koreanic", "Koreanic")


def test_kurdish_is_central_kurdish(corpus_labels):
    kurdish = corpus_labels.loc["ku"]
    assert kurdish["iso639_3"] == "ckb"
    assert kurdish["name"] == "Central Kurdish"
    assert kurdish["family"] == "Indo-European"
    assert kurdish["branch"] == "Indo-Iranian"


@pytest.mark.parametrize(
    ("code", "iso639_3"),
    [
        ("ar", "arb"),
        ("zh", "cmn"),
        ("fa", "pes"),
        ("ms", "zsm"),
        ("et", "ekk"),
        ("no", "nob"),
        ("sq", "als"),
        ("az", "azj"),
        ("lv", "lvs"),
        ("or", "ory"),
        ("sw", "swh"),
        ("ku", "ckb"),
    ],
)
def test_macrolanguages_resolve_to_individual_languages(code, iso639_3):
    assert language_labels([code]).at[0, "iso639_3"] == iso639_3


def test_corpus_family_and_branch_counts(corpus_labels):
    assert corpus_labels["family"].nunique() == 14
    assert corpus_labels["branch"].nunique() == 21


def test_specific_assignments(corpus_labels):
    branch = corpus_labels["branch"]
    family = corpus_labels["family"]
    assert branch["ru"] == branch["uk"] == branch["pl"] == "Balto-Slavic"
    assert family["ja"] == "Japonic"
    assert branch["de"] == branch["en"] == branch["sv"] == "Germanic"
    assert branch["hi"] == branch["fa"] == branch["bn"] == "Indo-Iranian"
    assert family["fi"] == family["hu"] == family["et"] == "Uralic"
    assert branch["fi"] == "Finnic" and branch["hu"] == "Hungaric"
    assert family["ar"] == family["he"] == family["am"] == "Afro-Asiatic"
    assert family["ta"] == family["te"] == "Dravidian"
    assert family["tr"] == family["az"] == "Turkic"
    assert family["zh"] == "Sino-Tibetan"
    assert family["yo"] == "Atlantic-Congo"


def test_output_columns_types_and_order():
    codes = ["zh", "eu", "fr", "ar", "fr"]
    labels = language_labels(codes)
    assert list(labels.columns) == ["code", "iso639_3", "name", "glottocode", "family", "branch"]
    assert list(labels["code"]) == codes
    assert list(labels.index) == list(range(len(codes)))
    for column in labels.columns:
        assert all(isinstance(value, str) and value for value in labels[column])


def test_empty_input_gives_empty_table():
    labels = language_labels([])
    assert labels.shape == (0, 6)


def test_unknown_code_lists_known_codes():
    with pytest.raises(LanggeoError) as excinfo:
        language_labels(["fr", "xx"])
    message = str(excinfo.value)
    assert "'xx'" in message
    for code in ("am", "fr", "zh", "ku"):
        assert code in message
    assert ", ".join(known_languages()["code"]) in message


def test_bare_string_is_rejected():
    with pytest.raises(LanggeoError, match="not the string 'fr'"):
        language_labels("fr")
