"""The Longitude transformer, re-implemented outside Rust to prove the model is what we say it is.

Reads the safetensors our `model` crate writes (PyTorch names and layouts, config in the file's
metadata) and computes the same next-token logits:

- `forward_numpy(weights, config, tokens, values)`: plain numpy, float32 (the parity check in `cargo test`);
- `Transformer` (PyTorch, imported only if torch is installed): the same architecture as an
  `nn.Module`, for the PyTorch world to use our weights and for the speed comparison.

Architecture: token embedding (plus, in a model with the value channel, `value_embed[token] *
value`, the value's position inside its bin in [-1/2, 1/2], 0 for tokens without one); per block, x += Wo·attn(RoPE(Wq·n(x)), RoPE(Wk·n(x)), Wv·n(x)) with
a causal mask, then x += Wdown·(silu(Wgate·n(x)) * Wup·n(x)), n = RMSNorm (eps inside the sqrt);
final RMSNorm; untied head. RoPE rotates dimension i with i + K/2 ("rotate half").
"""

import json

import numpy as np
from safetensors.numpy import load_file
from safetensors import safe_open


def load(path):
    """Weights (name -> float32 array) and the config dict stored in the metadata."""
    with safe_open(path, framework="np") as f:
        meta = json.loads((f.metadata() or {}).get("longitude", "{}"))
    if meta.get("format") != "longitude-model":
        raise ValueError(f"{path}: not a Longitude model")
    return load_file(path), meta["config"]


def rope_tables(start, length, head_dim, theta):
    half = head_dim // 2
    freq = 1.0 / theta ** (2.0 * np.arange(half, dtype=np.float64) / head_dim)
    angle = np.arange(start, start + length, dtype=np.float64)[:, None] * freq[None, :]
    return np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def softmax(x, axis=-1):
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def embed_numpy(w, c, tokens, values=None):
    """The input embedding [B, T, D] of int tokens [B, T] and their float value positions [B, T]."""
    x = w["embed.weight"][tokens]
    if c.get("value_channel") and values is not None:
        x = x + w["value_embed.weight"][tokens] * values.astype(np.float32)[..., None]
    return x


def forward_numpy(w, c, tokens, values=None):
    """Logits [B, T, V] for int tokens [B, T] (and value positions [B, T], or none)."""
    b, t = tokens.shape
    d, h = c["d_model"], c["n_heads"]
    k = d // h
    eps = np.float32(c["norm_eps"])
    cos, sin = rope_tables(0, t, k, c["rope_theta"])
    x = embed_numpy(w, c, tokens, values)
    mask = np.triu(np.full((t, t), -np.inf, dtype=np.float32), 1)
    for i in range(c["n_layers"]):
        p = lambda n: w[f"layers.{i}.{n}.weight"]
        n = rms_norm(x, p("attn_norm"), eps)
        heads = lambda y: y.reshape(b, t, h, k).transpose(0, 2, 1, 3)
        q = rotate(heads(n @ p("wq").T), cos, sin)
        kk = rotate(heads(n @ p("wk").T), cos, sin)
        v = heads(n @ p("wv").T)
        scores = q @ kk.transpose(0, 1, 3, 2) / np.float32(np.sqrt(k)) + mask
        a = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
        x = x + a @ p("wo").T
        n = rms_norm(x, p("mlp_norm"), eps)
        gate = n @ p("w_gate").T
        x = x + ((gate / (1.0 + np.exp(-gate))) * (n @ p("w_up").T)) @ p("w_down").T
    x = rms_norm(x, w["norm.weight"], eps)
    return x @ w["head.weight"].T


try:
    import torch
    from torch import nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            d, f = c["d_model"], c["d_ff"]
            self.n_heads = c["n_heads"]
            self.attn_norm = nn.RMSNorm(d, eps=c["norm_eps"])
            self.wq, self.wk, self.wv, self.wo = (nn.Linear(d, d, bias=False) for _ in range(4))
            self.mlp_norm = nn.RMSNorm(d, eps=c["norm_eps"])
            self.w_gate = nn.Linear(d, f, bias=False)
            self.w_up = nn.Linear(d, f, bias=False)
            self.w_down = nn.Linear(f, d, bias=False)

        def forward(self, x, cos, sin, cache=None):
            b, t, d = x.shape
            h = self.n_heads
            heads = lambda y: y.view(b, t, h, d // h).transpose(1, 2)
            n = self.attn_norm(x)
            q = _rotate(heads(self.wq(n)), cos, sin)
            k = _rotate(heads(self.wk(n)), cos, sin)
            v = heads(self.wv(n))
            causal = True
            if cache is not None:
                if cache.get("k") is not None:
                    k = torch.cat([cache["k"], k], 2)
                    v = torch.cat([cache["v"], v], 2)
                    causal = t > 1
                cache["k"], cache["v"] = k, v
            a = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            x = x + self.wo(a.transpose(1, 2).reshape(b, t, d))
            n = self.mlp_norm(x)
            return x + self.w_down(F.silu(self.w_gate(n)) * self.w_up(n))

    def _rotate(x, cos, sin):
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)

    class Transformer(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = c
            self.embed = nn.Embedding(c["vocab_size"], c["d_model"])
            self.value_embed = nn.Embedding(c["vocab_size"], c["d_model"]) if c.get("value_channel") else None
            self.layers = nn.ModuleList(Block(c) for _ in range(c["n_layers"]))
            self.norm = nn.RMSNorm(c["d_model"], eps=c["norm_eps"])
            self.head = nn.Linear(c["d_model"], c["vocab_size"], bias=False)

        @classmethod
        def from_safetensors(cls, path):
            weights, c = load(path)
            model = cls(c)
            model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
            return model

        def forward(self, tokens, caches=None, start=0, values=None):
            t = tokens.shape[1]
            k = self.c["d_model"] // self.c["n_heads"]
            cos, sin = (torch.from_numpy(a) for a in rope_tables(start, t, k, self.c["rope_theta"]))
            x = self.embed(tokens)
            if self.value_embed is not None and values is not None:
                x = x + self.value_embed(tokens) * values.unsqueeze(-1)
            for i, layer in enumerate(self.layers):
                x = layer(x, cos, sin, None if caches is None else caches[i])
            return self.head(self.norm(x))

except ImportError:  # numpy-only environments (the parity test) need no torch
    pass
