# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Hugging Face directories in and out (rlvr import / export): every fixture of tests/fixtures/hf imports;
# export -> import gives the same /model bit for bit and export is reproducible byte for byte; a model made here
# goes init -> export -> import -> train -> export with its config.json kept; bad inputs fail with one line.
plan 48
HF="$ROOT/tests/fixtures/hf"
H="$TMP/hf"
mkdir -p "$H"
for fx in qwen2_f32 qwen2_bf16_tied qwen3_f32_head_dim qwen3_bf16_tied qwen2_moe_f32_sharded qwen2_moe_bf16 \
          qwen3_moe_f32_sparse qwen3_moe_bf16; do
    expect_ok "hf: import $fx" "$RLVR" import --hf "$HF/$fx" --out "$H/$fx.h5"
done
expect_ok "hf: ckpt info of an imported checkpoint shows kind init and the [model] of config.json" bash -c \
    "'$RLVR' ckpt info '$H/qwen3_moe_f32_sparse.h5' | grep -q '^kind init' &&
     '$RLVR' ckpt info '$H/qwen3_moe_f32_sparse.h5' | grep -qx 'decoder_sparse_step = 2'"
expect_ok "hf: export sharded f32" "$RLVR" export "$H/qwen2_moe_f32_sharded.h5" --out "$H/x1" --dtype f32 \
    --shard-size 8KB
expect_ok "hf: the export has per-expert names, a shard index and no fused names" bash -c \
    "jq -e '.weight_map | has(\"model.layers.1.mlp.experts.3.down_proj.weight\") and
            (keys | map(select(endswith(\"experts.down_proj\") or test(\"weight[0-9]\"))) | length == 0)' \
     '$H/x1/model.safetensors.index.json' >/dev/null"
expect_ok "hf: import the export" "$RLVR" import --hf "$H/x1" --out "$H/x1.h5"
expect_ok "hf: import -> export -> import leaves /model bit-identical" \
    h5diff "$H/qwen2_moe_f32_sharded.h5" "$H/x1.h5" /model /model
expect_ok "hf: export again" "$RLVR" export "$H/x1.h5" --out "$H/x2" --dtype f32 --shard-size 8KB
expect_same "hf: export is reproducible (shard 1)" "$H/x1/model-00001-of-00005.safetensors" \
    "$H/x2/model-00001-of-00005.safetensors"
expect_same "hf: export is reproducible (index)" "$H/x1/model.safetensors.index.json" "$H/x2/model.safetensors.index.json"

# A model made here, through training and back (no Python needed).
CFG="$ROOT/configs/tiny-train.ini"
sparse=(--set model.decoder_sparse_step=2)
expect_ok "hf: init a Qwen3-MoE with a dense layer 0" "$RLVR" init --config "$CFG" "${sparse[@]}" --out "$H/init.h5"
expect_ok "hf: export it as f32" "$RLVR" export "$H/init.h5" --out "$H/init-hf" --dtype f32
expect_ok "hf: import it back" "$RLVR" import --hf "$H/init-hf" --out "$H/init-back.h5"
expect_ok "hf: init -> export -> import leaves /model bit-identical" h5diff "$H/init.h5" "$H/init-back.h5" /model /model
rm -rf "$H/tok-hf" && cp -r "$H/init-hf" "$H/tok-hf" && cp "$ROOT/tests/fixtures/bpe/tokenizer.json" "$H/tok-hf/" &&
    echo '{"model_max_length": 64}' > "$H/tok-hf/tokenizer_config.json"
expect_ok "hf: a directory with tokenizer.json imports with [tokenizer] type = bpe and its path" bash -c \
    "'$RLVR' import --hf '$H/tok-hf' --out '$H/tok.h5' >/dev/null &&
     '$RLVR' ckpt info '$H/tok.h5' | grep -qx 'path = $(realpath "$H/tok-hf")/tokenizer.json'"
# Export makes DIR's missing parents, as a run directory's are made (models/NAME in a fresh checkout).
expect_ok "hf: export copies the tokenizer files, into a new directory under a new parent" \
    "$RLVR" export "$H/tok.h5" --out "$H/exports/tok-out"
expect_same "hf: tokenizer.json copied" "$H/tok-hf/tokenizer.json" "$H/exports/tok-out/tokenizer.json"
expect_same "hf: tokenizer_config.json copied" "$H/tok-hf/tokenizer_config.json" "$H/exports/tok-out/tokenizer_config.json"
rm "$H/tok-hf/tokenizer.json"
expect_error "hf: export with the tokenizer.json gone" "tok-hf/tokenizer.json: cannot open" \
    "$RLVR" export "$H/tok.h5" --out "$H/made/for/tok-out2"
expect_ok "hf: a failed export leaves no directory behind, nor the parents it made" test ! -e "$H/made"
# names_path FIELD PATH CMD...: CMD's line is JSON whose FIELD is PATH exactly, whatever PATH holds.
names_path() {
    local field=$1 path=$2 out; shift 2
    out=$("$@") || return 1
    jq -e --arg p "$path" ".$field == \$p" <<<"$out" >/dev/null || { echo "$out"; return 1; }
}
Q="$H/q\"uo\\te"  # a quote and a backslash
expect_ok "hf: export's line is JSON for a DIR with a quote and a backslash" \
    names_path export "$Q" "$RLVR" export "$H/init.h5" --out "$Q" --dtype f32
expect_ok "hf: import's line is JSON for such a path" names_path checkpoint "$Q.h5" "$RLVR" import --hf "$Q" --out "$Q.h5"
expect_ok "hf: init's line is JSON for such a path" \
    names_path checkpoint "$Q-init.h5" "$RLVR" init --config "$CFG" "${sparse[@]}" --out "$Q-init.h5"
expect_ok "hf: train one step from the imported checkpoint" "$RLVR" train --config "$CFG" "${sparse[@]}" \
    --set train.steps=1 --set eval.every=0 --run-dir "$H/run" --init "$H/init-back.h5"
expect_ok "hf: export the trained checkpoint (bf16)" "$RLVR" export "$H/run/ckpt/step-000001.h5" --out "$H/trained"
expect_ok "hf: the trained export is bf16 and keeps config.json" bash -c \
    "jq -e '.torch_dtype == \"bfloat16\"' '$H/trained/config.json' >/dev/null &&
     diff <(jq 'del(.torch_dtype)' '$H/init-hf/config.json') <(jq 'del(.torch_dtype)' '$H/trained/config.json')"
expect_error "hf: a config whose layers differ from the checkpoint's is refused" \
    "layer 0 has a dense MLP, expected a MoE block" \
    "$RLVR" train --config "$CFG" --set train.steps=1 --run-dir "$H/run2" --init "$H/init-back.h5"

# Bad inputs: one line naming what is wrong.
bad() {  # bad NAME JQ-FILTER: a copy of qwen2_f32 with config.json edited
    rm -rf "${H:?}/$1" && cp -r "$HF/${3:-qwen2_f32}" "$H/$1" && jq "$2" "$HF/${3:-qwen2_f32}/config.json" > "$H/$1/config.json"
}
bad llama '.architectures = ["LlamaForCausalLM"] | .model_type = "llama"'
expect_error "hf: unsupported architecture" "architecture 'LlamaForCausalLM' is not supported" \
    "$RLVR" import --hf "$H/llama" --out "$H/bad.h5"
bad yarn '.rope_scaling = {"rope_type": "yarn", "factor": 4.0}'
expect_error "hf: unsupported rope_scaling" "rope_scaling type 'yarn' is not supported" \
    "$RLVR" import --hf "$H/yarn" --out "$H/bad.h5"
bad dense0 '.decoder_sparse_step = 1' qwen3_moe_f32_sparse
expect_error "hf: a tensor the config needs is missing" "tensor 'model.layers.0.mlp.gate.weight' is missing" \
    "$RLVR" import --hf "$H/dense0" --out "$H/bad.h5"
bad shape '.intermediate_size = 20'
expect_error "hf: wrong shape" "tensor 'model.layers.0.mlp.gate_proj.weight' has shape \[24, 16\], expected \[20, 16\]" \
    "$RLVR" import --hf "$H/shape" --out "$H/bad.h5"
bad extra '.num_hidden_layers = 1'
expect_error "hf: a tensor the config does not have" "unexpected tensor 'model.layers.1\." \
    "$RLVR" import --hf "$H/extra" --out "$H/bad.h5"
bad tied '.tie_word_embeddings = true'
expect_error "hf: tied embeddings but a different lm_head" "lm_head.weight differs from model.embed_tokens.weight" \
    "$RLVR" import --hf "$H/tied" --out "$H/bad.h5"
rm -rf "$H/short" && cp -r "$HF/qwen2_moe_f32_sharded" "$H/short" && truncate -s -4 "$H/short/model-00002-of-00006.safetensors"
expect_error "hf: a truncated shard" "model-00002-of-00006.safetensors: tensor '.*' ends at byte .* past the end of the file" \
    "$RLVR" import --hf "$H/short" --out "$H/bad.h5"
rm -rf "$H/nan" && cp -r "$HF/qwen2_f32" "$H/nan"
st="$H/nan/model.safetensors" header=$(od -An -tu8 -N8 "$HF/qwen2_f32/model.safetensors" | tr -d ' ')
at=$(dd if="$st" bs=1 skip=8 count="$header" 2>/dev/null | jq '."lm_head.weight".data_offsets[0]')
printf '\000\000\300\177' | dd of="$st" bs=1 seek=$((8 + header + at + 4 * 5)) conv=notrunc 2>/dev/null  # f32 NaN, element 5
expect_error "hf: a NaN weight names the file, tensor and element" \
    "nan/model.safetensors: tensor 'lm_head.weight' element 5 is nan; expected finite weights" \
    "$RLVR" import --hf "$H/nan" --out "$H/bad.h5"
mkdir -p "$H/empty" && cp "$HF/qwen2_f32/config.json" "$H/empty/"
expect_error "hf: no safetensors" "no model.safetensors or model.safetensors.index.json" \
    "$RLVR" import --hf "$H/empty" --out "$H/bad.h5"
expect_ok "hf: a failed import leaves no checkpoint and no .tmp" bash -c '! compgen -G "$1/bad.h5*"' _ "$H"
# A write refused at the HDF5 file's close (a file size limit, as a quota would be: the room check passes) exits 1
# with one message naming the output; HDF5 1.10 crashed at exit after it (status 139). The older output stays whole.
cp "$H/qwen2_f32.h5" "$H/kept.h5"
expect_ok "hf: an import refused at the close exits 1 with one message, no crash at exit; older output whole, no .tmp" \
    bash -c 'err=$(trap "" XFSZ; ulimit -f 8; "$RLVR" import --hf "$1/qwen2_f32" --out "$2/kept.h5" 2>&1 >/dev/null)
    rc=$?
    [ $rc -eq 1 ] && [ "$(grep -c "kept.h5: cannot write the HDF5 file" <<<"$err")" -eq 1 ] &&
    cmp -s "$2/qwen2_f32.h5" "$2/kept.h5" && ! compgen -G "$2/kept.h5*.tmp" || { echo "exit $rc: $err"; false; }' \
    _ "$HF" "$H"
# An export's write refused (a file size limit, as a full disk would be) names the file the user asked for, never
# the random temporary name it was written under, and leaves no directory behind.
expect_ok "hf: an export refused by a file size limit names DIR/model.safetensors, not its .tmp; no directory left" \
    bash -c 'err=$(trap "" XFSZ; ulimit -f 8; "$RLVR" export "$1/qwen2_f32.h5" --out "$1/limited" --dtype f32 2>&1 >/dev/null)
    rc=$?
    [ $rc -eq 1 ] && [ "$(wc -l <<<"$err")" -eq 1 ] && grep -qF "rlvr: $1/limited/model.safetensors: " <<<"$err" &&
    grep -q "write failed: File too large" <<<"$err" && ! grep -q "\.tmp" <<<"$err" && [ ! -e "$1/limited" ] ||
    { echo "exit $rc: $err"; false; }' _ "$H"
expect_ok "hf: an import whose HDF5 file cannot be created names the output, not its .tmp; nothing left" \
    bash -c 'err=$(trap "" XFSZ; ulimit -f 0; "$RLVR" import --hf "$1/qwen2_f32" --out "$2/limited.h5" 2>&1 >/dev/null)
    rc=$?
    [ $rc -eq 1 ] && grep -qF "rlvr: $2/limited.h5: cannot create HDF5 file" <<<"$err" && ! grep -q "\.tmp" <<<"$err" &&
    ! compgen -G "$2/limited.h5*" || { echo "exit $rc: $err"; false; }' _ "$HF" "$H"
expect_error "hf: export into a non-empty directory" "is not empty" "$RLVR" export "$H/x1.h5" --out "$H/x1"
expect_error "hf: export --dtype f16" "expected bf16 or f32" "$RLVR" export "$H/x1.h5" --out "$H/x3" --dtype f16
