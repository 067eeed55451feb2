#include "base/revision.h"

// Only this file sees the revision (the Makefile rebuilds it when HEAD moves), so a commit relinks rather
// than recompiling everything.
#ifndef RLVR_GIT_REV
#define RLVR_GIT_REV "unknown"
#endif

const char *rlvr_revision(void) { return RLVR_GIT_REV; }

#ifndef RLVR_MARCH
#define RLVR_MARCH "unknown"
#endif

const char *rlvr_build_march(void) { return RLVR_MARCH; }
