# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# [model] init = a Hugging Face directory: imported on first use into RUN_DIR/init.h5 by rank 0 (2 ranks here),
# the run starts from the same weights as --init with the same model's checkpoint, the import is reused while the
# directory's files are unchanged and made again when one changes, and bad values fail with one line; the paper
# recipes resolve with their init directory and a chat template.
plan 21
CFG="$ROOT/configs/tiny-train.ini"
I="$TMP/init"
mkdir -p "$I"
sft=(--config "$CFG" --set sft.steps=1 --set sft.batch_size=4)
expect_ok "init: a model made here" "$RLVR" init --config "$CFG" --set model.init_seed=7 --out "$I/made.h5"
expect_ok "init: ckpt info reads it as every checkpoint (step 0, world size 1, kind init)" bash -c \
    "'$RLVR' ckpt info '$I/made.h5' | sed -n 2,4p | tr '\\n' ' ' | grep -qx 'step 0 world_size 1 kind init '"
expect_ok "init: exported as a Hugging Face directory" "$RLVR" export "$I/made.h5" --out "$I/hf" --dtype f32

expect_ok "init: sft on 2 ranks with model.init = the directory" \
    mpi 2 "$RLVR" sft "${sft[@]}" --set "model.init=$I/hf" --run-dir "$I/a"
expect_ok "init: the console said it imported the directory" grep -q "init: $I/hf imported into $I/a/init.h5" "$I/a/log.txt"
expect_ok "init: RUN_DIR/init.h5 holds the directory's weights" h5diff "$I/made.h5" "$I/a/init.h5" /model /model
expect_ok "init: the same run from --init with the model's checkpoint" \
    mpi 2 "$RLVR" sft "${sft[@]}" --init "$I/made.h5" --run-dir "$I/b"
expect_ok "init: both runs end on the same weights" \
    h5diff "$I/a/ckpt/step-000001.h5" "$I/b/ckpt/step-000001.h5" /model /model

rm -f "$I"/a/ckpt/step-*.h5
mpi 2 "$RLVR" sft "${sft[@]}" --set "model.init=$I/hf" --run-dir "$I/a" >/dev/null 2>&1
expect_ok "init: a restart reuses the import" grep -q "init: $I/hf unchanged since its import: loading $I/a/init.h5" \
    "$I/a/log.txt"
rm -f "$I"/a/ckpt/step-*.h5
touch "$I/hf/model.safetensors"
mpi 2 "$RLVR" sft "${sft[@]}" --set "model.init=$I/hf" --run-dir "$I/a" >/dev/null 2>&1
expect_ok "init: a changed safetensors file is imported again" \
    grep -q "init: $I/hf changed since its import (config.json or safetensors size/mtime): imported again" "$I/a/log.txt"

expect_ok "init: --init wins over model.init" \
    "$RLVR" sft "${sft[@]}" --set model.init=/nonexistent --init "$I/made.h5" --run-dir "$I/c"
expect_error "init: a directory without config.json" \
    "\[model\] init $I: a directory without config.json; expected a Hugging Face model directory or an rlvr checkpoint" \
    "$RLVR" sft "${sft[@]}" --set "model.init=$I" --run-dir "$I/d"
expect_error "init: a run directory names its newest checkpoint" \
    "\[model\] init $I/c: a run directory; expected one of its checkpoints, as its newest $I/c/ckpt/step-000001.h5" \
    "$RLVR" sft "${sft[@]}" --set "model.init=$I/c" --run-dir "$I/g"
expect_error "init: a path that does not exist" "\[model\] init /nonexistent: No such file or directory" \
    "$RLVR" sft "${sft[@]}" --set model.init=/nonexistent --run-dir "$I/e"
expect_ok "init: a checkpoint path works as --init does" \
    "$RLVR" sft "${sft[@]}" --set "model.init=$I/made.h5" --run-dir "$I/f"

# The paper recipes resolve, start from their model's directory and use a chat template.
for ini in "$ROOT"/configs/papers/*.ini; do
    expect_ok "init: $(basename "$ini") resolves with init = models/<name>/ and a chat template" bash -c \
        "'$RLVR' config --config '$ini' > '$I/paper.ini' && grep -qx 'init = models/[a-z0-9.-]*/' '$I/paper.ini' &&
         grep -qxE 'template = (chatml|qwen-boxed|dapo)' '$I/paper.ini'"
done
