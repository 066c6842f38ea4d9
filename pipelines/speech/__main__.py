"""`python -m pipelines.speech train|evaluate|export|predict [options]`: the options are read (and --help
printed) before TensorFlow loads."""

from pipelines import speech
from shared import pipeline

pipeline.main(speech)
