# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Every shipped config parses and validates (paper recipes included).
configs=("$ROOT"/configs/*.ini "$ROOT"/configs/*/*.ini)
plan ${#configs[@]}
for f in "${configs[@]}"; do
    expect_ok "config ${f#"$ROOT"/} validates" "$RLVR" config --config "$f"
done
