#!/bin/bash
# Device call B (same warm machine as A): FID weights, statistics, evaluations, FID benchmark.
T0=$(date +%s); left() { echo $(( T0 + $1 - $(date +%s) )); }
LIM=${1:-330}
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site JAX_COMPILATION_CACHE_DIR=/tmp/jaxcache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
export JAX_DEFAULT_MATMUL_PRECISION=highest PGA_JAX_CACHE=/tmp/fidcache
R=/tmp/res; mkdir -p $R /tmp/fidcache/fid
pack() { tar czf $OUT/results.tar.gz -C $R . ; }
cat /tmp/w.part1 .dev/b/w.part2 | gunzip > /tmp/fidcache/fid/fid_inception_default_1.npz || exit 1
sha256sum -c <(sed 's#/root/.cache/pga_jax/fid/#/tmp/fidcache/fid/#' .dev/b/w.sha) || exit 1
for v in vpga lvpga; do  # resume if call A ran out of time
  [ -d /tmp/runs/fashion_mnist_$v/seed=0/checkpoints/6000 ] || timeout $(left 150) python3 /tmp/shim.py pga_jax.main \
    --config=experiments/fashion_mnist_$v.py --workdir=/tmp/runs/fashion_mnist_$v/seed=0 --config.seed=0 --config.num_steps=6000 > $R/train_resume_$v.log 2>&1
done
ST=/tmp/fidcache/fid/stats; F="python3 -m pga_jax.fid"
fstats() { local t=$(date +%s); timeout $(left $3) $F stats --dataset=fashion_mnist --split=$1 --protocol=$2 --batch_size=250 2>&1 | tail -3; echo "stats $1 $2: $(( $(date +%s) - t )) s"; }
fstats test tf1_bilinear 200
for v in vpga lvpga; do
  t=$(date +%s); timeout $(left 250) python3 /tmp/shim.py pga_jax.evaluate --workdir=/tmp/runs/fashion_mnist_$v/seed=0 \
    --save_samples --feature_batch_size=250 --fid_ref_stats=$ST/fashion_mnist_test_tf1_bilinear.npz > $R/eval_$v.log 2>&1; tail -2 $R/eval_$v.log; echo "evaluate $v: $(( $(date +%s) - t )) s"
done
tar czf $OUT/runs_gpu.tar.gz -C /tmp/runs --exclude=checkpoints .
S=docs/results/fashion_mnist/runs; CPU=$S/fashion_mnist_vae/seed=0/samples.npz,$S/fashion_mnist_lpga/seed=0/samples.npz,$S/fashion_mnist_lpga_ablation/seed=0/samples.npz
timeout $(left 270) $F score --images=$CPU --seeds --batch_size=250 --ref=$ST/fashion_mnist_test_tf1_bilinear.npz --out=$R/cpu_samples_vs_gpu_test_tf1.json > /dev/null 2>$R/score1.log; pack
fstats train tf1_bilinear 300
$F distance --stats=$ST/fashion_mnist_test_tf1_bilinear.npz --ref=$ST/fashion_mnist_train_tf1_bilinear.npz --out=$R/test_vs_train_tf1.json | head -3
G=/tmp/runs/fashion_mnist_vpga/seed=0/eval/samples.npz,/tmp/runs/fashion_mnist_lvpga/seed=0/eval/samples.npz
timeout $(left 320) $F score --images=$CPU,$G --seeds --batch_size=250 --ref=$ST/fashion_mnist_train_tf1_bilinear.npz --out=$R/all5_vs_train_tf1.json > /dev/null 2>$R/score2.log; pack
fstats test torch_bilinear 330; fstats train torch_bilinear 400
$F distance --stats=$ST/fashion_mnist_test_torch_bilinear.npz --ref=$ST/fashion_mnist_train_torch_bilinear.npz --out=$R/test_vs_train_torch.json | head -3; pack
timeout $(left $LIM) python3 benchmarks/fid_features.py --no_torch --json=$R/fid_features_gpu.json 2>&1 | tail -12; pack
echo "all done at $(( $(date +%s) - T0 )) s"
