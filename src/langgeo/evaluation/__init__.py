"""How good a geometry is (no torch): the protocol against Glottolog (MDS, k-means, ARI, purity,
permutation tests, bootstrap intervals, Mantel tests), the baselines (URIEL+, script, random),
the script control and the attribution of the geometry to groups of weights."""
