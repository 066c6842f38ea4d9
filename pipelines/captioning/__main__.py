"""`python -m pipelines.captioning train|evaluate|export|predict [options]`: the options are read (and --help
printed) before TensorFlow loads."""

from pipelines import captioning
from shared import pipeline

pipeline.main(captioning)
