// Expert usage of a MoE checkpoint: the share of tokens each layer routes to each expert, measured on the
// first held-out problems of the checkpoint's own task (prompt and, for embedded tasks, reference solution).
#include "cli/ckpt_usage.h"

#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/model_h5.h"
#include "model/seqbatch.h"
#include "task/prompts.h"
#include "task/task.h"
#include "text/tokenizer.h"

// The first n held-out problems as sequences: prompt, then the reference solution when the task has one.
static int held_out_batch(const Task *task, const Tokenizer *tok, int64_t n, SeqBatch *b, Err *e) {
    PromptSet ps = {0};
    int rc = prompts_from_task(&ps, task, SPLIT_EVAL, 0, n, task_is_embedded(task), tok, e);
    for (int i = 0; i < ps.n && !rc; i++) seqbatch_add(b, ps.tokens[i], ps.len[i], ps.solution[i], ps.solution_len[i]);
    prompts_free(&ps);
    return rc;
}

static void print_usage(const Model *m, const int64_t *count, int64_t tokens, FILE *out) {
    int L = m->cfg.num_hidden_layers, E = m->cfg.num_experts, K = m->cfg.num_experts_per_tok;
    fprintf(out, "expert usage (share of routed token slots, %lld tokens × top-%d):\n", (long long)tokens, K);
    for (int l = 0; l < L; l++) {
        int64_t lo = INT64_MAX, hi = 0;
        fprintf(out, "  layer %d:", l);
        if (!model_layer_is_moe(m, l)) {
            fprintf(out, " dense MLP\n");
            continue;
        }
        for (int x = 0; x < E; x++) {
            int64_t c = count[(size_t)l * E + x];
            fprintf(out, " %.1f%%", tokens ? 100.0 * (double)c / (double)(tokens * K) : 0.0);
            lo = c < lo ? c : lo, hi = c > hi ? c : hi;
        }
        fprintf(out, "  (most/least used %.2f)\n", lo > 0 ? (double)hi / (double)lo : 0.0);
    }
}

static int measure(Model *m, const Config *c, int n_problems, FILE *out, Err *e) {
    Tokenizer *tok = tokenizer_create(&c->tokenizer, e);
    if (!tok) return -1;
    if (tokenizer_fits_model(tok, m->cfg.vocab_size, e)) return tokenizer_free(tok), -1;
    Task *task = task_create(c, e);
    if (!task) return tokenizer_free(tok), -1;
    int64_t n = task_split_size(task, SPLIT_EVAL);
    if (n > n_problems) n = n_problems;
    SeqBatch b = {0};
    int rc = held_out_batch(task, tok, n, &b, e);
    if (!rc && b.n_seq > 0) {
        int64_t T = b.seq_offsets[b.n_seq];
        int L = m->cfg.num_hidden_layers, E = m->cfg.num_experts, K = m->cfg.num_experts_per_tok;
        int32_t *experts = xmalloc((size_t)T * L * K * sizeof *experts);
        int64_t *count = xcalloc((size_t)L * E, sizeof *count);
        rc = model_forward(m, b.n_seq, b.seq_offsets, b.tokens, NULL, experts, NULL, NULL, e);  // no LM head
        for (int64_t t = 0; !rc && t < T; t++)
            for (int l = 0; l < L; l++)
                for (int k = 0; k < K; k++) {
                    int32_t x = experts[((size_t)t * L + l) * K + k];
                    if (x >= 0) count[(size_t)l * E + x]++;  // -1: a dense layer
                }
        if (!rc) print_usage(m, count, T, out);
        free(experts), free(count);
    }
    seqbatch_free(&b);
    task_free(task);
    tokenizer_free(tok);
    return rc;
}

int ckpt_expert_usage(const char *path, int n_problems, FILE *out, Err *e) {
    Model m;
    Config c;
    TRY(model_load_path(&m, path, e));
    int rc = 0;
    if (m.moe) {
        rc = checkpoint_read_config(path, NULL, 0, &c, e);
        if (!rc) rc = measure(&m, &c, n_problems, out, e);
    }
    model_free(&m);
    return rc;
}
