"""Factor files against signature files on a real model: sizes, the exact round trip to bits,
and the time of one text's distances to ``--references`` languages from factors and from bits.

For each language of ``--languages`` (eld text, ``--tokens`` calibration tokens) it writes the
signature and factor files the signature stage writes, prints both sizes, rebuilds the bits
from factors + weights (:func:`langgeo.method.signature.bits_from_factors`, median of ``--repeats``)
and checks they are identical. The distance timings use copies of those files as the
references (the time does not depend on their content).

    python benchmarks/factors.py --model-dir models/gemma3-270m --languages fr ja
    python benchmarks/factors.py --model-dir models/gemma3-270m --check data/signatures/gemma3-270m/eld

``--check FOLDER`` instead compares every signature file of a signature stage's output with
the bits rebuilt from its factor file, and prints how many are identical.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from langgeo.data.sources import eld_documents
from langgeo.geometry.hamming import distances_from_files, hamming_to_files
from langgeo.geometry.continuous import factor_distances, factor_features
from langgeo.formats.factor_file import factor_table, read_factors
from langgeo.method.models import load_model, load_tokenizer
from langgeo.params import load_params
from langgeo.method.signature import bits_from_factors
from langgeo.formats.signature_file import read_signature, write_signature
from langgeo.method.signature import compute


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--languages", nargs="+", default=["fr", "ja"])
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--references", type=int, default=59)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check", help="a signatures folder to compare with its factors")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"],
                        help="the forward dtype of the model (the weights the bits depend on); "
                             "default: signatures.dtype of params.yaml")
    args = parser.parse_args()

    import pyarrow.parquet as pq

    dtype = args.dtype or load_params("params.yaml").signatures.dtype
    model = load_model(args.model_dir, "cpu", dtype)
    if args.check:
        check(model, Path(args.check))
        return
    tokenizer = load_tokenizer(args.model_dir)
    docs = eld_documents()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for lang in args.languages:
            sig = compute(model, tokenizer, docs[lang], args.tokens, args.seq_len,
                                 metadata={"language": lang}, name=lang)
            write_signature(folder / f"{lang}.parquet", sig.bits, {"language": lang})
            pq.write_table(factor_table(sig.factors), folder / f"{lang}.factors.parquet",
                           compression="none", use_dictionary=False)
            bits_size = (folder / f"{lang}.parquet").stat().st_size
            factors_size = (folder / f"{lang}.factors.parquet").stat().st_size
            n_bits = sum(b.size for b in sig.bits.values())
            seconds, back = median_time(
                lambda: bits_from_factors(model, folder / f"{lang}.factors.parquet"), args.repeats)
            exact = all(np.array_equal(back[m], sig.bits[m]) for m in sig.bits)
            print(f"{lang}: {n_bits:,} bits -> signature {bits_size:,} B; "
                  f"{sig.factors.n_factors:,} factors in {len(sig.factors.factors)} Hessians -> "
                  f"factor file {factors_size:,} B ({bits_size / factors_size:.0f}x smaller); "
                  f"bits from factors {seconds:.2f} s, identical: {exact}")

        lang = args.languages[0]
        refs = folder / "refs"
        refs.mkdir()
        for i in range(args.references):
            source = args.languages[i % len(args.languages)]
            shutil.copy(folder / f"{source}.parquet", refs / f"r{i}.parquet")
            shutil.copy(folder / f"{source}.factors.parquet", refs / f"r{i}.factors.parquet")

        def from_factors():
            features = factor_features([read_factors(refs / f"r{i}.factors.parquet")
                                        for i in range(args.references)])
            new = factor_features([read_factors(folder / f"{lang}.factors.parquet")])
            return factor_distances(new, features)

        paths = [refs / f"r{i}.parquet" for i in range(args.references)]
        new_bits = read_signature(folder / f"{lang}.parquet")
        new_bits = {m: new_bits.bits(m) for m in new_bits.modules}
        t_factors, _ = median_time(from_factors, args.repeats)
        t_bits, _ = median_time(lambda: hamming_to_files([new_bits], paths), args.repeats)
        t_matrix, _ = median_time(
            lambda: distances_from_files(paths + [folder / f"{lang}.parquet"]), args.repeats)
        print(f"one text against {args.references} references (medians of {args.repeats}): "
              f"from factors {t_factors:.2f} s, from bits {t_bits:.2f} s (hamming_to_files); "
              f"the whole {args.references + 1}-language Hamming matrix {t_matrix:.2f} s")


def check(model, folder: Path) -> None:
    signatures = sorted(p for p in folder.glob("*.parquet")
                        if ".factors." not in p.name and ".scores." not in p.name)
    same = 0
    for path in signatures:
        stored = read_signature(path)
        rebuilt = bits_from_factors(model, folder / f"{path.stem}.factors.parquet")
        if list(rebuilt) == stored.modules and all(
                np.array_equal(np.packbits(rebuilt[m].reshape(-1)), stored.packed[m])
                for m in stored.modules):
            same += 1
        else:
            print(f"{path.stem}: bits from factors differ from {path}")
    print(f"{same} of {len(signatures)} signatures in {folder} identical to the bits rebuilt "
          "from their factors")


if __name__ == "__main__":
    main()
