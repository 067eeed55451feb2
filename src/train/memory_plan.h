// The host memory one rank of `rlvr train` or `rlvr sft` will need, by part, estimated from the resolved config
// before anything big is allocated, each part from the shapes of the allocation it stands for (memory_plan.c names
// them); and the start-up check against what this node has available (base/mem_avail.h), shared by its ranks.
#ifndef RLVR_MEMORY_PLAN_H
#define RLVR_MEMORY_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "base/error.h"
#include "base/mem_avail.h"
#include "task/task.h"
#include "text/tokenizer.h"

// Held for the whole run: weights, reference, gradients, AdamW, responses, communication. Held one phase of a step at a
// time: the rollout's (or the held-out evaluation's) KV cache and decoding work with the packed weights of decoding,
// or the training pass's activations and LM-head workspace.
typedef enum {
    MEM_WEIGHTS, MEM_REFERENCE, MEM_GRADIENTS, MEM_ADAMW, MEM_RESPONSES, MEM_COMM,
    MEM_ROLLOUT, MEM_PACKED, MEM_ACTIVATIONS, MEM_HEAD, MEM_PARTS
} MemPart;

// The decodings of a run, in the rollout phase's memory one at a time: the rollout, the held-out evaluation's, a
// benchmark's (eval.benchmarks).
typedef enum { DECODE_ROLLOUT, DECODE_HELD_OUT, DECODE_BENCHMARK } MemDecoder;

// What the estimate needs beyond the config: the layout and the data's lengths.
typedef struct {
    bool rl;            // rlvr train (else rlvr sft: no rollout, no reference)
    int world;          // ranks
    int max_prompt;     // tokens of the longest prompt (memory_plan_lengths)
    int max_sft_seq;    // sft: tokens of the longest prompt + solution + EOS
    bool evaluates;     // held-out evaluation or benchmarks run (zero stage 3 then gathers every weight)
    int eval_prompts;   // held-out problems evaluated (rlvr train: min(eval.n_prompts, the split's size); 0: none)
    int eval_max_prompt;   // and the longest of their prompts, in tokens (memory_plan_check reads them)
    int bench_problems;    // eval.benchmarks: the most problems of any file (each evaluated whole; 0: none)
    int bench_max_prompt;  // and the longest prompt of any, in tokens (memory_plan_benchmarks)
    bool device;        // the model computes on a GPU: the rollout, activations and LM head are in its memory, and so
                        // is the gradient of a device update; only the host's parts are estimated
} MemShape;

typedef struct {
    double bytes[MEM_PARTS];
    double steady;      // the parts held for the whole run
    double phase;       // the larger phase: rollout and packed weights, or activations + head
    double total;       // steady + phase: the estimated peak beyond what the process holds before it
    double params;      // parameters of the model
    int micro_per_update;  // micro-batches of one update on the busiest rank
    double tokens_per_micro;  // tokens of the largest micro-batch
    bool rl;            // MemShape.rl: which keys size a micro-batch
    MemDecoder decodes_most;  // which decoding sizes the rollout part (which keys a refusal names)
    int zero_stage;     // dist.zero_stage: what sharding is left to reduce the weights and moments
} MemPlan;

// The estimate for one rank (the busiest: the largest ZeRO shard). Errors: a [model] that model_layout refuses.
int memory_plan_estimate(const Config *c, const MemShape *s, MemPlan *p, Err *e);

// Part names as the start-up line prints them ("weights", "AdamW", ...).
const char *memory_part_name(MemPart part);

// Every rank's need (resident bytes now + p->total) times node_ranks against av: the start-up line ("memory: about
// ...") into line; when it exceeds av and refuse, -1 with the refusal in e (total, available, the largest parts, the
// keys that size them and what reduces them); else 0, the line then ending with a warning when it exceeds. device:
// the line says that device memory is not checked.
int memory_plan_verdict(const MemPlan *p, double resident, int node_ranks, const MemAvail *av, bool refuse,
                        bool device, char *line, size_t size, Err *e);

// The longest prompt (and, with solutions, prompt + solution + EOS) among the first up to 512 training problems.
int memory_plan_lengths(const Task *task, const Tokenizer *tok, bool solutions, int *max_prompt, int *max_seq,
                        Err *e);

// eval.benchmarks as a run evaluates them (eval/eval_run.c evaluate_benchmark): the most problems of any file and the
// longest prompt of any, the bound the estimate takes for each one's decoding; both 0 without benchmarks. Errors: a
// benchmark that cannot be read, with evaluate_benchmark's message.
int memory_plan_benchmarks(const Config *c, const Tokenizer *tok, int *problems, int *max_prompt, Err *e);

// Collective, before the weights are allocated: the estimate for this config, the line that says it (into line),
// checked against the memory of this node shared by its ranks; refused on every rank when it does not fit and
// train.check_memory is set. device: the state lives on a GPU, whose memory is not checked.
int memory_plan_check(const Config *c, bool rl, const Task *task, const Tokenizer *tok, bool device, char *line,
                      size_t size, Err *e);

// The line for the end of a run: "memory: peak resident X (VmHWM)", this process's.
void memory_plan_peak_line(char *line, size_t size);

#endif
