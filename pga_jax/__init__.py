"""pga_jax: Perceptual Generative Autoencoders in JAX/Flax."""

__version__ = "0.1.0"
