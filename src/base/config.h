// The typed, validated configuration: INI file (inih) + `--set section.key=value` overrides.
// Every key lives in the table in config.c; the struct below is what the rest of the program reads.
#ifndef RLVR_CONFIG_H
#define RLVR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

#define CONFIG_STR 256
// The most experts a token may choose: the MoE backward keeps each token's choices in arrays of this size
// (model/moe.c, kernels/moe_order.cuh).
enum { MODEL_MAX_EXPERTS_PER_TOK = 64 };

typedef enum { MODEL_QWEN2, MODEL_QWEN3, MODEL_QWEN2_MOE, MODEL_QWEN3_MOE } ModelType;
typedef enum { TOKENIZER_BYTE, TOKENIZER_BPE } TokenizerType;
typedef enum { ALGO_GRPO, ALGO_DAPO, ALGO_DRGRPO, ALGO_GSPO, ALGO_LUSPO, ALGO_GRPO_LAMBDA, ALGO_SSPO } AlgoName;
typedef enum { AGG_SEQ_MEAN_TOKEN_MEAN, AGG_TOKEN_MEAN, AGG_SEQ_MEAN_TOKEN_SUM, AGG_SEQ_MEAN_TOKEN_SUM_NORM } AggMode;
typedef enum { ADV_STD_UNBIASED, ADV_STD_BIASED, ADV_STD_NONE } AdvStd;
// GRPO-λ's readings (results/objectives.md §3 GRPO-λ): how many efficiency groups λ·n_groups gives, how groups of
// equal accuracy are ordered, and what an efficiency group with fewer than 2 correct responses or σ_c = 0 gets.
typedef enum { LAMBDA_COUNT_CEIL, LAMBDA_COUNT_FLOOR, LAMBDA_COUNT_ROUND } LambdaCount;
typedef enum { LAMBDA_TIES_INDEX, LAMBDA_TIES_RANDOM } LambdaTies;
typedef enum { LAMBDA_FEW_KEEP, LAMBDA_FEW_CENTER } LambdaFewCorrect;
typedef enum { ACC_BINARY, ACC_PM1 } AccuracyReward;
typedef enum { SCHEDULE_CONSTANT, SCHEDULE_COSINE } Schedule;
typedef enum { ROLLOUT_STATIC, ROLLOUT_DYNAMIC } RolloutSchedule;
// Zero stage 3's weights while sampling: gathered layer by layer for every decode step, or all at once.
typedef enum { SAMPLE_GATHER_LAYER, SAMPLE_GATHER_WHOLE } SampleGather;
typedef enum { BALANCE_SEQUENCES, BALANCE_TOKENS } TrainBalance;
typedef enum { ANSWER_PLAIN, ANSWER_GSM8K, ANSWER_BOXED } AnswerFormat;
typedef enum { TEMPLATE_NONE, TEMPLATE_CHATML, TEMPLATE_QWEN_BOXED, TEMPLATE_DAPO } PromptTemplate;

typedef struct {
    ModelType type;
    int vocab_size, hidden_size, intermediate_size, num_hidden_layers;
    int num_attention_heads, num_key_value_heads, head_dim;  // head_dim 0 = hidden_size / heads
    double rope_theta, rms_norm_eps;
    bool tie_word_embeddings, attention_bias, qk_norm;
    int max_position_embeddings;
    // Mixture of experts (model types *_moe only).
    int num_experts, num_experts_per_tok, moe_intermediate_size, shared_expert_intermediate_size;
    bool norm_topk_prob;
    int decoder_sparse_step;              // MoE in layers l with (l + 1) % step == 0 and l not in mlp_only_layers
    char mlp_only_layers[CONFIG_STR];     // comma list of layer indices with a dense MLP
    double router_aux_loss_coef;
    double init_std;
    int64_t init_seed;
    char init[CONFIG_STR];  // weights to start from without --init: a checkpoint or a Hugging Face directory
} ModelConfig;

typedef struct {
    TokenizerType type;
    char path[CONFIG_STR];  // tokenizer.json for bpe
    char bos_token[64], eos_token[64], pad_token[64];  // bpe: special added tokens by content
} TokenizerConfig;

typedef struct {
    char name[64];          // arith, math, gsm8k, ... (see task.h)
    char ops[64];           // arith: comma list of add, sub, mul
    int digits_min, digits_max;
    double verbose_ratio;   // share of step-by-step reference solutions
    char styles[CONFIG_STR];  // arith: reference style mixture "style:weight[:wrong],..."; "" = verbose_ratio
    int eval_size;          // held-out problems
    int64_t seed;
} TaskConfig;

typedef struct {
    char path[CONFIG_STR], eval_path[CONFIG_STR];
    char prompt_field[64], answer_field[64];
    char template_[CONFIG_STR];  // "{question}" is replaced by the prompt field
    AnswerFormat answer_format;  // how the ground truth is taken from the answer field
    bool shuffle, skip_bad_lines;
} DataConfig;

typedef struct {
    PromptTemplate template_;  // chat format around the [data] text (task/template.h)
    char system[CONFIG_STR];   // system message of the chat templates ("" = the template's own, if any)
    bool enable_thinking;      // Qwen3: false puts an empty <think> block after the generation prompt
} PromptConfig;

typedef struct {
    int n;                  // group size G
    double temperature, top_p;
    int top_k, max_new_tokens;
    char stop[CONFIG_STR];  // '|'-separated stop strings; escapes \n \t \| \\ .
    int64_t seed;
    int kv_cache_mb;
    bool pack_weights;      // decode 5 responses or more at once from a copy of the weights in the kernel's order
    RolloutSchedule schedule;  // static: each rank its contiguous share of groups; dynamic: a shared queue
} RolloutConfig;

typedef struct {
    AccuracyReward accuracy;
    double format_reward;           // R_format value when the format is present (LUSPO 0.5)
    char format_pattern[CONFIG_STR];  // PCRE2 pattern a well-formatted response matches
    int overlong_buffer;            // L_buf; 0 disables the overlong punishment
    double overlong_factor;         // f
    bool overlong_filter;           // loss-mask truncated responses
} RewardConfig;

typedef struct {
    AlgoName name;
    double eps_low, eps_high, beta, entropy_coef;
    AggMode agg;
    int l_c;                        // L_c for seq-mean-token-sum-norm; 0 = rollout.max_new_tokens
    double log_ratio_clamp;         // GSPO/LUSPO: log s_i clamped to <= this before exp
    double lambda, alpha;           // GRPO-λ
    LambdaCount lambda_count;       // GRPO-λ efficiency groups: ceil, floor or round of λ·n_groups
    LambdaTies lambda_ties;         // GRPO-λ accuracy ties: by group index, or by a seeded per-step random key
    LambdaFewCorrect lambda_few_correct;  // GRPO-λ group with < 2 correct or σ_c = 0: keep rewards, or z = 0
    double sspo_c_min, sspo_c_max;  // SSPO entropy-ratio clamp
    char sspo_delimiters[64];       // SSPO segment delimiters (ASCII; CJK forms are always added)
    bool dynamic_sampling;
    int max_gen_batches;
} AlgoConfig;

typedef struct {
    AdvStd std;
    double eps_std;
} AdvConfig;

typedef struct {
    int steps, prompts_per_step, ppo_epochs, n_minibatches, micro_batch;
    int head_chunk;  // rows of logits the LM head holds at once (model.h Model.head_chunk)
    bool recompute;  // keep each layer's input only; the backward recomputes the rest (model.h Model.recompute)
    bool check_memory;  // refuse a start whose estimated memory exceeds the node's available (train/memory_plan.h)
    bool skip_zero_backward;  // skip passes that add only zeros (Model.skip_zero_backward, train/rl_update.c)
    double lr, weight_decay, adam_beta1, adam_beta2, adam_eps, grad_clip;
    int warmup_steps;
    Schedule schedule;
    double min_lr_ratio;
    int max_bad_steps;
    int64_t seed;
    TrainBalance balance;  // micro-batches to ranks: the sampling rank's groups, or about equal tokens per rank
} TrainConfig;

typedef struct {
    int steps, batch_size;
    double lr;
} SftConfig;

typedef struct {
    int every, n_prompts;
    char benchmarks[CONFIG_STR];  // comma list of [NAME=]FILE or NAME (= data_dir/NAME.jsonl); eval/benchmark.h
    char data_dir[CONFIG_STR];
    int samples, max_new_tokens;  // unset: rollout.n, rollout.max_new_tokens
    double temperature, top_p;    // unset: rollout's
} EvalConfig;

typedef struct {
    int every, keep;
} CheckpointConfig;

typedef struct {
    bool deterministic;
    int zero_stage;  // algo/shard.h: 0 replicated, 1 Adam moments sharded, 2 gradients too, 3 weights too
    bool overlap;    // fast mode below stage 2: per-layer non-blocking gradient sums during the backward
    int expert_parallel;  // model/expert_map.h: ranks per group, each owning num_experts / K experts (1 = off)
    int device;           // DistDeviceWant (base/dist.h): auto, cpu or cuda
    SampleGather sample_gather;  // zero stage 3, static rollout schedule (algo/param_gather.h)
} DistConfig;

typedef struct {
    ModelConfig model;
    TokenizerConfig tokenizer;
    TaskConfig task;
    DataConfig data;
    PromptConfig prompt;
    RolloutConfig rollout;
    RewardConfig reward;
    AlgoConfig algo;
    AdvConfig adv;
    TrainConfig train;
    SftConfig sft;
    EvalConfig eval;
    CheckpointConfig checkpoint;
    DistConfig dist;
    char source[4096];        // file the config came from, as messages name it ("" = defaults only); a path
                              // may be as long as the system allows
    uint8_t set_[256];        // internal: which table keys were given explicitly (by hand, or held at a resume)
} Config;

// Defaults of every key (no file).
void config_defaults(Config *c);

// Parses path over the current values. Errors: "PATH:LINE: [section] key: expected ..." in e.
int config_load_file(Config *c, const char *path, Err *e);

// Applies one "section.key=value" override. Errors name "--set section.key".
int config_set(Config *c, const char *assignment, Err *e);

// Applies presets (algorithm, model type) to keys not given explicitly, then cross-checks keys.
int config_finalize(Config *c, Err *e);

// defaults + file (may be NULL) + overrides + finalize.
int config_resolve(Config *c, const char *path, const char *const *sets, int n_sets, Err *e);

// Parses text (a checkpoint's stored config) over the current values as config_load_file parses a file, from memory
// (no temporary file); errors name it as a file: "NAME:LINE: [section] key: expected ...". An `include =` line is
// refused: stored text holds every key itself, and a file it named would be looked for wherever the command runs.
int config_load_text(Config *c, const char *text, const char *name, Err *e);
// defaults + text + overrides + finalize.
int config_resolve_text(Config *c, const char *text, const char *name, const char *const *sets, int n_sets, Err *e);

// The resolved config as INI text (every key); parsing it back gives the same Config.
void config_print(FILE *f, const Config *c);
char *config_to_string(const Config *c);  // malloc'd; free() it

// A key whose value differs between two configs: "section.key" and both values as config_print writes them
// (strings in quotes, so an empty one shows).
typedef struct {
    char key[130];
    char from[CONFIG_STR + 2], to[CONFIG_STR + 2];
} ConfigChange;
// The keys whose values differ from a to b, in table order; returns how many, with *out malloc'd (NULL if none).
int config_diff(const Config *a, const Config *b, ConfigChange **out);

// The keys given by hand (Config.set_: by a file, an include or config_set; after config_rederive, the resumed run's),
// "section.key\n" each, in table order; malloc'd. A checkpoint records them (/meta given_keys) for a later resume.
char *config_given_keys(const Config *c);
// Marks exactly the keys of list (config_given_keys' form) as given by hand, for a config read back from a checkpoint's
// stored text (which gives every key). Errors: "NAME: unknown key '...'", with c unchanged.
int config_mark_given(Config *c, const char *list, const char *name, Err *e);
// The same for a checkpoint that records none (an older rlvr's): marks as given the keys whose values differ from
// what they would be if not given (their default, or their preset's or followed key's value). A key given by hand
// the value it would have had anyway reads as not given.
void config_guess_given(Config *c);

// A resume's config: now (file and overrides, before config_finalize) against the config its checkpoint stores
// (saved), whose set_ says which keys the saved run gave by hand (config_mark_given or config_guess_given). A key
// that a preset or another key's value fills (eval.max_new_tokens from rollout.max_new_tokens, algo.eps_low from
// algo.name, ...) and that the saved run did not give takes the value now's other keys give, as a fresh run with now
// would; it keeps now's value when the saved run gave it, when now changes it (a value other than saved's), when sets
// ("section.key=value", the resume's --set) names it, when file_named and now's file gives it (a --config the resume
// names, whose lines are the user's, unlike the run's config.ini, which has every key), or when keep(key) says so
// ("section.key"; NULL: none). A key
// now leaves unset is config_finalize's to fill. now->set_ becomes the resumed run's keys given by hand
// (config_given_keys): those the saved run gave and those this resume names or changes; a key keep names and that is
// neither stays as read without counting as given, so a resume that changes nothing records what the saved run did.
void config_rederive(Config *now, const Config *saved, const char *const *sets, int n_sets, bool file_named,
                     bool (*keep)(const char *key));

// Name of an enum value of a key, e.g. config_enum_name("algo", "name", ALGO_LUSPO) = "luspo".
const char *config_enum_name(const char *section, const char *key, int value);
// Its inverse: the value of name, or -1 with the key's choices ("grpo|dapo|...") in choices.
int config_enum_value(const char *section, const char *key, const char *name, char *choices, size_t len);

#endif
