"""Export formats of stored runs (JSONL with import, ATIF v1.4, Minari, HTML report).

See :mod:`lab.export` for the entry points.
"""
