#!/usr/bin/env bash
# Installs every Debian package brulee needs, then configures and builds the release preset.
# Idempotent and non-interactive: a second run installs nothing and rebuilds only what changed.
# Usage: scripts/bootstrap.sh [--no-build] [--bench]
#   --bench also installs the tools the server benchmarks compare against (wrk, nginx-light;
#   bench/serve/rest_vs_nginx.sh) and the allocators bench/serve/process_memory.py preloads
#   (jemalloc, mimalloc, tcmalloc), and the integer-program solver experiments/exact_optimum.py
#   runs (coinor-cbc); nothing in the build or the tests needs them.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build tools and test frameworks
  g++ cmake ninja-build pkg-config clang-format
  # the network layer: Boost.Beast and Asio (header-only); gRPC and protobuf (the gRPC front,
  # protoc and its gRPC plugin generate the service from src/serve/proto/inference.proto)
  libboost-dev libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libgtest-dev libgmock-dev libbenchmark-dev
  # the flow bound of the simulator: LEMON's min-cost flow (header templates)
  liblemon-dev
  # command line, JSON, HTTP (zlib: the image tests write PNGs)
  libcli11-dev nlohmann-json3-dev libcpp-httplib-dev zlib1g-dev
  # fuzzing the request parsers (fuzz/run.sh): clang with libFuzzer and the sanitizers
  clang-14 libclang-rt-14-dev
  # inference runtimes: OpenCV DNN (ONNX) and libtorch (TorchScript)
  libopencv-dnn-dev libopencv-imgcodecs-dev libopencv-imgproc-dev libtorch-dev
  # OpenBLAS for libtorch's matrix products (libblas.so.3 points to it once installed): without
  # it Debian's reference BLAS runs them, 1.5-3.6x slower (docs/runtime.md, "BLAS")
  libopenblas0-pthread
  # model zoo export (Debian's own python3 sees these), plots, timing
  python3 python3-torch python3-torchvision python3-onnx python3-numpy
  gnuplot-nox hyperfine time
)

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --bench) packages+=(wrk nginx-light libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 coinor-cbc) ;;
    *) echo "bootstrap: unknown argument $arg" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "bootstrap: all ${#packages[@]} packages present"
fi

if ((build)); then
  cmake --preset release
  cmake --build --preset release
fi
