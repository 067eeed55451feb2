#include "task/reward.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <string.h>

#define MATCH_LIMIT 1000000  // bounds backtracking of a user pattern on any response

static pcre2_code *compile_pattern(const char *pattern, Err *e) {
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &offset, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        err_set(e, "[reward] format_pattern '%s': invalid PCRE2 pattern at offset %zu: %s", pattern, (size_t)offset,
                (const char *)msg);
    }
    return re;
}

int reward_check_config(const RewardConfig *rc, Err *e) {
    if (!rc->format_pattern[0]) return 0;
    pcre2_code *re = compile_pattern(rc->format_pattern, e);
    if (!re) return -1;
    pcre2_code_free(re);
    return 0;
}

// True when the pattern matches somewhere in text; a match-limit hit counts as no match.
static int format_matches(const char *pattern, const char *text, bool *ok, Err *e) {
    *ok = false;
    if (!pattern[0]) return 0;  // no pattern: no format reward
    pcre2_code *re = compile_pattern(pattern, e);
    if (!re) return -1;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(mc, MATCH_LIMIT);
    int rc = pcre2_match(re, (PCRE2_SPTR)text, strlen(text), 0, 0, md, mc);
    *ok = rc >= 0;
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return 0;
}

int reward_compute(const RewardConfig *rc, const Task *task, const char *answer, const char *response_text,
                   int response_len_tokens, bool truncated, int max_new_tokens, RewardResult *out, Err *e) {
    memset(out, 0, sizeof *out);
    Verdict v;
    task_verify(task, answer, response_text, &v);
    out->correct = v.correct;
    memcpy(out->extracted, v.extracted, sizeof out->extracted);
    TRY(format_matches(rc->format_pattern, response_text, &out->format_ok, e));
    // results/objectives.md §4: R = R_acc + R_format + R_overlong.
    out->r_acc = v.correct ? 1.0 : (rc->accuracy == ACC_PM1 ? -1.0 : 0.0);
    out->r_format = out->format_ok ? rc->format_reward : 0.0;
    if (rc->overlong_buffer > 0) {
        if (rc->overlong_buffer > max_new_tokens)  // the config check holds L_buf to rollout.max_new_tokens only
            return err_set(e, "[reward] overlong_buffer (%d) must be <= the generation limit L_max (%d) it punishes "
                              "against (results/objectives.md §4)", rc->overlong_buffer, max_new_tokens);
        // results/objectives.md §4 DAPO overlong: min(0, ((L_max − L_buf) − |y|) / L_buf) · f
        double l_buf = rc->overlong_buffer, excess = (double)(max_new_tokens - rc->overlong_buffer) - response_len_tokens;
        out->r_overlong = fmin(0.0, excess / l_buf) * rc->overlong_factor;
    }
    out->total = out->r_acc + out->r_format + out->r_overlong;
    out->loss_masked = truncated && rc->overlong_filter;  // results/objectives.md §4 overlong_filter
    return 0;
}
