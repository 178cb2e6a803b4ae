"""Score samples: the same positions for every language, read back with their modules."""

import numpy as np
import torch

from langgeo.formats.signature_file import list_signatures
from langgeo.method.hessians import collect_hessians
from langgeo.method.importance import layer_scores


def test_score_sample_uses_the_same_positions_for_every_language(tiny_model, tmp_path):
    from langgeo.formats.score_file import read_scores, write_scores

    a = torch.randint(3, 150, (4, 16), generator=torch.Generator().manual_seed(0))
    b = torch.randint(150, 300, (4, 16), generator=torch.Generator().manual_seed(1))
    tables = []
    for name, ids in (("a", a), ("b", b)):
        scores = layer_scores(tiny_model, collect_hessians(tiny_model, ids.split(2)),
                              "sparsegpt", 0.01)
        write_scores(tmp_path / f"{name}.scores.parquet", scores, 500, 7, {"language": name})
        meta, table = read_scores(tmp_path / f"{name}.scores.parquet")
        assert meta["modules"] == list(scores) and len(table) == 500
        flat = torch.cat([s.reshape(-1) for s in scores.values()])
        assert np.array_equal(table["score"].to_numpy(), flat[table["position"]].numpy())
        bounds = np.cumsum([0] + [s.numel() for s in scores.values()])
        mi, pos = table["module_index"].to_numpy(), table["position"].to_numpy()
        assert ((bounds[mi] <= pos) & (pos < bounds[mi + 1])).all()
        tables.append(table)
    assert tables[0]["position"].equals(tables[1]["position"])
    assert not np.array_equal(tables[0]["score"], tables[1]["score"])
    assert list_signatures(tmp_path).empty  # score samples are not signatures
