# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# BPE tokenizer end to end: `rlvr sample` with the reference tokenizer.json encodes a prompt to the HF ids
# (after BOS), decodes its responses, and fails clearly for a missing file or a model vocabulary too small.
plan 6
bpe_sets=(--set tokenizer.type=bpe --set tokenizer.path="$ROOT/tests/fixtures/bpe/tokenizer.json"
          --set rollout.max_new_tokens=8 --set rollout.seed=3)
printf '%s\n' '{"prompt": "Q: 12+34=?\n7+5=12\nAnswer: 46"}' '{"prompt": "héllo <|im_end|>"}' > "$TMP/bpe-prompts.jsonl"
expect_ok "tokenizer bpe: init a model with 512 rows" "$RLVR" init --config "$ROOT/configs/tiny-dense.ini" \
    --set model.vocab_size=512 --out "$TMP/bpe.h5"
expect_ok "tokenizer bpe: sample" "$RLVR" sample --ckpt "$TMP/bpe.h5" --prompts "$TMP/bpe-prompts.jsonl" --n 2 \
    --out "$TMP/bpe-sample.jsonl" --config "$ROOT/configs/tiny-dense.ini" "${bpe_sets[@]}"
expect_ok "tokenizer bpe: prompt ids are BOS + the HF reference ids; responses decode to text" jq -se --slurpfile ref \
    <(grep -F '"Q: 12+34=?' "$ROOT/tests/fixtures/bpe/cases.jsonl") '
    length == 4 and .[0].prompt_tokens == [0] + $ref[0].ids and all(.[]; (.response | type) == "string")
    and all(.[2:][]; (.prompt_tokens | index(2)) == null)' "$TMP/bpe-sample.jsonl"
expect_error "tokenizer bpe: missing tokenizer.json" "missing-tokenizer.json: cannot open tokenizer.json" \
    "$RLVR" sample --ckpt "$TMP/bpe.h5" --prompts "$TMP/bpe-prompts.jsonl" --out "$TMP/bpe-x.jsonl" \
    --config "$ROOT/configs/tiny-dense.ini" "${bpe_sets[@]}" --set tokenizer.path="$TMP/missing-tokenizer.json"
expect_ok "tokenizer bpe: init a model with 288 rows" "$RLVR" init --config "$ROOT/configs/tiny-dense.ini" \
    --set model.vocab_size=288 --out "$TMP/bpe-small.h5"
expect_error "tokenizer bpe: model vocabulary smaller than the tokenizer's" \
    "\[model\] vocab_size = 288 is smaller than the tokenizer's 500 tokens" \
    "$RLVR" sample --ckpt "$TMP/bpe-small.h5" --prompts "$TMP/bpe-prompts.jsonl" --out "$TMP/bpe-x.jsonl" \
    --config "$ROOT/configs/tiny-dense.ini" "${bpe_sets[@]}"
