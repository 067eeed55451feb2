#include "eval/evaluate.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "algo/eval_stats.h"
#include "base/dist.h"
#include "rollout/sampler.h"
#include "rollout/score.h"
#include "text/utf8.h"
#include "text/verify.h"

// What each rank contributes, per prompt and per response, before the all-gather.
typedef struct {
    double *correct, *maj;             // [prompts]: correct responses, majority answer correct (0/1)
    double *length, *truncated;        // [prompts × K]
    const char *label;                 // benchmark name in each line
    char *lines;                       // JSON lines of this rank's responses
    size_t lines_len;
} Local;

static void local_free(Local *l) { free(l->correct), free(l->maj), free(l->length), free(l->truncated), free(l->lines); }

// A decoded text as a JSON string field (any bytes: invalid UTF-8 shows as U+FFFD).
static void add_text(cJSON *o, const char *key, const Tokenizer *tok, const int32_t *ids, int n) {
    size_t len;
    char *text = tokenizer_decode(tok, ids, n, &len), *utf8 = utf8_sanitize(text, len);
    cJSON_AddStringToObject(o, key, utf8);
    free(text), free(utf8);
}

static void append_line(Local *l, const PromptSet *ps, int p, const Response *r, const Tokenizer *tok,
                        const RewardResult *rr) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "benchmark", l->label);
    cJSON_AddNumberToObject(o, "prompt_index", (double)r->prompt_index);
    cJSON_AddNumberToObject(o, "sample_index", r->sample_index);
    int bos = ps->len[p] > 0 && ps->tokens[p][0] == tokenizer_bos(tok);  // a chat template's prompt has none to drop
    add_text(o, "prompt", tok, ps->tokens[p] + bos, ps->len[p] - bos);
    char *truth = utf8_sanitize(ps->answer[p] ? ps->answer[p] : "", ps->answer[p] ? strlen(ps->answer[p]) : 0);
    cJSON_AddStringToObject(o, "answer", truth);
    free(truth);
    add_text(o, "response", tok, r->tokens, r->n_tokens - (r->finish == FINISH_EOS));
    char *answer = utf8_sanitize(rr->extracted, strlen(rr->extracted));
    cJSON_AddStringToObject(o, "extracted", answer);
    cJSON_AddBoolToObject(o, "correct", rr->correct);
    cJSON_AddNumberToObject(o, "reward", rr->total);
    cJSON_AddNumberToObject(o, "tokens", r->n_tokens);
    cJSON_AddStringToObject(o, "finish_reason", finish_reason_name(r->finish));
    char *s = cJSON_PrintUnformatted(o);
    size_t len = strlen(s);
    l->lines = xrealloc(l->lines, l->lines_len + len + 2);
    memcpy(l->lines + l->lines_len, s, len);
    l->lines_len += len;
    l->lines[l->lines_len++] = '\n';
    free(answer), free(s);
    cJSON_Delete(o);
}

static bool same_answer(const void *task, const char *a, const char *b) { return task_same_answer(task, a, b); }

// Verdicts of one prompt's K responses: correct count, whether the majority answer is correct (answers the task
// holds the same, task_same_answer, are one vote).
static int judge_prompt(const Response *resp, int K, const PromptSet *ps, int p, const Tokenizer *tok,
                        const Task *task, const RewardConfig *reward, int max_new, Local *l, bool keep_lines, Err *e) {
    const char *truth = ps->answer[p];
    char **answer = xcalloc((size_t)K, sizeof *answer);
    bool *ok = xcalloc((size_t)K, sizeof *ok);
    int rc = 0;
    for (int j = 0; j < K && !rc; j++) {
        RewardResult rr;
        if ((rc = score_response(reward, task, tok, truth, &resp[j], max_new, &rr, e))) break;
        size_t len = strlen(rr.extracted) + 1;
        answer[j] = memcpy(xmalloc(len), rr.extracted, len);
        ok[j] = rr.correct;
        l->correct[p] += rr.correct;
        l->length[(size_t)p * K + j] = resp[j].n_tokens, l->truncated[(size_t)p * K + j] = resp[j].finish == FINISH_LENGTH;
        if (keep_lines) append_line(l, ps, p, &resp[j], tok, &rr);
    }
    int winner = rc ? -1 : majority_vote((const char *const *)answer, K, same_answer, task);
    l->maj[p] = winner >= 0 && ok[winner];
    for (int j = 0; j < K; j++) free(answer[j]);
    free(answer), free(ok);
    return rc;
}

// pass@k for k = 1, 2, 4, ... < K and K, averaged over prompts.
static void pass_metrics(const double *correct, int64_t P, int K, EvalResult *out) {
    out->n_pass = 0;
    for (int k = 1; out->n_pass < EVAL_MAX_PASS; k = k < K && 2 * k > K ? K : 2 * k) {
        double sum = 0;
        for (int64_t p = 0; p < P; p++) sum += pass_at_k(K, (int64_t)correct[p], k);
        out->pass_k[out->n_pass] = k, out->pass[out->n_pass++] = P ? sum / (double)P : 0;
        if (k == K) break;
    }
}

static void global_metrics(const Local *l, int64_t n_local, int K, EvalResult *out) {
    size_t P, P2, N, N2;
    double *correct = dist_allgatherv_f64(l->correct, (size_t)n_local, &P, NULL);
    double *maj = dist_allgatherv_f64(l->maj, (size_t)n_local, &P2, NULL);
    double *length = dist_allgatherv_f64(l->length, (size_t)n_local * K, &N, NULL);
    double *trunc = dist_allgatherv_f64(l->truncated, (size_t)n_local * K, &N2, NULL);
    double *acc = xmalloc((P + 1) * sizeof *acc), correct_sum = 0, maj_sum = 0, trunc_sum = 0, unused;
    for (size_t p = 0; p < P; p++) acc[p] = correct[p] / K, correct_sum += correct[p], maj_sum += maj[p];
    for (size_t i = 0; i < N; i++) trunc_sum += trunc[i];
    *out = (EvalResult){.prompts = (int64_t)P, .samples = K, .maj = P ? maj_sum / (double)P : 0,
                        .length_median = quantile(length, (int64_t)N, 0.5), .length_p90 = quantile(length, (int64_t)N, 0.9),
                        .truncated = N ? trunc_sum / (double)N : 0};
    mean_and_stderr(acc, (int64_t)P, &unused, &out->avg_stderr);
    out->avg = N ? correct_sum / (double)N : 0;  // exact counts over every response
    mean_and_stderr(length, (int64_t)N, &out->length_mean, &unused);
    pass_metrics(correct, (int64_t)P, K, out);
    free(correct), free(maj), free(length), free(trunc), free(acc);
}

// Every prompt and the evaluation's generation limit fit the model's positions; the sampler checks it too, but names
// [rollout]'s limit, the one training samples with.
static int check_positions(const Model *m, const RolloutConfig *rc, const PromptSet *ps, Err *e) {
    for (int p = 0; p < ps->n; p++)
        if ((int64_t)ps->len[p] + rc->max_new_tokens > m->cfg.max_position_embeddings)
            return err_set(e,
                           "evaluation problem %lld: %d prompt tokens + [eval] max_new_tokens %d exceed [model] "
                           "max_position_embeddings %d",
                           (long long)ps->index[p], ps->len[p], rc->max_new_tokens, m->cfg.max_position_embeddings);
    return 0;
}

int evaluate(Model *m, const Tokenizer *tok, const Task *task, const RewardConfig *reward, const RolloutConfig *rc,
             const PromptSet *ps, int64_t rng_step, EvalResult *out, const char *label, char **lines, Err *e) {
    int K = rc->n;
    size_t n = (size_t)ps->n + 1;
    Local l = {.label = label ? label : "",
               .correct = xcalloc(n, sizeof(double)), .maj = xcalloc(n, sizeof(double)),
               .length = xcalloc(n * (size_t)K, sizeof(double)), .truncated = xcalloc(n * (size_t)K, sizeof(double))};
    // The overlong punishment shapes training at rollout.max_new_tokens (results/objectives.md §4), the limit the
    // config check holds L_buf to; at eval.max_new_tokens it is no such term: a response's reward is R_acc + R_format.
    RewardConfig scoring = *reward;
    scoring.overlong_buffer = 0;
    Rollout r = {0};
    int err = check_positions(m, rc, ps, e);
    if (!err)
        err = sampler_generate(m, tok, rc, rng_step, ps->n, ps->index, (const int32_t *const *)ps->tokens, ps->len, &r, e);
    for (int p = 0; p < ps->n && !err; p++)
        err = judge_prompt(&r.responses[(size_t)p * K], K, ps, p, tok, task, &scoring, rc->max_new_tokens, &l,
                           lines != NULL, e);
    rollout_free(&r);
    if (dist_agree(err, e)) return local_free(&l), -1;
    global_metrics(&l, ps->n, K, out);
    if (lines) {
        size_t total;
        *lines = dist_gatherv_bytes(l.lines ? l.lines : "", l.lines_len, &total, NULL);
        if (*lines) *lines = xrealloc(*lines, total + 1), (*lines)[total] = 0;
    }
    local_free(&l);
    return 0;
}
