#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/CMakeLists.txt) with clang++-14, AddressSanitizer and
# UndefinedBehaviorSanitizer into build/fuzz, then runs each for a bounded time from the seed
# corpus in fuzz/corpus/<target>/ (new inputs go to build/fuzz/corpus/<target>/, never into
# the repository). A crash, sanitizer report, leak, timeout or out-of-memory fails the run; the
# input that did it is saved under build/fuzz/artifacts/<target>/ (replay: the fuzzer binary
# with that file as its argument).
# Usage: fuzz/run.sh [seconds per target (default 20, or $FUZZ_SECONDS)] [target...]
# Exit status: 0 clean, 1 a target failed, 77 clang++-14 or libFuzzer missing (ctest: skipped).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-${FUZZ_SECONDS:-20}}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(infer_request json_scan image http_request grpc_infer_request trace_file catalog); fi
build="${FUZZ_BUILD_DIR:-$root/build/fuzz}"

if ! command -v clang++-14 > /dev/null; then
  echo "fuzz: clang++-14 not found (scripts/bootstrap.sh installs clang-14 and libclang-rt-14-dev)"
  exit 77
fi
if ! clang++-14 -print-file-name=libclang_rt.fuzzer-x86_64.a | grep -q /; then
  echo "fuzz: libFuzzer (libclang-rt-14-dev) not found"
  exit 77
fi

mkdir -p "$(dirname "$build")"  # the configure log goes beside the build folder
generator=()
if command -v ninja > /dev/null; then generator=(-G Ninja); fi
cmake -S "$root/fuzz" -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
nice -n 10 cmake --build "$build" -- -j 2 > "$build/build.log" 2>&1 || { cat "$build/build.log"; exit 1; }

# Per-target input size limits: JSON bodies up to 8 KiB, images up to 32 KiB.
declare -A max_len=([infer_request]=8192 [json_scan]=8192 [image]=32768 [http_request]=20000
  [grpc_infer_request]=8192)
status=0
for target in "${targets[@]}"; do
  work="$build/corpus/$target"
  artifacts="$build/artifacts/$target"
  log="$build/$target.log"
  mkdir -p "$work" "$artifacts"
  # stderr of the code under test (libpng and libjpeg warnings) is closed; libFuzzer and the
  # sanitizers still report on their own descriptor.
  if nice -n 10 "$build/${target}_fuzzer" -max_total_time="$seconds" -timeout=25 \
    -rss_limit_mb=2048 -max_len="${max_len[$target]:-8192}" -close_fd_mask=2 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$root/fuzz/corpus/$target" \
    > "$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  coverage="$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)"
  echo "fuzz: $target: $result, ${executions:-?} executions in ${seconds} s, ${coverage:-cov: ?}"
  if [ "$result" = FAILED ]; then
    grep -v '^#[0-9]' "$log" | tail -60
    echo "fuzz: reproducer(s): $(ls "$artifacts")"
  fi
done
exit $status
