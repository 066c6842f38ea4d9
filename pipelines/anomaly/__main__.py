"""`python -m pipelines.anomaly train|evaluate|export|predict [options]`: the options are read (and --help
printed) before TensorFlow loads."""

from pipelines import anomaly
from shared import pipeline

pipeline.main(anomaly)
