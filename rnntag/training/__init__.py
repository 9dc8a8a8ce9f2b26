"""Training: the loop, what it tells an observer, optimiser, checkpoints, the output folder,
distributed processes and pretrained vectors."""
