#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages rlvr needs (DESIGN.md "Dependencies"). Idempotent.
# As non-root it prints the exact apt-get line and exits non-zero instead of installing.
set -euo pipefail

packages=(
  build-essential pkg-config
  libopenmpi-dev openmpi-bin            # MPI data parallelism
  libhdf5-openmpi-dev hdf5-tools        # parallel HDF5 checkpoints, h5dump
  libcriterion-dev                      # unit tests
  libinih-dev                           # INI configs
  libcjson-dev                          # JSONL datasets and outputs
  libopenblas-openmp-dev                # matrix products
  libpcre2-dev libutf8proc-dev          # BPE tokenizer
  gnuplot-nox jq                        # figures (launch/plot.sh)
  clang libclang-rt-dev                 # libFuzzer targets (make fuzz)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages; run as root:" >&2
  echo "  sudo apt-get update && sudo $cmd" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd
