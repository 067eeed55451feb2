# Runner fixture (tests/runner_selftest.sh): a syntax error half-way; nothing of the script may count.
plan 2
expect_ok "a check before the syntax error" true
if true; then echo; fi fi
expect_ok "a check after the syntax error" true
