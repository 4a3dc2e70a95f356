"""Parity: the PyTorch module and the independent numpy forward in crates/benchmarks/python/reference/ each
reproduce the logits our Rust model computed from the same safetensors.
Usage: check_model_logits.py WEIGHTS.safetensors TOKENS.json LOGITS.f32 [VALUES.json]
(LOGITS: little-endian float32, [B, T, V] in row-major order; VALUES: the tokens' value
positions, [B, T], for a model with the value channel). Prints JSON with the max abs
difference of each against ours, and the shapes."""

import json
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "crates" / "benchmarks" / "python" / "reference"))
from longitude_model import Transformer, forward_numpy, load  # noqa: E402

weights, config = load(sys.argv[1])
tokens = np.array(json.loads(pathlib.Path(sys.argv[2]).read_text()), dtype=np.int64)
ours = np.fromfile(sys.argv[3], dtype="<f4").reshape(tokens.shape[0], tokens.shape[1], config["vocab_size"])
values = None
if len(sys.argv) > 4:
    values = np.array(json.loads(pathlib.Path(sys.argv[4]).read_text()), dtype=np.float32)
theirs = forward_numpy(weights, config, tokens, values)
module = Transformer.from_safetensors(sys.argv[1]).eval()
with torch.no_grad():
    torch_values = None if values is None else torch.from_numpy(values)
    torch_logits = module(torch.from_numpy(tokens), values=torch_values).numpy()
print(json.dumps({
    "torch": torch.__version__,
    "torch_max_abs_diff": float(np.abs(ours - torch_logits).max()),
    "torch_shape": list(torch_logits.shape),
    "max_abs_diff": float(np.abs(ours - theirs).max()),
    "max_abs_logit": float(np.abs(theirs).max()),
    "shape": list(theirs.shape),
    "argmax_agree": float((ours.argmax(-1) == theirs.argmax(-1)).mean()),
}))
