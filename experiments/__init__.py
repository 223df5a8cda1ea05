"""The experiment configs: one file per dataset x objective (see pga_jax.configs)."""
