# Runner fixture (tests/runner_selftest.sh): an unset variable under `set -u` stops the script.
plan 2
expect_ok "a check before the unset variable" true
echo "$no_such_variable"
expect_ok "a check after the unset variable" true
