"""`python -m pipelines.textgen train|evaluate|export|predict [options]`: the options are read (and --help
printed) before TensorFlow loads."""

from pipelines import textgen
from shared import pipeline

pipeline.main(textgen)
