"""The project's tools around the pipelines: benchmarks (bench, bench_serving), the recurrent-network anatomy
experiments, paired comparisons of options (paired) and the HTTP server for the exported models (serve)."""
