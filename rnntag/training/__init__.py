"""Training: the loop, optimiser, checkpoints, distributed processes, pretrained vectors and
training curves."""
