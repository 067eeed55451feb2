# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Sampling: output format, determinism across runs and 1/2/4 ranks, logp/entropy identity with `rlvr score`
# (dense and MoE, bit for bit), and clear errors for a KV cache request over budget and for bad prompt lines.
plan $((2 * 9 + 16))  # 9 per model kind, 16 more
printf '%s\n' '{"prompt": "12+7="}' '{"prompt_tokens": [256, 49, 50, 120]}' '{"prompt": "héllo | \"q\"\n"}' \
    '{"prompt": "3*4="}' '{"prompt_tokens": [256]}' > "$TMP/prompts.jsonl"

# logp/entropy of sample output vs score's float64 datasets, compared as numbers (exact equality).
same_numbers() {  # JSONL KEY H5
    paste <(jq -r ".$2[]" "$1") <(h5dump -d "/$2" -m '%.17g' -y -w 1 "$3" | grep -E '^ *[-0-9]' | tr -d ' ,') |
        awk 'NF != 2 || $1 + 0 != $2 + 0 { bad++ } END { exit (NR == 0 || bad > 0) }'
}

for kind in dense moe; do
    ini=$ROOT/configs/tiny-$kind.ini ckpt=$TMP/sample-$kind.h5
    sets=(--config "$ini" --set rollout.max_new_tokens=24 --set rollout.temperature=0.9 --set rollout.top_p=0.95
          --set 'rollout.stop=\n\n|==' --set rollout.seed=11)
    # The byte tokenizer needs ids up to 264 (BOS 256, EOS 257, ...): widen the tiny vocabulary if needed.
    expect_ok "sample $kind: init checkpoint" "$RLVR" init --config "$ini" --set model.vocab_size=288 --out "$ckpt"
    expect_ok "sample $kind: 1 rank" "$RLVR" sample --ckpt "$ckpt" --prompts "$TMP/prompts.jsonl" --n 4 \
        --out "$TMP/$kind-1.jsonl" "${sets[@]}"
    expect_ok "sample $kind: 20 lines ordered by prompt then sample, one logp/entropy per token" jq -se '
        length == 20 and ([.[] | [.prompt_index, .sample_index]] == [range(5) as $p | range(4) as $j | [$p, $j]])
        and all(.[]; (.logp | length) == (.response_tokens | length) and (.entropy | length) == (.logp | length)
                and (.finish_reason | IN("eos", "stop", "length")) and (.response | type) == "string")
        and .[0].prompt_tokens == [256, 49, 50, 43, 55, 61] and .[4].prompt_tokens == [256, 49, 50, 120]' \
        "$TMP/$kind-1.jsonl"
    "$RLVR" sample --ckpt "$ckpt" --prompts "$TMP/prompts.jsonl" --n 4 --out "$TMP/$kind-again.jsonl" "${sets[@]}"
    expect_same "sample $kind: same output on a second run" "$TMP/$kind-1.jsonl" "$TMP/$kind-again.jsonl"
    for np in 2 4; do
        mpi $np "$RLVR" sample --ckpt "$ckpt" --prompts "$TMP/prompts.jsonl" --n 4 --out "$TMP/$kind-$np.jsonl" "${sets[@]}"
        expect_same "sample $kind: same output on $np ranks" "$TMP/$kind-1.jsonl" "$TMP/$kind-$np.jsonl"
    done
    expect_ok "sample $kind: score the responses" "$RLVR" score --ckpt "$ckpt" --in "$TMP/$kind-1.jsonl" \
        --out "$TMP/$kind-score.h5" --config "$ini" --set rollout.temperature=0.9
    expect_ok "sample $kind: logp identical to rlvr score (bit for bit)" same_numbers "$TMP/$kind-1.jsonl" logp "$TMP/$kind-score.h5"
    expect_ok "sample $kind: entropy identical to rlvr score" same_numbers "$TMP/$kind-1.jsonl" entropy "$TMP/$kind-score.h5"
done

expect_ok "sample: greedy samples of a prompt agree" bash -c '"$RLVR" sample --ckpt "$TMP/sample-dense.h5" \
    --prompts "$TMP/prompts.jsonl" --n 3 --out "$TMP/greedy.jsonl" --set rollout.temperature=0 --set rollout.max_new_tokens=16 &&
    jq -se "[group_by(.prompt_index)[] | map(.response_tokens) | unique | length] == [1, 1, 1, 1, 1]" "$TMP/greedy.jsonl"'
# A group of N responses to one prompt, scored by rlvr score: the same bits. With AVX-512 in the build's MARCH, the
# decode's products read packed copies of the weights (src/model/matmul.h matmul_pack_make), 8 rows at a time: a group
# of 8 whole octets, a group of 7 an octet completed by a zero row. Its responses in $TMP/group-N.jsonl.
group_scored() {
    local n=$1 out=$TMP/group-$1
    local sets=(--config "$ROOT/configs/tiny-dense.ini" --set rollout.max_new_tokens=24 --set rollout.temperature=0.9)
    head -n 1 "$TMP/prompts.jsonl" > "$TMP/one.jsonl" &&
    "$RLVR" sample --ckpt "$TMP/sample-dense.h5" --prompts "$TMP/one.jsonl" --n "$n" --out "$out.jsonl" "${sets[@]}" &&
    jq -se --argjson n "$n" 'length == $n and (map(.response_tokens | length) | add) > 12 * $n' "$out.jsonl" &&
    "$RLVR" score --ckpt "$TMP/sample-dense.h5" --in "$out.jsonl" --out "$out.h5" "${sets[@]}" &&
    same_numbers "$out.jsonl" logp "$out.h5"
}
expect_ok "sample: a group of 8 (whole octets of rows in every product): logp identical to rlvr score" group_scored 8
expect_ok "sample: a group of 7 (an octet with a zero row): logp identical to rlvr score" group_scored 7
# rollout.pack_weights = false decodes from the weights as they are: the same responses, bit for bit.
expect_ok "sample: a group of 8 with rollout.pack_weights = false: the same responses" bash -c '
    "$RLVR" sample --ckpt "$TMP/sample-dense.h5" --prompts "$TMP/one.jsonl" --n 8 --out "$TMP/octet-plain.jsonl" \
        --config "$ROOT/configs/tiny-dense.ini" --set rollout.max_new_tokens=24 --set rollout.temperature=0.9 \
        --set rollout.pack_weights=false && cmp "$TMP/group-8.jsonl" "$TMP/octet-plain.jsonl"'
# bench sample says how many MiB of packed weights each case made: the group of 8's, none for batch 1 or with
# rollout.pack_weights = false; null where the build has no packed kernel (a MARCH without AVX-512).
expect_ok "bench sample: packed weights for the group of 8 only, none with rollout.pack_weights = false" bash -c '
    for p in true false; do "$RLVR" bench sample --config "$ROOT/configs/tiny-train.ini" --new 4 --prompt-len 4 \
        --set rollout.pack_weights=$p | grep -v warm-up | grep "\"sample\"" | sed "s/^{/{\"pack\":$p,/"; done |
    jq -se "length == 4 and (if .[0].packed_mb == null then all(.[]; .packed_mb == null) else
            all(.[]; if .pack and .group == 8 then .packed_mb > 0 else .packed_mb == 0 end) end)"'
# A write that fails partway (a file size limit, as a full disk would) keeps the older output whole; no .tmp is left.
cp "$TMP/dense-1.jsonl" "$TMP/kept.jsonl"
expect_ok "sample: a failed write names the output, keeps the older one whole and leaves no .tmp" bash -c '
    err=$(trap "" XFSZ; ulimit -f 4; "$RLVR" sample --ckpt "$TMP/sample-dense.h5" --prompts "$TMP/prompts.jsonl" --n 8 \
          --out "$TMP/kept.jsonl" --set rollout.max_new_tokens=24 2>&1 >/dev/null)
    [ $? -eq 1 ] && grep -q "kept.jsonl: " <<<"$err" && cmp -s "$TMP/dense-1.jsonl" "$TMP/kept.jsonl" &&
    ! compgen -G "$TMP/kept.jsonl*.tmp"'
# A write refused at the HDF5 file's close (a file size limit, as a quota would be: the room check passes) exits 1
# with one message naming the output; HDF5 1.10 crashed at exit after it (status 139). The older output stays whole.
cp "$TMP/dense-score.h5" "$TMP/kept-score.h5"
expect_ok "score: a write refused at the close exits 1 with one message, no crash at exit; older output whole, no .tmp" \
    bash -c 'err=$(trap "" XFSZ; ulimit -f 2; "$RLVR" score --ckpt "$TMP/sample-dense.h5" --in "$TMP/dense-1.jsonl" \
                   --out "$TMP/kept-score.h5" --config "$ROOT/configs/tiny-dense.ini" 2>&1 >/dev/null); rc=$?
    [ $rc -eq 1 ] && [ "$(grep -c "kept-score.h5: cannot write the HDF5 file" <<<"$err")" -eq 1 ] &&
    cmp -s "$TMP/dense-score.h5" "$TMP/kept-score.h5" && ! compgen -G "$TMP/kept-score.h5*.tmp" ||
    { echo "exit $rc: $err"; false; }'
# Without --config, sample and score take the checkpoint's own config (template chatml: the prompt starts <|im_start|>).
own_config() {
    local own=(--set model.vocab_size=288 --set prompt.template=chatml --set rollout.temperature=0.5
               --set rollout.max_new_tokens=6 --set rollout.seed=3)
    "$RLVR" init --config "$ROOT/configs/tiny-dense.ini" "${own[@]}" --out "$TMP/own.h5" &&
    "$RLVR" sample --ckpt "$TMP/own.h5" --prompts "$TMP/prompts.jsonl" --n 2 --out "$TMP/own.jsonl" &&
    "$RLVR" sample --ckpt "$TMP/own.h5" --prompts "$TMP/prompts.jsonl" --n 2 --out "$TMP/own-cfg.jsonl" \
        --config "$ROOT/configs/tiny-dense.ini" "${own[@]}" &&
    cmp "$TMP/own.jsonl" "$TMP/own-cfg.jsonl" && jq -se '.[0].prompt_tokens[0] == 259' "$TMP/own.jsonl" &&
    "$RLVR" score --ckpt "$TMP/own.h5" --in "$TMP/own.jsonl" --out "$TMP/own-score.h5" &&
    same_numbers "$TMP/own.jsonl" logp "$TMP/own-score.h5"
}
expect_ok "sample and score without --config: the checkpoint's template and sampling settings, not the defaults" own_config
expect_error "sample: KV cache over budget" "kv_cache_mb = 1 is too small for one group: 4096 samples x" \
    "$RLVR" sample --ckpt "$TMP/sample-dense.h5" --prompts "$TMP/prompts.jsonl" --n 4096 --out "$TMP/x.jsonl" \
    --set rollout.kv_cache_mb=1 --set rollout.max_new_tokens=200
printf '{"prompt": "ok"}\n{"question": "no prompt"}\n' > "$TMP/bad-prompts.jsonl"
expect_error "sample: prompt line without a prompt" 'bad-prompts.jsonl:2: expected exactly one of "prompt"' \
    "$RLVR" sample --ckpt "$TMP/sample-dense.h5" --prompts "$TMP/bad-prompts.jsonl" --n 2 --out "$TMP/x.jsonl"
expect_error "sample: missing options" "--prompts is required" "$RLVR" sample --n 2
expect_error "sample: --ckpt and --out without --show-prompt" "--ckpt and --out are required unless --show-prompt" \
    "$RLVR" sample --n 2 --prompts "$TMP/prompts.jsonl"

# --show-prompt against transformers' apply_chat_template on the same tokenizer (tests/chat_reference.py).
CHAT=$ROOT/tests/fixtures/chat
chat=(--set tokenizer.type=bpe --set "tokenizer.path=$CHAT/tokenizer.json")
show_prompt_matches() {  # NAME JQ-SELECT SETTINGS...: the fixture's ids and text for the cases JQ-SELECT picks
    local name=$1 select=$2
    shift 2
    jq -c "select($select) | {prompt: .question}" "$CHAT/cases.jsonl" > "$TMP/show-$name.jsonl"
    jq -c "select($select) | {ids, rendered}" "$CHAT/cases.jsonl" > "$TMP/show-$name.want"
    expect_ok "sample --show-prompt $name: ids and text = apply_chat_template's, no checkpoint needed, nothing on stderr" bash -c '
        "$RLVR" sample --show-prompt --prompts "$0.jsonl" "$@" > "$0.out" 2> "$0.err" && [ ! -s "$0.err" ] &&
        [ "$(wc -l < "$0.want")" -ge 7 ] &&
        diff <(jq -c "{ids: .prompt_tokens, rendered: .prompt_text}" "$0.out") "$0.want"' "$TMP/show-$name" "$@"
}
show_prompt_matches "chatml, Qwen3 enable_thinking = false" \
    '.template == "chatml" and .enable_thinking == false' "${chat[@]}" --set prompt.template=chatml --set prompt.enable_thinking=false
show_prompt_matches "qwen-boxed" '.template == "qwen-boxed" and .enable_thinking' "${chat[@]}" --set prompt.template=qwen-boxed
show_prompt_matches "dapo with a system message" '.template == "dapo" and .system == "Be brief."' \
    "${chat[@]}" --set prompt.template=dapo --set 'prompt.system=Be brief.'
expect_error "sample --show-prompt: a tokenizer without <think> for enable_thinking = false" \
    '\[prompt\] enable_thinking = false needs "<think>" as an added token of the tokenizer' \
    "$RLVR" sample --show-prompt --prompts "$TMP/prompts.jsonl" --set tokenizer.type=bpe \
    --set "tokenizer.path=$ROOT/tests/fixtures/bpe/tokenizer.json" --set prompt.template=chatml --set prompt.enable_thinking=false
