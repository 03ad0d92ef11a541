"""The sentence encoder: verified weights, no network, the same vector for the same text, and vectors
that carry meaning (the NLU and the safety decision both rely on it)."""
import fcntl
import random
import shutil
import socket
import threading

import numpy as np
import pytest

from bot.embeddings import EmbeddingCache, EmbeddingModelError, SentenceEncoder, WordPieceTokenizer, encoder, model_dir


def test_the_installed_weights_are_the_expected_ones_and_load():
    assert encoder().encode(["hello"]).shape == (1, 384)


def test_weights_whose_hash_differs_are_refused(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model_dir(), copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(EmbeddingModelError, match="not the expected ones"):
        SentenceEncoder(copy)


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(EmbeddingModelError, match="make install"):
        SentenceEncoder(tmp_path)


def test_encoding_never_opens_a_network_connection(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("the encoder tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = SentenceEncoder(model_dir())  # loading, too, happens with sockets blocked
    assert fresh.encode(["when will the review finish"]).shape == (1, 384)


def test_the_same_text_always_gives_the_same_unit_vector():
    first, second = encoder().encode(["How long will the review take?", "How long will the review take?"])
    assert np.array_equal(first, second)
    assert np.linalg.norm(first) == pytest.approx(1.0, abs=1e-5)
    # Batching with longer texts (padding) does not change a text's vector (a fresh encoder: none remembered).
    padded = SentenceEncoder(model_dir()).encode(["How long will the review take?", "a much longer message " * 10])[0]
    assert np.allclose(first, padded, atol=1e-5)


def test_vectors_carry_meaning_not_just_words():
    how_long, when_finish, weather = encoder().encode(
        ["how long does the review take", "when will it all be finished", "is it going to rain tomorrow"])
    assert how_long @ when_finish > how_long @ weather + 0.1


def test_the_cache_gives_back_exactly_what_the_encoder_gives(tmp_path):
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    texts = ["who does the review", "can my sister come with me", "who does the review"]
    assert np.allclose(cache.encode(texts), encoder().encode(texts), atol=1e-6)
    assert np.allclose(EmbeddingCache(tmp_path / "cache.sqlite").encode(texts[:1]), encoder().encode(texts[:1]), atol=1e-6)


def test_while_another_training_encodes_the_cache_waits_and_reuses_its_vectors(tmp_path):
    """The safety classifier and the intent model train side by side from the same examples."""
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    theirs = np.full(384, 384 ** -0.5, dtype=np.float32)  # no text encodes to this: it can only come from the cache
    got = {}
    with open(cache.lock_path, "w") as other_training:
        fcntl.flock(other_training, fcntl.LOCK_EX)
        waiting = threading.Thread(target=lambda: got.update(
            vectors=EmbeddingCache(tmp_path / "cache.sqlite").encode(["who does the review"])))
        waiting.start()
        waiting.join(timeout=1)
        assert waiting.is_alive() and not got
        with cache.db:
            cache.db.execute("INSERT INTO vectors VALUES (?, ?)", (cache._key("who does the review"), theirs.tobytes()))
    waiting.join(timeout=30)
    assert np.array_equal(got["vectors"][0], theirs)


def test_plain_ascii_is_split_into_words_as_the_full_bert_cleaning_splits_it():
    chooser = random.Random(7)
    texts = ["wat's the reveiw 4?? (sorry)", "Ring me @ 5pm -- ok!\tThanks\r\nx", "a\x01b\x7fc\x0bd",
             *("".join(chr(chooser.randrange(128)) for _ in range(80)) for _ in range(500))]
    for text in texts:
        # A soft hyphen, which the cleaning drops, sends the text down the general path.
        assert WordPieceTokenizer._basic(text) == WordPieceTokenizer._basic(text + "\u00ad"), repr(text)


def test_texts_encoded_together_get_the_vectors_they_get_alone():
    texts = ["is the review an investigation", "Sorry to bother you. My son died in March and I'm in bits. "
             "When will the report come out?", "ok"]
    together = SentenceEncoder(model_dir()).encode(texts)
    alone = np.stack([SentenceEncoder(model_dir()).encode([text])[0] for text in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_texts_the_model_reads_alike_are_encoded_once():
    fresh = SentenceEncoder(model_dir())
    passes = []
    forward = fresh._forward
    fresh._forward = lambda batch: passes.append(len(batch)) or forward(batch)
    first = fresh.encode(["When is the meeting?"])
    again = fresh.encode(["when is the meeting?", "WHEN IS THE MEETING?"])
    assert passes == [1]
    assert np.array_equal(again, np.vstack([first, first]))


def test_the_fast_gelu_is_berts_exact_gelu_to_float32_precision():
    # Cached training vectors were made with scipy's erf: the encoder must still give the same vectors.
    from scipy.special import erf

    from bot.embeddings import _gelu

    x = np.linspace(-12, 12, 20001, dtype=np.float32)
    exact = 0.5 * x.astype(np.float64) * (1 + erf(x.astype(np.float64) / np.sqrt(2)))
    assert np.abs(_gelu(x.copy()) - exact).max() < 1e-5
