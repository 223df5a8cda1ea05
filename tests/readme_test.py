"""Every code block of the README runs as written, at smoke size where it trains.

The rules, each explicit and narrow:
- A block preceded by `<!-- skip: REASON -->` is not run (it needs the real dataset, a GPU or
  days); the reason is required and names where its behaviour is tested instead.
- A command that installs packages (`apt-get`, `pip install`) or is the test suite itself
  (`python -m pytest`) is not run: the test runs in the environment those commands made
  (`.ci/run`). Everything else in its line (after `&&`) is run.
- Training runs at smoke size: each experiment named (`--config=NAME[:variant]`,
  `get_config("NAME[:variant]"`) at its `:smoke` variant, `num_steps` overrides left to it,
  one seed, and the FID's sizes shrunk (`SMOKE`). Each rule must apply somewhere (a README
  edit that removes its need fails here, so the rules cannot go stale).
The blocks run in order, in one scratch folder (a later block uses an earlier one's run).
"""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
README = os.path.join(ROOT, "README.md")

FENCE = re.compile(
    r"(?:<!-- skip: (?P<why>[^\n]*?) -->\n)?^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.S | re.M
)
NOT_RUN = {
    "apt-get ": "installs system packages",
    "pip install ": "installs Python packages",
    "python -m pytest ": "the test suite itself",
}
SMOKE = [
    (r"--config=(\w+)(?::\w+)?", r"--config=\1:smoke"),
    (r'get_config\("(\w+)(?::\w+)?"', r'get_config("\1:smoke"'),
    (r" --config\.num_steps=\d+", ""),
    (r", num_steps=\d+", ""),
    (r"--seeds=\d+", "--seeds=1"),
    (r"run\.fid\(5000,", "run.fid(16,"),
    (r"data\[:10000\]", "data[:32]"),
]


def blocks() -> list[tuple[str, str, str | None]]:
    """(language, code, why it is skipped or None) of each fenced block, in order."""
    with open(README) as f:
        text = f.read()
    return [(m["lang"], m["body"], m["why"]) for m in FENCE.finditer(text)]


def runnable(lang: str, code: str) -> str:
    """The block as the test runs it: NOT_RUN commands left out, at smoke size."""
    if lang == "sh":
        code = code.replace("\\\n", " ")
        kept = []
        for line in code.splitlines():
            parts = [p.strip() for p in line.split(" && ")]
            parts = [p for p in parts if not p.startswith(tuple(NOT_RUN))]
            if parts:
                kept.append(" && ".join(parts))
        code = "\n".join(kept) + "\n"
    for pattern, replacement in SMOKE:
        code = re.sub(pattern, replacement, code)
    return code


def test_every_block_is_python_or_sh_and_every_skip_says_why():
    found = blocks()
    assert len(found) >= 6
    for lang, code, why in found:
        assert lang in ("python", "sh"), code
        assert why is None or len(why) > 20, code


def test_the_first_two_blocks_set_up_and_run_the_job_and_the_tests():
    (lang1, first, _), (lang2, second, _) = blocks()[:2]
    assert "pip install" in first and "python -m pga_jax.main --config=" in first
    assert "pip install" in second and second.strip().endswith("python -m pytest -q -n 2")
    with open(os.path.join(ROOT, ".ci", "run")) as f:  # CI runs the README's test command
        assert "\npython -m pytest -q -n 2\n" in f.read()


def test_every_smoke_rule_applies_and_the_readme_stays_short():
    code = "".join(body for lang, body, why in blocks() if why is None)
    unused = [pattern for pattern, _ in SMOKE if not re.search(pattern, code)]
    assert not unused, f"README no longer needs these rules: {unused}"
    with open(README) as f:
        assert len(f.read().splitlines()) <= 150


def test_the_readmes_blocks_run_as_written(tmp_path):
    env = dict(
        os.environ,
        PYTHONPATH=ROOT,
        JAX_PLATFORMS="cpu",
        TF_CPP_MIN_LOG_LEVEL="3",
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    )
    ran = 0
    for i, (lang, code, why) in enumerate(blocks()):
        if why is not None:
            continue
        code = runnable(lang, code)
        if not code.strip():
            continue
        command = (
            ["bash", "-euo", "pipefail", "-c", code]
            if lang == "sh"
            else [
                sys.executable,
                "-c",
                code,
            ]
        )
        result = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, f"block {i}:\n{code}\n{result.stderr[-3000:]}"
        ran += 1
    assert ran >= 6
    assert os.path.isfile(tmp_path / "recons.png")
    assert os.path.isfile(tmp_path / "runs" / "fm_vpga" / "eval" / "reconstructions.png")
    assert os.path.isfile(tmp_path / "report" / "table.md")


if __name__ == "__main__":  # print the blocks as the test runs them
    for lang, code, why in blocks():
        print(f"--- {lang}" + (f" (skipped: {why})" if why else ""))
        print(code if why else runnable(lang, code))
    pytest.main([__file__, "-q"])
