"""`python -m pipelines.weather train|evaluate|export|predict [options]`: the options are read (and --help
printed) before TensorFlow loads."""

from pipelines import weather
from shared import pipeline

pipeline.main(weather)
