"""Export formats of stored runs (JSONL with import, ATIF v1.4, Minari, HTML report); see :mod:`lab.export`."""
