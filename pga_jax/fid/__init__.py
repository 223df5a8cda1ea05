"""FID / KID / precision-recall for pga_jax with the real ``inception-2015-12-05`` weights.

Modules: ``inception`` (Flax network + jitted feature function), ``weights`` (safe torch
archive reader, name mapping, cache), ``resize`` (named input protocols), ``stats`` (float64
moments, Fréchet distance, KID, precision/recall), ``score`` (stats files and the
``score_arrays`` API), ``__main__`` (``python -m pga_jax.fid stats|score|weights``).
"""
