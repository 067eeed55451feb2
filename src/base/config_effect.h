// Keys given by hand that do nothing: under the values of the config's other keys (algo.lambda under algo.name = grpo),
// or under the command that runs it (sft.lr under rlvr train). Warnings, not errors: a base file serves several
// recipes, and a key its recipe does not read is no mistake of that file.
#ifndef RLVR_CONFIG_EFFECT_H
#define RLVR_CONFIG_EFFECT_H

#include "base/config.h"

// Who reads the config: any command (the keys its other keys leave without effect, whatever runs it), or rlvr train
// or rlvr sft (those too, and the keys that command does not read).
typedef enum { CONFIG_USE_ANY, CONFIG_USE_TRAIN, CONFIG_USE_SFT } ConfigUse;

typedef struct {
    char key[64];      // "section.key"
    char reason[448];  // one line, naming the key, the key(s) that decide and the value under which it would act
} InertKey;

// The keys of c given by hand (config_given) that have no effect under use, in config_given_keys' order, with one
// reason each: "algo.lambda has no effect under algo.name = grpo (only grpo_lambda reads it)". A key that presets or
// another key's value fill is not given by hand and never listed. Returns how many; *out malloc'd (NULL if none).
int config_inert_keys(const Config *c, ConfigUse use, InertKey **out);

#endif
