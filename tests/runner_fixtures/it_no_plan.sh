# Runner fixture (tests/runner_selftest.sh): no plan line.
expect_ok "a check without a plan" true
