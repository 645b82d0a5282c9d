"""CTC decoders: greedy (here), beam search and LM fusion later."""
