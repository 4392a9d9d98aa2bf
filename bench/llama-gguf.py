#!/usr/bin/env python3
"""Writes a GGUF with the 1.3B language model's shapes and random weights.

For bench/compare-llama.md: llama.cpp's llama-bench loads it to time
prefill and decoding on the same shapes as `docvl-mkmodel --arch 1.3b`
(DeepSeek-LLM 1.3B: llama architecture, 24 layers, hidden 2048, ffn 5632,
16 heads, vocab 102400). Speed does not depend on the weights' values, so
they are random; the vocabulary is dummy tokens (llama-bench feeds random
ids), enough for llama.cpp to load a "llama" (SentencePiece-style) vocab.

Needs llama.cpp's gguf-py on PYTHONPATH and numpy:
    PYTHONPATH=LLAMA_SRC/gguf-py python3 bench/llama-gguf.py --type q8_0 OUT.gguf
"""
import argparse
import sys
import types

import numpy as np


def stub_unused_imports():
    # gguf-py's package imports these for converters (vocab.py, metadata.py);
    # writing a file never calls them, so stubs spare installing them.
    for name, attr in (("sentencepiece", "SentencePieceProcessor"), ("yaml", "safe_load")):
        try:
            __import__(name)
        except ImportError:
            mod = types.ModuleType(name)
            setattr(mod, attr, None)
            sys.modules[name] = mod


stub_unused_imports()
import gguf  # noqa: E402  (after the stubs)

SHAPES = dict(layers=24, hidden=2048, ffn=5632, heads=16, vocab=102400, ctx=16384)

# Weight format -> (ggml type of the decoder matrices, of lm_head, llama_ftype).
# q4_0 keeps lm_head in q8_0 as docvl's q4 does (docs/weights.md).
Q = gguf.GGMLQuantizationType
FORMATS = {
    "f16": (Q.F16, Q.F16, 1),
    "bf16": (Q.BF16, Q.BF16, 32),
    "q8_0": (Q.Q8_0, Q.Q8_0, 7),
    "q4_0": (Q.Q4_0, Q.Q8_0, 2),
}


def add_vocab(w, n_vocab):
    # <unk> <s> </s>, the 256 byte tokens SentencePiece vocabularies carry
    # (llama.cpp looks up <0x0A> for a newline), then dummies.
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types_ = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    types_ += [gguf.TokenType.BYTE] * 256
    tokens += ["tok%d" % i for i in range(len(tokens), n_vocab)]
    types_ += [gguf.TokenType.NORMAL] * (n_vocab - len(types_))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types(types_)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)


def add_matrix(w, rng, name, rows, cols, qtype):
    m = (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02)
    if qtype == Q.F16:
        w.add_tensor(name, m.astype(np.float16))
    else:
        w.add_tensor(name, gguf.quants.quantize(m, qtype), raw_dtype=qtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--type", choices=sorted(FORMATS), required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("out")
    a = ap.parse_args()
    s = SHAPES
    mat_t, head_t, ftype = FORMATS[a.type]
    rng = np.random.default_rng(a.seed)
    w = gguf.GGUFWriter(a.out, "llama")
    w.add_name("random 1.3B-shaped (DeepSeek-LLM) for llama-bench")
    w.add_file_type(ftype)
    w.add_context_length(s["ctx"])
    w.add_embedding_length(s["hidden"])
    w.add_block_count(s["layers"])
    w.add_feed_forward_length(s["ffn"])
    w.add_head_count(s["heads"])
    w.add_head_count_kv(s["heads"])
    w.add_rope_dimension_count(s["hidden"] // s["heads"])
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_vocab_size(s["vocab"])
    add_vocab(w, s["vocab"])
    h, f = s["hidden"], s["ffn"]
    ones = np.ones(h, dtype=np.float32)
    add_matrix(w, rng, "token_embd.weight", s["vocab"], h, mat_t)
    for i in range(s["layers"]):
        p = "blk.%d." % i
        w.add_tensor(p + "attn_norm.weight", ones)
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            add_matrix(w, rng, p + t + ".weight", h, h, mat_t)
        w.add_tensor(p + "ffn_norm.weight", ones)
        add_matrix(w, rng, p + "ffn_gate.weight", f, h, mat_t)
        add_matrix(w, rng, p + "ffn_up.weight", f, h, mat_t)
        add_matrix(w, rng, p + "ffn_down.weight", h, f, mat_t)
        print("layer %d/%d" % (i + 1, s["layers"]), file=sys.stderr)
    w.add_tensor("output_norm.weight", ones)
    add_matrix(w, rng, "output.weight", s["vocab"], h, head_t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
