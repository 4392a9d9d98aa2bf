#!/usr/bin/python3
"""The docvl-train-bench step in PyTorch, for comparison (not a docvl dependency).

Reads a dump of docvl-train-bench (--dump DIR): config.json, model.safetensors (F32, read
here without the safetensors package) and batch.bin; builds the same SigLIP-only model
(SigLIP tower with its final norm, mlp_gelu aligner, LLaMA decoder), checks the loss on
those weights and that batch, then times optimizer steps (forward, backward, gradient
clipping at 1, AdamW lr 1e-4 betas 0.9/0.95 wd 0.01 on matrices) on the same batch.
Prints one JSON line: {"step_s": median, "loss0": step-0 loss, ...}.

    bench/train_torch.py DIR [--threads N] [--steps N]
"""
import argparse
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {t['dtype']}, expected F32")
        a, b = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data, np.float32, (b - a) // 4, a).copy()
                                     .reshape(t["shape"]))
    return out


def hw(image_size):
    """config.json's image_size: a side, or [height, width] (line models)."""
    return (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)


def read_batch(path, image_size):
    """i32 n, then per sample: i32 T, T i32 ids, T i32 labels, f32 pixels [3, H, W]."""
    raw = open(path, "rb").read()
    h, w = hw(image_size)
    per = 3 * h * w
    (n,) = struct.unpack_from("<i", raw, 0)
    off, out = 4, []
    for _ in range(n):
        (t,) = struct.unpack_from("<i", raw, off)
        ids = np.frombuffer(raw, np.int32, t, off + 4)
        labels = np.frombuffer(raw, np.int32, t, off + 4 + 4 * t)
        px = np.frombuffer(raw, np.float32, per, off + 4 + 8 * t)
        out.append((ids.copy(), labels.copy(), px.copy()))
        off += 4 + 8 * t + 4 * per
    return out


class Model(torch.nn.Module):
    def __init__(self, cfg, w):
        super().__init__()
        self.vp = cfg["vision_config"]["params"]
        self.lc = cfg["language_config"]
        self.P = torch.nn.ParameterDict()
        for name, t in w.items():
            if ".attn_pool." in name:
                continue  # stored but never used by the model
            self.P[name.replace(".", "__")] = torch.nn.Parameter(t)

    def p(self, name):
        return self.P[name.replace(".", "__")]

    def vision(self, px):
        vp, pre = self.vp, "vision_model.vision_tower."
        h, w = hw(vp["image_size"])
        mean = torch.tensor(vp["pixel_mean"]).view(1, 3, 1, 1)
        std = torch.tensor(vp["pixel_std"]).view(1, 3, 1, 1)
        x = (px.view(-1, 3, h, w) - mean) / std
        x = F.conv2d(x, self.p(pre + "patch_embed.proj.weight"), self.p(pre + "patch_embed.proj.bias"),
                     stride=vp["patch_size"])
        x = x.flatten(2).transpose(1, 2) + self.p(pre + "pos_embed")
        B, N, C = x.shape
        heads = vp["heads"]
        for i in range(vp["layers"]):
            b = f"{pre}blocks.{i}."
            h = F.layer_norm(x, (C,), self.p(b + "norm1.weight"), self.p(b + "norm1.bias"), 1e-6)
            qkv = F.linear(h, self.p(b + "attn.qkv.weight"), self.p(b + "attn.qkv.bias"))
            q, k, v = qkv.view(B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(C // heads), -1) @ v
            a = a.transpose(1, 2).reshape(B, N, C)
            x = x + F.linear(a, self.p(b + "attn.proj.weight"), self.p(b + "attn.proj.bias"))
            h = F.layer_norm(x, (C,), self.p(b + "norm2.weight"), self.p(b + "norm2.bias"), 1e-6)
            h = F.gelu(F.linear(h, self.p(b + "mlp.fc1.weight"), self.p(b + "mlp.fc1.bias")))
            x = x + F.linear(h, self.p(b + "mlp.fc2.weight"), self.p(b + "mlp.fc2.bias"))
        return F.layer_norm(x, (C,), self.p(pre + "norm.weight"), self.p(pre + "norm.bias"), 1e-6)

    def aligner(self, x):
        x = F.linear(x, self.p("aligner.layers.0.weight"), self.p("aligner.layers.0.bias"))
        return F.linear(F.gelu(x), self.p("aligner.layers.2.weight"), self.p("aligner.layers.2.bias"))

    def rms(self, x, w):
        x32 = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.lc["rms_norm_eps"])
        return x32 * w

    def decoder(self, x):
        lc, pre = self.lc, "language_model.model."
        B, T, H = x.shape
        nh, nkv = lc["num_attention_heads"], lc["num_key_value_heads"]
        hd = H // nh
        inv = 1.0 / (lc["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None]
        cos = torch.cat([ang.cos(), ang.cos()], -1).float()
        sin = torch.cat([ang.sin(), ang.sin()], -1).float()

        def rope(t):
            h1, h2 = t[..., : hd // 2], t[..., hd // 2:]
            return t * cos + torch.cat([-h2, h1], -1) * sin

        mask = torch.full((T, T), float("-inf")).triu(1)
        for i in range(lc["num_hidden_layers"]):
            L = f"{pre}layers.{i}."
            h = self.rms(x, self.p(L + "input_layernorm.weight"))
            q = F.linear(h, self.p(L + "self_attn.q_proj.weight")).view(B, T, nh, hd).transpose(1, 2)
            k = F.linear(h, self.p(L + "self_attn.k_proj.weight")).view(B, T, nkv, hd).transpose(1, 2)
            v = F.linear(h, self.p(L + "self_attn.v_proj.weight")).view(B, T, nkv, hd).transpose(1, 2)
            q, k = rope(q), rope(k)
            if nkv != nh:
                k = k.repeat_interleave(nh // nkv, 1)
                v = v.repeat_interleave(nh // nkv, 1)
            s = q @ k.transpose(-1, -2) / math.sqrt(hd) + mask
            a = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, H)
            x = x + F.linear(a, self.p(L + "self_attn.o_proj.weight"))
            h = self.rms(x, self.p(L + "post_attention_layernorm.weight"))
            h = F.silu(F.linear(h, self.p(L + "mlp.gate_proj.weight"))) * \
                F.linear(h, self.p(L + "mlp.up_proj.weight"))
            x = x + F.linear(h, self.p(L + "mlp.down_proj.weight"))
        x = self.rms(x, self.p(pre + "norm.weight"))
        head = "language_model.lm_head.weight"
        return F.linear(x, self.p(head if head.replace(".", "__") in self.P
                                  else pre + "embed_tokens.weight"))

    def forward(self, ids, labels, pixels, image_id):
        """Mean over the samples of each one's mean cross-entropy (as docvl's step)."""
        emb = self.p("language_model.model.embed_tokens.weight")
        img = self.aligner(self.vision(pixels))  # [B, n_img, H]
        x = emb[ids].clone()
        for b in range(ids.shape[0]):
            x[b, ids[b] == image_id] = img[b]
        logits = self.decoder(x)
        nll = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100,
                              reduction="none").view(labels.shape)
        counted = (labels != -100).sum(1).clamp(min=1)
        return (nll.sum(1) / counted).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--image-token", type=int, default=-1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = json.load(open(f"{a.dir}/config.json"))
    proc = json.load(open(f"{a.dir}/processor_config.json"))
    image_id = a.image_token
    if image_id < 0:
        tok = json.load(open(f"{a.dir}/tokenizer.json"))
        image_tag = proc.get("image_tag", "<image_placeholder>")
        image_id = next(t["id"] for t in tok["added_tokens"] if t["content"] == image_tag)
    model = Model(cfg, read_safetensors(f"{a.dir}/model.safetensors"))
    batch = read_batch(f"{a.dir}/batch.bin", cfg["vision_config"]["params"]["image_size"])
    T = max(len(ids) for ids, _, _ in batch)
    # right padding: causal attention never lets a real token see a pad
    ids = torch.zeros(len(batch), T, dtype=torch.long)
    labels = torch.full((len(batch), T), -100, dtype=torch.long)
    for b, (i, l, _) in enumerate(batch):
        ids[b, : len(i)] = torch.from_numpy(i.astype(np.int64))
        labels[b, : len(l)] = torch.from_numpy(l.astype(np.int64))
    pixels = torch.from_numpy(np.stack([px for _, _, px in batch]))
    decay = [p for n, p in model.P.items() if p.dim() >= 2 and "pos_embed" not in n]
    other = [p for n, p in model.P.items() if not (p.dim() >= 2 and "pos_embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": other, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    times, loss0 = [], None
    for step in range(a.steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = model(ids, labels, pixels, image_id)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if step == 0:
            loss0 = loss.item()
        else:
            times.append(dt)
    times.sort()
    print(json.dumps({"step_s": times[len(times) // 2], "step_best_s": times[0], "loss0": loss0,
                      "threads": a.threads, "padded_tokens": int(ids.numel()),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
