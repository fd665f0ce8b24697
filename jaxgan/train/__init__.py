"""Training: state, pure step functions, parallelism, checkpoints and the host loop."""
