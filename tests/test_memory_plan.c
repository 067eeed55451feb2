// The memory estimate's pieces (train/memory_plan.h, base/mem_avail.h) against values computed by hand: the weights
// of a small Qwen3 from the architecture's formula, AdamW's moments as each ZeRO stage shards them, the refusal, and
// the parsing of /proc/meminfo and cgroup files from sample text.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "base/mem_avail.h"
#include "model/matmul.h"
#include "scratch_dir.h"
#include "train/memory_plan.h"

// V 272, D 64, F 128, 2 layers, 4 query heads and 2 key/value heads of 16, q/k norms, untied head.
static void small_config(Config *c) {
    Err e;
    const char *sets[] = {"model.type=qwen3", "model.vocab_size=272", "model.hidden_size=64",
                          "model.intermediate_size=128", "model.num_hidden_layers=2", "model.num_attention_heads=4",
                          "model.num_key_value_heads=2", "model.head_dim=16", "model.tie_word_embeddings=false",
                          "model.qk_norm=true", "model.attention_bias=false", "model.num_experts=0",
                          "model.num_experts_per_tok=0", "model.moe_intermediate_size=0", "algo.beta=0"};
    config_defaults(c);
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) cr_assert_eq(config_set(c, sets[i], &e), 0, "%s", e.msg);
    cr_assert_eq(config_finalize(c, &e), 0, "%s", e.msg);
}

// Parameters of a Qwen3 decoder: embedding V x D; per layer two norms D, q [H hd, D], k and v [Hk hd, D], o [D, H hd],
// q/k norms hd each, gate and up [F, D], down [D, F]; final norm D; LM head V x D.
static double qwen3_params(double V, double D, double F, double L, double H, double Hk, double hd) {
    double layer = 2 * D + H * hd * D + 2 * Hk * hd * D + D * H * hd + 2 * hd + 3 * F * D;
    return V * D + L * layer + D + V * D;
}

static MemPlan plan_for(Config *c, int world) {
    MemShape s = {.rl = true, .world = world, .max_prompt = 10};
    MemPlan p;
    Err e;
    cr_assert_eq(memory_plan_estimate(c, &s, &p, &e), 0, "%s", e.msg);
    return p;
}

Test(memory_plan, weights_from_the_architecture) {
    Config c;
    small_config(&c);
    MemPlan p = plan_for(&c, 1);
    double n = qwen3_params(272, 64, 128, 2, 4, 2, 16);
    cr_assert_eq(n, 108928);  // 17408 + 2 x 37024 + 64 + 17408
    cr_assert_eq(p.params, n);
    cr_assert_eq(p.bytes[MEM_WEIGHTS], 4 * n);
    cr_assert_eq(p.bytes[MEM_GRADIENTS], 4 * n);
    cr_assert_eq(p.bytes[MEM_REFERENCE], 0);  // algo.beta = 0
    cr_assert_eq(c.algo.beta, 0);
    Err e;
    cr_assert_eq(config_set(&c, "algo.beta=0.04", &e), 0);
    cr_assert_eq(plan_for(&c, 1).bytes[MEM_REFERENCE], 4 * n);  // the reference model's copy
}

// The packed weights of decoding 5 responses or more at once (model_pack_weights): where the build makes them, each
// layer's q, k, v, o, gate, up and down and the LM head, 4 bytes an element (every K here a multiple of 8); none for
// fewer responses at once, with rollout.pack_weights = false, at zero stage 3 or on a device. A build without AVX-512 in
// its MARCH makes none.
Test(memory_plan, packed_weights_for_decoding_groups) {
    Config c;
    Err e;
    small_config(&c);
    double layer = 64 * 64 + 2 * 32 * 64 + 64 * 64 + 3 * 128 * 64, packed = 4 * (2 * layer + 272 * 64);
    double expect = matmul_pack_supported() ? packed : 0;
    cr_assert_eq(config_set(&c, "rollout.n=4", &e), 0);
    cr_assert_eq(config_set(&c, "train.prompts_per_step=2", &e), 0);
    MemPlan eight = plan_for(&c, 1);
    cr_assert_eq(eight.bytes[MEM_PACKED], expect);  // 8 rows, in the rollout phase beside its KV cache
    double sum = 0;
    for (int i = 0; i < MEM_ROLLOUT; i++) sum += eight.bytes[i];
    cr_assert_eq(eight.steady, sum);
    cr_assert_eq(eight.phase, fmax(eight.bytes[MEM_ROLLOUT] + expect, eight.bytes[MEM_ACTIVATIONS] + eight.bytes[MEM_HEAD]));
    cr_assert_eq(plan_for(&c, 2).bytes[MEM_PACKED], 0);       // 4 rows a rank
    cr_assert_eq(config_set(&c, "rollout.n=5", &e), 0);
    cr_assert_eq(plan_for(&c, 2).bytes[MEM_PACKED], expect);  // 5 rows a rank: an octet with 3 zero rows
    cr_assert_eq(config_set(&c, "rollout.n=4", &e), 0);
    cr_assert_eq(config_set(&c, "rollout.pack_weights=false", &e), 0);
    cr_assert_eq(plan_for(&c, 1).bytes[MEM_PACKED], 0);
    cr_assert_eq(config_set(&c, "rollout.pack_weights=true", &e), 0);
    MemShape dev = {.rl = true, .world = 1, .max_prompt = 10, .device = true};
    MemPlan p;
    cr_assert_eq(memory_plan_estimate(&c, &dev, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.bytes[MEM_PACKED], 0);
    cr_assert_eq(config_set(&c, "dist.zero_stage=3", &e), 0);
    cr_assert_eq(plan_for(&c, 1).bytes[MEM_PACKED], 0);
}

Test(memory_plan, adamw_sharded_by_zero_stage) {
    Config c;
    Err e;
    small_config(&c);
    double n = 108928;
    cr_assert_eq(plan_for(&c, 1).bytes[MEM_ADAMW], 8 * n);
    cr_assert_eq(plan_for(&c, 2).bytes[MEM_ADAMW], 8 * n);  // zero stage 0: every rank holds all moments
    // Stage 1 on 2 ranks: rank 0's run ends at the tensor boundary nearest n / 2 = 54464. The boundaries there are
    // 54432 (after layer 0's down projection: embedding 17408 + layer 37024) and 54496 (after layer 1's input norm),
    // both 32 away; the tie goes to the later one (algo/shard.h), so rank 0 owns 54496 elements, rank 1 54432.
    cr_assert_eq(config_set(&c, "dist.zero_stage=1", &e), 0);
    cr_assert_eq(plan_for(&c, 2).bytes[MEM_ADAMW], 8 * 54496.0);
    cr_assert_eq(plan_for(&c, 1).bytes[MEM_ADAMW], 8 * n);  // one rank owns everything
    cr_assert_eq(config_set(&c, "dist.zero_stage=2", &e), 0);
    cr_assert_eq(plan_for(&c, 2).bytes[MEM_ADAMW], 8 * 54496.0);
    cr_assert_eq(plan_for(&c, 2).bytes[MEM_WEIGHTS], 4 * n);  // below stage 3 every rank holds every weight
    // Stage 3: the weights of rank 0's shard and of one gathered unit, the largest being a layer (37024; the embedding
    // 17408, the final norm with the LM head 17472).
    cr_assert_eq(config_set(&c, "dist.zero_stage=3", &e), 0);
    MemPlan p = plan_for(&c, 2);
    cr_assert_eq(p.bytes[MEM_ADAMW], 8 * 54496.0);
    cr_assert_eq(p.bytes[MEM_WEIGHTS], 4 * (54496.0 + 37024));
    cr_assert_eq(config_set(&c, "dist.sample_gather=whole", &e), 0);  // sampling gathers every weight at once
    cr_assert_eq(plan_for(&c, 2).bytes[MEM_WEIGHTS], 4 * n);
    // So does the dynamic schedule's sampling (train/rl_step.c), whatever sample_gather says.
    cr_assert_eq(config_set(&c, "dist.sample_gather=layer", &e), 0);
    cr_assert_eq(config_set(&c, "rollout.schedule=dynamic", &e), 0);
    cr_assert_eq(plan_for(&c, 2).bytes[MEM_WEIGHTS], 4 * n);
}

Test(memory_plan, device_leaves_its_parts_out) {
    Config c;
    small_config(&c);
    MemShape s = {.rl = true, .world = 1, .max_prompt = 10, .device = true};
    MemPlan p;
    Err e;
    cr_assert_eq(memory_plan_estimate(&c, &s, &p, &e), 0, "%s", e.msg);
    double n = 108928;
    cr_assert_eq(p.bytes[MEM_WEIGHTS], 4 * n);  // the host's Model.params
    cr_assert_eq(p.bytes[MEM_ADAMW], 8 * n);    // the host's moments, written by updater_sync_host
    cr_assert_eq(p.bytes[MEM_GRADIENTS], 0);    // summed in the device's memory
    cr_assert_eq(p.bytes[MEM_ROLLOUT] + p.bytes[MEM_ACTIVATIONS] + p.bytes[MEM_HEAD], 0);
    cr_assert_eq(config_set(&c, "dist.zero_stage=3", &e), 0);
    cr_assert_eq(memory_plan_estimate(&c, &s, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.bytes[MEM_GRADIENTS], 4 * n);  // zero stage 3 keeps the host reducer
}

Test(memory_plan, evaluation_decodes_in_the_rollout_phase) {
    Config c;
    Err e;
    small_config(&c);
    cr_assert_eq(config_set(&c, "eval.samples=64", &e), 0);
    MemShape s = {.rl = true, .world = 1, .max_prompt = 10};
    MemPlan train, eval;
    cr_assert_eq(memory_plan_estimate(&c, &s, &train, &e), 0, "%s", e.msg);
    s.eval_prompts = 32, s.eval_max_prompt = 10;  // 32 x 64 sequences decode at once against the rollout's 8 x 8
    cr_assert_eq(memory_plan_estimate(&c, &s, &eval, &e), 0, "%s", e.msg);
    cr_assert_gt(eval.bytes[MEM_ROLLOUT], 16 * train.bytes[MEM_ROLLOUT]);
    cr_assert(train.decodes_most == DECODE_ROLLOUT && eval.decodes_most == DECODE_HELD_OUT);  // a refusal's keys
    // Held-out prompts of 40 tokens where the training split's are 10: sized by their own length, as a benchmark of as
    // many problems of 40 tokens is.
    MemShape sl = s, sbl = s;
    sl.eval_max_prompt = 40;
    sbl.eval_prompts = 0, sbl.bench_problems = 32, sbl.bench_max_prompt = 40;
    MemPlan longer, bench_longer;
    cr_assert_eq(memory_plan_estimate(&c, &sl, &longer, &e), 0, "%s", e.msg);
    cr_assert_eq(memory_plan_estimate(&c, &sbl, &bench_longer, &e), 0, "%s", e.msg);
    cr_assert_gt(longer.bytes[MEM_ROLLOUT], eval.bytes[MEM_ROLLOUT]);
    cr_assert_eq(longer.bytes[MEM_ROLLOUT], bench_longer.bytes[MEM_ROLLOUT]);
    // A benchmark of 64 problems with prompts of 40 tokens: more than the held-out 32 of 10.
    MemShape sb = s;
    sb.bench_problems = 64, sb.bench_max_prompt = 40;
    MemPlan bench;
    cr_assert_eq(memory_plan_estimate(&c, &sb, &bench, &e), 0, "%s", e.msg);
    cr_assert_gt(bench.bytes[MEM_ROLLOUT], eval.bytes[MEM_ROLLOUT]);
    cr_assert_eq(bench.decodes_most, DECODE_BENCHMARK);
    sb.bench_problems = 1, sb.bench_max_prompt = 10;  // one problem: the held-out evaluation still decodes most
    cr_assert_eq(memory_plan_estimate(&c, &sb, &bench, &e), 0, "%s", e.msg);
    cr_assert_eq(bench.bytes[MEM_ROLLOUT], eval.bytes[MEM_ROLLOUT]);
    cr_assert_eq(bench.decodes_most, DECODE_HELD_OUT);
    s.rl = false;  // rlvr sft evaluates too, with no rollout of its own
    cr_assert_eq(memory_plan_estimate(&c, &s, &train, &e), 0, "%s", e.msg);
    cr_assert_eq(train.bytes[MEM_ROLLOUT], eval.bytes[MEM_ROLLOUT]);
    cr_assert_eq(train.bytes[MEM_RESPONSES], 0);
}

Test(memory_plan, recompute_keeps_less) {
    Config c;
    Err e;
    small_config(&c);
    double full = plan_for(&c, 1).bytes[MEM_ACTIVATIONS];
    cr_assert_eq(config_set(&c, "train.recompute=true", &e), 0);
    cr_assert_lt(plan_for(&c, 1).bytes[MEM_ACTIVATIONS], full);
}

// The reference policy's forward (algo.beta > 0) runs between the training forward and backward over one layer record
// and x_final, a_final, inv_final, tokens, pos, row0: 4D + 2 + 2 QD + 2 KD + 2 Hq + (Hq + Hk + QD + KD) + 3F + 2D + 5 =
// 256 + 2 + 128 + 64 + 8 + 102 + 384 + 128 + 5 = 1077 floats a token. The backward's buffers, which take the same memory
// after it, are dnormed and dx 2D, and da1, da2, datt, dqr, dq, dkr, dk, dv, dact, dg, du: 2D + 3 QD + 3 KD + 3F: 128 +
// 128 + 192 + 96 + 384 = 928. The larger counts: 149 floats a token more with the reference.
Test(memory_plan, reference_forward_beside_the_training_record) {
    Config c;
    Err e;
    small_config(&c);
    MemPlan without = plan_for(&c, 1);
    cr_assert_eq(config_set(&c, "algo.beta=0.04", &e), 0);
    MemPlan with = plan_for(&c, 1);
    cr_assert_gt(without.tokens_per_micro, 0);
    cr_assert_eq(with.bytes[MEM_ACTIVATIONS] - without.bytes[MEM_ACTIVATIONS], 4 * 149 * without.tokens_per_micro);
}

Test(memory_plan, refusal_names_the_largest_parts) {
    MemPlan p = {0};
    p.bytes[MEM_ADAMW] = 3.0 * (1 << 30), p.bytes[MEM_WEIGHTS] = 1.5 * (1 << 30), p.bytes[MEM_HEAD] = 1 << 20;
    p.total = p.bytes[MEM_ADAMW] + p.bytes[MEM_WEIGHTS] + p.bytes[MEM_HEAD];
    MemAvail av = {.bytes = (uint64_t)8 << 30, .source = "MemAvailable"};
    char line[2048];
    Err e = {{0}};
    cr_assert_eq(memory_plan_verdict(&p, 0, 1, &av, true, false, line, sizeof line, &e), 0);  // 4.5 GiB of 8
    cr_assert(strstr(line, "memory: about 4.50 GiB a rank"), "%s", line);
    cr_assert(strstr(line, "8.00 GiB available to 1 rank(s) on this node (MemAvailable)"), "%s", line);
    cr_assert_eq(memory_plan_verdict(&p, 0, 2, &av, true, false, line, sizeof line, &e), -1);  // 9 GiB of 8
    cr_assert(strstr(e.msg, "the 2 rank(s) on this node need about 9.00 GiB more and 8.00 GiB is available"), "%s",
              e.msg);
    cr_assert(strstr(e.msg, "largest: AdamW 3.00 GiB (8 bytes a parameter this rank updates; reduce: "
                            "dist.zero_stage >= 1 with more ranks); weights 1.50 GiB"), "%s", e.msg);
    cr_assert(strstr(e.msg, "train.check_memory = false"), "%s", e.msg);
    p.zero_stage = 1;  // the moments sharded already: only more ranks reduce them
    cr_assert_eq(memory_plan_verdict(&p, 0, 2, &av, true, false, line, sizeof line, &e), -1);
    cr_assert(strstr(e.msg, "largest: AdamW 3.00 GiB (8 bytes a parameter this rank updates; reduce: more ranks); "
                            "weights 1.50 GiB (the [model] sizes, 4 bytes a parameter; reduce: dist.zero_stage = 3 "
                            "with more ranks)"), "%s", e.msg);
    // A rollout part the held-out evaluation sizes names eval's keys, the rollout's own the rollout's.
    p.bytes[MEM_ROLLOUT] = 4.0 * (1 << 30);
    cr_assert_eq(memory_plan_verdict(&p, 0, 2, &av, true, false, line, sizeof line, &e), -1);
    cr_assert(strstr(e.msg, "largest: rollout 4.00 GiB (rollout.n x train.prompts_per_step / ranks"), "%s", e.msg);
    p.decodes_most = DECODE_HELD_OUT;
    cr_assert_eq(memory_plan_verdict(&p, 0, 2, &av, true, false, line, sizeof line, &e), -1);
    cr_assert(strstr(e.msg, "largest: rollout 4.00 GiB (eval.n_prompts / ranks x eval.samples"), "%s", e.msg);
    p.decodes_most = DECODE_BENCHMARK;
    cr_assert_eq(memory_plan_verdict(&p, 0, 2, &av, true, false, line, sizeof line, &e), -1);
    cr_assert(strstr(e.msg, "largest: rollout 4.00 GiB (a file of eval.benchmarks: its problems / ranks"), "%s", e.msg);
    p.bytes[MEM_ROLLOUT] = 0;
    cr_assert_eq(memory_plan_verdict(&p, 0, 2, &av, false, true, line, sizeof line, &e), 0);  // only a warning
    cr_assert(strstr(line, "warning: 9.00 GiB more needed than available"), "%s", line);
    cr_assert(strstr(line, "host memory only: the device's memory (rollout, activations, LM head) is not checked"),
              "%s", line);
}

Test(mem_avail, meminfo) {
    uint64_t b = 0;
    const char *text = "MemTotal:       24570116 kB\nMemFree:        21345876 kB\nMemAvailable:   23982148 kB\n"
                       "Buffers:          123456 kB\n";
    cr_assert(mem_meminfo_available(text, &b));
    cr_assert_eq(b, 23982148ull * 1024);
    cr_assert_not(mem_meminfo_available("MemTotal:       24570116 kB\n", &b));
    cr_assert_not(mem_meminfo_available("MemAvailable: lots\n", &b));
}

Test(mem_avail, cgroup_path) {
    char path[256];
    const char *v2 = "0::/slurm/uid_1000/job_42/step_0/user/task_0\n";
    cr_assert(mem_cgroup_path(v2, false, path, sizeof path));
    cr_assert_str_eq(path, "/slurm/uid_1000/job_42/step_0/user/task_0");
    cr_assert_not(mem_cgroup_path(v2, true, path, sizeof path));
    const char *v1 = "9:name=systemd:/\n5:devices:/\n4:memory:/process_api/872aa3\n3:cpu,cpuacct:/x\n0::/\n";
    cr_assert(mem_cgroup_path(v1, true, path, sizeof path));
    cr_assert_str_eq(path, "/process_api/872aa3");
    cr_assert(mem_cgroup_path(v1, false, path, sizeof path));
    cr_assert_str_eq(path, "/");
    cr_assert(mem_cgroup_path("7:cpuset,memory:/job\n", true, path, sizeof path));
    cr_assert_str_eq(path, "/job");
    cr_assert_not(mem_cgroup_path("7:memoryx:/job\n", true, path, sizeof path));
}

Test(mem_avail, cgroup_left) {
    uint64_t b = 0;
    cr_assert(mem_cgroup_left("1073741824\n", "268435456\n", &b));
    cr_assert_eq(b, 805306368ull);                     // 1 GiB limit, 256 MiB used
    cr_assert(mem_cgroup_left("1000\n", "4000\n", &b));
    cr_assert_eq(b, 0);                                // over its limit: nothing left
    cr_assert_not(mem_cgroup_left("max\n", "268435456\n", &b));  // v2: no limit
    cr_assert_not(mem_cgroup_left("9223372036854771712\n", "1892225024\n", &b));  // v1: no limit
}

Test(mem_avail, sizes) {
    uint64_t b = 0;
    cr_assert(mem_parse_size("8G", &b));
    cr_assert_eq(b, 8ull << 30);
    cr_assert(mem_parse_size("512m", &b));
    cr_assert_eq(b, 512ull << 20);
    cr_assert(mem_parse_size("100000", &b));
    cr_assert_eq(b, 100000);
    cr_assert_not(mem_parse_size("1.5G", &b));
    cr_assert_not(mem_parse_size("", &b));
    cr_assert_not(mem_parse_size("8GB", &b));
}

// A file of a fake cgroup tree under the scratch directory, its directories made.
static void put(const char *rel, const char *text) {
    char path[512], dir[512];
    snprintf(path, sizeof path, "%s/%s", scratch_dir(), rel);
    for (char *p = strchr(path + strlen(scratch_dir()) + 1, '/'); p; p = strchr(p + 1, '/')) {
        snprintf(dir, sizeof dir, "%.*s", (int)(p - path), path);
        mkdir(dir, 0755);
    }
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

Test(mem_avail, cgroup_tree) {
    MemAvail av;
    const char *meminfo = "MemTotal: 67108864 kB\nMemAvailable: 8388608 kB\n";  // 8 GiB available
    // v2: the job's limit (4 GiB, 1 GiB used) binds; the step below it and the slice above it set none.
    put("v2/slurm/memory.max", "max\n");
    put("v2/slurm/memory.current", "2000000000\n");
    put("v2/slurm/job_1/memory.max", "4294967296\n");
    put("v2/slurm/job_1/memory.current", "1073741824\n");
    put("v2/slurm/job_1/step_0/memory.max", "max\n");
    put("v2/slurm/job_1/step_0/memory.current", "500\n");
    char root[512];
    snprintf(root, sizeof root, "%s/v2", scratch_dir());
    mem_available_at(meminfo, "0::/slurm/job_1/step_0\n", root, &av);
    cr_assert_eq(av.bytes, 3ull << 30);
    cr_assert_str_eq(av.source, "cgroup /slurm/job_1 (memory.max)");
    // v1's memory controller: 2 GiB limit, 0.5 GiB used.
    put("v1/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put("v1/memory/memory.usage_in_bytes", "1892225024\n");
    put("v1/memory/process_api/x/memory.limit_in_bytes", "2147483648\n");
    put("v1/memory/process_api/x/memory.usage_in_bytes", "536870912\n");
    snprintf(root, sizeof root, "%s/v1", scratch_dir());
    mem_available_at(meminfo, "5:devices:/\n4:memory:/process_api/x\n0::/\n", root, &av);
    cr_assert_eq(av.bytes, 1536ull << 20);
    cr_assert_str_eq(av.source, "cgroup /process_api/x (memory.limit_in_bytes)");
    // MemAvailable below every limit binds; with no limit at all, MemAvailable alone.
    mem_available_at("MemAvailable: 1024 kB\n", "4:memory:/process_api/x\n", root, &av);
    cr_assert_eq(av.bytes, 1024 * 1024);
    cr_assert_str_eq(av.source, "MemAvailable");
    mem_available_at(meminfo, "4:memory:/\n", root, &av);
    cr_assert_eq(av.bytes, 8ull << 30);
    mem_available_at(NULL, NULL, root, &av);
    cr_assert_eq(av.bytes, UINT64_MAX);
}
