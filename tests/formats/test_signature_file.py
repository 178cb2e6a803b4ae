"""Signature files: the documented layout read back with pyarrow and numpy alone,
byte-identical files for identical inputs, foreign files refused."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from langgeo import LanggeoError
from langgeo.formats.signature_file import list_signatures, read_signature, write_signature
from tests.helpers.signatures import signature_of


def test_file_round_trip_and_format(tiny_model, tmp_path):
    ids = torch.randint(3, 300, (4, 16), generator=torch.Generator().manual_seed(0))
    bits = signature_of(tiny_model, ids)
    meta = {"model": "tiny", "dataset": "d", "language": "fr"}
    write_signature(tmp_path / "fr.parquet", bits, meta)

    back = read_signature(tmp_path / "fr.parquet")
    assert back.metadata == meta and back.modules == list(bits)
    for name, mask in bits.items():
        assert (back.bits(name) == mask).all()

    # The documented format, read with pyarrow and numpy alone.
    table = pq.read_table(tmp_path / "fr.parquet")
    assert table.schema.names == ["module", "shape", "n_bits", "bits"]
    row = table.slice(0, 1).to_pylist()[0]
    raw = np.unpackbits(np.frombuffer(row["bits"], np.uint8), count=row["n_bits"])
    assert (raw.reshape(row["shape"]).astype(bool) == bits[row["module"]]).all()
    assert json.loads(table.schema.metadata[b"langgeo"])["language"] == "fr"
    listing = list_signatures(tmp_path)
    assert listing["language"].tolist() == ["fr"]


def test_same_inputs_give_byte_identical_files(tmp_path):
    from tests.conftest import tiny_llama

    ids = torch.randint(3, 300, (4, 16), generator=torch.Generator().manual_seed(0))
    for name in ("a", "b"):
        write_signature(tmp_path / f"{name}.parquet", signature_of(tiny_llama(), ids), {"x": 1})
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_reading_a_foreign_file_is_a_clear_error(tmp_path):
    import pyarrow as pa

    pq.write_table(pa.table({"a": [1]}), tmp_path / "x.parquet")
    with pytest.raises(LanggeoError, match="not a langgeo signature file"):
        read_signature(tmp_path / "x.parquet")
    with pytest.raises(LanggeoError, match="not found"):
        read_signature(tmp_path / "missing.parquet")
