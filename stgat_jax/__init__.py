"""stgat-jax: STGAT and CSTA skeleton-based action recognition in JAX/Flax."""

__version__ = "0.1.0"
