// `rlvr score`: log-prob and entropy of given responses under a checkpoint, through the training forward
// (the same numbers the sampler records; src/README.md invariant 2). Ranks score contiguous shares.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/jsonl.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "io/model_h5.h"
#include "model/device.h"
#include "model/model.h"

typedef struct {
    ConfigArgs cfg;
    const char *ckpt, *in, *out;
} ScoreArgs;

static const CliOpt OPTS[] = {
    CLI_OPT_STRING("--ckpt", "CKPT.h5", ScoreArgs, ckpt, CLI_REQUIRED, "checkpoint whose model scores the responses"),
    CLI_OPT_STRING("--in", "SEQS.jsonl", ScoreArgs, in, CLI_REQUIRED,
                   "one {\"prompt_tokens\":[...],\"response_tokens\":[...]} per line (ids in [0, vocab), prompt "
                   "non-empty)"),
    CLI_OPT_STRING("--out", "OUT.h5", ScoreArgs, out, CLI_REQUIRED, "HDF5 file for logp, entropy and seq_offsets"),
    CLI_CONFIG_OPTS(ScoreArgs, cfg, 0),
};

static const CliSpec SPEC = CLI_SPEC(
    "rlvr score",
    "Writes float64 datasets logp and entropy (every response token, responses concatenated) of softmax(logits / T),\n"
    "T = rollout.temperature, and int64 seq_offsets [S+1] into them. Works under mpirun (same output).\n"
    "The config is the checkpoint's own unless --config is given; --set changes it.",
    OPTS, NULL);

// Tokens per forward.
#define TOKENS_PER_FORWARD 4096

typedef struct {
    int n;
    int32_t **prompt, **response;
    int *n_prompt, *n_response;
} Seqs;

static void seqs_free(Seqs *s) {
    for (int i = 0; i < s->n; i++) free(s->prompt[i]), free(s->response[i]);
    free(s->prompt), free(s->response), free(s->n_prompt), free(s->n_response);
}

static int read_seqs(const char *path, const Model *m, Seqs *s, Err *e) {
    JsonlReader r;
    TRY(jsonl_open(&r, path, e));
    cJSON *obj;
    int rc, cap = 0;
    memset(s, 0, sizeof *s);
    while ((rc = jsonl_next(&r, &obj, e)) == 1) {
        char where[ERR_PLACE_SIZE];
        jsonl_where(&r, where, sizeof where);
        if (s->n == cap) {
            cap = cap ? 2 * cap : 64;
            s->prompt = xrealloc(s->prompt, cap * sizeof *s->prompt);
            s->response = xrealloc(s->response, cap * sizeof *s->response);
            s->n_prompt = xrealloc(s->n_prompt, cap * sizeof(int));
            s->n_response = xrealloc(s->n_response, cap * sizeof(int));
        }
        int i = s->n;
        s->prompt[i] = s->response[i] = NULL;
        rc = json_get_int_array(obj, "prompt_tokens", 0, m->cfg.vocab_size - 1, &s->prompt[i], &s->n_prompt[i], where,
                                e);
        if (!rc)
            rc = json_get_int_array(obj, "response_tokens", 0, m->cfg.vocab_size - 1, &s->response[i],
                                    &s->n_response[i], where, e);
        cJSON_Delete(obj);
        s->n++;
        if (!rc && s->n_prompt[i] < 1) rc = err_set(e, "%s: prompt_tokens must not be empty", where);
        if (!rc && s->n_prompt[i] + s->n_response[i] - 1 > m->cfg.max_position_embeddings)
            rc = err_set(e, "%s: %d tokens exceed max_position_embeddings %d", where, s->n_prompt[i] + s->n_response[i],
                         m->cfg.max_position_embeddings);
        if (rc) break;
    }
    jsonl_close(&r);
    if (rc == 0 && s->n == 0)
        rc = err_set(e, "%s: no sequences; expected one JSON object per line with prompt_tokens and response_tokens", path);
    if (rc) seqs_free(s);
    return rc < 0 ? -1 : 0;
}

// Scores sequences [b, end) in forwards of at most TOKENS_PER_FORWARD tokens (one longer sequence goes alone); the LM
// head runs in chunks of train.head_chunk rows (model.h model_forward_logprob), whatever the vocabulary.
static int score_range(Model *m, const Seqs *s, int b, int end, double temperature, double *logp, double *ent, Err *e) {
    size_t out = 0;
    for (int i = b; i < end;) {
        int j = i;
        int64_t off[TOKENS_PER_FORWARD + 2] = {0};
        int64_t T = 0;
        while (j < end && (j == i || T + s->n_prompt[j] + s->n_response[j] - 1 <= TOKENS_PER_FORWARD) &&
               j - i <= TOKENS_PER_FORWARD) {
            T += s->n_prompt[j] + s->n_response[j] - 1;  // the last token predicts nothing we need
            off[++j - i] = T;
        }
        int32_t *tok = xmalloc((size_t)T * sizeof(int32_t) + 1), *tgt = xmalloc((size_t)T * sizeof(int32_t) + 1);
        for (int64_t t = 0; t < T; t++) tgt[t] = -1;
        for (int k = i; k < j; k++) {
            int32_t *dst = tok + off[k - i];
            memcpy(dst, s->prompt[k], (size_t)s->n_prompt[k] * sizeof(int32_t));
            if (s->n_response[k] > 1)
                memcpy(dst + s->n_prompt[k], s->response[k], (size_t)(s->n_response[k] - 1) * sizeof(int32_t));
            for (int t = 0; t < s->n_response[k]; t++)  // response token t is predicted at row prompt + t - 1
                tgt[off[k - i] + s->n_prompt[k] - 1 + t] = s->response[k][t];
        }
        HeadLogprob h = {.targets = tgt, .temperature = temperature, .logp = logp + out, .entropy = ent + out};
        int rc = model_forward_logprob(m, j - i, off, tok, &h, NULL, NULL, NULL, e);
        for (int k = i; k < j; k++) out += (size_t)s->n_response[k];
        free(tok), free(tgt);
        if (rc) return -1;
        i = j;
    }
    return 0;
}

static int write_scores(const char *path, const double *logp, const double *ent, size_t n, const int64_t *offsets,
                        int n_seqs, Err *e) {
    AtomicFile a;
    hid_t f = h5io_output_create(&a, path, H5IO_OVERHEAD_BYTES + 8 * (2 * n + (size_t)n_seqs + 1), 0, e);
    if (f < 0) return -1;
    int rc = h5io_write_f64(f, "logp", logp, n, e) || h5io_write_f64(f, "entropy", ent, n, e) ||
             h5io_write_i64(f, "seq_offsets", offsets, (hsize_t)n_seqs + 1, e);
    return h5io_output_end(&a, f, rc ? -1 : 0, e);
}

static int run(const ScoreArgs *a, Err *e) {
    const char *ckpt = a->ckpt, *in = a->in, *out = a->out;
    Config c;
    Model m;
    Seqs s;
    TRY(cli_resolve_config_ckpt(&a->cfg, a->ckpt, &c, e));
    if (c.rollout.temperature <= 0) return err_set(e, "[rollout] temperature must be > 0 for scoring");
    TRY(model_load_path(&m, ckpt, e));
    m.head_chunk = c.train.head_chunk;
    Device dev;
    int rc = device_open(c.dist.device, &dev, e);
    if (!rc) rc = dist_agree(device_attach(&dev, &m, e), e);
    if (!rc) rc = read_seqs(in, &m, &s, e);
    if (rc) return device_detach(&m), model_free(&m), -1;
    int64_t b, end, n_local = 0;
    dist_share(s.n, &b, &end);
    for (int64_t i = b; i < end; i++) n_local += s.n_response[i];
    double *logp = xmalloc((size_t)n_local * sizeof(double) + 1), *ent = xmalloc((size_t)n_local * sizeof(double) + 1);
    rc = score_range(&m, &s, (int)b, (int)end, c.rollout.temperature, logp, ent, e);
    // Every rank takes part in the gathers; a local failure is reported after them.
    int64_t failed = rc != 0;
    dist_allreduce_sum_i64(&failed, 1);
    size_t n_all = 0;
    double *all_logp = dist_allgatherv_f64(logp, (size_t)n_local, &n_all, NULL);
    double *all_ent = dist_allgatherv_f64(ent, (size_t)n_local, &n_all, NULL);
    if (!rc && failed) rc = err_set(e, "scoring failed on another rank");
    int64_t *offsets = xmalloc((size_t)(s.n + 1) * sizeof(int64_t));
    offsets[0] = 0;
    for (int i = 0; i < s.n; i++) offsets[i + 1] = offsets[i] + s.n_response[i];
    if (!rc && dist_is_root()) rc = write_scores(out, all_logp, all_ent, n_all, offsets, s.n, e);
    if (!rc && dist_is_root()) {
        char *q = json_quote(out);
        printf("{\"sequences\":%d,\"tokens\":%zu,\"out\":%s}\n", s.n, n_all, q);
        free(q);
    }
    free(logp), free(ent), free(all_logp), free(all_ent), free(offsets);
    seqs_free(&s);
    device_detach(&m);
    model_free(&m);
    return rc;
}

int cmd_score(int argc, char **argv) {
    ScoreArgs a = {0};
    int rc;
    if (!cli_parse(&SPEC, argc, argv, &a, &rc)) return rc;
    Err e = {{0}};
    if (run(&a, &e)) {
        if (dist_is_root()) fprintf(stderr, "rlvr: %s\n", e.msg);
        return 1;
    }
    return 0;
}
