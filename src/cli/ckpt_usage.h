// Expert usage of a MoE checkpoint for `rlvr ckpt stats` (src/cli/cmd_ckpt.c).
#ifndef RLVR_CKPT_USAGE_H
#define RLVR_CKPT_USAGE_H

#include <stdio.h>

#include "base/error.h"

// Prints, per layer, the share of routed token slots each expert receives on the first n_problems held-out
// problems of the task in the checkpoint's /meta config (prompt + reference solution for embedded tasks).
// Dense checkpoints print nothing.
int ckpt_expert_usage(const char *path, int n_problems, FILE *out, Err *e);

#endif
