"""Raw skeleton files to TFDS records: parsers, body selection, normalisation, splits, builders.

Preprocessing happens here once; `stgat_jax` only reads the records this package writes.
"""
