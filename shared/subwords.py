"""SentencePiece subwords of one language, in a graph (tensorflow-text: what an export holds) and in Python
(sentencepiece): ids from text, text from ids, each piece's surface form. The model is learned elsewhere
(domain.translation.learn_subwords) and passed in as its serialized proto.

Notebook:
    words = Subwords(domain.translation.learn_subwords(sentences, 2000))
    ids = words.ids(tf.constant(["bonne nuit"]))   # ragged int64
    words.text(ids)                                 # [b"bonne nuit"]
"""

from __future__ import annotations

import sentencepiece
import tensorflow as tf
import tensorflow_text  # in-graph SentencePiece (its ops are registered for the export and for serving)

from shared.seq2seq import standardize_sentence


class Subwords:
    """One language's SentencePiece model (`domain.translation.learn_subwords`): ids and text inside a graph
    (tensorflow-text, what the export holds) and in Python (sentencepiece). Text is standardized first
    (`standardize_sentence`: lower case, no punctuation), so decoded text is in that normalized form.
    tensorflow-text's tokenizer owns its model through a kernel that `keras.utils.set_random_seed` (every
    training run) clears, so each use builds a fresh one from the proto (`graph()`)."""

    def __init__(self, proto: bytes):
        self.proto = proto
        self.python = sentencepiece.SentencePieceProcessor(model_proto=proto)

    def graph(self) -> tensorflow_text.SentencepieceTokenizer:
        return tensorflow_text.SentencepieceTokenizer(model=self.proto, out_type=tf.int32)

    def ids(self, texts, tokenizer: tensorflow_text.SentencepieceTokenizer | None = None) -> tf.RaggedTensor:
        """[batch] strings -> (batch, None) ragged int64 ids."""
        return tf.cast((tokenizer or self.graph()).tokenize(standardize_sentence(texts)), tf.int64)

    def surfaces(self) -> list[bytes]:
        """Each id's text: a piece with its word boundary (U+2581) as a space, a byte piece (<0xC3>) as that byte,
        the special pieces as nothing - joined, they are sentencepiece's decoding of valid text."""
        out = []
        for i in range(self.size()):
            piece = self.python.id_to_piece(i)
            if self.python.is_byte(i):
                out.append(bytes([int(piece[3:-1], 16)]))
            elif self.python.is_control(i) or self.python.is_unknown(i):
                out.append(b"")
            else:
                out.append(piece.replace("\u2581", " ").encode())
        return out

    def text(self, ids) -> tf.Tensor:
        """(batch, None) ragged ids -> [batch] strings, in plain TF ops (a second tensorflow-text tokenizer in one
        SavedModel came back holding the first one's model: measured, English out of the French decoder)."""
        joined = tf.strings.reduce_join(tf.gather(tf.constant(self.surfaces()), ids), axis=-1)
        return tf.strings.strip(joined)

    def size(self) -> int:
        return self.python.get_piece_size()
