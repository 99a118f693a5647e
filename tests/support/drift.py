"""Synthetic answer streams for the drift detector: four topics, lognormal lengths, a few refusals."""

from __future__ import annotations

import hashlib

import numpy as np

from watchkeeper.core.records import Message, ModelCall

VOCAB = {
    "cooking": [
        "oven",
        "recipe",
        "flour",
        "butter",
        "sugar",
        "bake",
        "pan",
        "simmer",
        "garlic",
        "onion",
        "sauce",
        "salt",
        "pepper",
        "dough",
    ],
    "code": [
        "python",
        "function",
        "class",
        "error",
        "compile",
        "loop",
        "variable",
        "array",
        "return",
        "module",
        "import",
        "debug",
        "test",
    ],
    "travel": [
        "flight",
        "hotel",
        "passport",
        "museum",
        "beach",
        "train",
        "ticket",
        "luggage",
        "visa",
        "itinerary",
        "airport",
        "tour",
    ],
    "health": [
        "sleep",
        "exercise",
        "diet",
        "protein",
        "vitamin",
        "doctor",
        "stress",
        "hydration",
        "muscle",
        "heart",
        "walk",
        "yoga",
    ],
}
REFUSAL = "I'm sorry, but I can't help with that request."


def make_stream(
    n: int, seed: int, *, mix=(0.25, 0.25, 0.25, 0.25), words=(40, 0.4), refusal=0.03, offset: int = 0
) -> list[ModelCall]:
    rng = np.random.default_rng(seed)
    names = list(VOCAB)
    calls = []
    for i in range(n):
        if rng.random() < refusal:
            text = REFUSAL
        else:
            vocab = VOCAB[names[int(rng.choice(4, p=mix))]]
            k = max(3, int(rng.lognormal(np.log(words[0]), words[1])))
            text = " ".join(vocab[int(j)] for j in rng.integers(len(vocab), size=k)) + "."
        digest = hashlib.sha256(f"drift|{seed}|{i + offset}".encode()).hexdigest()
        calls.append(
            ModelCall(
                trace_id=digest[:32],
                span_id=digest[32:48],
                start_time_ns=(1_750_000_000 + i + offset) * 10**9,
                duration_ms=500.0,
                service="helpdesk",
                request_model="m1",
                input_messages=[Message("user", "question")],
                output_text=text,
            )
        )
    return calls
