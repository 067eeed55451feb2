#pragma once

// The git revision the binary was built from ("<hash>[-dirty]", or "unknown" outside a git checkout).
// Recorded in every checkpoint so a result can name the code that made it.
const char *rlvr_revision(void);

// The instruction set this binary was compiled for (the Makefile's MARCH, "x86-64-v2" by default). The
// fixed-order kernels give the same bits whatever it is; recorded in checkpoints with the revision.
const char *rlvr_build_march(void);
