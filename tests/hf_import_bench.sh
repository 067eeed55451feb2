#!/usr/bin/env bash
# Import speed against the machine's read and write bandwidth (results/hf-import.md "Speed and memory"), by hand:
#
#   bash tests/hf_import_bench.sh build/rlvr [OTHER_RLVR] [--rounds N] [--cold]
#
# Makes /tmp/big-hf with tests/hf_big_model.py (numpy) unless it is there, then runs N interleaved rounds (default 3)
# of: reading the shards (cat > /dev/null), writing the output's size (dd) and `rlvr import` with each binary, to
# tmpfs (/dev/shm) with the input in the page cache ("warm"), and to disk (/tmp, fsync'ed as the import does).
# --cold also drops the page cache (root) before a cold read and a cold import per binary and round. Prints one
# Markdown row per case: median wall seconds, median user + sys, largest peak RSS, and the rate in GB/s of input
# read (cat, imports) or output written (dd).
set -euo pipefail
bins=() rounds=3 cold=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --cold) cold=1; shift ;;
    *) bins+=("$(realpath "$1")"); shift ;;
  esac
done
[ ${#bins[@]} -ge 1 ] || { echo "usage: $0 RLVR [OTHER_RLVR] [--rounds N] [--cold]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
src=/tmp/big-hf
[ -f "$src/model.safetensors.index.json" ] || python3 "$here/hf_big_model.py" "$src" >&2
in_bytes=$(cat "$src"/*.safetensors | wc -c)
log=$(mktemp)

# One measured command: appends "case wall user+sys rss_kb" to the log.
run() {
  local name=$1; shift
  /usr/bin/time -o "$log.t" -f "%e %U %S %M" "$@" >/dev/null 2>&1
  read -r wall user sys rss < "$log.t"
  echo "$name $wall $(echo "$user + $sys" | bc) $rss" | tee -a "$log" >&2
}
drop() { sync; echo 1 > /proc/sys/vm/drop_caches; }

out_bytes=0
for _ in $(seq "$rounds"); do
  cat "$src"/*.safetensors > /dev/null
  run "warm: cat of the shards to /dev/null" cat "$src"/*.safetensors
  for i in "${!bins[@]}"; do
    run "warm: import $i, output on tmpfs" "${bins[$i]}" import --hf "$src" --out /dev/shm/big.h5
    out_bytes=$(stat -c %s /dev/shm/big.h5)
    rm -f /dev/shm/big.h5
  done
  mb=$(( (out_bytes + 1048575) / 1048576 ))
  run "warm: dd of the output's size to tmpfs" dd if=/dev/zero of=/dev/shm/zero bs=1M count=$mb
  rm -f /dev/shm/zero
  run "dd of the output's size to disk, fsync" dd if=/dev/zero of=/tmp/zero bs=1M count=$mb conv=fsync
  rm -f /tmp/zero
  for i in "${!bins[@]}"; do
    run "warm: import $i, output on disk, fsync" "${bins[$i]}" import --hf "$src" --out /tmp/big.h5
    rm -f /tmp/big.h5
  done
  if [ $cold = 1 ]; then
    drop; run "cold: cat of the shards to /dev/null" cat "$src"/*.safetensors
    for i in "${!bins[@]}"; do
      drop; run "cold: import $i, output on disk, fsync" "${bins[$i]}" import --hf "$src" --out /tmp/big.h5
      rm -f /tmp/big.h5
    done
  fi
done

echo "input $in_bytes bytes, output $out_bytes bytes, $rounds rounds; binaries: ${bins[*]}"
echo "| case | wall s (median) | user + sys s (median) | peak RSS MB | GB/s (median wall) |"
echo "|---|---:|---:|---:|---:|"
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
awk '{ n=$0; sub(/ [^ ]+ [^ ]+ [^ ]+$/, "", n); print n }' "$log" | awk '!seen[$0]++' | while read -r name; do
  rows=$(awk -v n="$name" '{ m=$0; sub(/ [^ ]+ [^ ]+ [^ ]+$/, "", m); if (m == n) print $(NF-2), $(NF-1), $NF }' "$log")
  wall=$(cut -d' ' -f1 <<<"$rows" | median)
  cpu=$(cut -d' ' -f2 <<<"$rows" | median)
  rss=$(cut -d' ' -f3 <<<"$rows" | sort -g | tail -1)
  bytes=$in_bytes
  case "$name" in *dd*) bytes=$out_bytes ;; esac
  printf "| %s | %s | %s | %d | %.2f |\n" "$name" "$wall" "$cpu" $((rss / 1024)) "$(echo "$bytes / $wall / 1000000000" | bc -l)"
done
rm -f "$log" "$log.t"
