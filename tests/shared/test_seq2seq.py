import keras
import numpy as np
import pytest

from shared import layers, seq2seq


def tiny_model(kind):
    keys = keras.Input((5, 8), name="keys")
    initial = keras.Input((8,), name="initial")
    target_in = keras.Input((None,), dtype="int64", name="target_in")
    logits = seq2seq.attentive_decoder(target_in, keys, initial, vocab_size=7, embed_dim=4, units=8, kind=kind)
    return keras.Model([keys, initial, target_in], logits)


@pytest.mark.parametrize("kind", seq2seq.KINDS)
def test_step_model_reproduces_teacher_forced_logits(kind):
    keras.utils.set_random_seed(0)
    model = tiny_model(kind)
    rng = np.random.default_rng(0)
    keys, initial = rng.normal(size=(2, 5, 8)).astype("float32"), rng.normal(size=(2, 8)).astype("float32")
    tokens = np.array([[2, 4, 5], [2, 6, 4]])
    full = keras.ops.log_softmax(model([keys, initial, tokens]), axis=-1).numpy()
    step = seq2seq.step_model(model)
    assert seq2seq.n_states(step) == (2 if kind == "lstm" else 1)
    states, mask = [initial] * seq2seq.n_states(step), np.ones((2, 5), bool)
    for t in range(3):
        log_probs, scores, *states = step([tokens[:, t:t + 1], keys, mask, *states])
        states = [s.numpy() for s in states]
        np.testing.assert_allclose(log_probs.numpy(), full[:, t], atol=1e-5)
        np.testing.assert_allclose(scores.numpy().sum(axis=1), 1.0, atol=1e-5)


def test_decoder_comes_from_the_shared_factory_with_states():
    model = tiny_model("lstm")
    assert any(layer.name == "decoder_lstm_0" for layer in model.layers)
    with pytest.raises(ValueError, match="one unidirectional layer"):
        layers.rnn_layers("bilstm:8", return_state=True)


def test_normalize_and_in_graph_standardize_agree():
    text = "Ça va-t-il, Tom? [start] L'été!"
    assert seq2seq.normalize(text) == "ça va t il tom [start] l'été"
    assert seq2seq.standardize_sentence(np.array([text])).numpy()[0].decode() == seq2seq.normalize(text)
