"""`python -m pipelines.sentiment train|evaluate|export|predict [options]`: the options are read (and --help
printed) before TensorFlow loads."""

from pipelines import sentiment
from shared import pipeline

pipeline.main(sentiment)
