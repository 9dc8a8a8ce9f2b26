"""The network and what defines it: vocabularies, front ends, BiRNN, CRF, configuration and
the model directory."""
