"""Retrieval over a stored corpus: the index the retrieved arm searches."""
