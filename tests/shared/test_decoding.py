import numpy as np
import pytest

from shared import decoding

START, END, VOCAB = 0, 1, 5


def table_step(table):
    """A step function from a table: next-token log-probs depend only on the previous token."""
    def step(tokens, state):
        return np.log(table[np.asarray(tokens)]), state
    return step


def test_greedy_stops_at_end_and_sums_log_probs():
    table = np.full((VOCAB, VOCAB), 0.05)
    table[START, 2] = table[2, 3] = table[3, END] = 0.8
    table /= table.sum(axis=1, keepdims=True)
    tokens, score = decoding.greedy(table_step(table), np.zeros((2, 1)), start=START, end=END, max_length=10)
    assert tokens == [[2, 3], [2, 3]]
    np.testing.assert_allclose(score, np.log(table[START, 2] * table[2, 3] * table[3, END]))


def test_beam_width_one_is_greedy():
    rng = np.random.default_rng(0)
    for _ in range(5):
        table = rng.dirichlet(np.ones(VOCAB) * 0.5, size=VOCAB)
        (g_tokens,), g_score = decoding.greedy(table_step(table), np.zeros((1, 1)), start=START, end=END, max_length=6)
        (b_tokens, b_score), = decoding.beam_search(table_step(table), np.zeros((1, 1)), start=START, end=END,
                                                    max_length=6, width=1)
        assert b_tokens == g_tokens and b_score == pytest.approx(g_score[0])


def test_beam_finds_a_better_sequence_than_greedy():
    """Greedy takes the locally best first token (2) and is then stuck with poor continuations; token 3 starts
    a far more probable sequence."""
    table = np.full((VOCAB, VOCAB), 1e-3)
    table[START, 2], table[START, 3] = 0.55, 0.45
    table[2, :] = 0.2           # after 2: everything equally unlikely
    table[3, END] = 0.99        # after 3: almost surely the end
    table /= table.sum(axis=1, keepdims=True)
    (g_tokens,), g_score = decoding.greedy(table_step(table), np.zeros((1, 1)), start=START, end=END, max_length=6)
    best, score = decoding.beam_search(table_step(table), np.zeros((1, 1)), start=START, end=END, max_length=6,
                                       width=3)[0]
    assert g_tokens[0] == 2 and best == [3]
    assert score > g_score[0] + 0.5


def test_beam_reorders_state_with_its_beams():
    seen = []

    def step(tokens, state):
        seen.append(np.asarray(state).copy())
        logits = np.full((len(tokens), VOCAB), -5.0)
        logits[:, 2], logits[:, 3] = -0.1, -0.3
        logits[np.asarray(tokens) == 3, END] = 0.0
        return logits, np.asarray(state) * 10 + np.asarray(tokens)[:, None]

    decoding.beam_search(step, np.ones((1, 1)), start=START, end=END, max_length=4, width=2)
    assert seen[1].ravel().tolist() == [10.0, 10.0]  # both first beams descend from the start state
    # step 2: beam "3" ends; both kept beams continue beam "2", so both carry its state (102), not beam "3"'s (103)
    assert seen[2].ravel().tolist() == [102.0, 102.0]
    with pytest.raises(ValueError, match="beam width"):
        decoding.beam_search(step, np.ones((1, 1)), start=START, end=END, max_length=4, width=0)


def recurrent_step(table, mix):
    """A step with a real state: next-token log-probs from the previous token's row plus a running state that the
    tokens so far move, in NumPy (for beam_search) and TF (for beam_search_graph) alike."""
    import tensorflow as tf

    def numpy_step(tokens, state):
        state = np.tanh(np.asarray(state) + mix[np.asarray(tokens)])
        logits = np.log(table[np.asarray(tokens)]) + state @ mix.T
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)), state

    def graph_step(tokens, state):
        state = tf.tanh(state + tf.gather(mix, tokens))
        logits = tf.math.log(tf.gather(table, tokens)) + tf.matmul(state, mix, transpose_b=True)
        return tf.nn.log_softmax(logits, axis=-1), state
    return numpy_step, graph_step


@pytest.mark.parametrize("width", [1, 2, 3, 5])
def test_graph_beam_search_equals_python_beam_search(width):
    """The in-graph batched beam search gives every row the same best hypothesis and score as beam_search on that
    row alone: random models with a recurrent state, rows of different length caps, end tokens common enough that
    hypotheses finish at different steps."""
    import tensorflow as tf

    rng = np.random.default_rng(width)
    vocab = 7
    for trial in range(6):
        table = rng.dirichlet(np.ones(vocab) * 0.7, size=vocab)
        mix = rng.normal(scale=0.8, size=(vocab, 4))
        numpy_step, graph_step = recurrent_step(table, mix)
        initial = rng.normal(size=(5, 4))
        limits = np.array([1, 3, 6, 9, 12])
        tokens, lengths, scores = decoding.beam_search_graph(
            graph_step, tf.constant(initial), start=START, end=END, limits=tf.constant(limits), width=width)
        for row in range(len(limits)):
            (best, score), *_ = decoding.beam_search(numpy_step, initial[row:row + 1], start=START, end=END,
                                                     max_length=int(limits[row]), width=width)
            got = tokens.numpy()[row, : lengths.numpy()[row]].tolist()
            assert got == best, (trial, row)
            assert scores.numpy()[row] == pytest.approx(score, abs=1e-9)
    with pytest.raises(ValueError):
        decoding.beam_search(numpy_step, initial[:1], start=START, end=END, max_length=3, width=0)
