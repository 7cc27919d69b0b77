#!/usr/bin/env bash
# What a GPU session checks, in as few device calls as possible (the device
# machines are bare, offline and lent by the minute): build for the visible
# GPU with the machine's own python3 and torch, then the steps named on the
# command line (default: tests ops bounds), each under its own time limit so that one
# command ends inside the device's 10 minutes with every log kept in $OUT.
#   bash scripts/gpu_session.sh [build] [ostream] [tests] [choices] [ops] [bounds] [steps] [train] [certify]
# Steps: ostream = scripts/diag_ostream.sh, tests = the whole suite (the CUDA
# tests included), choices = benchmarks/gpu_kernel_choices.py, ops = `mixtrain
# bench` of the single ops on CUDA, bounds = `mixtrain bench --bounds` on CUDA,
# steps = scripts/bench_train_step.py (a MixTrain step against a full-batch one
# on ImageNet-200, images/s), train = the README's MixTrain run on the GPU (needs MNIST: carry a folder
# holding the four idx .gz files and set MIXTRAIN_DATA to it), certify = `mixtrain certify` of each train
# run's checkpoint on the first CERTIFY_N (default 1000) test points, one method at a time
# (CERTIFY_METHODS, default "symbolic crown-ibp ibp"; train then leaves it CERTIFY_LIMIT, default 120 s):
# issue 3's certification speed on a GPU.
# Commit the JSON to benchmarks/results/ and the tables to benchmarks/README.md.
set -uo pipefail
cd "$(dirname "$0")/.."
# The device's copy of the tree carries an older .git, so results name their
# commit from gpu-carry/commit: run scripts/gpu_stamp.sh right before each
# call and carry gpu-carry. Without it, git_commit() there says "<old>-dirty".
[ -z "${MIXTRAIN_COMMIT:-}" ] && [ -s gpu-carry/commit ] && export MIXTRAIN_COMMIT=$(cat gpu-carry/commit)
FINAL=${OUT:-$PWD/gpu-out}
OUT=$FINAL/w                   # packed into $FINAL/results.tgz at the end (the device returns 8 files)
mkdir -p "$OUT"
# Checkpoints (*.pt) over 4 MiB stay behind: the device returns files of at
# most 16 MiB, and two training runs' checkpoints pushed the archive past that
# once, which lost every file of the call. Small ones (mnist_small's) come
# back, so that the CPU can certify the very network the GPU certified.
# (All of them go when together they pass 8 MB: several train runs.)
pack() {
  find "$OUT" -name "*.pt" -size +4M -delete
  local total
  total=$(find "$OUT" -name "*.pt" -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  [ "$total" -gt 8000000 ] && find "$OUT" -name "*.pt" -delete
  tar czf "$FINAL/results.tgz" -C "$FINAL" w && rm -rf "$OUT"
}
trap pack EXIT
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
STEPS=" ${*:-build tests ops bounds} "
LIMIT=${LIMIT:-585}            # seconds for the whole command
left() { echo $((LIMIT - SECONDS)); }
atleast1() { echo $(( $1 < 1 ? 1 : $1 )); }   # `timeout 0` would mean no limit at all
has() { [[ "$STEPS" == *" $1 "* ]]; }
[ -z "${CUDA_HOME:-}" ] && [ -x /usr/local/cuda/bin/nvcc ] && export CUDA_HOME=/usr/local/cuda
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
stamp=$(date -u +%Y-%m-%d)
gpu=$("$PY" -c 'import torch; print(torch.cuda.get_device_name().split()[1].lower())' 2>/dev/null || echo gpu)

# The GPU machines' default compiler, /opt/gcc/bin/g++, is a wrapper that
# links libstdc++ statically: an extension built with it crashes on the first
# error message that formats a number (scripts/diag_ostream.sh showed it; the
# same GCC 13.3 as /usr/bin/g++ works). Build with the system compiler.
if [ -x /usr/bin/g++ ] && [[ -z "${CXX:-}" || "${CXX:-}" == /opt/gcc/* ]]; then
  export CC=/usr/bin/gcc CXX=/usr/bin/g++ LDSHARED="/usr/bin/g++ -shared" LDCXXSHARED="/usr/bin/g++ -shared"
fi
# The extension is always built: the machine is bare. -Xptxas -v puts each
# kernel's registers, shared memory and spills into build.log.
ARCH=$("$PY" -c 'import torch; p = torch.cuda.get_device_capability(); print("%d.%d" % p)')
echo "== build for sm_${ARCH/./} (MAX_JOBS=${MAX_JOBS:-16}, CC=${CC:-default} CXX=${CXX:-default})"
t0=$SECONDS
NVCC_APPEND_FLAGS="-Xptxas -v" TORCH_CUDA_ARCH_LIST="$ARCH" FORCE_CUDA=1 MAX_JOBS=${MAX_JOBS:-16} \
  "$PY" setup.py -q build_ext --inplace > "$OUT/build.log" 2>&1 || { tail -60 "$OUT/build.log"; exit 1; }
echo "built in $((SECONDS - t0)) s"
"$PY" -m mixtrain_cuda info > "$OUT/build_info.json"
grep -i '"cuda' "$OUT/build_info.json" | head -20

if has ostream; then
  echo "== ostream diag"
  bash scripts/diag_ostream.sh 2>&1 | tee "$OUT/diag_ostream.txt"
fi
if has tests; then
  echo "== tests"
  timeout $(atleast1 $(( $(left) < ${TESTS_LIMIT:-200} ? $(left) : ${TESTS_LIMIT:-200} ))) \
    env OMP_NUM_THREADS=2 "$PY" -m pytest ${TESTS_PATHS:-tests} -q -n 8 -p no:cacheprovider -rfE --tb=short ${TESTS_ARGS:-} > "$OUT/tests.log" 2>&1
  echo "pytest rc $?"
  grep -E "^(FAILED|ERROR)|passed|failed" "$OUT/tests.log" | tail -30
fi
if has choices; then
  echo "== kernel choices"
  timeout $(atleast1 $(( $(left) < ${CHOICES_LIMIT:-150} ? $(left) : ${CHOICES_LIMIT:-150} ))) \
    "$PY" benchmarks/gpu_kernel_choices.py ${CHOICES_ARGS:-} --json "$OUT/${gpu}-choices-${stamp}.json" > "$OUT/choices.txt" 2>&1
  echo "rc $?"; cat "$OUT/choices.txt"
fi
if has ops; then
  echo "== ops bench"
  timeout $(atleast1 $(( $(left) < ${OPS_LIMIT:-120} ? $(left) : ${OPS_LIMIT:-120} ))) \
    "$PY" -m mixtrain_cuda bench --device cuda ${OPS_ARGS:-} --json "$OUT/${gpu}-ops-${stamp}.json" \
    > "$OUT/bench_ops.txt" 2>&1
  echo "rc $?"; cat "$OUT/bench_ops.txt" | tail -45
fi
if has bounds; then
  echo "== bounds bench"
  timeout $(atleast1 $(( $(left) - ${TRAIN_LIMIT:-0} ))) \
    "$PY" -m mixtrain_cuda bench --bounds --device cuda ${BOUNDS_ONLY:+--only "$BOUNDS_ONLY"} ${BOUNDS_ARGS:-} \
    --json "$OUT/${gpu}-bounds-${stamp}.json" \
    > "$OUT/bench_bounds.txt" 2>&1
  echo "rc $?"; tail -40 "$OUT/bench_bounds.txt"
fi
if has steps; then
  echo "== training steps (MixTrain vs full-batch, ImageNet-200)"
  # STEPS_ARGS may hold several runs separated by '|', each with its own JSON.
  IFS='|' read -ra step_runs <<< "${STEPS_ARGS:---batch 128 --k 16 --steps 10}"
  step_end=$(( SECONDS + ($(left) < ${STEPS_LIMIT:-120} ? $(left) : ${STEPS_LIMIT:-120}) ))
  for i in "${!step_runs[@]}"; do
    timeout $(( step_end - SECONDS > 1 ? step_end - SECONDS : 1 )) \
      "$PY" scripts/bench_train_step.py --device cuda ${step_runs[$i]} \
      --json "$OUT/${gpu}-train-step-imagenet200-${stamp}-$i.json" >> "$OUT/train_step.txt" 2>&1
    echo "rc $?"
  done
  cat "$OUT/train_step.txt"
fi
if has train; then
  echo "== train"
  # TRAIN_ARGS may hold several runs separated by '|': run$i/ and train$i.log each.
  IFS='|' read -ra train_runs <<< "${TRAIN_ARGS:-}"
  [ ${#train_runs[@]} -eq 0 ] && train_runs=("")
  for i in "${!train_runs[@]}"; do
    if [ "$(left)" -lt 10 ]; then echo "no time left for train run $i"; break; fi
    # CERTIFY_LIMIT seconds stay for the certify step when it runs in the same call.
    budget=$(( $(left) - $(has certify && echo ${CERTIFY_LIMIT:-120} || echo 0) ))
    if [ "$budget" -lt 30 ]; then echo "no time left for train run $i (certify keeps its share)"; break; fi
    timeout $budget \
      "$PY" -m mixtrain_cuda train --device cuda --no-progress --out "$OUT/run$i" ${train_runs[$i]} \
      > "$OUT/train$i.log" 2>&1
    echo "rc $?"; tail -12 "$OUT/train$i.log"
  done
fi
if has certify; then
  echo "== certify"
  for ckpt in "$OUT"/run*/checkpoint.pt; do
    [ -e "$ckpt" ] || { echo "no checkpoint under $OUT/run*/ (certify needs the train step)"; break; }
    for m in ${CERTIFY_METHODS:-symbolic crown-ibp ibp}; do
      if [ "$(left)" -lt 10 ]; then echo "no time left to certify $ckpt with $m"; break 2; fi
      # stderr to its own file (a traceback must not vanish); the time printed includes CUDA's warm-up.
      run=$(basename "$(dirname "$ckpt")")
      timeout $(left) "$PY" -m mixtrain_cuda certify "$ckpt" --device cuda -n ${CERTIFY_N:-1000} --method "$m" \
        --out "$(dirname "$ckpt")/certify-$m.csv" 2>"$OUT/certify-$run-$m.err" | tee -a "$OUT/certify.txt"
      echo "rc ${PIPESTATUS[0]} ($run, $m)"; tail -3 "$OUT/certify-$run-$m.err"
    done
  done
fi
echo "done in $SECONDS s; results in $FINAL/results.tgz"
