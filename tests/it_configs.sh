# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Every shipped config parses and validates (paper recipes included), and gives no key that its other keys leave
# without effect (rlvr config's warnings, src/base/config_effect.c).
configs=("$ROOT"/configs/*.ini "$ROOT"/configs/*/*.ini)
plan ${#configs[@]}
# valid_and_quiet FILE: rlvr config resolves FILE and writes nothing on stderr.
valid_and_quiet() {
    local err
    err=$("$RLVR" config --config "$1" 2>&1 >/dev/null) && [ -z "$err" ] || { printf '%s\n' "$err"; return 1; }
}
for f in "${configs[@]}"; do
    expect_ok "config ${f#"$ROOT"/} validates, no key without effect" valid_and_quiet "$f"
done
