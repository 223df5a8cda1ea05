"""The package list: pga_jax's own packages, plus `experiments/` shipped as `pga_jax.experiments`
(mapped in setup.cfg's package_dir) so a wheel install can load a config by name."""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["pga_jax", "pga_jax.*"]) + ["pga_jax.experiments"])
