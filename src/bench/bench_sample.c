// Decoding tokens/s for batch 1 and for one group of G responses (--group, 8) on a random-init model on the rank's
// device (dist.device), next to the memory bandwidth that bounds it: each decode step reads every weight once and its
// tokens' cached keys and values, so steps/s <= bandwidth / (weight bytes + the step's cache bytes). CPU: the read
// bandwidth measured before and after each case, the faster of the two its limit (a VM's bandwidth can change by half
// within a minute), with the threads' round trip measured beside it, which says whether they shared a last-level cache
// (a case during which that changed is run again); GPU: its published HBM bandwidth.
#include "bench/bench_sample.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/walltime.h"
#include "bench/bench_limits.h"
#include "bench/op_profile.h"
#include "model/device.h"
#include "model/matmul.h"
#include "model/model.h"
#include "rollout/sampler.h"
#include "text/tokenizer.h"

// What the cases share: the model's name and device, the read bandwidth (a decode step reads every weight once and
// its cached rows, so it bounds steps/s at read_gbps / those bytes): the last one measured in probe's buffer (CPU),
// else the data sheet's, with the threads' round trip measured beside it (-1: not measured); whether that round trip
// and the one before the last case say the threads moved during it; and --ops's profile (NULL without).
typedef struct {
    const char *config, *device;
    double read_gbps, round_trip_ns;
    bool moved;
    const ReadBuffer *probe;
    OpProfile *ops;
} Case;

// READ_PASSES: passes of each read test; MOVED_RERUNS: how often a case during which the threads moved is run again.
enum { READ_PASSES = 2, MOVED_RERUNS = 2 };

// c's round trip as a JSON value: null where it was not measured.
static const char *round_trip_json(const Case *c, char buf[32]) {
    return bench_json_or_null(c->round_trip_ns >= 0, c->round_trip_ns, buf);
}

// The JSON line of c's last read test and the round trip beside it.
static void print_read(const Case *c) {
    char trip[32];
    printf("{\"bench\":\"memory_read\",\"bytes\":%zu,\"threads\":%d,\"gb_per_s\":%.2f,\"thread_round_trip_ns\":%s}\n",
           c->probe->n * sizeof(float), omp_get_max_threads(), c->read_gbps, round_trip_json(c, trip));
}

// The threads' round trip; RLVR_TEST_ROUND_TRIPS="300,80,...": the values to report in turn instead (then measured),
// so that a test can move the threads during a case. Past a value it cannot read, as past the last, it measures.
static double round_trip_ns(void) {
    static const char *next;
    static bool read_env;
    if (!read_env) next = getenv("RLVR_TEST_ROUND_TRIPS"), read_env = true;
    char *end;
    double ns = next ? strtod(next, &end) : 0;
    if (!next || end == next || (*end && *end != ',')) {
        next = NULL;
        return bench_thread_round_trip_ns();
    }
    next = *end ? end + 1 : end;
    return ns;
}

// The CPU's read test in c's probe buffer, then the threads' round trip.
static void measure_read(Case *c) {
    c->read_gbps = bench_read_gbps(c->probe, READ_PASSES);
    c->round_trip_ns = round_trip_ns();
}

// One --ops line: x's totals in a case of group rows that took seconds over steps decode steps. A product's
// weight_gb_per_s: the fp32 weight it reads once per call, over its time; attention's kv_gb_per_s: the cached keys
// and values it reads, over its time; either against the read bandwidth. No calls: the time outside the operations.
static void op_line(const Case *c, int group, const OpStat *x, double seconds, long long steps) {
    double bytes = x->n ? (double)x->calls * x->n * x->k * sizeof(float) : x->kv_bytes;
    double gbps = x->seconds > 0 ? bytes / x->seconds / 1e9 : 0;
    char weight[48] = "null", calls[32] = "null", rate[32] = "null", kv_rate[32] = "null", fraction[32] = "null";
    if (x->n) snprintf(weight, sizeof weight, "\"%dx%d\"", x->n, x->k);
    if (x->calls) snprintf(calls, sizeof calls, "%.4g", (double)x->calls / (double)steps);
    if (gbps > 0) {
        snprintf(x->n ? rate : kv_rate, sizeof rate, "%.4g", gbps);
        snprintf(fraction, sizeof fraction, "%.3f", gbps / c->read_gbps);
    }
    printf("{\"bench\":\"sample_op\",\"config\":\"%s\",\"threads\":%d,\"group\":%d,\"op\":\"%s\",\"weight\":%s,"
           "\"calls_per_step\":%s,\"seconds\":%.6f,\"share\":%.4f,\"weight_gb_per_s\":%s,\"kv_gb_per_s\":%s,"
           "\"fraction_of_read_bandwidth\":%s}\n",
           c->config, omp_get_max_threads(), group, x->op, weight, calls, x->seconds, x->seconds / seconds, rate,
           kv_rate, fraction);
}

// --ops: a line per operation (and weight shape) of the case in bucket b, in the order the model first ran them,
// then one for the time outside every operation (the sampler's own work).
static void report_ops(const Case *c, int group, int b, double seconds, long long steps) {
    OpStat outside = {.op = "(outside the operations)", .seconds = seconds};
    for (int i = 0; i < op_profile_count(c->ops); i++) {
        OpStat x;
        op_profile_get(c->ops, i, b, &x);
        if (x.calls) op_line(c, group, &x, seconds, steps), outside.seconds -= x.seconds;
    }
    op_line(c, group, &outside, seconds, steps);
    fflush(stdout);
}

// A case's decode time, steps and read bandwidth limits, summed over its repeats (for --ops's shares, calls per
// step and fractions).
typedef struct {
    double seconds, read_gbps;
    long long steps;
    int n;
} CaseTotal;

// The cached key and value bytes a case's attention must read: the prompt's prefill once (rows 1..P of its tokens),
// then each response's decode steps, the t-th (t = 1..n-1 of its n tokens) reading its own rows P..P + t - 1, and
// the prompt's rows 0..P - 1 once a step for the whole group (its responses read one copy, model/attention.c).
static double kv_bytes_read(const Model *m, int prompt_len, const Rollout *ro) {
    double p = prompt_len, rows = p * (p + 1) / 2, longest = 0;
    for (int i = 0; i < ro->n_responses; i++) {
        double steps = ro->responses[i].n_tokens - 1;
        if (steps > 0) rows += steps * (steps + 1) / 2, longest = steps > longest ? steps : longest;
    }
    return (rows + longest * p) * (double)kv_cache_bytes(m, 1, 1);
}

// One timed generation of `group` responses to one prompt, the read test after it (CPU), its JSON line (repeat: its
// round from 1; 0 for the warm-up) with the threads' placement (held, moved: c->moved) and the MiB of packed weights it
// made (null: the build has no packed kernel), and its time added to *total (when not NULL); --ops counts it
// in the profile's bucket.
static int run_case(Model *m, const Tokenizer *tok, RolloutConfig rc, int group, int prompt_len, Case *c,
                    int bucket, int repeat, CaseTotal *total, Err *e) {
    rc.n = group;
    int32_t *prompt = xmalloc((size_t)prompt_len * sizeof *prompt);
    prompt[0] = tokenizer_bos(tok);
    for (int i = 1; i < prompt_len; i++) prompt[i] = 'a' + i % 26;
    const int32_t *prompts[1] = {prompt};
    int64_t gidx = 0;
    Rollout ro;
    if (c->ops) op_profile_bucket(c->ops, bucket);
    double t0 = walltime_s(), c0 = cputime_s();
    CpuTicks s0 = bench_cpu_ticks();
    int r = sampler_generate(m, tok, &rc, 0, 1, &gidx, prompts, &prompt_len, &ro, e);
    double seconds = walltime_s() - t0, cpu_seconds = cputime_s() - c0;
    if (c->ops) op_profile_bucket(c->ops, -1);
    double steal = bench_steal_fraction(s0, bench_cpu_ticks());
    char steal_buf[16];
    free(prompt);
    if (r) return -1;
    long long tokens = 0, steps = 0;
    for (int i = 0; i < ro.n_responses; i++) {
        tokens += ro.responses[i].n_tokens;
        if (ro.responses[i].n_tokens > steps) steps = ro.responses[i].n_tokens;
    }
    double kv_bytes = kv_bytes_read(m, prompt_len, &ro), packed_mb = ro.packed_bytes / (1 << 20);
    rollout_free(&ro);
    double weight_bytes = (double)m->n_params * (double)device_weight_bytes(m);
    double weight_gbps = (double)steps / seconds * weight_bytes / 1e9, kv_gbps = kv_bytes / seconds / 1e9;
    Case before = *c;
    if (c->probe) measure_read(c);
    const Case *limit = c->read_gbps > before.read_gbps ? c : &before;  // the faster read test, with its round trip
    double read_gbps = limit->read_gbps;
    const char *placement = bench_placement(before.round_trip_ns, c->round_trip_ns);
    c->moved = placement && !strcmp(placement, "moved");
    char trip[32], placement_json[16] = "null", packed[32];
    if (placement) snprintf(placement_json, sizeof placement_json, "\"%s\"", placement);
    printf(
        "{\"bench\":\"sample\",\"device\":\"%s\",\"config\":\"%s\",\"params\":%zu,\"weight_mb\":%.1f,\"threads\":%d,\"group\":%d,\"repeat\":%d,"
        "\"prompt_tokens\":%d,\"max_new_tokens\":%d,\"generated_tokens\":%lld,\"decode_steps\":%lld,"
        "\"seconds\":%.3f,\"cpu_seconds\":%.3f,\"tokens_per_s\":%.1f,\"steps_per_s\":%.2f,\"weight_gb_per_s\":%.2f,"
        "\"kv_bytes\":%.0f,\"kv_gb_per_s\":%.3f,\"read_gb_per_s\":%.2f,\"fraction_of_read_bandwidth\":%.3f,"
        "\"steal_fraction\":%s,\"thread_round_trip_ns\":%s,\"placement\":%s,\"packed_mb\":%s}\n",
        c->device, c->config, m->n_params, weight_bytes / (1 << 20), omp_get_max_threads(), group, repeat, prompt_len,
        rc.max_new_tokens, tokens, steps, seconds, cpu_seconds, (double)tokens / seconds, (double)steps / seconds, weight_gbps,
        kv_bytes, kv_gbps, read_gbps, (weight_gbps + kv_gbps) / read_gbps, bench_steal_json(steal, steal_buf),
        round_trip_json(limit, trip), placement_json, bench_json_or_null(matmul_pack_supported(), packed_mb, packed));
    if (c->probe) print_read(c);
    fflush(stdout);
    if (total) total->seconds += seconds, total->steps += steps, total->read_gbps += read_gbps, total->n++;
    return 0;
}

int bench_sample(const BenchSampleOptions *o, Err *e) {
    Config c = *o->config;
    int prompt_len = (int)o->prompt_len;
    c.rollout.max_new_tokens = (int)o->new_tokens;
    Device dev;
    TRY(device_open(c.dist.device, &dev, e));
    char device[300];
    device_label(&dev, device, sizeof device);
    Model m = {0};
    TRY(model_create(&m, &c.model, e));
    model_init_random(&m, (uint64_t)c.model.init_seed);
    if (device_attach(&dev, &m, e)) return model_free(&m), -1;
    Case cs = {.config = o->config_name, .device = device, .round_trip_ns = -1};
    if (o->ops && !(cs.ops = op_profile_start(&m, 2, e))) {  // a bucket for each case after the warm-up
        err_prefix(e, "bench sample --ops");
        return device_detach(&m), model_free(&m), -1;
    }
    Tokenizer *tok = tokenizer_create(&c.tokenizer, e);
    int rc = tok ? tokenizer_fits_model(tok, m.cfg.vocab_size, e) : -1;
    ReadBuffer probe = {0};
    double peak_tflops;
    if (rc == 0 && dev.where.ordinal >= 0) {  // HBM: its published bandwidth
        bench_gpu_peaks(dev.where.name, &peak_tflops, &cs.read_gbps);
        cs.read_gbps *= 1e3;
        printf("{\"bench\":\"memory_read\",\"device\":\"%s\",\"source\":\"data sheet\",\"gb_per_s\":%.2f}\n", device,
               cs.read_gbps);
    } else if (rc == 0) {  // four times the weights, well past the caches, within 512 MiB .. 2 GiB
        size_t bytes = 4 * m.n_params * sizeof(float), lo = (size_t)512 << 20, hi = (size_t)2 << 30;
        probe = bench_read_buffer(bytes < lo ? lo : bytes > hi ? hi : bytes);
        cs.probe = &probe;
        measure_read(&cs);
        print_read(&cs);
    }
    // Each case once untimed, at its full length, so that the heap holds its KV cache and activations before the
    // timed runs, as in a trainer's later steps: a first group of 8 on fresh pages ran 3-6% slower.
    const int groups[2] = {1, (int)o->group};
    const char *name = cs.config;
    cs.config = "warm-up (not a measurement)";
    for (int k = 0; k < 2 && rc == 0; k++) rc = run_case(&m, tok, c.rollout, groups[k], prompt_len, &cs, -1, 0, NULL, e);
    cs.config = name;
    // The cases take turns, the first alternating between rounds, so that a drift of the machine's speed (common on
    // a VM) falls on both cases and not on whichever runs second. A case during which the VM moved the threads (its
    // figures mix two placements) is run again, its line kept with placement "moved".
    CaseTotal total[2] = {{0}};
    for (int r = 0; r < o->repeat && rc == 0; r++)
        for (int i = 0; i < 2 && rc == 0; i++) {
            int k = r % 2 ? 1 - i : i;
            for (int run = 0; run <= MOVED_RERUNS && rc == 0 && (run == 0 || cs.moved); run++)
                rc = run_case(&m, tok, c.rollout, groups[k], prompt_len, &cs, k, r + 1, &total[k], e);
        }
    for (int k = 0; k < 2 && rc == 0 && cs.ops; k++) {
        cs.read_gbps = total[k].read_gbps / total[k].n;  // the mean of the case's limits
        report_ops(&cs, groups[k], k, total[k].seconds, total[k].steps);
    }
    op_profile_stop(cs.ops, &m);
    bench_read_buffer_free(&probe);
    tokenizer_free(tok);
    device_detach(&m);
    model_free(&m);
    return rc;
}
