# Runner fixture (tests/runner_selftest.sh): one check's command fails; the script goes on to its end.
plan 2
expect_ok "a command that fails" false
expect_ok "a command that succeeds" true
