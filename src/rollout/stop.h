// Stop strings (rollout.stop): '|'-separated, with escapes \n \t \| \\ ; matched on response bytes.
#ifndef RLVR_STOP_H
#define RLVR_STOP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

typedef struct {
    int n;
    char **str;
    size_t *len;
    size_t max_len;
} StopList;

// Parses spec ("" = no stop strings). Errors: an unknown escape, a trailing backslash, an empty entry.
int stop_parse(StopList *s, const char *spec, Err *e);
void stop_free(StopList *s);

// True when some stop string occurs in text[0, new_len) ending after old_len, i.e. was completed by the
// bytes text[old_len, new_len) just appended.
bool stop_completed(const StopList *s, const char *text, size_t old_len, size_t new_len);

#endif
