#include "train/group_set.h"

#include <stdlib.h>
#include <string.h>

void groups_free(Groups *gs) {
    for (int i = 0; i < gs->n; i++) free(gs->g[i].prompt), free(gs->g[i].rr);
    for (int i = 0; i < gs->n_rollouts; i++) rollout_free(&gs->rollouts[i]);
    free(gs->g), free(gs->rollouts);
    memset(gs, 0, sizeof *gs);
}
