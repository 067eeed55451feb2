// The preemption flag of base/dist (one process, no MPI: dist_stop_requested is then the local flag). Each
// Criterion test runs in its own process, so the handlers never leak from one test to another.
#include <criterion/criterion.h>
#include <signal.h>

#include "base/dist.h"

Test(dist_stop, nothing_received_nothing_requested) {
    dist_install_stop_signals();
    cr_assert_eq(dist_stop_signal(), 0);
    cr_assert_eq(dist_stop_requested(), 0);
}

Test(dist_stop, sigterm_is_recorded_not_fatal) {
    dist_install_stop_signals();
    raise(SIGTERM);
    cr_assert_eq(dist_stop_signal(), SIGTERM);
    cr_assert_eq(dist_stop_requested(), SIGTERM);
}

Test(dist_stop, sigusr1_is_recorded_and_the_first_signal_kept) {
    dist_install_stop_signals();
    raise(SIGUSR1);
    raise(SIGTERM);
    cr_assert_eq(dist_stop_signal(), SIGUSR1);
    cr_assert_eq(dist_stop_requested(), SIGUSR1);
}

Test(dist_stop, a_blocked_signal_is_unblocked_by_install) {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, NULL);
    raise(SIGTERM);  // pending until the handler is installed and the signal unblocked
    dist_install_stop_signals();
    cr_assert_eq(dist_stop_signal(), SIGTERM);
}

// Only `rlvr sft|train` install the handlers: elsewhere SIGTERM still ends the process.
Test(dist_stop, without_install_sigterm_kills, .signal = SIGTERM) { raise(SIGTERM); }
