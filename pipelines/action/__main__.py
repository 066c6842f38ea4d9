"""`python -m pipelines.action train|evaluate|export|predict [options]`: the options are read (and --help
printed) before TensorFlow loads."""

from pipelines import action
from shared import pipeline

pipeline.main(action)
