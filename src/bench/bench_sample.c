// Decoding tokens/s for batch 1 and for one group of 8 on a random-init model, plus the machine's memory
// read bandwidth: each decode step reads every weight once, so steps/s <= bandwidth / weight bytes.
#include "bench/bench_sample.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/walltime.h"
#include "model/model.h"
#include "rollout/sampler.h"
#include "text/tokenizer.h"

// Best-of-3 read bandwidth (GB/s) of summing a buffer larger than the caches; eight independent sums per
// thread so the adds keep up with memory.
static double read_bandwidth_gbps(size_t bytes) {
    size_t n = bytes / sizeof(double) / 8 * 8;
    double *x = xmalloc(n * sizeof *x), best = 0, sink = 0;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = (double)(i & 7);
    for (int rep = 0; rep < 3; rep++) {
        double t0 = walltime_s(), s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
        for (size_t i = 0; i < n; i += 8) {
            double a[8];
            for (int l = 0; l < 8; l++) a[l] = x[i + l];
            s += ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        }
        double gbps = (double)(n * sizeof *x) / (walltime_s() - t0) / 1e9;
        sink += s;
        if (gbps > best) best = gbps;
    }
    free(x);
    return sink < 0 ? -1 : best;  // sink keeps the sums alive
}

static int run_case(Model *m, const Tokenizer *tok, RolloutConfig rc, int group, int prompt_len, const char *config,
                    Err *e) {
    rc.n = group;
    int32_t *prompt = xmalloc((size_t)prompt_len * sizeof *prompt);
    prompt[0] = tokenizer_bos(tok);
    for (int i = 1; i < prompt_len; i++) prompt[i] = 'a' + i % 26;
    const int32_t *prompts[1] = {prompt};
    int64_t gidx = 0;
    Rollout ro;
    double t0 = walltime_s();
    int r = sampler_generate(m, tok, &rc, 0, 1, &gidx, prompts, &prompt_len, &ro, e);
    double seconds = walltime_s() - t0;
    free(prompt);
    if (r) return -1;
    long long tokens = 0, steps = 0;
    for (int i = 0; i < ro.n_responses; i++) {
        tokens += ro.responses[i].n_tokens;
        if (ro.responses[i].n_tokens > steps) steps = ro.responses[i].n_tokens;
    }
    rollout_free(&ro);
    printf(
        "{\"bench\":\"sample\",\"config\":\"%s\",\"params\":%zu,\"weight_mb\":%.1f,\"threads\":%d,\"group\":%d,"
        "\"prompt_tokens\":%d,\"max_new_tokens\":%d,\"generated_tokens\":%lld,\"decode_steps\":%lld,"
        "\"seconds\":%.3f,\"tokens_per_s\":%.1f,\"steps_per_s\":%.2f}\n",
        config, m->n_params, (double)m->n_params * sizeof(float) / (1 << 20), omp_get_max_threads(), group, prompt_len,
        rc.max_new_tokens, tokens, steps, seconds, (double)tokens / seconds, (double)steps / seconds);
    fflush(stdout);
    return 0;
}

int bench_sample(const BenchSampleOptions *o, Err *e) {
    Config c = *o->config;
    int prompt_len = (int)o->prompt_len;
    c.rollout.max_new_tokens = (int)o->new_tokens;
    Model m = {0};
    TRY(model_create(&m, &c.model, e));
    model_init_random(&m, (uint64_t)c.model.init_seed);
    Tokenizer *tok = tokenizer_create(&c.tokenizer, e);
    int rc = tok ? tokenizer_fits_model(tok, m.cfg.vocab_size, e) : -1;
    size_t weight_bytes = m.n_params * sizeof(float);
    if (rc == 0) {
        size_t buf = 4 * weight_bytes > ((size_t)512 << 20) ? 4 * weight_bytes : ((size_t)512 << 20);
        printf("{\"bench\":\"memory_read\",\"bytes\":%zu,\"threads\":%d,\"gb_per_s\":%.2f}\n", buf,
               omp_get_max_threads(), read_bandwidth_gbps(buf));
    }
    RolloutConfig warm = c.rollout;
    warm.max_new_tokens = 4;
    if (rc == 0) rc = run_case(&m, tok, warm, 1, prompt_len, "warm-up (not a measurement)", e) == 0 ? 0 : -1;
    for (int g = 1; g <= 8 && rc == 0; g += 7) rc = run_case(&m, tok, c.rollout, g, prompt_len, o->config_name, e);
    tokenizer_free(tok);
    model_free(&m);
    return rc;
}
