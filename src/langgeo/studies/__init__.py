"""The studies built on the method: the synthetic ground truth, placing a new text, language-
specific pruning and the transfer question, the Interlingual Local Overlap of hidden states."""
