"""Training: the loop, checkpoints, EMA, logging, run folders and the execution backend."""
