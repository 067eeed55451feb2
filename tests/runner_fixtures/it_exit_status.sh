# Runner fixture (tests/runner_selftest.sh): `exit 3` half-way.
plan 2
expect_ok "a check before the exit" true
exit 3
