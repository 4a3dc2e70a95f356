"""PyTorch parity, for a venv with torch (too heavy for the test venv): the PyTorch module and the
numpy forward (which `cargo test` checks against our Rust logits) agree on our weights.

Usage: check_torch_parity.py MODEL.safetensors   (e.g. RUN/model/model.safetensors)"""

import json
import sys

import numpy as np
import torch

from longitude_model import Transformer, forward_numpy, load

weights, config = load(sys.argv[1])
tokens = np.random.default_rng(1).integers(3, config["vocab_size"], size=(2, 300))
ours = forward_numpy(weights, config, tokens)
model = Transformer.from_safetensors(sys.argv[1]).eval()
with torch.no_grad():
    theirs = model(torch.from_numpy(tokens)).numpy()
diff = float(np.abs(ours - theirs).max())
print(json.dumps({"torch": torch.__version__, "max_abs_diff": diff, "max_abs_logit": float(np.abs(ours).max())}))
sys.exit(0 if diff <= 1e-4 else 1)
