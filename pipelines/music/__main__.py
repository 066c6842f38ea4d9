"""`python -m pipelines.music train|evaluate|export|predict [options]`: the options are read (and --help
printed) before TensorFlow loads."""

from pipelines import music
from shared import pipeline

pipeline.main(music)
