#include "text/segment.h"

#include <string.h>

// CJK forms of the delimiters (results/objectives.md §3 SSPO step 1): fullwidth comma, ideographic full stop,
// fullwidth full stop, semicolon, colon, exclamation and question marks, ideographic comma.
static const char *const CJK_DELIMS[] = {"，", "。", "．", "；", "：", "！", "？", "、"};

static int add_delim(SegDelims *d, const char *text, int len, Err *e) {
    for (int k = 0; k < d->n; k++)
        if (d->len[k] == len && !memcmp(d->text[k], text, (size_t)len)) return 0;
    if (d->n == SEG_MAX_DELIMS) return err_set(e, "[algo] sspo_delimiters: more than %d delimiters", SEG_MAX_DELIMS);
    memcpy(d->text[d->n], text, (size_t)len);
    d->text[d->n][len] = 0;
    d->len[d->n++] = len;
    return 0;
}

int segment_delims(const char *config_value, SegDelims *d, Err *e) {
    memset(d, 0, sizeof *d);
    for (const char *s = config_value; *s; s++) {
        char c = *s;
        if (c == '\\') {
            char n = s[1];
            if (n == 'n') c = '\n';
            else if (n == 't') c = '\t';
            else if (n == '\\') c = '\\';
            else return err_set(e, "[algo] sspo_delimiters = '%s': unknown escape '\\%c' (expected \\n, \\t or \\\\)",
                                config_value, n ? n : ' ');
            s++;
        }
        TRY(add_delim(d, &c, 1, e));
    }
    for (size_t k = 0; k < sizeof CJK_DELIMS / sizeof CJK_DELIMS[0]; k++)
        TRY(add_delim(d, CJK_DELIMS[k], (int)strlen(CJK_DELIMS[k]), e));
    return 0;
}

void segment_ends(const SegDelims *d, const char *bytes, const int64_t *tok_end, int64_t n_tok, uint8_t *seg_end) {
    memset(seg_end, 0, (size_t)n_tok);
    if (n_tok <= 0) return;
    int64_t n_bytes = tok_end[n_tok - 1], t = 0;
    for (int64_t pos = 0; pos < n_bytes; pos++) {
        while (t < n_tok - 1 && tok_end[t] <= pos) t++;  // token holding byte pos
        for (int k = 0; k < d->n; k++) {
            int64_t start = pos + 1 - d->len[k];
            if (start >= 0 && !memcmp(bytes + start, d->text[k], (size_t)d->len[k])) seg_end[t] = 1;
        }
    }
    seg_end[n_tok - 1] = 1;  // the tail up to EOS is its own subsentence
}
