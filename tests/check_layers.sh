#!/usr/bin/env bash
# Architecture check (src/README.md "Folders"): every file of src/ sits in a layer folder and includes only
# from its own folder or one below it, project includes name their folder, no two modules depend on each
# other directly or around a circle, MPI is called only from base/dist.c and HDF5 only from io/.
# Include edges come from the sources; call edges from the objects (nm: who defines what another uses), so a
# header declaring a function that a module above defines is caught too.
# Usage: tests/check_layers.sh SRC_DIR OBJ_DIR (OBJ_DIR = build/src). One line per violation; exit 1 if any.
set -uo pipefail
SRC=$(realpath "${1:?usage: check_layers.sh SRC_DIR OBJ_DIR}")
OBJ=$(realpath "${2:?usage: check_layers.sh SRC_DIR OBJ_DIR}")
LAYERS=(base text model algo io task rollout eval train bench cli)  # lowest first
declare -A RANK
for i in "${!LAYERS[@]}"; do RANK[${LAYERS[$i]}]=$i; done

problems=0
problem() { echo "check_layers: $*"; problems=$((problems + 1)); }

# The module a file belongs to: folder/stem, where a private header X_internal.h belongs to X, so does any file
# that includes it (attention.c, model/backend.h: X's internals are X's own), and a .c file without a header of
# its own (model_forward.c) to the longest header stem it starts with (model). An object file is its source's.
module_of() {
    local rel=$1 dir stem priv
    [[ $rel == *.o ]] && rel=${rel%.o}.c
    dir=$(dirname "$rel") stem=$(basename "$rel"); stem=${stem%.*}; stem=${stem%_internal}
    priv=$(sed -n "s|^[[:space:]]*#[[:space:]]*include[[:space:]]*\"\($dir/[^\"/]*\)_internal\.h\".*|\1|p" "$SRC/$rel" 2>/dev/null |
        head -n 1)
    if [ -n "$priv" ]; then echo "$priv"; return; fi
    local s=$stem
    while [ ! -f "$SRC/$dir/$s.h" ] && [[ $s == *_* ]]; do s=${s%_*}; done
    [ -f "$SRC/$dir/$s.h" ] && stem=$s
    echo "$dir/$stem"
}

edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
cd "$SRC" || exit 1
while IFS= read -r rel; do
    rel=${rel#./}
    folder=${rel%%/*}
    if [[ $rel != */* ]] || [ -z "${RANK[$folder]:-}" ]; then
        problem "$rel: not in a layer folder (${LAYERS[*]})"; continue
    fi
    mod=$(module_of "$rel")
    echo "$mod $mod" >>"$edges"
    while IFS= read -r inc; do
        if [[ $inc != */* ]]; then
            [ -f "$SRC/../kernels/$inc" ] || problem "$rel: #include \"$inc\" must name its folder"
            continue
        fi
        to=${inc%%/*}
        [ -f "$SRC/$inc" ] || { problem "$rel: #include \"$inc\": no such file"; continue; }
        [ -n "${RANK[$to]:-}" ] || { problem "$rel: includes $inc outside the layer folders"; continue; }
        if [ "${RANK[$to]}" -gt "${RANK[$folder]}" ]; then problem "$rel ($folder) includes $inc from a folder above it ($to)"; fi
        dep=$(module_of "$inc")
        [ "$dep" != "$mod" ] && echo "$mod $dep" >>"$edges"
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$rel")
    if grep -qE '#[[:space:]]*include[[:space:]]*<(mpi|nccl)\.h>' "$rel" && [ "$rel" != base/dist.c ]; then
        problem "$rel: only base/dist.c talks to MPI/NCCL"
    fi
    if grep -qE '#[[:space:]]*include[[:space:]]*<hdf5\.h>' "$rel" && [ "$folder" != io ]; then
        problem "$rel: only io/ includes HDF5"
    fi
done < <(find . -name '*.[ch]' | sort)

# Call edges: every undefined symbol of an object that another project object defines.
defs=$(mktemp)
trap 'rm -f "$edges" "$defs"' EXIT
objects() { (cd "$OBJ" 2>/dev/null && find . -name '*.o' | sort | while read -r o; do [ -f "$SRC/${o%.o}.c" ] && echo "$o"; done); }
# A source without its object would have its calls go unchecked (a wrong OBJ_DIR or an unbuilt tree passed before).
unbuilt=$(find . -name '*.c' | while read -r c; do [ -f "$OBJ/${c%.c}.o" ] || echo "$c"; done | wc -l)
[ "$unbuilt" -eq 0 ] ||
    problem "$unbuilt of $(find . -name '*.c' | wc -l) sources have no object under $OBJ (build them first: make); their calls are unchecked"
objects | (cd "$OBJ" 2>/dev/null && while read -r o; do
    nm --defined-only -g "$o" | awk -v m="$(module_of "${o#./}")" 'NF == 3 { print $3, m }'
done) | sort -u >"$defs"
while read -r o; do
    rel=${o#./}; mod=$(module_of "${rel%.o}.c")
    nm -u "$OBJ/$rel" | awk '{ print $2 }' | sort -u | join - "$defs" | while read -r sym dep; do
        [ "$dep" = "$mod" ] && continue
        echo "$mod $dep" >>"$edges"
        [ "${RANK[${dep%%/*}]}" -gt "${RANK[${mod%%/*}]}" ] && echo "check_layers: $rel calls $sym of $dep, a folder above it"
    done
done < <(objects) >"$defs.calls"
cat "$defs.calls"
problems=$((problems + $(grep -c . "$defs.calls"))); rm -f "$defs.calls"

# tsort names the modules of any dependency circle.
if ! tsort "$edges" >/dev/null 2>"$edges.err"; then
    problem "modules depend on each other around a circle: $(grep -v 'input contains a loop' "$edges.err" | sed 's/^tsort: //' | sort -u | tr '\n' ' ')"
fi
rm -f "$edges.err"
[ "$problems" -eq 0 ] && echo "check_layers: ${#LAYERS[@]} layers, $(find . -name '*.[ch]' | wc -l) files, no violations"
[ "$problems" -eq 0 ]
