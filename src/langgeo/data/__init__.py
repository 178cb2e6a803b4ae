"""Languages and their calibration text: the language tables, Glottolog labels, the corpora
(eld, UDHR, the Hugging Face Hub, local folders) and the calibration shards."""
