// `rlvr sample`: G responses per prompt of a JSONL file, with per-token log-probs and entropies, as JSONL; with
// --show-prompt, only the prompts as the model would get them (ids and text), to diff against another pipeline.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic_file.h"
#include "base/dist.h"
#include "base/jsonl.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "io/model_h5.h"
#include "model/device.h"
#include "model/model.h"
#include "rollout/sampler.h"
#include "task/prompts.h"
#include "task/template.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

typedef struct {
    ConfigArgs cfg;
    const char *ckpt, *prompts, *out;
    int64_t n, step;
    bool show_prompt;
} SampleArgs;

static const CliOpt OPTS[] = {
    CLI_OPT_STRING("--ckpt", "C", SampleArgs, ckpt, 0, "checkpoint whose model samples (required unless --show-prompt)"),
    CLI_OPT_STRING("--prompts", "P.jsonl", SampleArgs, prompts, CLI_REQUIRED,
                   "one {\"prompt\": \"text\"} (put in the [prompt] template) or {\"prompt_tokens\": [ids]} (used as "
                   "given) per line"),
    CLI_OPT_INT("--n", "G", SampleArgs, n, 1, 65536, 0, "responses per prompt (sets rollout.n)"),
    CLI_OPT_STRING("--out", "R.jsonl", SampleArgs, out, 0,
                   "the responses, one JSON line each (required unless --show-prompt, whose lines go to stdout without it)"),
    CLI_OPT_FLAG("--show-prompt", SampleArgs, show_prompt, 0,
                 "print each prompt as sent to the model instead of sampling: {\"prompt_index\", \"prompt_tokens\", "
                 "\"prompt_text\"} per line (the text decoded from the ids, special tokens by name)"),
    CLI_OPT_INT("--step", "S", SampleArgs, step, 0, UINT32_MAX, 0, "the step the draws are keyed by (default 0)"),
    CLI_CONFIG_OPTS(SampleArgs, cfg, 0),
};

static const CliSpec SPEC = CLI_SPEC(
    "rlvr sample",
    "Generates G responses per prompt with the checkpoint's model. Each output line holds prompt_index,\n"
    "sample_index, prompt_tokens, response_tokens, response (text; invalid UTF-8 and NUL shown as U+FFFD),\n"
    "logp and entropy per response token (float64, round-trip precision), finish_reason (eos|stop|length),\n"
    "ordered by prompt then sample. Draws are keyed by (rollout.seed, S, prompt * G + sample, token), so the\n"
    "output is the same for any number of ranks (each rank takes whole prompts). A text prompt is put in the\n"
    "[prompt] template (none: BOS + text; chatml, qwen-boxed, dapo: chat messages and the generation prompt).\n"
    "The config is the checkpoint's own unless --config is given; --set changes it.",
    OPTS, NULL);

static int prompt_from_line(const cJSON *obj, const Template *tpl, int vocab, const char *where, int32_t **ids, int *n,
                            Err *e) {
    bool has_text = cJSON_HasObjectItem(obj, "prompt"), has_ids = cJSON_HasObjectItem(obj, "prompt_tokens");
    if (has_text == has_ids)
        return err_set(e, "%s: expected exactly one of \"prompt\" (a string) or \"prompt_tokens\" (an array of ids)",
                       where);
    if (has_ids) {
        TRY(json_get_int_array(obj, "prompt_tokens", 0, vocab - 1, ids, n, where, e));
        if (*n == 0) return free(*ids), err_set(e, "%s: \"prompt_tokens\" is empty", where);
        return 0;
    }
    const char *text;
    TRY(json_get_string(obj, "prompt", &text, where, e));
    return template_encode(tpl, text, ids, n, e);
}

// Every line's prompt, indexed by line order (the index the draws are keyed by).
static int read_prompts(const char *path, const Template *tpl, int vocab, PromptSet *p, Err *e) {
    JsonlReader r;
    memset(p, 0, sizeof *p);
    TRY(jsonl_open(&r, path, e));
    cJSON *obj;
    int rc;
    char where[ERR_PLACE_SIZE];
    while ((rc = jsonl_next(&r, &obj, e)) == 1) {
        int32_t *ids;
        int n;
        rc = prompt_from_line(obj, tpl, vocab, jsonl_where(&r, where, sizeof where), &ids, &n, e);
        cJSON_Delete(obj);
        if (rc) break;
        prompts_add(p, p->n, ids, n, NULL);
    }
    jsonl_close(&r);
    if (rc == 0 && p->n == 0) rc = err_set(e, "%s: no prompts; expected one JSON object per line", path);
    if (rc) prompts_free(p);
    return rc < 0 ? -1 : 0;
}

// Shortest decimal that parses back to exactly x (cJSON's own printing accepts a 1-ulp difference).
static void append_f64(char **s, size_t *len, size_t *cap, double x) {
    char buf[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, x);
        if (strtod(buf, NULL) == x) break;
    }
    size_t n = strlen(buf);
    if (*len + n + 2 > *cap) *cap = 2 * (*len + n + 2), *s = xrealloc(*s, *cap);
    memcpy(*s + *len, buf, n + 1);
    *len += n;
}

static char *f64_array(const double *x, int n) {
    size_t len = 1, cap = 64;
    char *s = xmalloc(cap);
    strcpy(s, "[");
    for (int i = 0; i < n; i++) {
        if (i) s[len++] = ',', s[len] = 0;
        append_f64(&s, &len, &cap, x[i]);
    }
    strcpy(s + len, "]");
    return s;
}

static cJSON *int_array(const int32_t *x, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(x[i]));
    return a;
}

// o as one JSON line (with its newline), malloc'd; o is deleted.
static char *json_line(cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n] = '\n', s[n + 1] = 0;
    return s;
}

// One output line (with its newline), malloc'd.
static char *response_line(const Response *r, const int32_t *prompt, int plen, const Tokenizer *tok) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prompt_index", (double)r->prompt_index);
    cJSON_AddNumberToObject(o, "sample_index", r->sample_index);
    cJSON_AddItemToObject(o, "prompt_tokens", int_array(prompt, plen));
    cJSON_AddItemToObject(o, "response_tokens", int_array(r->tokens, r->n_tokens));
    size_t tlen;
    int text_tokens = r->finish == FINISH_EOS ? r->n_tokens - 1 : r->n_tokens;  // the EOS token is not text
    char *text = tokenizer_decode(tok, r->tokens, text_tokens, &tlen), *utf8 = utf8_sanitize(text, tlen);
    cJSON_AddStringToObject(o, "response", utf8);
    free(text), free(utf8);
    char *lp = f64_array(r->logp, r->n_tokens), *ent = f64_array(r->entropy, r->n_tokens);
    cJSON_AddRawToObject(o, "logp", lp);
    cJSON_AddRawToObject(o, "entropy", ent);
    free(lp), free(ent);
    cJSON_AddStringToObject(o, "finish_reason", finish_reason_name(r->finish));
    return json_line(o);
}

// Generates this rank's share of the prompts; *text is its output lines in prompt order.
static int sample_local(Model *m, const Tokenizer *tok, const Config *c, int64_t step, const PromptSet *p, char **text,
                        size_t *text_len, Err *e) {
    int64_t begin, end;
    dist_share(p->n, &begin, &end);
    Rollout ro;
    int rc = sampler_generate(m, tok, &c->rollout, step, (int)(end - begin), p->index + begin,
                              (const int32_t *const *)p->tokens + begin, p->len + begin, &ro, e);
    *text = NULL, *text_len = 0;
    if (rc) return -1;
    size_t cap = 0;
    for (int i = 0; i < ro.n_responses; i++) {
        int64_t pi = ro.responses[i].prompt_index;
        char *line = response_line(&ro.responses[i], p->tokens[pi], p->len[pi], tok);
        size_t k = strlen(line);
        if (*text_len + k + 1 > cap) cap = 2 * (*text_len + k + 1), *text = xrealloc(*text, cap);
        memcpy(*text + *text_len, line, k + 1);
        *text_len += k;
        free(line);
    }
    rollout_free(&ro);
    return 0;
}

// The output whole or not at all, beside any older one until then (base/atomic_file.h).
static int write_file(const char *path, const char *data, size_t n, Err *e) {
    AtomicFile f;
    TRY(atomic_file_open(&f, path, 0, e));
    fwrite(data, 1, n, f.f);  // a write error shows at the commit
    return atomic_file_commit(&f, e);
}

// One --show-prompt line (with its newline), malloc'd.
static char *prompt_line(int64_t index, const int32_t *ids, int n, const Tokenizer *tok) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prompt_index", (double)index);
    cJSON_AddItemToObject(o, "prompt_tokens", int_array(ids, n));
    size_t tlen;
    char *text = tokenizer_decode(tok, ids, n, &tlen), *utf8 = utf8_sanitize(text, tlen);
    cJSON_AddStringToObject(o, "prompt_text", utf8);
    free(text), free(utf8);
    return json_line(o);
}

// --show-prompt: every prompt's ids and text, on the root rank, to path (stdout when NULL).
static int show_prompts(const PromptSet *p, const Tokenizer *tok, const char *path, Err *e) {
    if (!dist_is_root()) return 0;
    AtomicFile out;
    FILE *f = stdout;
    if (path) {
        TRY(atomic_file_open(&out, path, 0, e));
        f = out.f;
    }
    for (int i = 0; i < p->n; i++) {
        char *line = prompt_line(p->index[i], p->tokens[i], p->len[i], tok);
        fputs(line, f);  // a write error shows at the end
        free(line);
    }
    if (path) return atomic_file_commit(&out, e);
    return fflush(f) || ferror(f) ? err_set(e, "stdout: write error") : 0;
}

// Samples the prompts; every rank agrees on the outcome before the collective gather.
static int sample_all(const SampleArgs *a, Model *m, const Tokenizer *tok, const Config *c, const PromptSet *p, Err *e,
                      bool *print_here) {
    char *text = NULL;
    size_t len = 0;
    // Sampling failures can differ between ranks: agree on the outcome before the collective gather.
    int64_t failed = sample_local(m, tok, c, a->step, p, &text, &len, e) != 0, any = failed;
    dist_allreduce_max_i64(&any, 1);
    int rc = 0;
    if (failed) *print_here = true, rc = -1;
    else if (any) *print_here = false, rc = -1;
    if (rc == 0) {
        size_t total;
        char *all = dist_gatherv_bytes(text, len, &total, NULL);
        if (dist_is_root()) rc = write_file(a->out, all, total, e);
        free(all);
    }
    free(text);
    return rc;
}

// Returns 0, or -1 with *print_here telling whether this rank should print e (one rank for shared errors).
static int run(const SampleArgs *a, Err *e, bool *print_here) {
    Config c;
    *print_here = dist_is_root();  // config, checkpoint and prompt errors are the same on every rank
    TRY(cli_resolve_config_ckpt(&a->cfg, a->ckpt, &c, e));
    Model m = {0};
    if (a->ckpt) TRY(model_load_path(&m, a->ckpt, e));
    Device dev;
    bool runs_model = a->ckpt && !a->show_prompt;  // --show-prompt reads the checkpoint for its vocabulary only
    int rc = runs_model ? device_open(c.dist.device, &dev, e) : 0;
    if (!rc && runs_model) rc = dist_agree(device_attach(&dev, &m, e), e);
    if (rc) return device_detach(&m), model_free(&m), -1;  // the same message on every rank: root prints it
    Tokenizer *tok = tokenizer_create(&c.tokenizer, e);
    PromptSet p = {0};
    Template tpl;
    rc = tok ? 0 : -1;
    int vocab = a->ckpt ? m.cfg.vocab_size : tok ? tokenizer_vocab_size(tok) : 0;
    if (rc == 0 && a->ckpt) rc = tokenizer_fits_model(tok, vocab, e);
    if (rc == 0) rc = template_open(&tpl, &c.prompt, tok, e);
    if (rc == 0) rc = read_prompts(a->prompts, &tpl, vocab, &p, e);
    if (rc == 0) rc = a->show_prompt ? show_prompts(&p, tok, a->out, e) : sample_all(a, &m, tok, &c, &p, e, print_here);
    prompts_free(&p);
    tokenizer_free(tok);
    device_detach(&m);
    model_free(&m);
    return rc;
}

int cmd_sample(int argc, char **argv) {
    SampleArgs a = {0};
    int rc;
    if (!cli_parse(&SPEC, argc, argv, &a, &rc)) return rc;
    if (!a.show_prompt && (!a.ckpt || !a.out))
        return cli_usage_error(&SPEC, "%s required unless --show-prompt",
                               !a.ckpt && !a.out ? "--ckpt and --out are" : !a.ckpt ? "--ckpt is" : "--out is");
    Err e = {{0}};
    char n_set[64];
    if (a.n) {  // after the --sets: --n wins
        snprintf(n_set, sizeof n_set, "rollout.n=%lld", (long long)a.n);
        if (cli_list_add(&a.cfg.sets, n_set, &e)) return cli_usage_error(&SPEC, "--set: %s", e.msg);
    }
    bool print_here = true;
    if (run(&a, &e, &print_here) == 0) return 0;
    if (print_here) fprintf(stderr, "rlvr: %s\n", e.msg);
    return 1;
}
