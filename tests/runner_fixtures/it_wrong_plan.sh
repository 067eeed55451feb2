# Runner fixture (tests/runner_selftest.sh): plans 3 checks, runs 2.
plan 3
expect_ok "the first check" true
expect_ok "the second check" true
