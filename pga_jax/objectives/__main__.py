"""The registered objectives: their terms (equation, networks trained) and hyper-parameters.

python -m pga_jax.objectives [--name=lpga]
"""

from __future__ import annotations

import sys

from absl import app, flags

from pga_jax import commands, objectives

FLAGS = flags.FLAGS
flags.DEFINE_string("name", None, "One objective (default: all registered ones).")


def describe(cls: type[objectives.Objective]) -> str:
    """A text table of what `cls` declares: the `config.objective` block of its runs."""
    doc = cls.__doc__ or sys.modules[cls.__module__].__doc__ or cls.__module__
    lines = [f"{cls.name}: {doc.strip().splitlines()[0]}"]
    kind = "variational (mu, logvar)" if cls.variational else "deterministic"
    lines.append(f"  encoder: {kind}; report label: {cls.report_label(cls.defaults())}")
    lines.append("  terms (logged as terms/<name>):")
    for t in cls.terms:
        lines.append(f"    {t.name:<10} {t.equation:<8} trains {'+'.join(t.trains):<16} {t.doc}")
    lines.append("  hyper-parameters (--config.objective.<name>=VALUE):")
    for f in cls.fields():
        bound = "> 0" if f.metadata["positive"] else f">= {f.metadata['minimum']}"
        lines.append(f"    {f.name:<14} {f.default!r:<8} {bound:<5} {f.metadata['doc']}")
    if cls.legacy_fields:
        renamed = ", ".join(f"{old} -> {new}" for old, new in cls.legacy_fields.items())
        lines.append(f"  read from older configs: {renamed}")
    return "\n".join(lines)


def main(argv):
    del argv
    names = [FLAGS.name] if FLAGS.name else objectives.names()
    try:
        print("\n\n".join(describe(objectives.get(n)) for n in names))
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    app.run(main, flags_parser=commands.parse_flags)
