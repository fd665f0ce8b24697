#!/usr/bin/env bash
# The whole benchmark table on a GPU/TPU host, in under 8 minutes, into one folder.
#
#   bash benchmarks/accelerator.sh [OUT_DIR]      (default: bench_out/<UTC time>)
#   BENCH_ARGS="--width 8 --batch-size 8" bash benchmarks/accelerator.sh   (a smoke run)
#   TF32_PROBE=1 bash benchmarks/accelerator.sh   (adds DCGAN-64 f32 at batch 1024, TF32 on/off)
#   MODELS=sngan32,stylegan2_64,stylegan2_256 PRECISION=bf16 bash benchmarks/accelerator.sh
#                                                 (only the groups a short lease missed)
#   MODELS=stylegan2_64,stylegan2_256 PEERS=torch bash benchmarks/accelerator.sh
#                                                 (StyleGAN2 beside its eager peer only:
#                                                 torch.compile of it takes minutes)
#
# Models run in the order of benchmarks.run.MODELS (DCGAN, SNGAN, StyleGAN2, then pix2pix
# and CycleGAN at batch 1, DeepFill v2 at 256 and SRGAN x4 at batch 16) and each group's
# JSON is written as it finishes, so a run cut short by BENCH_TIMEOUT keeps what it
# measured; a short lease can name the groups it needs (e.g. MODELS=inpaint256,srgan_x4). On a CPU, raise the timeouts (SCALING_TIMEOUT too:
# it compiles two steps).
#
# Needs jax, flax, optax, orbax-checkpoint, numpy and (for the peers) torch; no TensorFlow
# or datasets. ml_collections is installed from benchmarks/wheels if missing (pure Python).
# Writes OUT_DIR/{env.txt, train_steps.json, train_steps.md, scaling.json, log.txt} and,
# with TF32_PROBE=1, f32_tf32_{on,off}.json.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-bench_out/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
if ! "$PY" -c "import ml_collections" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --target /tmp/jaxgan-site benchmarks/wheels/*.whl \
    && export PYTHONPATH="/tmp/jaxgan-site:${PYTHONPATH:-}"
fi
export PYTHONPATH=".:${PYTHONPATH:-}"   # the checkout itself, installed or not
{
  date -u; uname -a
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
  "$PY" -c "import jax; print('jax', jax.__version__, jax.devices())"
  "$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())" 2>/dev/null || true
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
PEERS="${PEERS-torch,torch-compile}"
"$PY" -c "import torch" 2>/dev/null || PEERS=""
# Each step: f32 and bf16, jaxgan beside PyTorch eager and torch.compile, same device.
timeout "${BENCH_TIMEOUT:-380}" "$PY" -m benchmarks.run --models "${MODELS:-all}" \
  --precision "${PRECISION:-f32,bf16}" --peers "$PEERS" \
  --windows "${WINDOWS:-3}" --window-s 1 --json "$OUT/train_steps.json" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/log.txt"
status=${PIPESTATUS[0]}
# float32 where the convolutions dominate (DCGAN-64, batch 1024), with TF32 tensor cores on and
# off in both frameworks alike: the same arithmetic on both sides of each ratio.
[ "${TF32_PROBE:-0}" = 1 ] && for tf32 in on off; do
  timeout "${TF32_TIMEOUT:-60}" "$PY" -m benchmarks.run --models dcgan64 --batch-size "${LARGE_BATCH:-1024}" \
    --precision f32 --peers "${PEERS%%,*}" --tf32 "$tf32" --windows 3 --window-s 1 \
    --json "$OUT/f32_tf32_$tf32.json" ${BENCH_ARGS:-} 2>&1 | tee -a "$OUT/log.txt"
done
# Data-parallel scaling over the real devices (1, 2, 4, ... up to all of them).
timeout "${SCALING_TIMEOUT:-40}" "$PY" -m benchmarks.scaling --json "$OUT/scaling.json" 2>&1 | tee -a "$OUT/log.txt"
grep '^|' "$OUT/log.txt" > "$OUT/train_steps.md" || true
echo "wrote $OUT (benchmark exit status $status)"
exit "$status"
