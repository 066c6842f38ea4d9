"""One module per application (the contract is in shared/pipeline.py). Importing the package does nothing but
this: when it is started as a command (`python -m pipelines.<name>` or the `rnn-suite` entry point), TensorFlow's
C++ start-up notices are hidden before the pipeline module imports TensorFlow (shared.startup); a notebook or a
test that imports a pipeline gets no side effect."""

import os
import sys

if sys.argv and (sys.argv[0] == "-m" or os.path.basename(sys.argv[0]) == "rnn-suite"):
    from shared.startup import quiet_tensorflow

    quiet_tensorflow()
