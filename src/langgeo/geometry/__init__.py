"""The geometry of a set of languages (numpy and scipy, no torch): Hamming and continuous
distances, the ensemble over (model, dataset) pairs, classical MDS, trees."""
