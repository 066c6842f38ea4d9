"""`python -m pipelines.translation train|evaluate|export|predict [options]`: the options are read (and --help
printed) before TensorFlow loads."""

from pipelines import translation
from shared import pipeline

pipeline.main(translation)
