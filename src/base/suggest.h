// "Did you mean" hints: the closest of a set of names to a misspelt one (config sections and keys,
// command-line options, subcommands).
#ifndef RLVR_SUGGEST_H
#define RLVR_SUGGEST_H

typedef struct {
    const char *word;  // what the user wrote
    const char *best;  // closest candidate so far, NULL = none close enough
    int best_d;
} Suggest;

void suggest_init(Suggest *s, const char *word);

// Considers one candidate name; keeps it when it is closer than the best so far (within distance 3, or
// every '_'/'-'-separated part of the word occurs in it: num_layers ~ num_hidden_layers).
void suggest_add(Suggest *s, const char *candidate);

// The closest candidate, or NULL when none was close.
const char *suggest_best(const Suggest *s);

#endif
