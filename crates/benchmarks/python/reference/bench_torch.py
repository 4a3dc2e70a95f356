"""The PyTorch side of `longitude bench model`: the same architecture (longitude_model.Transformer),
the same initial weights (read from our safetensors), the same shapes, the same thread counts.

Usage: bench_torch.py WEIGHTS.safetensors JSON_ARGS
JSON_ARGS: {"batch": 8, "seq_len": 512, "train_steps": 5, "warmup": 2, "train_threads": 2,
            "embed_len": 1000, "embed_threads": 1, "gen_n": 100, "gen_prompt": 100, "gen_tokens": 200,
            "gen_threads": 2, "repeats": 3}
Prints one JSON object with seconds and rates."""

import json
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from longitude_model import Transformer

args = json.loads(sys.argv[2])
torch.manual_seed(0)
model = Transformer.from_safetensors(sys.argv[1])
v = model.c["vocab_size"]
rng = np.random.default_rng(0)
out = {"torch": torch.__version__}


def median(xs):
    return float(np.median(xs))


# Training: AdamW, cross-entropy over every position, gradient clipping at 1.0.
torch.set_num_threads(args["train_threads"])
b, t = args["batch"], args["seq_len"] - 1
tokens = torch.from_numpy(rng.integers(3, v, size=(b, t + 1)))
x, y = tokens[:, :-1], tokens[:, 1:]
optim = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1, eps=1e-8)
times = []
for step in range(args["warmup"] + args["train_steps"]):
    started = time.perf_counter()
    logits = model(x)
    loss = F.cross_entropy(logits.reshape(-1, v), y.reshape(-1))
    optim.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optim.step()
    if step >= args["warmup"]:
        times.append(time.perf_counter() - started)
out["train_tokens_per_s"] = b * t / median(times)
out["train_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

model.eval()
with torch.inference_mode():
    # Embedding one long history: one forward pass, final hidden state.
    torch.set_num_threads(args["embed_threads"])
    seq = torch.from_numpy(rng.integers(3, v, size=(1, args["embed_len"])))
    times = []
    for _ in range(args["repeats"] + 1):
        started = time.perf_counter()
        model(seq)
        times.append(time.perf_counter() - started)
    out["embed_ms"] = 1000 * median(times[1:])

    # Generation: n trajectories in one batch with a KV cache, sampled on the CPU side. As ours
    # does, one prefill of the shared context, its cache and last logits repeated n times.
    torch.set_num_threads(args["gen_threads"])
    n = args["gen_n"]
    prompt = torch.from_numpy(rng.integers(3, v, size=(1, args["gen_prompt"])))
    times = []
    for _ in range(args["repeats"]):
        started = time.perf_counter()
        caches = [dict() for _ in model.layers]
        logits = model(prompt, caches, 0)[:, -1:, :].repeat(n, 1, 1)
        for c in caches:
            c["k"], c["v"] = c["k"].repeat(n, 1, 1, 1), c["v"].repeat(n, 1, 1, 1)
        pos = prompt.shape[1]
        for _ in range(args["gen_tokens"]):
            probs = torch.softmax(logits[:, -1, :], dim=-1)
            nxt = torch.multinomial(probs, 1)
            logits = model(nxt, caches, pos)
            pos += 1
        times.append(time.perf_counter() - started)
    out["generate_s"] = median(times)
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
