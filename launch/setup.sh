#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages rlvr needs. Idempotent.
# As non-root it prints the exact apt-get line and exits non-zero instead of installing.
# --test (make test) also installs what only the tests use: Slurm and munge, for tests/it_slurm.sh, which starts
# its own one-node cluster, and shellcheck, for tests/check_shell.sh; without them (non-root) those checks say they
# skipped, so they are never required.
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
  xz-utils                              # the Qwen2.5 tokenizer fixture (tests/fixtures/qwen2.5/*.xz)
  gnuplot-nox jq                        # figures (launch/plot.sh)
  clang libclang-rt-dev                 # libFuzzer targets (make fuzz)
)

test_packages=(slurm-wlm munge shellcheck)
declare -A skipped_without=(            # what skips when the package is missing
  [slurm-wlm]="the Slurm tests (tests/it_slurm.sh, a real one-node cluster)" [munge]="the Slurm tests (tests/it_slurm.sh)"
  [shellcheck]="the shell check (tests/check_shell.sh)"
)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
if [ "${1:-}" = --test ]; then
  for p in "${test_packages[@]}"; do
    installed "$p" && continue
    if [ "$(id -u)" -eq 0 ]; then missing+=("$p")
    else echo "setup: $p is not installed: ${skipped_without[$p]} will skip (as root: apt-get install $p)" >&2; fi
  done
fi

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
