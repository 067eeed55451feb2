# Runner fixture (tests/runner_selftest.sh): a good script; 3 checks pass and 1 is skipped.
plan 4
pass "a check that passes"
expect_ok "a command that succeeds" true
expect_error "a command that fails with the expected message" "^expected message$" bash -c 'echo "expected message" >&2; exit 1'
skip "a check that cannot run here" "no such device"
