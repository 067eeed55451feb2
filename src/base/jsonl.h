// JSON Lines in and out (cJSON), with errors that name the file and line.
#ifndef RLVR_JSONL_H
#define RLVR_JSONL_H

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

typedef struct {
    FILE *f;
    char path[PATH_MAX];
    char *line;
    size_t cap;
    int64_t lineno;  // line of the record last returned
} JsonlReader;

int jsonl_open(JsonlReader *r, const char *path, Err *e);
void jsonl_close(JsonlReader *r);

// Next non-blank record: 1 with *obj (caller frees with cJSON_Delete), 0 at end, -1 on a malformed
// line ("PATH:LINE: invalid JSON ...", "... expected a JSON object" or a repeated key).
int jsonl_next(JsonlReader *r, cJSON **obj, Err *e);

// The first key of object o that o repeats, or NULL. Python's json keeps a repeated key's last value and cJSON its
// first, so such an object would mean one thing to the tool that wrote it and another here: readers refuse it.
const char *json_repeated_key(const cJSON *o);

// Typed field access; errors name PATH:LINE and the key. `where` is "PATH:LINE" (see jsonl_where).
const char *jsonl_where(const JsonlReader *r, char *buf, size_t len);
int json_get_string(const cJSON *obj, const char *key, const char **out, const char *where, Err *e);
// Integer array with every element in [min, max]; *out malloc'd.
int json_get_int_array(const cJSON *obj, const char *key, int64_t min, int64_t max, int32_t **out, int *n,
                       const char *where, Err *e);

// A JSON number that reads back as exactly x (finite): the shortest of %.15g, %.16g and %.17g that does. cJSON's
// own printing accepts a 15-digit form within a relative DBL_EPSILON, which can change the last bit.
cJSON *json_exact_number(double x);

// A finite JSON number as answer text: an integer below 1e15 in full digits, else the shortest of %.15g, %.16g and
// %.17g that reads back as x ("0.1"; %.17g alone gives "0.10000000000000001", which no verifier equates with 0.1).
void json_number_text(double x, char *buf, size_t cap);

// Writes obj as one line (unformatted) to f.
int jsonl_write(FILE *f, const cJSON *obj, Err *e);

// s as a JSON string, quotes included ("a\"b" for a"b), for a summary line printed with printf; malloc'd.
char *json_quote(const char *s);

#endif
