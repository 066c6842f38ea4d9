"""A pipeline's command line that dies in the middle of one epoch, as a preempted host would (test helper).

python -m tests.shared.dying_worker DIE_AT_EPOCH DOMAIN train [options]: the process exits at once (os._exit,
no cleanup, no callbacks) after the first training batch of epoch DIE_AT_EPOCH (0-based), before that
epoch ends.
"""

import dataclasses
import importlib
import os
import sys

import keras

from shared import pipeline, training

EXIT_CODE = 17


class _Die(keras.callbacks.Callback):
    def __init__(self, epoch: int):
        super().__init__()
        self.epoch, self.current = epoch, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 0:
            sys.stderr.write(f"dying_worker: killed in epoch {self.epoch}\n")
            sys.stderr.flush()
            os._exit(EXIT_CODE)


def main() -> None:
    die_at, domain, *argv = sys.argv[1:]
    fit = training.fit

    def dying_fit(plan, settings):
        return fit(dataclasses.replace(plan, callbacks=[*plan.callbacks, _Die(int(die_at))]), settings)

    training.fit = dying_fit
    pipeline.main(importlib.import_module(f"pipelines.{domain}"), argv)


if __name__ == "__main__":
    main()
