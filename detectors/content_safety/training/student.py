"""The judge the daemon runs, in torch for training: a convolutional reader over frozen multilingual token
vectors
with exchange-aware heads, trained on the labels and on a fine-tuned transformer teacher's soft labels.

The teacher (`teacher.py`) reads answer and request together and is too slow for every call; its probabilities
for every category on every training example give the small reader a dense target where a set labels only one
category (a sexism set says nothing about violence), which is what lets a cheap model learn from many sets.
`export` writes the arrays `judge.py` reads; `judge.py` computes the same function in numpy.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from watchkeeper.detectors.content_safety.training.corpus import CAT_HEADS, HEAD_COLS, Encoded

PAD = 0


class Reader(nn.Module):
    """Token ids -> one vector per text: dilated convolutions over static vectors, max + mean pooled."""

    def __init__(
        self,
        vectors: np.ndarray,
        channels: int,
        hidden: int,
        dilations: tuple[int, ...],
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.emb = nn.Embedding.from_pretrained(torch.from_numpy(vectors.astype(np.float32)), freeze=True)
        convs, cin = [], vectors.shape[1]
        for d in dilations:
            convs.append(nn.Conv1d(cin, channels, 3, padding=d, dilation=d))
            cin = channels
        self.convs = nn.ModuleList(convs)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * channels, hidden)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1)
        x = self.drop(self.emb(ids)).transpose(1, 2) * m  # padding reads as zeros, as in numpy
        for i, conv in enumerate(self.convs):
            y = torch.relu(conv(x)) * m
            x = y + x if i and y.shape == x.shape else y
        mx = (x - (1 - m) * 1e4).max(-1).values
        mean = x.sum(-1) / m.sum(-1).clamp(min=1)
        return torch.tanh(self.out(self.drop(torch.cat([mx, mean], -1))))


class Student(nn.Module):
    def __init__(
        self,
        vectors: np.ndarray,
        channels: int = 256,
        hidden: int = 256,
        dilations: tuple[int, ...] = (1, 2, 4),
    ) -> None:
        super().__init__()
        self.reader = Reader(vectors, channels, hidden, dilations)
        self.cat = nn.Linear(hidden, len(CAT_HEADS))
        self.req = nn.Linear(hidden, 1)
        self.hc = nn.Sequential(nn.Linear(4 * hidden + 2, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, a_ids, a_mask, p_ids, p_mask, has_prompt) -> torch.Tensor:
        """Logits in HEAD_COLS order."""
        a = self.reader(a_ids, a_mask)
        p = self.reader(p_ids, p_mask) * has_prompt.unsqueeze(-1)
        req = self.req(p).squeeze(-1)
        z = torch.cat(
            [
                a,
                p,
                a * p,
                (a - p).abs(),
                (torch.sigmoid(req) * has_prompt).unsqueeze(-1),
                has_prompt.unsqueeze(-1),
            ],
            -1,
        )
        return torch.cat([self.cat(a), req.unsqueeze(-1), self.hc(z)], -1)


def _pad(seqs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    t = max(1, max(len(s) for s in seqs))
    ids = np.full((len(seqs), t), PAD, dtype=np.int64)
    mask = np.zeros((len(seqs), t), dtype=np.float32)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def batch(enc: Encoded, idx: np.ndarray, use_prompt: np.ndarray | None = None):
    a_ids, a_mask = _pad([enc.a[i] for i in idx])
    p_ids, p_mask = _pad([enc.p[i] for i in idx])
    has = np.array([1.0 if len(enc.p[i]) else 0.0 for i in idx], dtype=np.float32)
    if use_prompt is not None:
        has *= use_prompt
    return a_ids, a_mask, p_ids, p_mask, torch.from_numpy(has)


@dataclass
class StudentConfig:
    steps: int = 3000
    tokens: int = 6000  # answer tokens per batch (examples of similar length, so padding costs little)
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    prompt_dropout: float = 0.3  # share of answers trained without their request: the judge works without it
    teacher_weight: float = 1.0  # weight of the soft-label loss beside the hard-label loss
    log_every: int = 200


def source_weights(examples: list, boost: dict[str, float]) -> np.ndarray:
    """Sampling weight per example: each source counts with sqrt(size), so big sets do not drown small
    ones."""
    sizes: dict[str, int] = {}
    for ex in examples:
        sizes[ex.source] = sizes.get(ex.source, 0) + 1
    return np.array(
        [math.sqrt(sizes[ex.source]) / sizes[ex.source] * boost.get(ex.source, 1.0) for ex in examples]
    )


# sources sampled more often: own contrast and hard-negative sets, clean answers, answer sets
BOOST = {
    "contrast": 5.0,
    "hard_negatives": 8.0,
    "alpaca_eval": 4.0,
    "coconot_pref": 3.0,
    "gptfuzz": 1.5,
    "jailbreakbench": 1.5,
    "diasafety": 1.5,
}


def _masked_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    known = ~torch.isnan(target)
    per = nn.functional.binary_cross_entropy_with_logits(logits, torch.nan_to_num(target), reduction="none")
    return (per * known).sum() / known.sum().clamp(min=1)


def train(
    enc: Encoded,
    train_idx: np.ndarray,
    vectors: np.ndarray,
    cfg: StudentConfig,
    soft: np.ndarray | None = None,
    soft_no_prompt: np.ndarray | None = None,
    log=print,
) -> Student:
    """Masked multi-task BCE on the labels (+ BCE on the teacher's probabilities where given, nan = none)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = Student(vectors)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    w = source_weights(enc.examples, BOOST)[train_idx]
    w = w / w.sum()
    lengths = np.array([max(len(enc.a[i]), len(enc.p[i])) for i in range(len(enc))])[train_idx]
    y_all = torch.from_numpy(enc.y)
    any_col, req_col = HEAD_COLS.index("any"), HEAD_COLS.index("harmful_request")
    model.train()
    t0, running = time.time(), 0.0
    for step in range(cfg.steps):
        pivot = rng.choice(len(train_idx), p=w)
        lo, hi = lengths[pivot] * 0.7 - 4, lengths[pivot] * 1.3 + 4
        near = np.flatnonzero((lengths >= lo) & (lengths <= hi))
        size = int(max(4, min(512, cfg.tokens // max(8, hi))))
        pick = rng.choice(near, size=size, p=w[near] / w[near].sum())
        idx = train_idx[pick]
        keep = (rng.random(len(idx)) >= cfg.prompt_dropout) | enc.is_request[idx]
        logits = model(*batch(enc, idx, keep.astype(np.float32)))
        y = y_all[idx].clone()
        y[:, any_col] = float("nan")  # "any" is the max of the categories, never a head of its own
        has = torch.tensor([len(enc.p[i]) > 0 for i in idx]) & torch.from_numpy(keep)
        y[:, req_col] = torch.where(has, y[:, req_col], torch.tensor(float("nan")))
        loss = _masked_bce(logits, y)
        if soft is not None and cfg.teacher_weight:
            s = np.where(
                keep[:, None], soft[idx], soft_no_prompt[idx] if soft_no_prompt is not None else soft[idx]
            )
            s = torch.from_numpy(s.astype(np.float32))
            s[:, any_col] = float("nan")
            s[:, req_col] = torch.where(has, s[:, req_col], torch.tensor(float("nan")))
            loss = loss + cfg.teacher_weight * _masked_bce(logits, s)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        running += loss.item()
        if (step + 1) % cfg.log_every == 0:
            log(
                f"  student step {step + 1}/{cfg.steps} loss {running / cfg.log_every:.4f} "
                f"{time.time() - t0:.0f}s"
            )
            running = 0.0
    model.eval()
    return model


def predict(
    model: Student, enc: Encoded, idx: np.ndarray, use_prompt: bool = True, size: int = 128
) -> np.ndarray:
    """(len(idx), len(HEAD_COLS)) probabilities."""
    out = np.zeros((len(idx), len(HEAD_COLS)), dtype=np.float32)
    order = np.argsort([len(enc.a[i]) for i in idx])
    with torch.inference_mode():
        for s in range(0, len(order), size):
            sel = order[s : s + size]
            flags = np.full(len(sel), 1.0 if use_prompt else 0.0, dtype=np.float32)
            out[sel] = torch.sigmoid(model(*batch(enc, idx[sel], flags))).numpy()
    return out


def export(model: Student) -> dict[str, np.ndarray]:
    """The arrays of judge.npz: int8 token vectors with one scale per row, convolutions as (3*in, out)
    matrices."""
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    emb = sd["reader.emb.weight"].astype(np.float32)
    scale = np.abs(emb).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    out: dict[str, np.ndarray] = {
        "emb_q": np.round(emb / scale[:, None]).astype(np.int8),
        "emb_scale": scale.astype(np.float32),
    }
    dilations = []
    for i, conv in enumerate(model.reader.convs):
        w = sd[f"reader.convs.{i}.weight"]  # (out, in, 3): tap 0 reads position t - d
        out[f"conv{i}_w"] = np.ascontiguousarray(w.transpose(2, 1, 0).reshape(-1, w.shape[0])).astype(
            np.float32
        )
        out[f"conv{i}_b"] = sd[f"reader.convs.{i}.bias"].astype(np.float32)
        dilations.append(conv.dilation[0])
    out["dilations"] = np.array(dilations, dtype=np.int64)
    for name, key in (
        ("reader.out", "out"),
        ("cat", "cat"),
        ("req", "req"),
        ("hc.0", "hc0"),
        ("hc.2", "hc1"),
    ):
        out[f"{key}_w"] = sd[f"{name}.weight"].T.astype(np.float32)
        out[f"{key}_b"] = sd[f"{name}.bias"].astype(np.float32)
    out["cat_heads"] = np.array(CAT_HEADS)
    return out
