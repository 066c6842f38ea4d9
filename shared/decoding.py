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
