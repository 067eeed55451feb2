# Sampling: output format, determinism across runs and 1/2/4 ranks, logp/entropy identity with `rlvr score`
# (dense and MoE, bit for bit), and clear errors for a KV cache request over budget and for bad prompt lines.
plan $((2 * 9 + 4))  # 9 per model kind, 4 more
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
expect_error "sample: KV cache over budget" "kv_cache_mb = 1 is too small for one group: 4096 samples x" \
    "$RLVR" sample --ckpt "$TMP/sample-dense.h5" --prompts "$TMP/prompts.jsonl" --n 4096 --out "$TMP/x.jsonl" \
    --set rollout.kv_cache_mb=1 --set rollout.max_new_tokens=200
printf '{"prompt": "ok"}\n{"question": "no prompt"}\n' > "$TMP/bad-prompts.jsonl"
expect_error "sample: prompt line without a prompt" 'bad-prompts.jsonl:2: expected exactly one of "prompt"' \
    "$RLVR" sample --ckpt "$TMP/sample-dense.h5" --prompts "$TMP/bad-prompts.jsonl" --n 2 --out "$TMP/x.jsonl"
expect_error "sample: missing options" "--ckpt, --prompts and --out are required" "$RLVR" sample --n 2
