# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Model: init writes a readable checkpoint; score gives the same output on 1 and 2 ranks; bad inputs fail clearly.
plan $((2 * 7 + 1 + 7 + 3))  # 7 per model config, temperature, 7 errors, 3 bench
for cfg in tiny-dense tiny-moe; do
    expect_ok "init $cfg" "$RLVR" init --config "$ROOT/configs/$cfg.ini" --out "$TMP/$cfg.h5"
    expect_ok "init $cfg: h5dump reads tensors and meta" bash -c \
        "h5dump -H '$TMP/$cfg.h5' | grep -q 'model.layers.1.self_attn.q_proj.weight' && h5dump -a /meta/hf_config '$TMP/$cfg.h5' | grep -q model_type"
    expect_ok "init $cfg: no temporary file left" test ! -e "$TMP/$cfg.h5.tmp"
    {
        echo '{"prompt_tokens":[1,2,3],"response_tokens":[4,5,6,7]}'
        for i in $(seq 1 9); do
            echo "{\"prompt_tokens\":[$i,$((i * 7 % 256)),12],\"response_tokens\":[$(seq -s, $i $((i + i % 5)))]}"
        done
    } > "$TMP/seqs.jsonl"
    expect_ok "score $cfg on 1 rank" mpi 1 "$RLVR" score --ckpt "$TMP/$cfg.h5" --in "$TMP/seqs.jsonl" --out "$TMP/$cfg-1.h5"
    expect_ok "score $cfg on 2 ranks" mpi 2 "$RLVR" score --ckpt "$TMP/$cfg.h5" --in "$TMP/seqs.jsonl" --out "$TMP/$cfg-2.h5"
    # Without the first line, which names the file; an unreadable file leaves an empty text, which fails.
    h5dump "$TMP/$cfg-1.h5" | tail -n +2 > "$TMP/$cfg-1.txt"; h5dump "$TMP/$cfg-2.h5" | tail -n +2 > "$TMP/$cfg-2.txt"
    h5dump -d logp -d entropy -b LE -o "$TMP/$cfg-1.bin" "$TMP/$cfg-1.h5" > /dev/null 2>&1
    h5dump -d logp -d entropy -b LE -o "$TMP/$cfg-2.bin" "$TMP/$cfg-2.h5" > /dev/null 2>&1
    expect_same "score $cfg: 2 ranks = 1 rank (h5dump text)" "$TMP/$cfg-1.txt" "$TMP/$cfg-2.txt"
    expect_same "score $cfg: 2 ranks = 1 rank (raw float64 bytes)" "$TMP/$cfg-1.bin" "$TMP/$cfg-2.bin"
done
# The entropy values only: a text dump's header names the file, so it differed for any two files.
"$RLVR" score --ckpt "$TMP/tiny-dense.h5" --in "$TMP/seqs.jsonl" --out "$TMP/hot.h5" --set rollout.temperature=2 >/dev/null
h5dump -d entropy -b LE -o "$TMP/hot-entropy.bin" "$TMP/hot.h5" > /dev/null
h5dump -d entropy -b LE -o "$TMP/cold-entropy.bin" "$TMP/tiny-dense-1.h5" > /dev/null
expect_differ "score: temperature changes the entropy" "$TMP/hot-entropy.bin" "$TMP/cold-entropy.bin"
printf '{"prompt_tokens":[1],"response_tokens":[2]}\n{"prompt_tokens":[1,2],"response_tokens":[3\n' > "$TMP/badjson.jsonl"
expect_error "score: bad JSON line names file:line" "badjson.jsonl:2: " \
    "$RLVR" score --ckpt "$TMP/tiny-dense.h5" --in "$TMP/badjson.jsonl" --out "$TMP/x.h5"
printf '{"prompt_tokens":[1],"response_tokens":[2]}\n\n{"prompt_tokens":[1,2],"response_tokens":[256]}\n' > "$TMP/range.jsonl"
expect_error "score: token out of range names file:line and key" "range.jsonl:3: .*response_tokens" \
    "$RLVR" score --ckpt "$TMP/tiny-dense.h5" --in "$TMP/range.jsonl" --out "$TMP/x.h5"
expect_error "score: token out of range on 2 ranks, one message" "range.jsonl:3: .*response_tokens" \
    mpi 2 "$RLVR" score --ckpt "$TMP/tiny-dense.h5" --in "$TMP/range.jsonl" --out "$TMP/x.h5"
expect_error "score: missing checkpoint" "nothere.h5: cannot open" \
    "$RLVR" score --ckpt "$TMP/nothere.h5" --in "$TMP/seqs.jsonl" --out "$TMP/x.h5"
head -c 3000 "$TMP/tiny-dense.h5" > "$TMP/cut.h5"
expect_error "score: truncated checkpoint" "cut.h5: " \
    "$RLVR" score --ckpt "$TMP/cut.h5" --in "$TMP/seqs.jsonl" --out "$TMP/x.h5"
expect_error "init: missing --out is a usage error" "--config and --out are required" "$RLVR" init --config "$ROOT/configs/tiny-dense.ini"
expect_error "init: bad config value" "\[model\] hidden_size" "$RLVR" init --config "$ROOT/configs/tiny-dense.ini" --out "$TMP/y.h5" --set model.hidden_size=0
expect_ok "bench model: two JSON lines on a tiny config" bash -c \
    'out=$("$RLVR" bench model --config "$ROOT/configs/tiny-moe.ini" --seqs 2 --seq-len 16) && [ "$(grep -c "\"gflop_per_s\"" <<< "$out")" = 2 ]'
expect_ok "bench sample --help" bash -c 'out=$("$RLVR" bench sample --help) && grep -q usage <<< "$out"'
expect_ok "bench loss prints a JSON line (CPU twin without a GPU)" bash -c 'out=$("$RLVR" bench loss --vocab 257 --repeat 1) && grep -q "\"bench\":\"loss\"" <<< "$out"'
