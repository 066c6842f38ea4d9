"""Sequence decoding shared by the generating pipelines (translation, captioning): greedy and beam search over a
step function, independent of the model that provides it.

A step function takes (tokens (batch,) int, state) and returns (log_probs (batch, vocab), new state); `state` is
a structure of arrays whose first axis is the batch (it is reordered when beams are reordered).

Notebook:
    tokens, score = decoding.greedy(step, state, start=2, end=3, max_length=20)
    beams = decoding.beam_search(step, state, start=2, end=3, max_length=20, width=4)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

StepFn = Callable[[np.ndarray, object], tuple[np.ndarray, object]]


def _take(state, index: np.ndarray):
    return tf.nest.map_structure(lambda s: np.asarray(s)[index], state)


def greedy(step: StepFn, state, *, start: int, end: int, max_length: int) -> tuple[list[list[int]], np.ndarray]:
    """The most probable next token at every step, for a batch. Returns (token lists without start/end, summed
    log-probabilities including the end token when one was produced)."""
    batch = len(tf.nest.flatten(state)[0])
    tokens = np.full(batch, start)
    done = np.zeros(batch, bool)
    out = [[] for _ in range(batch)]
    score = np.zeros(batch)
    for _ in range(max_length):
        log_probs, state = step(tokens, state)
        log_probs = np.asarray(log_probs)
        tokens = log_probs.argmax(axis=-1)
        score += np.where(done, 0.0, log_probs[np.arange(batch), tokens])
        for i in np.flatnonzero(~done):
            if tokens[i] == end:
                done[i] = True
            else:
                out[i].append(int(tokens[i]))
        if done.all():
            break
    return out, score


def beam_search(step: StepFn, state, *, start: int, end: int, max_length: int, width: int,
                length_penalty: float = 0.0) -> list[tuple[list[int], float]]:
    """Beam search for ONE sequence (`state` with batch 1). Keeps the `width` best partial hypotheses by summed
    log-probability; a hypothesis ends at `end` or at max_length, and the search stops when no open hypothesis can
    beat the best finished one (or, with a length penalty, at max_length). Returns finished hypotheses best first as
    (tokens without start/end, score), score = sum of log-probs / length ** length_penalty (0: plain sum).
    With width 1 it is greedy decoding."""
    if width < 1:
        raise ValueError(f"beam width {width}: expected at least 1.")
    beams = [([], 0.0)]
    state = _take(state, np.zeros(1, int))
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_length):
        last = np.array([b[0][-1] if b[0] else start for b in beams])
        log_probs, new_state = step(last, state)
        log_probs = np.asarray(log_probs, dtype="float64")
        totals = np.array([b[1] for b in beams])[:, None] + log_probs
        flat = np.argsort(totals, axis=None)[::-1][: 2 * width]
        candidates, keep = [], []
        for index in flat:
            beam, token = divmod(int(index), log_probs.shape[1])
            if token == end:
                finished.append((beams[beam][0], float(totals[beam, token])))
            else:
                candidates.append((beams[beam][0] + [token], float(totals[beam, token])))
                keep.append(beam)
            if len(candidates) == width:
                break
        best_finished = max((f[1] for f in finished), default=-np.inf)
        if not candidates or (length_penalty == 0 and max(c[1] for c in candidates) <= best_finished):
            break  # log-probabilities only fall: no open hypothesis can still beat the best finished one
        beams, state = candidates, _take(new_state, np.array(keep))
    finished += [b for b in beams if len(b[0]) >= max_length]  # hypotheses cut at the length cap

    def normalized(item):
        return item[1] / max(1, len(item[0]) + 1) ** length_penalty
    return sorted(((t, normalized((t, s))) for t, s in finished), key=lambda item: -item[1])[:width]


def beam_search_graph(step: Callable, state, *, start: int, end: int, limits: tf.Tensor, width) -> tuple[tf.Tensor, ...]:
    """`beam_search` inside a graph, for a batch: the same hypotheses and the same best one per row (scores summed
    in float64, no length penalty), in a tf.while_loop that stops when every row is done.

    step(tokens (n,) int64, state) -> (log_probs (n, vocab), new state) with n = batch * width rows, row
    b * width + k holding beam k of input b; `state` is given with batch rows and tiled here. `limits` (batch,)
    int: the most tokens each row may produce (`max_length` of `beam_search`); `width`: a Python int or a scalar
    tensor (width 1 is greedy decoding). Returns (tokens (batch, longest) int64 right-padded with `end`, lengths
    (batch,) int32, scores (batch,) float64) of each row's best finished hypothesis."""
    width = tf.cast(width, tf.int32)
    limits = tf.cast(limits, tf.int32)
    batch = tf.shape(limits)[0]
    state = tf.nest.map_structure(lambda s: tf.repeat(s, width, axis=0), state)
    minus_inf = tf.constant(-np.inf, tf.float64)
    beams = tf.range(width)[None, :]
    scores = tf.tile(tf.where(beams == 0, tf.constant(0.0, tf.float64), minus_inf), [batch, 1])  # one live beam
    history = tf.fill([batch, width, 0], tf.constant(start, tf.int64))     # tokens of each open beam
    last = tf.fill([batch, width], tf.constant(start, tf.int64))
    best, best_length = tf.fill([batch], minus_inf), tf.zeros([batch], tf.int32)
    best_tokens = tf.fill([batch, 0], tf.constant(end, tf.int64))

    def take_best(found, candidate, tokens, length, best, best_tokens, best_length):
        """Rows where `found` and `candidate` beats the best so far take `tokens` (batch, t) of `length` (an
        earlier hypothesis keeps a tie, as the stable sort of `beam_search` does)."""
        better = found & (candidate > best)
        longest = tf.maximum(tf.shape(best_tokens)[1], tf.shape(tokens)[1])

        def pad(x):
            return tf.pad(x, [[0, 0], [0, longest - tf.shape(x)[1]]], constant_values=end)
        return (tf.where(better, candidate, best), tf.where(better[:, None], pad(tokens), pad(best_tokens)),
                tf.where(better, length, best_length))

    def body(t, done, state, scores, history, last, best, best_tokens, best_length):
        active = ~done
        log_probs, state = step(tf.reshape(last, [-1]), state)
        log_probs = tf.cast(log_probs, tf.float64)
        vocab = tf.shape(log_probs)[-1]
        totals = tf.reshape(scores[:, :, None] + tf.reshape(log_probs, [batch, width, vocab]), [batch, -1])
        values, index = tf.math.top_k(totals, k=2 * width)                 # best first; ties to the lower index
        parent, token = index // vocab, tf.cast(index % vocab, tf.int64)
        is_end, finite = tf.equal(token, end), values > minus_inf
        # beam_search walks these best first, finishing the end tokens, until it has `width` open candidates
        considered = finite & (tf.cumsum(tf.cast(finite & ~is_end, tf.int32), axis=1, exclusive=True) < width)
        ended = tf.where(considered & is_end, values, minus_inf)
        first = tf.argmax(ended, axis=1, output_type=tf.int32)             # the first of equal scores
        best, best_tokens, best_length = take_best(
            active, tf.reduce_max(ended, axis=1),
            tf.gather(history, tf.gather(parent, first, batch_dims=1), batch_dims=1), tf.fill([batch], t),
            best, best_tokens, best_length)
        is_open = considered & ~is_end
        positions = tf.range(2 * width)[None, :]
        order = tf.argsort(tf.where(is_open, positions, 2 * width + positions), axis=1, stable=True)[:, :width]
        n_open = tf.reduce_sum(tf.cast(is_open, tf.int32), axis=1)
        kept = beams < n_open[:, None]
        scores = tf.where(kept, tf.gather(values, order, batch_dims=1), minus_inf)
        parent = tf.where(kept, tf.gather(parent, order, batch_dims=1), 0)
        last = tf.gather(token, order, batch_dims=1)
        history = tf.concat([tf.gather(history, parent, batch_dims=1), last[:, :, None]], axis=2)
        state = tf.nest.map_structure(lambda s: tf.gather(s, tf.reshape(tf.range(batch)[:, None] * width + parent, [-1])),
                                      state)
        # no open candidate, or none can beat the best finished one (log-probabilities only fall): done
        top = tf.reduce_max(scores, axis=1)
        stop = (n_open == 0) | (top <= best)
        # at the length cap the open beams finish as they are
        cut = active & ~stop & (t + 1 >= limits)
        best, best_tokens, best_length = take_best(
            cut, top, tf.gather(history, tf.argmax(scores, axis=1, output_type=tf.int32), batch_dims=1),
            tf.fill([batch], t + 1), best, best_tokens, best_length)
        return t + 1, done | stop | (t + 1 >= limits), state, scores, history, last, best, best_tokens, best_length

    loop_vars = (tf.constant(0), limits < 1, state, scores, history, last, best, best_tokens, best_length)
    shapes = tf.nest.map_structure(lambda x: tf.TensorShape([None] * len(x.shape)), loop_vars)
    shapes = (tf.TensorShape([]), *shapes[1:])
    *_, best, best_tokens, best_length = tf.while_loop(lambda t, done, *_: tf.reduce_any(~done), body, loop_vars,
                                                       shape_invariants=shapes)
    return best_tokens, best_length, best
