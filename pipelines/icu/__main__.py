"""`python -m pipelines.icu train|evaluate|export|predict [options]`: the options are read (and --help
printed) before TensorFlow loads."""

from pipelines import icu
from shared import pipeline

pipeline.main(icu)
