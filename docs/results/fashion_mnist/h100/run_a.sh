#!/bin/bash
# Device call A: setup, VPGA + LVPGA training (6,000 steps, float32 'highest'), train-step benchmark.
T0=$(date +%s); left() { echo $(( T0 + $1 - $(date +%s) )); }
export PYTHONUNBUFFERED=1 JAX_COMPILATION_CACHE_DIR=/tmp/jaxcache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .dev/a/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site
mkdir -p /usr/share/datasets/fashion-mnist
for s in train t10k; do xz -dc .dev/a/data/$s-images-idx3-ubyte.xz > /usr/share/datasets/fashion-mnist/$s-images-idx3-ubyte; done
cp .dev/a/w.part1 /tmp/w.part1; cp .dev/a/shim.py /tmp/shim.py
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import jax, flax, optax, orbax.checkpoint, ml_collections, clu; print('versions jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
echo "setup done at $(( $(date +%s) - T0 )) s"
for v in vpga lvpga; do
  JAX_DEFAULT_MATMUL_PRECISION=highest XLA_PYTHON_CLIENT_MEM_FRACTION=0.3 timeout $(left 190) \
    python3 /tmp/shim.py pga_jax.main --config=experiments/fashion_mnist_$v.py \
    --workdir=/tmp/runs/fashion_mnist_$v/seed=0 --config.seed=0 --config.num_steps=6000 > $OUT/train_$v.log 2>&1 &
done
wait
for v in vpga lvpga; do echo "== $v"; grep -E "Done|steps_per_sec|Error|error" $OUT/train_$v.log | tail -4; ls /tmp/runs/fashion_mnist_$v/seed=0/checkpoints; done
echo "training done at $(( $(date +%s) - T0 )) s"
B="python3 /tmp/shim.py benchmarks/train_step.py --ceiling_n=8192 --steps=50 --repeats=5"
timeout $(left 255) $B --quick --compare_layers --json=$OUT/train_step_gpu_quick.json 2>&1 | tee $OUT/bench.log
timeout $(left 310) $B --archs=conv_mnist --objectives=vae,vpga,lvpga --json=$OUT/train_step_gpu_mnist.json 2>&1 | tee -a $OUT/bench.log
echo "all done at $(( $(date +%s) - T0 )) s"
