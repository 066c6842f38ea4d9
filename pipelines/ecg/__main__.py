"""`python -m pipelines.ecg train|evaluate|export|predict [options]`: the options are read (and --help
printed) before TensorFlow loads."""

from pipelines import ecg
from shared import pipeline

pipeline.main(ecg)
