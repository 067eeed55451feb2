#pragma once

// The git revision the binary was built from ("<hash>[-dirty]", or "unknown" outside a git checkout).
// Recorded in every checkpoint so a result can name the code that made it.
const char *rlvr_revision(void);
