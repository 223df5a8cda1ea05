"""Test set-up: CPU only, float32, quiet TensorFlow, one XLA compilation cache kept between
runs, and the two tiers.

Tiers (docs/testing.md): `python -m pytest -q -n 2` runs the fast tier, every unit of
behaviour at the smallest sizes that exercise it (minutes, before every commit);
`python -m pytest -q -n 2 -m slow` runs the slow tier, the end-to-end runs that need processes
or minutes (two processes, kill and resume, every architecture, Appendix C's shapes, the
notebook). `.ci/run` runs both. A test is slow if it is marked `@pytest.mark.slow` or matches a
pattern of `SLOW` below, with the reason it is there.

Many tests compile the same computation (a smoke config's train step, the networks' inits) in
several processes: the two xdist workers and the CLI subprocesses, and in every run of the
suite. JAX's persistent compilation cache, one folder that all of them share (the environment
is inherited), compiles each one once: `.cache/jax-tests/` in the checkout (git ignores it), kept
between runs, so a developer's next run compiles only what the change touched, and `.ci/run`'s
slow tier reuses what its fast tier compiled. A cache entry is keyed by the computation's HLO,
the compile options and the jax/jaxlib version, and a hit returns the executable XLA compiled
before, so no result changes. Set JAX_COMPILATION_CACHE_DIR to use another folder (an empty
one to time a cold run); delete the folder to reclaim its space (JAX keeps it under
JAX_COMPILATION_CACHE_MAX_SIZE, 2 GiB here, dropping the least recently used entries).
"""

import fnmatch
import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

_CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(_CACHE, "jax-tests"))
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(2 << 30))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

# node-id patterns (fnmatch) of the slow tier: what each runs end to end, and why it is slow.
# Each behaviour they check is also checked in the fast tier at a smaller size (noted after
# the pattern's reason where it is another test).
SLOW = {
    # two processes with gloo, kill and resume (~150 s of set-up)
    "tests/distributed_test.py::*": "two training processes",
    # 4 forced CPU devices: data-parallel and 2x2-mesh runs against one-device runs
    "tests/sharding_test.py::test_data_parallel_*": "runs on 4 forced devices",
    "tests/sharding_test.py::test_population_on_a_2x2_mesh_*": "runs on 4 forced devices",
    "tests/sharding_test.py::test_fid_features_split_over_devices_*": "runs on 4 forced devices",
    # populations end to end (fast tier: population_test's refusals, the vmap member check)
    "tests/population_test.py::test_a_killed_population_resumes_*": "a killed CLI population",
    "tests/population_test.py::test_steps_per_call_do_not_change_the_run": "three populations",
    "tests/population_test.py::test_a_population_sweep_*": "a sweep of populations",
    "tests/population_test.py::test_a_member_equals_its_single_run*": "three runs each",
    "tests/population_test.py::test_a_diverging_member_*": "a population and its runs",
    # every architecture (fast tier: conv_mnist, and conv_mnist with BatchNorm)
    "tests/train_test.py::test_one_step_changes_both_networks_*-conv_32]": "every architecture",
    "tests/train_test.py::test_one_step_changes_both_networks_*-conv_64]": "every architecture",
    "tests/train_test.py::test_one_step_changes_both_networks_*-resnet_32]": "every architecture",
    # every objective's step (fast tier: LPGA's step, and every objective's terms in routing_test)
    "tests/train_test.py::test_one_step_changes_both_networks_*[v*-conv_mnist]": "per objective",
    "tests/train_test.py::test_one_step_changes_both_networks_*[lv*-conv_mnist]": "per objective",
    "tests/train_test.py::test_update_equals_plain_autoencoder_*[*-True]": "per objective",
    "tests/train_test.py::test_update_equals_plain_autoencoder_*[*-False]": "warm-up runs",
    "tests/checkpointing_test.py::test_damaged_checkpoint_is_refused_*[bytes]": "(fast: [bit])",
    "tests/cpu_memory_test.py::test_calls_reuse_the_memory_of_the_calls_before": "a subprocess",
    "tests/compat_test.py::test_old_config_json_loads_and_evaluates": "a run, evaluated",
    # fast tier: the dataset + architecture extension test
    "tests/extension_test.py::test_toy_objective_*": "a run, evaluated and reported",
    "tests/train_test.py::test_stopped_and_resumed_run_matches_uninterrupted[conv_32]": "conv_32",
    "tests/models_test.py::test_shapes_and_tanh_range[conv_*]": "every architecture",
    "tests/models_test.py::test_shapes_and_tanh_range[resnet_32]": "every architecture",
    "tests/models_test.py::test_batchnorm_only_where_the_reference_puts_it[conv_*]": "per arch",
    "tests/models_test.py::test_fast_and_plain_layers_give_the_same_network": "every arch",
    "tests/routing_test.py::test_each_term_trains_exactly_*[*-conv_32-True]": "conv_32 + BN",
    "tests/routing_test.py::test_total_gradient_is_encoder_loss_*": "every objective, conv_32",
    "tests/routing_test.py::test_latent_terms_reach_decoder_zero_*": "BatchNorm (conv_32: slow)",
    "tests/routing_test.py::test_vr_reaches_encoder_only_through_sigma[lvpga-log_vr]": "(vpga)",
    "tests/log_det_test.py::test_exact_value_of_every_architecture_*[c*_*2]": "every arch",
    "tests/log_det_test.py::test_exact_value_of_every_architecture_*[c*_64]": "every arch",
    "tests/log_det_test.py::test_exact_value_of_every_architecture_*[resnet_32]": "every arch",
    # float64 steps of every architecture (fast tier: composability_test's float32 checks)
    "tests/accuracy_test.py::*": "float64 gradients",
    "tests/original_tf_step_test.py::test_tf_step_gradients_equal_pga_jax*": "TensorFlow step",
    "tests/composability_test.py::*[onednn]": "the opt-in oneDNN path",
    "tests/composability_test.py::test_jacfwd_*": "a full Jacobian (fast: grad of grad, export)",
    "tests/composability_test.py::test_vmap_over_parameter_sets_*": "vmapped networks",
    "tests/composability_test.py::test_gradient_of_a_gradient_norm_*": "(fast: export)",
    "tests/train_test.py::test_warmup_ends_and_the_update_then_differs_*": "(objectives_test)",
    # the architectures' own layer shapes (fast tier: the small shapes, every code path)
    "tests/layers_test.py::test_fast_conv_equals_nn_conv[32-3-8-*]": "the networks' shapes",
    "tests/layers_test.py::test_fast_conv_equals_nn_conv[28-1-64-*]": "the networks' shapes",
    "tests/layers_test.py::test_fast_conv_equals_nn_conv[14-64-128-*]": "the networks' shapes",
    "tests/layers_test.py::test_fast_conv_equals_nn_conv[2-3-3-*]": "the networks' shapes",
    "tests/layers_test.py::test_fast_conv_equals_nn_conv[4-6-2-*]": "(fast: [16-8-4], [8-5-3])",
    "tests/layers_test.py::test_fast_conv_transpose_*[2-3-3-*]": "(fast: [16-8-4], [8-5-3])",
    "tests/layers_test.py::test_fast_conv_transpose_*[4-6-2-*]": "(fast: [16-8-4], [8-5-3])",
    "tests/layers_test.py::test_fast_conv_transpose_*[28-1-64-*]": "the networks' shapes",
    "tests/layers_test.py::test_fast_conv_transpose_*[14-64-128-*]": "the networks' shapes",
    "tests/layers_test.py::test_fast_conv_transpose_*[32-3-8-*]": "the networks' shapes",
    "tests/layers_test.py::test_up_and_wgrad_are_the_transposes_of_down[14-64-128]": "shapes",
    "tests/layers_test.py::test_up_and_wgrad_are_the_transposes_of_down[28-1-64]": "shapes",
    "tests/layers_test.py::test_every_up_form_is_the_transpose_*[14-64-128-*]": "shapes",
    # Appendix C's shapes: ResNet-512 and 140x140 CelebA runs
    "tests/appendix_c_test.py::test_appendix_c_smoke_runs*": "Appendix C smoke runs",
    "tests/appendix_c_test.py::test_each_crop_has_its_own_cache": "CelebA crops end to end",
    "tests/appendix_c_test.py::test_a_108_run_is_not_scored_against_140_statistics": "a run",
    # whole command lines and notebooks
    "tests/main_test.py::test_a_signal_during_saves_*": "SIGINT / SIGTERM to a CLI run",
    "tests/main_test.py::test_smoke_run_trains_writes_images_and_resumes": "a CLI run, resumed",
    "tests/original_tf_step_test.py::test_timed_tf_step_runs_and_trains": "the TF step timed",
    "tests/notebook_test.py::test_the_notebook_runs_at_smoke_size": "the notebook, executed",
    "tests/sweep_test.py::test_sweep_skips_finished_runs_and_resumes_interrupted_ones": "sweeps",
    "tests/fid_score_test.py::test_cli_stats_and_score": "the FID CLI on a dataset",
    "tests/evaluate_many_test.py::test_many_equals_*": "several runs evaluated",
    "tests/evaluate_many_test.py::test_a_workdir_that_cannot_be_evaluated_*": "several runs",
    "tests/evaluate_many_test.py::test_each_workdir_is_evaluated_once": "several runs",
    "tests/evaluate_many_test.py::test_cli_evaluates_several_workdirs_*": "several runs",
    "tests/train_fid_test.py::test_fid_is_computed_during_training": "FID during training",
    "tests/writers_test.py::test_training_and_evaluation_run_without_tensorflow": "CLI runs",
    "tests/commands_test.py::test_every_command_lines_help_exits_0*": "a CLI process each",
    "tests/commands_test.py::test_main_takes_an_experiment_by_name_*": "three CLI processes",
    "tests/api_test.py::test_a_wheel_install_runs_main_with_a_config_by_name": "wheel + CLI",
    "tests/readme_test.py::test_the_readmes_blocks_run_as_written": "every README block, run",
    "tests/benchmark_train_step_test.py::*": "the benchmark's rows",
    "tests/device_check_test.py::*": "the device check's every part at toy sizes",
    # config.precision (fast tier: LPGA's lowered step)
    "tests/precision_test.py::test_auto_puts_*[v*]": "per objective",
    "tests/precision_test.py::test_auto_puts_*[lv*]": "per objective",
    "tests/precision_test.py::test_cpu_results_do_not_depend_on_the_setting": "3 compiled steps",
}


@pytest.hookimpl(tryfirst=True)  # before -m selects by the marks
def pytest_collection_modifyitems(config, items):
    patterns = [p.replace("[", "[[]") for p in SLOW]  # "[" in a node id is literal
    for item in items:
        if any(fnmatch.fnmatchcase(item.nodeid, pattern) for pattern in patterns):
            item.add_marker(pytest.mark.slow)
