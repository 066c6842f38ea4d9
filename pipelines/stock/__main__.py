"""`python -m pipelines.stock train|evaluate|export|predict [options]`: the options are read (and --help
printed) before TensorFlow loads."""

from pipelines import stock
from shared import pipeline

pipeline.main(stock)
