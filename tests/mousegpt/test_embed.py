import numpy as np


def test_vectors_are_unit_length_384d(embedder):
    v = embedder(["a mouse grooming itself", "a mouse running along the wall", ""])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.linalg.norm(v, axis=1) == __import__("pytest").approx(1.0, abs=1e-5)


def test_similar_meanings_are_closer(embedder):
    query, groom, run = embedder(
        [
            "a mouse cleaning its face",
            "The mouse sits still and grooms itself, forepaws wiping the face.",
            "The mouse runs fast across the arena.",
        ]
    )
    assert query @ groom > query @ run + 0.1


def test_loads_without_network(monkeypatch):
    import socket

    from mousegpt.embed import TextEmbedder

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert TextEmbedder()(["offline"]).shape == (1, 384)


def test_each_text_gets_the_vector_it_gets_alone_however_it_is_batched(embedder):
    texts = [
        "The mouse walks along the wall.",
        "Head raised high, nose pointing up, sniffing the air.",
        "The mouse walks along the wall.",
        "Still.",
        "Trunk lifted and upright (72% of full length from above).",
    ]
    alone = np.stack([type(embedder)()([t])[0] for t in texts])  # a fresh embedder: nothing remembered
    together = embedder(texts)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert np.array_equal(together[0], together[2])
    assert embedder([]).shape == (0, 384)
