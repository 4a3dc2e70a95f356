"""Parity: the numpy re-implementation in benches/reference/ reproduces the logits our Rust model
computed. Usage: check_model_logits.py WEIGHTS.safetensors TOKENS.json LOGITS.f32
(LOGITS: little-endian float32, [B, T, V] in row-major order). Prints JSON with the max abs
difference and the shapes."""

import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benches" / "reference"))
from longitude_model import forward_numpy, load  # noqa: E402

weights, config = load(sys.argv[1])
tokens = np.array(json.loads(pathlib.Path(sys.argv[2]).read_text()), dtype=np.int64)
ours = np.fromfile(sys.argv[3], dtype="<f4").reshape(tokens.shape[0], tokens.shape[1], config["vocab_size"])
theirs = forward_numpy(weights, config, tokens)
print(json.dumps({
    "max_abs_diff": float(np.abs(ours - theirs).max()),
    "max_abs_logit": float(np.abs(theirs).max()),
    "shape": list(theirs.shape),
    "argmax_agree": float((ours.argmax(-1) == theirs.argmax(-1)).mean()),
}))
