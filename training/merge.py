"""Weighted merging of checkpoints of one architecture: every tensor is Σ α_i · θ_i with Σ α = 1.

Inputs are Hugging Face model directories (single or sharded safetensors). The merge streams one tensor
at a time across the inputs, accumulates in float64 and stores in the first input's dtype; config,
generation config and tokenizer files come from the first input, and `merge.json` records the recipe.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"
# config keys that decide the tensors' meaning, beyond their names and shapes
ARCHITECTURE_KEYS = ("model_type", "architectures", "tie_word_embeddings", "num_attention_heads",
                     "num_key_value_heads", "rope_theta", "rope_parameters")


class MergeError(ValueError):
    """Weights that do not sum to 1, or checkpoints that are not the same architecture."""


def _tensor_files(model: Path) -> dict[str, Path]:
    """tensor name -> the safetensors file holding it."""
    if (model / INDEX).exists():
        weight_map = json.loads((model / INDEX).read_text())["weight_map"]
        return {name: model / file for name, file in weight_map.items()}
    if (model / WEIGHTS).exists():
        from safetensors import safe_open

        with safe_open(os.fspath(model / WEIGHTS), framework="pt") as handle:
            return {name: model / WEIGHTS for name in handle.keys()}  # noqa: SIM118 (not a dict)
    raise MergeError(f"{model} holds no {WEIGHTS} or {INDEX}")


def _shapes(files: dict[str, Path]) -> dict[str, tuple]:
    from safetensors import safe_open

    shapes = {}
    for file in sorted(set(files.values())):
        with safe_open(os.fspath(file), framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118
                shapes[name] = tuple(handle.get_slice(name).get_shape())
    return shapes


def check_weights(weights: Sequence[float], tolerance: float = 1e-6) -> None:
    if not weights:
        raise MergeError("nothing to merge")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise MergeError(f"merge weights must be finite and >= 0, got {list(weights)}")
    if abs(math.fsum(weights) - 1.0) > tolerance:
        raise MergeError(f"merge weights must sum to 1 (±{tolerance}), got {math.fsum(weights)}")


def check_same_architecture(models: Sequence[Path]) -> dict[str, Path]:
    """Same config keys that matter, same tensor names and shapes; returns the first model's tensor files."""
    configs = [json.loads((m / "config.json").read_text()) for m in models]
    for model, config in zip(models[1:], configs[1:], strict=True):
        differ = [k for k in ARCHITECTURE_KEYS if config.get(k) != configs[0].get(k)]
        if differ:
            raise MergeError(f"{model} differs from {models[0]} in {differ}")
    files = [_tensor_files(m) for m in models]
    reference = _shapes(files[0])
    for model, model_files in zip(models[1:], files[1:], strict=True):
        shapes = _shapes(model_files)
        if shapes != reference:
            names = sorted(set(shapes) ^ set(reference)) or sorted(n for n in shapes if shapes[n] != reference[n])
            raise MergeError(f"{model} has other tensors than {models[0]}, e.g. {names[:3]}")
    return files[0]


def merge_checkpoints(inputs: Sequence[tuple[str | os.PathLike[str], float]], out: str | os.PathLike[str],
                      tolerance: float = 1e-6) -> str:
    """Write Σ α_i · θ_i of the `(path, α)` inputs to `out` (a loadable HF model directory); returns it."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    models = [Path(p) for p, _ in inputs]
    alphas = [float(a) for _, a in inputs]
    check_weights(alphas, tolerance)
    first_files = check_same_architecture(models)
    all_files = [first_files] + [_tensor_files(m) for m in models[1:]]
    merged = {}
    with contextlib.ExitStack() as stack:
        handles = {path: stack.enter_context(safe_open(os.fspath(path), framework="pt"))
                   for files in all_files for path in set(files.values())}
        for name in first_files:
            tensors = [handles[files[name]].get_tensor(name) for files in all_files]
            total = sum(t.to(torch.float64) * a for t, a in zip(tensors, alphas, strict=True))
            merged[name] = total.to(tensors[0].dtype).contiguous()
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    save_file(merged, os.fspath(target / WEIGHTS), metadata={"format": "pt"})
    for item in models[0].iterdir():
        if item.is_file() and not item.name.startswith("model") and item.suffix != ".bin" and item.name != "merge.json":
            shutil.copy2(item, target / item.name)
    recipe = {"inputs": [{"path": os.fspath(m.resolve()), "weight": a} for m, a in zip(models, alphas, strict=True)]}
    (target / "merge.json").write_text(json.dumps(recipe, indent=1) + "\n")
    return os.fspath(target)
