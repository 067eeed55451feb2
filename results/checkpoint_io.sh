#!/usr/bin/env bash
# Regenerates results/checkpoint-io.md: rlvr bench ckpt on 1, 2 and 4 ranks at a 107M-parameter Qwen3-MoE
# (configs/tiny-train.ini with the overrides below), the raw JSON lines in results/checkpoint-io.jsonl.
# Usage: results/checkpoint_io.sh [build/rlvr] [DIR (default /tmp; the files are removed)] [ROUNDS (default 3)]
# RENDER_ONLY=1 rewrites the .md from the existing .jsonl without measuring.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RLVR=$(realpath "${1:-$ROOT/build/rlvr}") DIR=$(realpath "${2:-/tmp}") ROUNDS=${3:-3}
SETS=(--set model.vocab_size=32000 --set model.hidden_size=512 --set model.num_hidden_layers=13
      --set model.num_attention_heads=8 --set model.num_key_value_heads=2 --set model.num_experts=8
      --set model.moe_intermediate_size=512 --set model.intermediate_size=1536)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
JSONL="$ROOT/results/checkpoint-io.jsonl"
if [ "${RENDER_ONLY:-0}" != 1 ]; then
    : >"$JSONL"
    for np in 1 2 4; do
        mpirun --oversubscribe -np $np "$RLVR" bench ckpt --config "$ROOT/configs/tiny-train.ini" "${SETS[@]}" \
            --dir "$DIR" --rounds "$ROUNDS" | tee -a "$JSONL"
    done
fi
ROUNDS=$(jq -s '.[0].rounds' "$JSONL")
machine=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
fs=$(df -T "$DIR" | awk 'NR == 2 { print $2 " on " $1 }')
{
    echo "# Checkpoint write and read time"
    echo
    echo "\`results/checkpoint_io.sh\` ($(date -u +%F), revision $(git -C "$ROOT" rev-parse --short HEAD)): \`rlvr bench ckpt\` on 1, 2 and 4"
    echo "ranks (\`mpirun --oversubscribe\`) on $machine, $(nproc --all) cores, files in \`$DIR\` ($fs)."
    echo "The model is a $(jq -s '.[0].params / 1e6 | floor' "$JSONL")M-parameter Qwen3-MoE (\`configs/tiny-train.ini\` with the overrides in the"
    echo "script); a checkpoint holds its weights and both Adam moments in float32,"
    echo "$(jq -s '.[0].bytes / 1e9 * 1000 | round / 1000' "$JSONL") GB. Each number is the median of $ROUNDS interleaved rounds, in seconds of the slowest rank, with"
    echo "the bandwidth it amounts to. \`disk_write\` and \`disk_read\` are the file system's own bandwidth for"
    echo "as many bytes (one process, \`write\` + \`fsync\`, then \`read\`): the limit for the checkpoint rows."
    echo
    echo "| ranks | disk write | write, rank 0 alone | write, every rank (parallel) | disk read | read, each rank its pieces | read, every rank whole | read, rank 0 alone |"
    echo "|---|---|---|---|---|---|---|---|"
    for np in 1 2 4; do
        jq -rs --argjson np $np 'map(select(.ranks == $np)) | map({key: .what, value: "\(.seconds * 100 | round / 100) s (\(.gb_per_s * 100 | round / 100) GB/s)"}) | from_entries |
            "| \($np) | \(.disk_write) | \(.write_rank0) | \(.write_parallel) | \(.disk_read) | \(.read_pieces) | \(.read_all_ranks) | \(.read_rank0) |"' "$JSONL"
    done
    cat <<'NOTES'

How to read it:
- Every rank count writes the same file: full logical tensors, chunked along the first dimension (an expert per
  chunk), a Fletcher32 checksum per chunk. `write_parallel` is the path training takes (`checkpoint_save_parallel`,
  each rank a contiguous run of chunks, collective MPI-IO writes of HDF5 1.10); `write_rank0` is the old path
  (rank 0 writes everything while the others wait). Both include the fsync and the rename.
- `read_pieces` is a sharded resume (each rank reads only its share, verifying the checksums of the chunks it
  touches); `read_all_ranks` is a ZeRO stage 0 resume, where every rank needs everything and reads the whole file
  at once; `read_rank0` is one reader alone. Reads come from the page cache when the file fits in memory, so they
  measure HDF5, the checksums and the copies rather than the disk.
- On one node, the ranks share one disk and one page cache: parallel writing can at best match the disk's
  bandwidth, and its gain is the CPU work (copies, checksums) spread over ranks. On a parallel file system
  (Lustre, GPFS) with one writer per node, the disk limit grows with the nodes and the parallel write is the one
  that scales.
- Regenerate on a quiet machine: `results/checkpoint_io.sh build/rlvr DIR ROUNDS`.
NOTES
} >"$ROOT/results/checkpoint-io.md.new"
mv "$ROOT/results/checkpoint-io.md.new" "$ROOT/results/checkpoint-io.md"
