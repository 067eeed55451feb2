// Keys given by hand that the values of the config's other keys leave without effect (algo.lambda under algo.name =
// grpo). Warnings, not errors: a base file serves several recipes. A section that only another command reads ([sft]
// under rlvr train) is not warned about: one file commonly holds a warm start's and its RL run's keys.
#ifndef RLVR_CONFIG_EFFECT_H
#define RLVR_CONFIG_EFFECT_H

#include "base/config.h"

typedef struct {
    char key[64];      // "section.key"
    char reason[448];  // one line, naming the key, the key(s) that decide and the value under which it would act
} InertKey;

// The keys of c given by hand (config_given_keys) that have no effect, in that list's order, with one
// reason each: "algo.lambda has no effect under algo.name = grpo (only grpo_lambda reads it)". A key that presets or
// another key's value fill is not given by hand and never listed. Returns how many; *out malloc'd (NULL if none).
int config_inert_keys(const Config *c, InertKey **out);

#endif
