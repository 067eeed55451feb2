# Every shipped config parses and validates (paper recipes included).
for f in "$ROOT"/configs/*.ini "$ROOT"/configs/*/*.ini; do
    [ -f "$f" ] || continue
    expect_ok "config ${f#$ROOT/} validates" "$RLVR" config --config "$f"
done
