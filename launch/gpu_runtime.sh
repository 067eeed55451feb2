#!/usr/bin/env bash
# The Debian runtime libraries build/rlvr needs, unpacked into .gpu-runtime/ (ignored by git) for a GPU machine that
# lacks Open MPI, HDF5, OpenBLAS, ... and cannot reach a package registry: the folder travels with the working tree
# (the device tool's carry, 64 MiB in all) and rlvr runs there with the lines this script prints.
# What is taken: the package of every library `ldd RLVR` resolves, except the C and C++ runtimes (libc6, libgcc-s1,
# libstdc++6: the GPU machine's own, newer ones serve) and CUDA's (cudart, cuBLAS, NCCL: the machine's toolkit);
# Open MPI's plugins, help texts and mpirun/orted, with the plugins whose libraries are not taken removed (network
# transports: one node needs shared memory only). Only shared libraries, plugins, mpirun/orted and Open MPI's data
# files are kept from the packages.
# Usage: bash launch/gpu_runtime.sh [RLVR]     (RLVR defaults to build/rlvr; run after `make`)
# Writes .gpu-runtime/runtime.tar.xz and .gpu-runtime/env.sh (source it there: it unpacks the runtime under
# $GPU_RUNTIME, default /tmp/rlvr-gpu-runtime, and sets LD_LIBRARY_PATH, OPAL_PREFIX, PATH); prints the sizes; exit 1
# when it does not fit BUDGET_MB (default 40: the 64 MiB carry limit less the working tree, build/rlvr, gpu_check).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RLVR=$(realpath -e "${1:-$ROOT/build/rlvr}")
OUT=$ROOT/.gpu-runtime
BUDGET_MB=${BUDGET_MB:-40}
ARCH=x86_64-linux-gnu
SKIP=" libc6 libgcc-s1 libstdc++6 "

# package_of FILE: sets PKG to the Debian package that installed FILE (usrmerge: /lib paths are listed under
# /usr/lib); cached, dpkg -S being slow.
declare -A PKG_OF=()
package_of() {
    local r
    r=$(realpath "$1")
    [ -n "${PKG_OF[$r]+x}" ] ||
        PKG_OF[$r]=$({ dpkg -S "$r" 2>/dev/null || dpkg -S "${r#/usr}" 2>/dev/null || true; } | head -1 | cut -d: -f1)
    PKG=${PKG_OF[$r]}
}

# libraries_of FILE...: every shared library the files load, as resolved here.
libraries_of() { ldd "$@" 2>/dev/null | awk '$3 ~ /^\// { print $3 }' | sort -u; }

declare -A TAKE=()
add_packages_of() {
    local lib p
    for lib in $(libraries_of "$@"); do
        package_of "$lib"
        [ -n "$PKG" ] && [[ $SKIP != *" $PKG "* ]] && TAKE[$PKG]=1
    done
    return 0
}
add_packages_of "$RLVR"
MPI_LIB=$(ldd "$RLVR" | awk '$1 ~ /^libmpi\.so/ { print $3 }')
[ -n "$MPI_LIB" ] || { echo "gpu_runtime.sh: $RLVR does not load libmpi" >&2; exit 2; }
package_of "$MPI_LIB"
MPI_PKG=$PKG
for p in openmpi-bin openmpi-common libpmix2; do dpkg -s "$p" >/dev/null 2>&1 && TAKE[$p]=1; done
# Open MPI's orted and mpirun, and PMIx's libraries: what they load.
add_packages_of /usr/bin/orted /usr/bin/orterun /usr/lib/$ARCH/libpmix.so.2

rm -rf "$OUT"
mkdir -p "$OUT/deb" "$OUT/root"
(cd "$OUT/deb" && apt-get download "${!TAKE[@]}" >/dev/null 2>&1) ||
    { echo "gpu_runtime.sh: apt-get download ${!TAKE[*]} failed" >&2; exit 2; }
for deb in "$OUT"/deb/*.deb; do dpkg -x "$deb" "$OUT/root"; done
rm -rf "$OUT/deb"

# Keep shared libraries, plugins, Open MPI's and PMIx's data, and the launcher; drop the rest (docs, man pages).
R=$OUT/root
find "$R" -depth -mindepth 1 \( -path "$R/usr/share/doc*" -o -path "$R/usr/share/man*" -o -path "$R/usr/share/lintian*" \
    -o -path "$R/usr/share/locale*" -o -path "$R/usr/share/info*" -o -path "$R/usr/share/bug*" \) -delete
find "$R/usr/bin" -mindepth 1 ! -name orted ! -name orterun ! -name mpirun ! -name mpiexec -delete 2>/dev/null || true
find "$R/usr/sbin" "$R/sbin" "$R/bin" -mindepth 1 -delete 2>/dev/null || true

# A plugin whose libraries are neither taken nor the machine's C/C++/CUDA runtime cannot load there: remove it.
declare -A HAVE=()
while IFS= read -r f; do HAVE[$(basename "$f")]=1; done < <(find "$R" -name '*.so*')
dropped=0
while IFS= read -r plugin; do
    for lib in $(ldd "$plugin" 2>/dev/null | awk '$3 ~ /^\// { print $3 }'); do
        [ -n "${HAVE[$(basename "$lib")]:-}" ] || [[ $lib == /usr/local/cuda* ]] && continue
        package_of "$lib"
        if [[ $SKIP != *" $PKG "* ]]; then
            rm -f "$plugin"; dropped=$((dropped + 1)); break
        fi
    done
done < <(find "$R/usr/lib/$ARCH/openmpi" "$R/usr/lib/$ARCH/pmix2" -name 'mca_*.so' -o -name 'pmix_mca_*.so' 2>/dev/null)
# mpirun is a link to orterun: make it relative so it stays inside the runtime.
[ -e "$R/usr/bin/orterun" ] && ln -sf orterun "$R/usr/bin/mpirun"

# Packed: OpenBLAS alone is 43 MiB unpacked (every CPU's kernels), the whole about 80 MiB; xz brings it under the
# carry limit. env.sh unpacks it on the GPU machine (tar, or Python's tarfile where xz is missing) and sets the paths.
XZ_OPT=-T0 tar -C "$OUT" -cJf "$OUT/runtime.tar.xz" root
unpacked=$(du -sb "$R" | cut -f1)
# The folders of the shared libraries (OpenBLAS sits in its alternative's folder, zlib in /lib), plugins aside.
LIB_DIRS=$(cd "$R" && find . -name '*.so*' ! -path '*/openmpi3/*' ! -path '*/pmix/*' -printf '%h\n' | sort -u |
    sed 's|^\.|$GPU_RUNTIME/root|' | paste -sd:)
rm -rf "$R"
cat > "$OUT/env.sh" <<ENV_HEAD
# The library folders of the runtime (launch/gpu_runtime.sh), \$GPU_RUNTIME expanded when sourced.
RLVR_RUNTIME_LIB_DIRS='$LIB_DIRS'
ENV_HEAD
cat >> "$OUT/env.sh" <<'ENV'
# Source on the GPU machine from the repository root: `. .gpu-runtime/env.sh` (written by launch/gpu_runtime.sh).
GPU_RUNTIME=${GPU_RUNTIME:-/tmp/rlvr-gpu-runtime}
if [ ! -d "$GPU_RUNTIME/root" ]; then
    mkdir -p "$GPU_RUNTIME"
    tar -C "$GPU_RUNTIME" -xJf .gpu-runtime/runtime.tar.xz 2>/dev/null ||
        python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' .gpu-runtime/runtime.tar.xz "$GPU_RUNTIME"
fi
export GPU_RUNTIME
# NCCL: CUDA's own folder, else the copy of the nvidia-nccl Python package (images with PyTorch have one).
NCCL_DIR=$(python3 -c 'import os, nvidia.nccl as n; print(os.path.join(list(n.__path__)[0], "lib"))' 2>/dev/null)
LD_LIBRARY_PATH=$(eval echo "$RLVR_RUNTIME_LIB_DIRS"):/usr/local/cuda/lib64${NCCL_DIR:+:$NCCL_DIR}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
export OPAL_PREFIX=$GPU_RUNTIME/root/usr PATH=$GPU_RUNTIME/root/usr/bin:$PATH
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader OMPI_MCA_ess_singleton_isolated=1
ENV
bytes=$(du -sb "$OUT" | cut -f1)
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "gpu_runtime.sh: ${#TAKE[@]} packages (${MPI_PKG} for Open MPI), $dropped plugins removed;" \
    "$(awk -v b="$unpacked" 'BEGIN { printf "%.1f", b / 1048576 }') MiB unpacked, $mb MiB in $OUT (runtime.tar.xz, env.sh)"
echo "# on the GPU machine, in the repository root (carry .gpu-runtime and build/rlvr):"
echo ". .gpu-runtime/env.sh"
if awk -v m="$mb" -v b="$BUDGET_MB" 'BEGIN { exit !(m > b) }'; then
    echo "gpu_runtime.sh: $mb MiB is over the budget of $BUDGET_MB MiB" >&2
    exit 1
fi
