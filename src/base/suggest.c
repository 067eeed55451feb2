#include "base/suggest.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_NAME 64  // longer names are never suggested (the distance table is fixed-size)

// Case-insensitive edit distance; 99 for names too long to compare.
static int edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n >= MAX_NAME || m >= MAX_NAME) return 99;
    int d[MAX_NAME][MAX_NAME];
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int sub = d[i - 1][j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[n][m];
}

// True when every '_'- or '-'-separated part of word (3+ chars in all) occurs in cand.
static bool parts_contained(const char *word, const char *cand) {
    char buf[MAX_NAME];
    if (strlen(word) < 3 || strlen(word) >= sizeof buf) return false;
    snprintf(buf, sizeof buf, "%s", word);
    int parts = 0;
    for (char *save = NULL, *part = strtok_r(buf, "_-", &save); part; part = strtok_r(NULL, "_-", &save), parts++)
        if (!strstr(cand, part)) return false;
    return parts > 0;
}

void suggest_init(Suggest *s, const char *word) {
    s->word = word;
    s->best = NULL;
    s->best_d = 4;
}

void suggest_add(Suggest *s, const char *cand) {
    int d = edit_distance(s->word, cand);
    if (d >= 4 && parts_contained(s->word, cand)) d = 3;
    // Half the word may be wrong at most: "x" is not a typo of "n", nor "nope" of "score".
    if (d < s->best_d && d < (int)strlen(cand) && d <= ((int)strlen(s->word) + 1) / 2) s->best_d = d, s->best = cand;
}

const char *suggest_best(const Suggest *s) { return s->best; }
