#!/usr/bin/env bash
# One GPU session's checks, in one call (the device tool lends a GPU for minutes, not hours):
#   preflight  exits at once if jaxcollapse does not import or run on this jax;
#   bench      `jaxcollapse bench --quick` (target: under 5 minutes on one GPU), JSON and figure;
#   ratios     the speed issue's ratios at full size (bench.speed_ratios(quick=False)), ratios_full.json;
#   tests      the GPU-relevant tests: cuSOLVER's batched path against the reference, chunk and
#              block invariance, reproducibility and theory on this backend, in one process
#              (the run that was checked; several xdist workers on one GPU were not).
# Logs and results go to $OUT (default ./gpu_out); STAGES picks stages (default all four).
# Run from the repository root:
#   bash benchmarks/gpu_check.sh
#   STAGES="preflight ratios tests" bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false
PY=${PY:-python3}
STAGES=${STAGES:-preflight bench ratios tests}
stage() { [[ " $STAGES " == *" $1 "* ]]; }
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv
  $PY -c "import jax, jaxlib, equinox, optax, numpy; print('jax', jax.__version__, 'jaxlib', jaxlib.__version__, 'equinox', equinox.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__); print(jax.devices())"
} 2>&1 | tee "$OUT/environment.txt"

if stage preflight; then
  echo "== preflight"
  timeout 120 $PY - <<'EOF' 2>&1 | tee "$OUT/preflight.txt" || exit 1
import time, jax, numpy as np, jaxcollapse as jc
assert jax.default_backend() == "gpu", jax.default_backend()
t = time.perf_counter()
r = jc.run("gaussian", {"n": 100}, seeds=1000, generations=20, cache=False)
print("gaussian 1000 x 20 ok", r.timing, f"{time.perf_counter() - t:.1f} s")
r = jc.run("next-token", {"vocab": 50}, {"n": [10, 10000]}, seeds=100, generations=5, cache=False)
print("next-token ok", r.timing)
EOF
fi

if stage bench; then
  echo "== bench --quick"
  begin=$(date +%s)
  timeout 300 $PY -m jaxcollapse bench --quick --out "$OUT/bench" 2>&1 | tee "$OUT/bench.log"
  echo "bench --quick wall: $(( $(date +%s) - begin )) s" | tee -a "$OUT/bench.log"
fi

if stage ratios; then
  echo "== speed ratios at full size"
  timeout 200 $PY -c "import json, sys; from jaxcollapse.bench import speed_ratios; from jaxcollapse.results import environment
json.dump({'environment': environment(), 'ratios': speed_ratios(False)}, open(sys.argv[1], 'w'), indent=1)" \
    "$OUT/ratios_full.json" 2>&1 | tee "$OUT/ratios.log"
fi

if stage tests; then
  echo "== tests on the GPU"
  timeout "${TEST_BUDGET_S:-300}" env PYTHONFAULTHANDLER=1 $PY -m pytest -v -x -o addopts="" -m "not slow" \
    -p no:cacheprovider -p no:xdist -p no:benchmark -rfE \
    tests/test_linalg.py tests/test_reproducibility.py tests/test_gaussian_theory.py tests/test_next_token.py \
    tests/test_contaminated_mean.py tests/test_samplers.py tests/test_prng.py tests/test_engine_generic.py \
    2>&1 | tee "$OUT/tests.log"
fi
echo "== done $(date -u)"
