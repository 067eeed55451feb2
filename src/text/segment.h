// SSPO subsentence segmentation (results/objectives.md §3 SSPO step 1): a segment ends after the token whose decoded
// bytes complete a delimiter; the response's last token always ends the tail segment.
#ifndef RLVR_SEGMENT_H
#define RLVR_SEGMENT_H

#include <stdint.h>

#include "base/error.h"

#define SEG_MAX_DELIMS 64

// The delimiter set: the configured ASCII characters plus their CJK forms (，。；：！？ and fullwidth ．、).
typedef struct {
    int n;
    char text[SEG_MAX_DELIMS][8];  // UTF-8, NUL-terminated
    int len[SEG_MAX_DELIMS];
} SegDelims;

// Parses algo.sspo_delimiters (escapes \n \t \\ ; every other byte is one delimiter) and adds the CJK forms.
int segment_delims(const char *config_value, SegDelims *d, Err *e);

// One response: bytes = its decoded text (tokens' bytes concatenated), tok_end[t] = end offset of token t's
// bytes (non-decreasing, tok_end[n_tok-1] = byte count). seg_end[t] = 1 when a delimiter's last byte lies in
// token t (a delimiter split over tokens ends at the token that completes it), and on the last token.
void segment_ends(const SegDelims *d, const char *bytes, const int64_t *tok_end, int64_t n_tok, uint8_t *seg_end);

#endif
