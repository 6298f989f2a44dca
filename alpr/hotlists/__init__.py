"""Hot lists in Redis: the sealed store and the importers."""
