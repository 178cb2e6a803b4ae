"""Obtain a causal LM once (``prepare_model``) and load it fast afterwards (``load_model``)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import torch

from langgeo import VERBOSE_ENV, LanggeoError
from langgeo.formats.storage import atomic_path
from langgeo.params import ModelSpec

log = logging.getLogger(__name__)

def _offline_by_default() -> None:
    # Without this, a missing hub id costs ~50 s of retries before failing; a user who wants
    # the network sets HF_HUB_OFFLINE=0 explicitly.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Unless verbose, a model load is one line of this module's log: transformers' bars
    # would bury a command's own progress and summary.
    from transformers.utils import logging as hf_logging

    if os.environ.get(VERBOSE_ENV, "0") in ("", "0"):
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    else:
        hf_logging.enable_progress_bar()
        hf_logging.set_verbosity_warning()


def _from_pretrained(source: str, what: str, dtype: torch.dtype | str, **kwargs):
    """Load model and tokenizer, turning any loading failure into one clear message."""
    _offline_by_default()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        # dtype goes to the model only: a tokenizer keeps unknown kwargs and then fails to
        # serialize them in save_pretrained.
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
    except (OSError, ValueError, ImportError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "false", "False", "")
        hint = (
            "It is not in the local Hugging Face cache and HF_HUB_OFFLINE is set. Download it "
            "once with network (HF_HUB_OFFLINE=0), or point model_catalog.<name>.id at a local "
            "folder written by save_pretrained."
            if offline else "Check the id or path, and the network."
        )
        raise LanggeoError(f"{what} cannot be loaded: {hint} ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
    return model, tokenizer


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def package_gguf(spec: ModelSpec, scratch: Path) -> Path:
    """The GGUF file of a ``gguf-package`` model: shipped inside the installed package, or
    written into ``scratch`` by its ``assemble(path)``; checked against ``spec.sha256``.

    The package is located without importing it where it ships the file: some such
    packages are plugins whose ``__init__`` imports dependencies that we do not install.
    """
    install = "run `make install` (pinned in requirements.txt or the Makefile)"
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise LanggeoError(f"model {spec.name!r}: the package {spec.package!r} is not "
                           f"installed; {install}")
    path = Path(next(iter(found.submodule_search_locations))) / spec.gguf_file
    if not path.is_file():
        try:
            assemble = importlib.import_module(spec.package).assemble
        except (ImportError, AttributeError) as exc:
            raise LanggeoError(f"model {spec.name!r}: the package {spec.package!r} neither "
                               f"ships {spec.gguf_file!r} nor can assemble it; check "
                               f"model_catalog.{spec.name}.gguf_file") from exc
        path = Path(assemble(scratch / Path(spec.gguf_file).name))
    if spec.sha256 is not None:
        digest = _sha256(path)
        if digest != spec.sha256:
            raise LanggeoError(f"model {spec.name!r}: {path} has sha256 {digest}, expected "
                               f"{spec.sha256} (model_catalog.{spec.name}.sha256); reinstall "
                               f"the package ({install})")
    return path


def prepare_model(spec: ModelSpec, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``spec``'s model and tokenizer as a ``save_pretrained`` folder at ``out_dir``.

    GGUF weights are de-quantized to fp32 once here, so later stages load safetensors in
    seconds instead of de-quantizing again (~50 s for Gemma 3 270M).
    """
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp, tempfile.TemporaryDirectory() as scratch:
        if spec.source == "gguf-package":
            gguf_path = package_gguf(spec, Path(scratch))
            model, tokenizer = _from_pretrained(
                str(gguf_path.parent), f"model {spec.name!r} ({gguf_path.name})",
                gguf_file=gguf_path.name, dtype=torch.float32)
            # save_pretrained refuses a model that still carries its GGUF quantizer; the
            # weights are already plain fp32 tensors at this point.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
        else:
            model, tokenizer = _from_pretrained(
                spec.id, f"model {spec.name!r} ({spec.id})", revision=spec.revision,
                dtype="auto")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return out_dir


def load_tokenizer(model_dir: str | os.PathLike[str]):
    """Tokenizer of a folder written by :func:`prepare_model`."""
    _offline_by_default()
    from transformers import AutoTokenizer

    if not Path(model_dir).is_dir():
        raise LanggeoError(f"model folder {model_dir} not found; run `dvc repro` (stage "
                           f"prepare_model) first")
    backend = Path(model_dir) / "tokenizer.json"
    config = Path(model_dir) / "tokenizer_config.json"
    settings = json.loads(config.read_text()) if config.is_file() else {}
    if not backend.is_file() or settings.get("backend") != "tokenizers":
        return AutoTokenizer.from_pretrained(model_dir)
    # The fast tokenizer straight from the file prepare_model wrote: AutoTokenizer parses
    # the 33 MB tokenizer.json of Gemma three times in Python (2.9 s against 0.8 s) to build
    # the same backend; its ids are the same (tests/test_real_model.py).
    from transformers import PreTrainedTokenizerFast

    special = {k: settings[k] for k in PreTrainedTokenizerFast.SPECIAL_TOKENS_ATTRIBUTES
               if isinstance(settings.get(k), str)}
    return PreTrainedTokenizerFast(tokenizer_file=str(backend), **special)


def load_model(model_dir: str | os.PathLike[str], device: str = "cpu",
               dtype: str = "float32") -> torch.nn.Module:
    """Causal LM of a folder written by :func:`prepare_model`, in eval mode on ``device``."""
    _offline_by_default()
    from transformers import AutoModelForCausalLM

    if not Path(model_dir).is_dir():
        raise LanggeoError(f"model folder {model_dir} not found; run `dvc repro` (stage "
                           f"prepare_model) first")
    if device == "cuda" and not torch.cuda.is_available():
        raise LanggeoError("params: 'signatures.device' is cuda but no CUDA device is visible; "
                           "set it to cpu")
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype))
    model = model.to(device).eval()
    log.info("loaded %s (%s, %.1fM parameters, %s on %s) in %.1f s", model_dir,
             type(model).__name__, model.num_parameters() / 1e6, dtype, device,
             time.perf_counter() - start)
    return model
