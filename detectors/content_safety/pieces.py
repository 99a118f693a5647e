"""The judge's tokenizer: a sentence-piece unigram model over the pieces of the judge's token table.

Why sentencepiece rather than the `tokenizers` Unigram model: the same 184k pieces cost ~50 MB resident in
sentencepiece's double-array trie against ~220 MB in `tokenizers` (a hash map per trie node), and encode
several times faster on one thread. The file is a serialized protobuf, never a pickle. Training and serving
both read text through this class, so the reader sees at run time exactly the ids it was trained on.
"""

from __future__ import annotations

from pathlib import Path

PIECES_FILE = "tokenizer.model"


class PieceFileError(RuntimeError):
    """The piece model is missing or unreadable."""


class Pieces:
    """Token ids of texts, one thread (the detector's CPU budget counts one core)."""

    def __init__(self, path: Path) -> None:
        import sentencepiece

        if not Path(path).is_file():
            raise PieceFileError("is missing")
        processor = sentencepiece.SentencePieceProcessor()
        try:
            processor.LoadFromSerializedProto(Path(path).read_bytes())
        except Exception as exc:  # sentencepiece raises RuntimeError/OSError on a bad proto
            raise PieceFileError(f"is unreadable ({type(exc).__name__}: {exc})") from exc
        self._processor = processor
        self.unknown_id = processor.unk_id()

    def __len__(self) -> int:
        return self._processor.get_piece_size()

    def ids(self, texts: list[str]) -> list[list[int]]:
        try:
            return self._processor.encode(texts, num_threads=1)
        except (TypeError, UnicodeError):  # lone surrogates (valid JSON escapes) are not UTF-8
            return self._processor.encode([_utf8(t) for t in texts], num_threads=1)

    def pieces(self, text: str) -> list[str]:
        """The pieces of one text, for inspection and tests."""
        return self._processor.encode(_utf8(text), out_type=str)


def _utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")
