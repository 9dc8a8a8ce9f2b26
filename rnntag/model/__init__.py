"""The network and what defines it: vocabularies, front ends, BiRNN, document memory, CRF,
configuration and the model directory."""
