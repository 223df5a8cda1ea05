"""What every command line shares: help exits 0, an experiment is named as get_config names
it, and a config file's own error is found under ml_collections' wrapping (commands.py)."""

import os

import pytest
from absl import flags

from pga_jax import commands, configs

from cli_helper import run_module

CLIS = ["main", "evaluate", "sweep", "report", "fid", "curves", "objectives", "data"]


def test_help_exits_zero_and_other_exits_keep_their_status():
    def absl_help(argv):
        raise SystemExit(1)  # what absl's --help does after printing the usage

    assert commands.asks_for_help(["prog", "--helpfull"])
    assert not commands.asks_for_help(["prog", "--config=help"])
    with pytest.raises(SystemExit) as e:
        commands.parse_flags(["prog", "--help"], absl_help)
    assert e.value.code == 0
    with pytest.raises(SystemExit) as e:  # a real failure without --help stays one
        commands.parse_flags(["prog", "--bad"], absl_help)
    assert e.value.code == 1


def test_an_experiment_name_resolves_to_its_file_and_a_path_is_kept():
    path = os.path.join(configs.EXPERIMENTS_DIR, "fashion_mnist_lpga.py")
    assert commands.experiment_path("fashion_mnist_lpga:smoke") == f"{path}:smoke"
    assert commands.experiment_path("fashion_mnist_lpga") == path
    assert commands.experiment_path("experiments/x.py:smoke") == "experiments/x.py:smoke"
    assert commands.experiment_path("no_such_experiment") == "no_such_experiment"
    argv = ["main", "--config=mnist_vpga:smoke", "--workdir=w", "--config", "cifar_vae"]
    assert commands.with_experiment_paths(argv) == [
        "main",
        f"--config={os.path.join(configs.EXPERIMENTS_DIR, 'mnist_vpga.py')}:smoke",
        "--workdir=w",
        "--config",
        os.path.join(configs.EXPERIMENTS_DIR, "cifar_vae.py"),
    ]
    assert "fashion_mnist_lpga" in configs.experiment_names()


def test_the_config_files_own_error_is_found_under_the_flags_error():
    try:
        try:
            raise configs.ConfigError("unknown config variant 'tiny'")
        except configs.ConfigError as inner:
            raise configs.ConfigError("Error whilst parsing config file:\nTraceback ...") from inner
    except configs.ConfigError:
        try:
            raise flags.IllegalFlagValueError("flag --config=x: Error whilst parsing")
        except flags.Error as e:
            assert str(commands.user_error_in(e)) == "unknown config variant 'tiny'"
    assert commands.user_error_in(ValueError("x")) is None


@pytest.mark.parametrize("cli", CLIS)
def test_every_command_lines_help_exits_0(cli):
    result = run_module(f"pga_jax.{cli}", "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--" in result.stdout


def test_main_takes_an_experiment_by_name_and_a_bad_variant_is_one_clean_line(tmp_path):
    ok = run_module("pga_jax.main", "--config=fashion_mnist_lpga:smoke", "--print_config")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "batch_size = 8 " in ok.stdout  # the smoke variant's
    bad = run_module("pga_jax.main", "--config=fashion_mnist_lpga:tiny", f"--workdir={tmp_path}")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "error: --config=fashion_mnist_lpga:tiny: unknown config variant 'tiny'; "
        "use one of ['quick', 'smoke'] or none"
    ]
    none = run_module("pga_jax.main", "--config=no_such_experiment", f"--workdir={tmp_path}")
    assert none.returncode == 1 and len(none.stderr.strip().splitlines()) == 1
    assert "--config=no_such_experiment: no such experiment or file" in none.stderr
