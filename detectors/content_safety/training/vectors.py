"""The static token table the judge reads: multilingual-e5-small distilled into one vector per token
(model2vec).

Run once when the table itself should change (`python -m watchkeeper.detectors.content_safety.training.vectors
OUT_DIR`); training reuses the table of the current judge by default. Only Latin-script pieces are kept (the
product's languages: en, fr, de, es, it, pt, nl), which is what keeps the shipped table near 47 MB. The pieces
are written as a sentence-piece model (`tokenizer.model`, see `pieces.py`).
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from pathlib import Path

from watchkeeper.detectors.content_safety.pieces import PIECES_FILE
from watchkeeper.detectors.content_safety.settings import ARTIFACTS_DIR

# pieces with a character outside Latin script, general punctuation or the euro sign are dropped
NON_LATIN = r"[^\u0000-\u024F\u2581\u1E00-\u1EFF\u2000-\u206F\u20AC]"
DIMS = 256


def _hf_dir(root: Path) -> Path:
    """The packed e5 weights as a transformers BertModel folder with an XLM-R style tokenizer."""
    from safetensors.numpy import save_file

    from watchkeeper.detectors.content_safety.training.teacher import e5_tokenizer, load_e5

    config, state, pieces = load_e5()
    save_file(state, str(root / "model.safetensors"))
    (root / "config.json").write_text(
        json.dumps({"architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu", **config})
    )
    tokenizer = json.loads(e5_tokenizer(pieces, precompiled_charsmap(ARTIFACTS_DIR / PIECES_FILE)).to_str())
    tokenizer["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [
            {"SpecialToken": {"id": "<s>", "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
            {"SpecialToken": {"id": "</s>", "type_id": 0}},
        ],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {
            "<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
            "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]},
        },
    }
    tokenizer["added_tokens"] = [
        {
            "id": i,
            "content": t,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i, t in ((0, "<s>"), (1, "<pad>"), (2, "</s>"), (3, "<unk>"))
    ]
    (root / "tokenizer.json").write_text(json.dumps(tokenizer))
    (root / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "XLMRobertaTokenizerFast",
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "sep_token": "</s>",
                "cls_token": "<s>",
                "pad_token": "<pad>",
                "model_max_length": 512,
            }
        )
    )
    return root


def distill_vectors(out_dir: Path) -> Path:
    """Write `model.safetensors` (the `embeddings` table) of the static model to out_dir, and its pieces as
    the judge's `tokenizer.model`."""
    from model2vec.distill import distill

    with tempfile.TemporaryDirectory() as tmp:
        model = distill(model_name=str(_hf_dir(Path(tmp))), pca_dims=DIMS, token_remove_pattern=NON_LATIN)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    spec = json.loads((out_dir / "tokenizer.json").read_text())
    (out_dir / PIECES_FILE).write_bytes(piece_model(spec))
    return out_dir / "model.safetensors"


def precompiled_charsmap(piece_model_file: Path) -> bytes:
    """The XLM-R text normalizer (NFKC and whitespace rules, compiled) stored in a piece model file."""
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(Path(piece_model_file).read_bytes())
    return proto.normalizer_spec.precompiled_charsmap


def piece_model(spec: dict) -> bytes:
    """A sentence-piece unigram model from a `tokenizers` Unigram spec (pieces, scores, normalizer).

    The unknown piece is the one named `<unk>`: a pruned vocabulary keeps the original `unk_id`, which then
    points at whatever piece moved into that slot."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    vocab = spec["model"]["vocab"]
    names = [piece for piece, _ in vocab]
    if "<unk>" not in names:
        raise ValueError("the vocabulary has no <unk> piece")
    special = {t["content"] for t in spec.get("added_tokens", [])} | {"<pad>", "<s>", "</s>"}
    proto = pb.ModelProto()
    proto.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    proto.trainer_spec.vocab_size = len(vocab)
    proto.trainer_spec.unk_id = names.index("<unk>")
    proto.trainer_spec.pad_id = names.index("<pad>") if "<pad>" in names else -1
    proto.trainer_spec.bos_id = names.index("<s>") if "<s>" in names else -1
    proto.trainer_spec.eos_id = names.index("</s>") if "</s>" in names else -1
    for piece, score in vocab:
        entry = proto.pieces.add()
        entry.piece, entry.score = piece, float(score)
        if piece == "<unk>":
            entry.type = pb.ModelProto.SentencePiece.UNKNOWN
        elif piece in special:
            entry.type = pb.ModelProto.SentencePiece.CONTROL
        else:
            entry.type = pb.ModelProto.SentencePiece.NORMAL
    normalizers = spec["normalizer"].get("normalizers", [spec["normalizer"]])
    charsmap = next(n["precompiled_charsmap"] for n in normalizers if n["type"] == "Precompiled")
    proto.normalizer_spec.name = "nmt_nfkc"
    proto.normalizer_spec.precompiled_charsmap = base64.b64decode(charsmap)
    proto.normalizer_spec.add_dummy_prefix = True
    proto.normalizer_spec.remove_extra_whitespaces = True
    proto.normalizer_spec.escape_whitespaces = True
    return proto.SerializeToString()


if __name__ == "__main__":
    print(distill_vectors(Path(sys.argv[1])))
