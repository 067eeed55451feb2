#include "base/config.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/dist.h"
#include "base/suggest.h"

typedef enum { K_INT, K_I64, K_DOUBLE, K_BOOL, K_STR, K_ENUM } KeyType;

typedef struct {
    const char *section, *key;
    KeyType type;
    size_t offset, size;  // size: capacity of K_STR buffers
    double min, max;      // inclusive range of numbers
    const char *const *choices;  // K_ENUM: NULL-terminated names, value = index
    const char *def;      // default, parsed like a file value
    const char *help;
} Key;

// Config.set_: a key left to its default or preset, given by hand (a file or --set), or held at a resume (its value
// stays, though not given by hand: config_rederive's keep).
enum { KEY_UNSET, KEY_GIVEN, KEY_HELD };

#define F(field) offsetof(Config, field), sizeof(((Config *)0)->field)
#define BIG 1e18
#define ENUM(...) ((const char *const[]){__VA_ARGS__, NULL})

// Every configuration key, its type, range and default (results/objectives.md for the objective defaults).
static const Key KEYS[] = {
    {"model", "type", K_ENUM, F(model.type), 0, 0, ENUM("qwen2", "qwen3", "qwen2_moe", "qwen3_moe"), "qwen3", "architecture family"},
    {"model", "vocab_size", K_INT, F(model.vocab_size), 2, 1 << 22, 0, "512", "vocabulary rows of embed/lm_head"},
    {"model", "hidden_size", K_INT, F(model.hidden_size), 1, 1 << 16, 0, "64", "residual width D"},
    {"model", "intermediate_size", K_INT, F(model.intermediate_size), 1, 1 << 18, 0, "192", "dense MLP width"},
    {"model", "num_hidden_layers", K_INT, F(model.num_hidden_layers), 1, 1024, 0, "2", "decoder layers"},
    {"model", "num_attention_heads", K_INT, F(model.num_attention_heads), 1, 1024, 0, "4", "query heads"},
    {"model", "num_key_value_heads", K_INT, F(model.num_key_value_heads), 1, 1024, 0, "2", "key/value heads (GQA)"},
    {"model", "head_dim", K_INT, F(model.head_dim), 0, 4096, 0, "0", "0 = hidden_size / num_attention_heads"},
    {"model", "rope_theta", K_DOUBLE, F(model.rope_theta), 1, BIG, 0, "10000", "rotary base"},
    {"model", "rms_norm_eps", K_DOUBLE, F(model.rms_norm_eps), 0, 1, 0, "1e-6", "RMSNorm epsilon, > 0 (ABOVE_MIN)"},
    {"model", "tie_word_embeddings", K_BOOL, F(model.tie_word_embeddings), 0, 0, 0, "true", "lm_head = embed_tokens"},
    {"model", "attention_bias", K_BOOL, F(model.attention_bias), 0, 0, 0, "false", "QKV bias (qwen2 preset: true)"},
    {"model", "qk_norm", K_BOOL, F(model.qk_norm), 0, 0, 0, "true", "per-head q/k RMSNorm (qwen3 preset: true)"},
    {"model", "max_position_embeddings", K_INT, F(model.max_position_embeddings), 1, 1 << 24, 0, "2048", "longest sequence"},
    {"model", "num_experts", K_INT, F(model.num_experts), 0, 4096, 0, "0", "routed experts E (moe types)"},
    {"model", "num_experts_per_tok", K_INT, F(model.num_experts_per_tok), 0, MODEL_MAX_EXPERTS_PER_TOK, 0, "2", "top-k experts"},
    {"model", "moe_intermediate_size", K_INT, F(model.moe_intermediate_size), 0, 1 << 18, 0, "0", "expert MLP width"},
    {"model", "shared_expert_intermediate_size", K_INT, F(model.shared_expert_intermediate_size), 0, 1 << 18, 0, "0",
     "shared expert width, 0 = none (qwen2_moe)"},
    {"model", "norm_topk_prob", K_BOOL, F(model.norm_topk_prob), 0, 0, 0, "true", "renormalise top-k router weights"},
    {"model", "decoder_sparse_step", K_INT, F(model.decoder_sparse_step), 1, 1024, 0, "1", "MoE in layers l with (l+1) % step == 0"},
    {"model", "mlp_only_layers", K_STR, F(model.mlp_only_layers), 0, 0, 0, "", "comma list of layers with a dense MLP (moe types)"},
    {"model", "router_aux_loss_coef", K_DOUBLE, F(model.router_aux_loss_coef), 0, 1e6, 0, "0.001", "load-balancing loss weight"},
    {"model", "init_std", K_DOUBLE, F(model.init_std), 0, 10, 0, "0.02", "std of the random init"},
    {"model", "init_seed", K_I64, F(model.init_seed), 0, BIG, 0, "1", "seed of the random init"},
    {"model", "init", K_STR, F(model.init), 0, 0, 0, "",
     "weights to start from (--init wins): a checkpoint, or a Hugging Face directory imported into RUN_DIR/init.h5"},

    {"tokenizer", "type", K_ENUM, F(tokenizer.type), 0, 0, ENUM("byte", "bpe"), "byte", "byte-level or Hugging Face BPE"},
    {"tokenizer", "path", K_STR, F(tokenizer.path), 0, 0, 0, "", "tokenizer.json (bpe)"},
    {"tokenizer", "bos_token", K_STR, F(tokenizer.bos_token), 0, 0, 0, "<|endoftext|>",
     "bpe: token put before every prompt (Qwen has no BOS; its config's bos_token_id is <|endoftext|>)"},
    {"tokenizer", "eos_token", K_STR, F(tokenizer.eos_token), 0, 0, 0, "<|im_end|>", "bpe: token that ends a response"},
    {"tokenizer", "pad_token", K_STR, F(tokenizer.pad_token), 0, 0, 0, "<|endoftext|>", "bpe: padding token"},

    {"task", "name", K_STR, F(task.name), 0, 0, 0, "arith", "embedded task or dataset verifier"},
    {"task", "ops", K_STR, F(task.ops), 0, 0, 0, "add,mul", "arith operations"},
    {"task", "digits_min", K_INT, F(task.digits_min), 1, 18, 0, "1", "fewest digits per operand"},
    {"task", "digits_max", K_INT, F(task.digits_max), 1, 18, 0, "3", "most digits per operand"},
    {"task", "verbose_ratio", K_DOUBLE, F(task.verbose_ratio), 0, 1, 0, "0.5", "share of step-by-step references"},
    {"task", "styles", K_STR, F(task.styles), 0, 0, 0, "", "reference styles style:weight[:wrong],... (overrides verbose_ratio)"},
    {"task", "eval_size", K_INT, F(task.eval_size), 0, 1 << 24, 0, "200", "held-out problems"},
    {"task", "seed", K_I64, F(task.seed), 0, BIG, 0, "1", "problem generator seed"},

    {"data", "path", K_STR, F(data.path), 0, 0, 0, "", "JSONL training set"},
    {"data", "eval_path", K_STR, F(data.eval_path), 0, 0, 0, "", "JSONL held-out set"},
    {"data", "prompt_field", K_STR, F(data.prompt_field), 0, 0, 0, "prompt", "JSON key of the question"},
    {"data", "answer_field", K_STR, F(data.answer_field), 0, 0, 0, "answer", "JSON key of the ground truth"},
    {"data", "template", K_STR, F(data.template_), 0, 0, 0, "{question}",
     "prompt text around {question}, which it must hold (gsm8k, math: verl's instruction unless [prompt] template brings its own)"},
    {"data", "answer_format", K_ENUM, F(data.answer_format), 0, 0, ENUM("plain", "gsm8k", "boxed"), "plain",
     "ground truth in the answer field: as is; the number after ####; the last \\boxed{}"},
    {"data", "shuffle", K_BOOL, F(data.shuffle), 0, 0, 0, "true", "shuffle per epoch (seeded)"},
    {"data", "skip_bad_lines", K_BOOL, F(data.skip_bad_lines), 0, 0, 0, "false", "leave malformed lines out; the log gives their count and the first"},

    {"prompt", "template", K_ENUM, F(prompt.template_), 0, 0, ENUM("none", "chatml", "qwen-boxed", "dapo"), "none",
     "chat format around the [data] text: none = [BOS] + text; chatml; qwen-boxed, dapo = chatml with their instruction"},
    {"prompt", "system", K_STR, F(prompt.system), 0, 0, 0, "",
     "system message of the chat templates; empty = none (qwen-boxed: You are a helpful assistant.)"},
    {"prompt", "enable_thinking", K_BOOL, F(prompt.enable_thinking), 0, 0, 0, "true",
     "Qwen3: false appends the empty <think></think> block to the generation prompt (chat templates only)"},

    {"rollout", "n", K_INT, F(rollout.n), 1, 65536, 0, "8", "group size G (rlvr train: >= 2, src/train/run.c)"},
    {"rollout", "temperature", K_DOUBLE, F(rollout.temperature), 0, 100, 0, "1.0", "0 = greedy (not for rlvr train)"},
    {"rollout", "top_p", K_DOUBLE, F(rollout.top_p), 1e-9, 1, 0, "1.0", "nucleus mass (<= 1 / vocab_size: greedy)"},
    {"rollout", "top_k", K_INT, F(rollout.top_k), 0, 1 << 22, 0, "0", "0 or >= vocab_size = no top-k (1: greedy)"},
    {"rollout", "max_new_tokens", K_INT, F(rollout.max_new_tokens), 1, 1 << 22, 0, "64", "generation limit L_max"},
    {"rollout", "stop", K_STR, F(rollout.stop), 0, 0, 0, "", "'|'-separated stop strings"},
    {"rollout", "seed", K_I64, F(rollout.seed), 0, BIG, 0, "0", "sampling seed"},
    {"rollout", "kv_cache_mb", K_INT, F(rollout.kv_cache_mb), 1, 1 << 30, 0, "1024", "KV cache budget per rank"},
    {"rollout", "pack_weights", K_BOOL, F(rollout.pack_weights), 0, 0, 0, "true",
     "decode 5 responses or more at once from a copy of the attention, dense MLP and LM head weights in the order "
     "the kernel reads them (builds with AVX-512 in MARCH; the same bits, that copy's memory while decoding)"},
    {"rollout", "schedule", K_ENUM, F(rollout.schedule), 0, 0, ENUM("static", "dynamic"), "static",
     "groups to ranks: a fixed share each, or taken from a shared queue, longest prompt first"},

    {"reward", "accuracy", K_ENUM, F(reward.accuracy), 0, 0, ENUM("binary", "pm1"), "binary", "0/1 or DAPO's ±1"},
    {"reward", "format_reward", K_DOUBLE, F(reward.format_reward), 0, 100, 0, "0", "bonus for the required format"},
    {"reward", "format_pattern", K_STR, F(reward.format_pattern), 0, 0, 0, "Answer:", "PCRE2 pattern of the format"},
    {"reward", "overlong_buffer", K_INT, F(reward.overlong_buffer), 0, 1 << 22, 0, "0", "L_buf, 0 = no punishment"},
    {"reward", "overlong_factor", K_DOUBLE, F(reward.overlong_factor), 0, 100, 0, "1.0", "f (DAPO 1, LUSPO 0.3)"},
    {"reward", "overlong_filter", K_BOOL, F(reward.overlong_filter), 0, 0, 0, "false", "loss-mask truncated responses"},

    {"algo", "name", K_ENUM, F(algo.name), 0, 0, ENUM("grpo", "dapo", "drgrpo", "gspo", "luspo", "grpo_lambda", "sspo"), "grpo", "objective"},
    {"algo", "eps_low", K_DOUBLE, F(algo.eps_low), 0, 1, 0, "0.2", "lower clip ε_l"},
    {"algo", "eps_high", K_DOUBLE, F(algo.eps_high), 0, 100, 0, "0.2", "upper clip ε_h"},
    {"algo", "beta", K_DOUBLE, F(algo.beta), 0, 100, 0, "0.04", "k3 KL weight; 0 skips the reference"},
    {"algo", "entropy_coef", K_DOUBLE, F(algo.entropy_coef), -100, 100, 0, "0", "entropy bonus weight"},
    {"algo", "agg", K_ENUM, F(algo.agg), 0, 0,
     ENUM("seq-mean-token-mean", "token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"), "seq-mean-token-mean",
     "loss aggregation"},
    {"algo", "l_c", K_INT, F(algo.l_c), 0, 1 << 22, 0, "0", "L_c of seq-mean-token-sum-norm, 0 = max_new_tokens"},
    {"algo", "log_ratio_clamp", K_DOUBLE, F(algo.log_ratio_clamp), 0, 700, 0, "10", "GSPO/LUSPO/SSPO log s_i cap, >= log(1 + eps_high)"},
    {"algo", "lambda", K_DOUBLE, F(algo.lambda), 0, 1, 0, "0.2", "GRPO-λ efficiency-group fraction"},
    {"algo", "alpha", K_DOUBLE, F(algo.alpha), 0, 1, 0, "0.2", "GRPO-λ length-penalty weight"},
    {"algo", "lambda_count", K_ENUM, F(algo.lambda_count), 0, 0, ENUM("ceil", "floor", "round"), "ceil",
     "GRPO-λ efficiency groups: ceil, floor or round (half up) of λ·n_groups, a rounding error off an integer "
     "counting as that integer"},
    {"algo", "lambda_ties", K_ENUM, F(algo.lambda_ties), 0, 0, ENUM("index", "random"), "index",
     "GRPO-λ groups of equal accuracy: lower group index first, or in a random order drawn from (rollout.seed, "
     "step, group id), the same on any number of ranks"},
    {"algo", "lambda_few_correct", K_ENUM, F(algo.lambda_few_correct), 0, 0, ENUM("keep", "center"), "keep",
     "GRPO-λ efficiency group with fewer than 2 correct responses or equal correct lengths: keep its rewards, or "
     "center (correct 1 - alpha/2, wrong 0)"},
    {"algo", "sspo_c_min", K_DOUBLE, F(algo.sspo_c_min), 0, 1000, 0, "0.5", "SSPO entropy-ratio floor"},
    {"algo", "sspo_c_max", K_DOUBLE, F(algo.sspo_c_max), 0, 1000, 0, "2.0", "SSPO entropy-ratio cap"},
    {"algo", "sspo_delimiters", K_STR, F(algo.sspo_delimiters), 0, 0, 0, ",.;:!?\\n", "SSPO segment ends"},
    {"algo", "dynamic_sampling", K_BOOL, F(algo.dynamic_sampling), 0, 0, 0, "false", "DAPO: drop equal-reward groups"},
    {"algo", "max_gen_batches", K_INT, F(algo.max_gen_batches), 1, 1 << 20, 0, "4", "dynamic-sampling refill limit"},

    {"adv", "std", K_ENUM, F(adv.std), 0, 0, ENUM("unbiased", "biased", "none"), "unbiased", "group std estimator"},
    {"adv", "eps_std", K_DOUBLE, F(adv.eps_std), 0, 1, 0, "1e-6", "added to the group std"},

    {"train", "steps", K_INT, F(train.steps), 0, 1 << 30, 0, "10", "optimizer steps (RL rollouts)"},
    {"train", "prompts_per_step", K_INT, F(train.prompts_per_step), 1, 1 << 24, 0, "8", "P prompts per step"},
    {"train", "ppo_epochs", K_INT, F(train.ppo_epochs), 1, 1024, 0, "1", "passes over each rollout"},
    {"train", "n_minibatches", K_INT, F(train.n_minibatches), 1, 1 << 20, 0, "1",
     "updates per pass, each on whole groups: at most prompts_per_step"},
    {"train", "micro_batch", K_INT, F(train.micro_batch), 1, 1 << 24, 0, "8",
     "sequences per forward/backward, of one group: at most rollout.n (src/train/packing.c)"},
    {"train", "head_chunk", K_INT, F(train.head_chunk), 1, 1 << 20, 0, "1024",
     "LM-head rows whose logits exist at once (training, scoring): memory 2 x head_chunk x vocab"},
    {"train", "recompute", K_BOOL, F(train.recompute), 0, 0, 0, "false",
     "keep only each layer's input through the forward and recompute the rest in the backward (same bits)"},
    {"train", "check_memory", K_BOOL, F(train.check_memory), 0, 0, 0, "true",
     "refuse to start when the ranks of a node need more host memory than it has available (src/train/memory_plan.c); "
     "false: warn and start"},
    {"train", "skip_zero_backward", K_BOOL, F(train.skip_zero_backward), 0, 0, 0, "true",
     "skip a micro-batch's passes where no token has a loss coefficient (beta 0, no entropy bonus): its backward, "
     "and before a step's first update its forward (same bits)"},
    {"train", "lr", K_DOUBLE, F(train.lr), 0, 10, 0, "1e-6", "peak learning rate"},
    {"train", "weight_decay", K_DOUBLE, F(train.weight_decay), 0, 10, 0, "0.01", "AdamW decoupled decay"},
    {"train", "adam_beta1", K_DOUBLE, F(train.adam_beta1), 0, 0.999999, 0, "0.9", "AdamW β1"},
    {"train", "adam_beta2", K_DOUBLE, F(train.adam_beta2), 0, 0.999999999, 0, "0.999", "AdamW β2"},
    {"train", "adam_eps", K_DOUBLE, F(train.adam_eps), 0, 1, 0, "1e-8", "AdamW ε, > 0 (ABOVE_MIN)"},
    {"train", "grad_clip", K_DOUBLE, F(train.grad_clip), 0, BIG, 0, "1.0", "global-norm clip, 0 = off"},
    {"train", "warmup_steps", K_INT, F(train.warmup_steps), 0, 1 << 30, 0, "0", "linear warm-up"},
    {"train", "schedule", K_ENUM, F(train.schedule), 0, 0, ENUM("constant", "cosine"), "constant", "lr after warm-up"},
    {"train", "min_lr_ratio", K_DOUBLE, F(train.min_lr_ratio), 0, 1, 0, "0", "cosine floor / lr"},
    {"train", "max_bad_steps", K_INT, F(train.max_bad_steps), 1, 1 << 20, 0, "3", "non-finite steps in a row"},
    {"train", "seed", K_I64, F(train.seed), 0, BIG, 0, "1", "data-order seed"},
    {"train", "balance", K_ENUM, F(train.balance), 0, 0, ENUM("sequences", "tokens"), "sequences",
     "micro-batches to ranks: each rank its own groups, or about equal tokens per rank"},

    {"sft", "steps", K_INT, F(sft.steps), 0, 1 << 30, 0, "200", "supervised steps"},
    {"sft", "batch_size", K_INT, F(sft.batch_size), 1, 1 << 24, 0, "32", "sequences per step (global)"},
    {"sft", "lr", K_DOUBLE, F(sft.lr), 0, 10, 0, "1e-3", "peak learning rate"},

    {"eval", "every", K_INT, F(eval.every), 0, 1 << 30, 0, "0",
     "steps between evaluations, 0 = end only (a fresh run also evaluates its start)"},
    {"eval", "n_prompts", K_INT, F(eval.n_prompts), 0, 1 << 24, 0, "200",
     "held-out prompts per evaluation, at most the split's (task.eval_size, data.eval_path); none without a split"},
    {"eval", "benchmarks", K_STR, F(eval.benchmarks), 0, 0, 0, "", "benchmarks evaluated with the held-out split: NAME or NAME=FILE, comma-separated"},
    {"eval", "data_dir", K_STR, F(eval.data_dir), 0, 0, 0, "data", "where a benchmark NAME is read from (NAME.jsonl; empty: the current directory)"},
    {"eval", "samples", K_INT, F(eval.samples), 1, 65536, 0, "8", "samples per problem K (unset: rollout.n)"},
    {"eval", "temperature", K_DOUBLE, F(eval.temperature), 0, 100, 0, "1.0", "sampling temperature (unset: rollout's)"},
    {"eval", "top_p", K_DOUBLE, F(eval.top_p), 1e-9, 1, 0, "1.0", "nucleus mass (unset: rollout's)"},
    {"eval", "max_new_tokens", K_INT, F(eval.max_new_tokens), 1, 1 << 22, 0, "64", "generation limit (unset: rollout's)"},

    {"checkpoint", "every", K_INT, F(checkpoint.every), 0, 1 << 30, 0, "0", "steps between saves, 0 = end only"},
    {"checkpoint", "keep", K_INT, F(checkpoint.keep), 1, 1 << 20, 0, "3", "newest checkpoints kept"},

    {"dist", "deterministic", K_BOOL, F(dist.deterministic), 0, 0, 0, "false", "rank-count-independent bits"},
    {"dist", "zero_stage", K_INT, F(dist.zero_stage), 0, 3, 0, "0", "ZeRO: 1 shards Adam moments, 2 also gradients, 3 also weights"},
    {"dist", "overlap", K_BOOL, F(dist.overlap), 0, 0, 0, "true", "fast mode, zero stage 0-1: sum each layer, non-blocking, while the backward runs"},
    {"dist", "expert_parallel", K_INT, F(dist.expert_parallel), 1, 4096, 0, "1",
     "ranks per expert-parallel group, each holding num_experts/K experts; 1 = off"},
    {"dist", "device", K_ENUM, F(dist.device), 0, 0, ENUM("auto", "cpu", "cuda"), "auto",
     "where each rank computes: cuda = one GPU per rank of the node, auto = cuda when every rank has one"},
    {"dist", "sample_gather", K_ENUM, F(dist.sample_gather), 0, 0, ENUM("layer", "whole"), "layer",
     "zero stage 3 sampling (static schedule): gather each layer per decode step (least memory) or every weight once"},
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])
_Static_assert(N_KEYS <= sizeof(((Config *)0)->set_), "Config.set_ too small");

// Numbers whose range is (min, max]: at min itself their formula divides 0 by 0; each with the reason its error gives.
static const struct {
    const char *key, *why;
} ABOVE_MIN[] = {
    {"model.rms_norm_eps", "x / sqrt(mean(x^2) + eps) is 0/0 for a zero row"},
    {"train.adam_eps", "m / (sqrt(v) + eps) is 0/0 for a weight whose gradients were all 0, as an unseen token's embedding"},
};

// Why k's min is refused, or NULL where its range includes min.
static const char *why_above_min(const Key *k) {
    size_t ls = strlen(k->section);
    for (size_t i = 0; i < sizeof ABOVE_MIN / sizeof ABOVE_MIN[0]; i++) {
        const char *name = ABOVE_MIN[i].key;
        if (!strncmp(name, k->section, ls) && name[ls] == '.' && !strcmp(name + ls + 1, k->key)) return ABOVE_MIN[i].why;
    }
    return NULL;
}

// Defaults that depend on another key (results/objectives.md §3 presets; HF model families), applied to unset keys.
typedef struct {
    const char *when_key, *when_value, *key, *value;
} Preset;

static const Preset PRESETS[] = {
    {"algo.name", "grpo", "algo.beta", "0.04"},
    {"algo.name", "dapo", "algo.eps_high", "0.28"},
    {"algo.name", "dapo", "algo.agg", "token-mean"},
    {"algo.name", "dapo", "algo.beta", "0"},
    {"algo.name", "dapo", "algo.dynamic_sampling", "true"},
    {"algo.name", "dapo", "reward.accuracy", "pm1"},
    {"algo.name", "drgrpo", "adv.std", "none"},
    {"algo.name", "drgrpo", "algo.agg", "seq-mean-token-sum-norm"},
    {"algo.name", "drgrpo", "algo.beta", "0"},
    {"algo.name", "gspo", "algo.eps_low", "3e-4"},
    {"algo.name", "gspo", "algo.eps_high", "4e-4"},
    {"algo.name", "gspo", "algo.beta", "0"},
    {"algo.name", "luspo", "algo.eps_low", "2e-3"},
    {"algo.name", "luspo", "algo.eps_high", "2.5e-3"},
    {"algo.name", "luspo", "algo.beta", "0"},
    {"algo.name", "luspo", "algo.agg", "seq-mean-token-sum"},
    {"algo.name", "luspo", "reward.overlong_factor", "0.3"},
    {"algo.name", "grpo_lambda", "algo.beta", "0"},
    {"algo.name", "sspo", "algo.beta", "0"},
    {"model.type", "qwen2", "model.attention_bias", "true"},
    {"model.type", "qwen2", "model.qk_norm", "false"},
    {"model.type", "qwen2_moe", "model.attention_bias", "true"},
    {"model.type", "qwen2_moe", "model.qk_norm", "false"},
    {"model.type", "qwen2_moe", "model.norm_topk_prob", "false"},
    // Dataset field names, ground truths and instructions (task.h): GSM8K and MATH as their Hugging Face
    // copies hold them, with the instruction verl's examples/data_preprocess/gsm8k.py and math_dataset.py append;
    // DAPO-Math-17K exported to JSONL as is (prompt = chat messages whose text asks for a last line
    // "Answer: ...", reward_model.ground_truth).
    {"task.name", "gsm8k", "data.prompt_field", "question"},
    {"task.name", "gsm8k", "data.answer_format", "gsm8k"},
    {"task.name", "gsm8k", "data.template", "{question} Let's think step by step and output the final answer after \"####\"."},
    {"task.name", "gsm8k", "reward.format_pattern", "####"},
    {"task.name", "math", "data.prompt_field", "problem"},
    {"task.name", "math", "data.answer_field", "solution"},
    {"task.name", "math", "data.answer_format", "boxed"},
    {"task.name", "math", "data.template", "{question} Let's think step by step and output the final answer within \\boxed{}."},
    {"task.name", "math", "reward.format_pattern", "\\\\boxed\\{"},
    {"task.name", "dapo", "data.answer_field", "reward_model.ground_truth"},
};

static const Key *find_key(const char *section, const char *key) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(KEYS[i].section, section) && !strcmp(KEYS[i].key, key)) return &KEYS[i];
    return NULL;
}

static bool section_exists(const char *section) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(KEYS[i].section, section)) return true;
    return false;
}

// Writes " (did you mean 'x'?)" into buf when a section (section == NULL) or a key of section is close to
// word, else "".
static void suggest(char *buf, size_t len, const char *section, const char *word) {
    Suggest s;
    suggest_init(&s, word);
    for (size_t i = 0; i < N_KEYS; i++) {
        if (section && strcmp(KEYS[i].section, section)) continue;
        suggest_add(&s, section ? KEYS[i].key : KEYS[i].section);
    }
    if (suggest_best(&s)) snprintf(buf, len, " (did you mean '%s'?)", suggest_best(&s));
    else buf[0] = 0;
}

static int parse_bool(const char *v, bool *out) {
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcmp(v, "1")) return *out = true, 0;
    if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcmp(v, "0")) return *out = false, 0;
    return -1;
}

static int parse_enum(const char *const *choices, const char *v) {
    for (int i = 0; choices[i]; i++)
        if (!strcmp(choices[i], v)) return i;
    return -1;
}

// "a|b|c" for error messages.
static void join_choices(const char *const *choices, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; choices[i] && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "|" : "", choices[i]);
}

// Whether v is a plain decimal number: strtoll and strtod skip leading white space (trailing they refuse, so " 3"
// would pass where "3 " fails), and strtod reads hexadecimal ("0x10" as 16).
static bool decimal_text(const char *v) {
    if (!*v || isspace((unsigned char)*v)) return false;
    v += *v == '+' || *v == '-';
    return !(v[0] == '0' && (v[1] == 'x' || v[1] == 'X'));
}

// Stores value into the key's field; on failure writes what was expected into `expected`.
static int store(Config *c, const Key *k, const char *v, char *expected, size_t len) {
    char *field = (char *)c + k->offset;
    char *end = NULL;
    errno = 0;
    switch (k->type) {
    case K_INT:
    case K_I64: {
        long long x = strtoll(v, &end, 10);
        if (!decimal_text(v) || *end || errno || x < k->min || x > k->max) {
            snprintf(expected, len, "an integer in [%.0f, %.0f]", k->min, k->max);
            return -1;
        }
        if (k->type == K_INT) *(int *)field = (int)x;
        else *(int64_t *)field = x;
        return 0;
    }
    case K_DOUBLE: {
        double x = strtod(v, &end);
        const char *why = why_above_min(k);
        bool underflow = errno == ERANGE && fabs(x) <= DBL_MIN;  // 1e-999 lies in the range but reads as 0
        if (!decimal_text(v) || *end || errno || !isfinite(x) || x < k->min || (why && x == k->min) || x > k->max) {
            const char *tiny = underflow && !*end ? ", 0 or of magnitude at least 2.2e-308 (a double's smallest normal)" : "";
            if (why) snprintf(expected, len, "a number in (%g, %g]%s: %s", k->min, k->max, tiny, why);
            else snprintf(expected, len, "a number in [%g, %g]%s", k->min, k->max, tiny);
            return -1;
        }
        *(double *)field = x;
        return 0;
    }
    case K_BOOL:
        if (parse_bool(v, (bool *)field)) {
            snprintf(expected, len, "true or false");
            return -1;
        }
        return 0;
    case K_STR:
        if (strlen(v) >= k->size) {
            snprintf(expected, len, "a string of at most %zu bytes", k->size - 1);
            return -1;
        }
        if (strpbrk(v, "\n\r")) {  // config_print writes the value on its key's line, which a break would end
            snprintf(expected, len, "a value on one line (config.ini holds one key per line)");
            return -1;
        }
        memcpy(field, v, strlen(v) + 1);
        return 0;
    case K_ENUM: {
        int x = parse_enum(k->choices, v);
        if (x < 0) {
            char names[128];
            join_choices(k->choices, names, sizeof names);
            snprintf(expected, len, "one of %s", names);
            return -1;
        }
        *(int *)field = x;
        return 0;
    }
    }
    return -1;
}

// Sets section.key = value; `where` prefixes errors ("x.ini:12" or "--set a.b=c").
static int assign(Config *c, const char *section, const char *key, const char *value, const char *where, Err *e) {
    char hint[96], q[ERR_ABBREV_SIZE];
    if (!section_exists(section)) {
        suggest(hint, sizeof hint, NULL, section);
        return err_set(e, "%s: unknown section [%s]%s", where, err_abbrev(section, q), hint);
    }
    const Key *k = find_key(section, key);
    if (!k) {
        suggest(hint, sizeof hint, section, key);
        return err_set(e, "%s: unknown key '%s' in [%s]%s", where, err_abbrev(key, q), section, hint);
    }
    char expected[160];
    if (store(c, k, value, expected, sizeof expected))
        return err_set(e, "%s: [%s] %s = '%s': expected %s", where, section, key, err_abbrev(value, q), expected);
    c->set_[k - KEYS] = KEY_GIVEN;
    return 0;
}

void config_defaults(Config *c) {
    memset(c, 0, sizeof *c);
    char expected[160];
    for (size_t i = 0; i < N_KEYS; i++)
        if (store(c, &KEYS[i], KEYS[i].def, expected, sizeof expected)) {
            fprintf(stderr, "rlvr: internal: bad default for [%s] %s\n", KEYS[i].section, KEYS[i].key);
            abort();
        }
}

#define MAX_INCLUDE_DEPTH 8  // guards against include cycles

// One file being parsed. inih reads it through read_line, so `line` is the line whose entry the handler
// sees; inih itself only returns the number of the first line it could not parse.
typedef struct {
    Config *c;
    const char *path;      // the file's path, or the name of stored text (config_load_text): messages name it
    bool stored;           // stored text: it has no directory for an include to be found in
    FILE *f;
    int depth;
    Err *e;
    int line;              // the line inih is processing
    bool indented;         // it starts with white space: after a key line inih appends it to that key's value
    bool have_prev;        // a key line since the last [section] header (inih's "previous name")
    char prev_key[64];     // that key (inih keeps at most 50 bytes) and its line
    int prev_line;
    int key_line[N_KEYS];  // line that set each key in this file, 0 = not set here
    int fail_line;         // line of the error in e, 0 = none yet
    int read_errno;        // the file could not be read (a directory)
} FileCtx;

static int load_file(Config *c, const char *path, int depth, Err *e);

// "PATH:LINE: message" for the current line.
__attribute__((format(printf, 2, 3))) static int fail_here(FileCtx *ctx, const char *fmt, ...) {
    char msg[sizeof ctx->e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(ctx->e, "%s:%d: %s", ctx->path, ctx->line, msg);
}

// Where inih (r55) ends a header's name: at ']', or at an inline comment (';' after white space).
static const char *header_end(const char *s) {
    bool was_space = false;
    for (; *s && *s != ']'; s++) {
        if (was_space && *s == ';') return s;
        was_space = isspace((unsigned char)*s);
    }
    return s;
}

// What inih would report only as "syntax error": a section header without its ']'.
static int check_line(FileCtx *ctx, const char *buf) {
    const char *s = buf;
    if (ctx->line == 1 && !strncmp(s, "\xEF\xBB\xBF", 3)) s += 3;  // inih skips a UTF-8 BOM
    const char *t = s;
    while (isspace((unsigned char)*t)) t++;
    ctx->indented = t > s;
    if (*t != '[' || (ctx->indented && ctx->have_prev)) return 0;  // not a header (maybe a continuation)
    const char *end = header_end(t + 1);
    if (*end == ']') {
        ctx->have_prev = false;
        return 0;
    }
    char text[256], q[ERR_ABBREV_SIZE];
    size_t n = (size_t)(end - t);
    while (n > 0 && isspace((unsigned char)t[n - 1])) n--;
    snprintf(text, sizeof text, "%.*s", (int)n, t);
    return fail_here(ctx, "unclosed section header '%s': expected [section]%s", err_abbrev(text, q),
                     *end == ';' ? " (' ;' starts a comment)" : "");
}

// Comment lines may be longer than inih's buffer: the rest is dropped (it is comment too).
static bool is_comment(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    return *s == ';' || *s == '#';
}

// inih's line source: counts lines and rejects what inih would silently cut (long lines, NUL bytes).
static char *read_line(char *buf, int size, void *stream) {
    FileCtx *ctx = stream;
    if (ctx->fail_line) return NULL;  // the first error ends the file
    int n = 0, ch = 0;
    while (n < size - 2 && (ch = getc(ctx->f)) != EOF && ch != '\n') buf[n++] = (char)ch;
    if (ch == EOF && ferror(ctx->f)) ctx->read_errno = errno ? errno : EIO;
    if (n == 0 && ch == EOF) return NULL;
    buf[n] = 0;
    ctx->line++;
    bool cut = n == size - 2 && (ch = getc(ctx->f)) != '\n' && ch != EOF;
    while (cut && is_comment(buf) && ch != '\n' && ch != EOF) ch = getc(ctx->f);
    int rc = 0;
    if (cut && !is_comment(buf))
        rc = fail_here(ctx, "line longer than %d bytes: expected at most %d (give a longer value with --set)", size - 2,
                       size - 2);
    else if (memchr(buf, 0, (size_t)n)) rc = fail_here(ctx, "NUL byte in the line: expected text");
    else rc = check_line(ctx, buf);
    if (rc) ctx->fail_line = ctx->line;
    return rc ? NULL : buf;
}

// "include = FILE" before the first [section] loads FILE (relative to this file) first, so what follows
// overrides it: a study config is a shared base plus a few keys.
static int include_file(FileCtx *ctx, const char *where, const char *value) {
    char q[ERR_ABBREV_SIZE];
    // Stored text (a checkpoint's) holds every key itself; a file it named would be read from wherever this
    // command runs, not where the run read it.
    if (ctx->stored)
        return err_set(ctx->e, "%s: include '%s': stored config text is read whole, without includes; expected "
                               "[section] and key = value lines", where, err_abbrev(value, q));
    if (!*value) return err_set(ctx->e, "%s: include needs a file name", where);
    if (ctx->depth + 1 >= MAX_INCLUDE_DEPTH)
        return err_set(ctx->e, "%s: include '%s': more than %d nested includes (a cycle?)", where, err_abbrev(value, q),
                       MAX_INCLUDE_DEPTH);
    char path[PATH_MAX];  // the including file's directory may be as long as the system allows
    const char *slash = strrchr(ctx->path, '/');
    int n = value[0] == '/' || !slash ? snprintf(path, sizeof path, "%s", value)
                                      : snprintf(path, sizeof path, "%.*s/%s", (int)(slash - ctx->path), ctx->path, value);
    if (n < 0 || (size_t)n >= sizeof path)
        return err_set(ctx->e, "%s: include '%s': the path is longer than %zu bytes", where, err_abbrev(value, q),
                       sizeof path - 1);
    struct stat st;
    if (stat(path, &st))
        return err_set(ctx->e, "%s: include '%s': cannot open %s: %s", where, err_abbrev(value, q), path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return err_set(ctx->e, "%s: include '%s': %s is not a regular file", where, err_abbrev(value, q), path);
    return load_file(ctx->c, path, ctx->depth + 1, ctx->e);
}

// One "key = value" line. A key set twice in one file is a mistake; an included file's value is meant to be
// overridden, and so is any file's by --set.
static int file_entry(FileCtx *ctx, const char *section, const char *key, const char *value) {
    char where[ERR_PLACE_SIZE], q[ERR_ABBREV_SIZE];
    snprintf(where, sizeof where, "%s:%d", ctx->path, ctx->line);
    ctx->have_prev = true, ctx->prev_line = ctx->line;
    snprintf(ctx->prev_key, sizeof ctx->prev_key, "%s", key);
    if (!*section && !strcmp(key, "include")) return include_file(ctx, where, value);
    if (!*section)
        return err_set(ctx->e, "%s: key '%s' outside any [section]; expected [section] first, or include = FILE", where,
                       err_abbrev(key, q));
    const Key *k = find_key(section, key);
    if (k && ctx->key_line[k - KEYS])
        return err_set(ctx->e, "%s: duplicate key '%s' in [%s] (first set on line %d)", where, key, section,
                       ctx->key_line[k - KEYS]);
    TRY(assign(ctx->c, section, key, value, where, ctx->e));
    ctx->key_line[k - KEYS] = ctx->line;
    return 0;
}

static int on_ini_entry(void *user, const char *section, const char *key, const char *value) {
    FileCtx *ctx = user;
    if (ctx->fail_line) return 1;  // keep only the first error
    int rc;
    if (ctx->indented && ctx->have_prev)  // inih appends the line to the previous value: say so instead
        rc = fail_here(ctx, "indented line continues the value of '%s' (line %d): expected key = value, not indented",
                       ctx->prev_key, ctx->prev_line);
    else
        rc = file_entry(ctx, section, key, value);
    if (rc) ctx->fail_line = ctx->line;
    return !rc;
}

// Parses ctx->f (named ctx->path in messages) through read_line and inih.
static int load_stream(FileCtx *ctx) {
    int line = ini_parse_stream(read_line, ctx, on_ini_entry, ctx);
    if (line > 0 && line != ctx->fail_line)  // inih's own complaint, on an earlier line than ours
        return err_set(ctx->e, "%s:%d: syntax error: expected [section] or key = value", ctx->path, line);
    if (ctx->fail_line) return -1;
    if (line < 0) return err_set(ctx->e, "%s: cannot read config file", ctx->path);
    if (ctx->read_errno) return err_set(ctx->e, "%s: cannot read config file: %s", ctx->path, strerror(ctx->read_errno));
    if (ctx->depth == 0) snprintf(ctx->c->source, sizeof ctx->c->source, "%s", ctx->path);
    return 0;
}

static int load_file(Config *c, const char *path, int depth, Err *e) {
    FILE *f = fopen(path, "r");
    if (!f) return err_set(e, "%s: cannot open config file: %s", path, strerror(errno));
    FileCtx ctx = {.c = c, .path = path, .f = f, .depth = depth, .e = e};
    int rc = load_stream(&ctx);
    fclose(f);
    return rc;
}

int config_load_file(Config *c, const char *path, Err *e) { return load_file(c, path, 0, e); }

// The text is read from memory as a file would be from disk: no temporary file (a read-only or full /tmp, TMPDIR).
int config_load_text(Config *c, const char *text, const char *name, Err *e) {
    FILE *f = fmemopen((void *)text, strlen(text), "r");  // read only; glibc >= 2.22 takes an empty one
    if (!f) return err_set(e, "%s: cannot read config text: %s", name, strerror(errno));
    FileCtx ctx = {.c = c, .path = name, .stored = true, .f = f, .e = e};
    int rc = load_stream(&ctx);
    fclose(f);
    return rc;
}

int config_set(Config *c, const char *assignment, Err *e) {
    char q[ERR_ABBREV_SIZE];
    const char *eq = strchr(assignment, '=');
    const char *dot = strchr(assignment, '.');
    bool control = eq && err_has_control(assignment, (size_t)(eq - assignment));  // the name's quoted raw below
    if (!eq || !dot || dot > eq || dot == assignment || dot + 1 == eq || control)
        return err_set(e, "--set %s: expected section.key=value", err_abbrev(assignment, q));
    char section[64], key[64];
    size_t ls = (size_t)(dot - assignment), lk = (size_t)(eq - dot - 1);
    if (ls >= sizeof section || lk >= sizeof key)
        return err_set(e, "--set %s: expected a section and a key of at most %zu bytes each", err_abbrev(assignment, q),
                       sizeof section - 1);
    memcpy(section, assignment, ls), section[ls] = 0;
    memcpy(key, dot + 1, lk), key[lk] = 0;
    char where[sizeof section + sizeof key + ERR_ABBREV_SIZE + 8];
    snprintf(where, sizeof where, "--set %s.%s=%s", section, key, err_abbrev(eq + 1, q));
    return assign(c, section, key, eq + 1, where, e);
}

// The shortest text that reads back as x: 1e-06, not %.17g's 9.9999999999999995e-07.
static void format_double(double x, char *buf, size_t len) {
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, len, "%.*g", digits, x);
        if (strtod(buf, NULL) == x) return;
    }
}

// Current value of a key as text (the form config_print writes).
static void format_value(const Config *c, const Key *k, char *buf, size_t len) {
    const char *field = (const char *)c + k->offset;
    switch (k->type) {
    case K_INT: snprintf(buf, len, "%d", *(const int *)field); break;
    case K_I64: snprintf(buf, len, "%lld", (long long)*(const int64_t *)field); break;
    case K_DOUBLE: format_double(*(const double *)field, buf, len); break;
    case K_BOOL: snprintf(buf, len, "%s", *(const bool *)field ? "true" : "false"); break;
    case K_STR: snprintf(buf, len, "%s", field); break;
    case K_ENUM: snprintf(buf, len, "%s", k->choices[*(const int *)field]); break;
    }
}

static const Key *find_dotted(const char *dotted) {
    char section[64];
    const char *dot = strchr(dotted, '.');
    snprintf(section, sizeof section, "%.*s", (int)(dot - dotted), dotted);
    return find_key(section, dot + 1);
}

// Evaluation samples like the rollouts unless told otherwise: each key and the one whose value it takes.
static const char *const FROM_ROLLOUT[][2] = {{"eval.samples", "rollout.n"},
                                              {"eval.temperature", "rollout.temperature"},
                                              {"eval.top_p", "rollout.top_p"},
                                              {"eval.max_new_tokens", "rollout.max_new_tokens"}};
#define OVERLONG_BUFFER "reward.overlong_buffer"  // DAPO: a fifth of rollout.max_new_tokens unless set

static void apply_presets(Config *c) {
    char value[CONFIG_STR], expected[160];
    // qwen-boxed and dapo bring their own instruction: a dataset's would repeat it.
    bool own_instruction = c->prompt.template_ == TEMPLATE_QWEN_BOXED || c->prompt.template_ == TEMPLATE_DAPO;
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++) {
        const Preset *p = &PRESETS[i];
        const Key *when = find_dotted(p->when_key), *k = find_dotted(p->key);
        format_value(c, when, value, sizeof value);
        if (strcmp(value, p->when_value) || c->set_[k - KEYS]) continue;
        if (own_instruction && !strcmp(p->key, "data.template")) continue;
        if (store(c, k, p->value, expected, sizeof expected)) abort();  // presets are checked by tests
    }
    for (size_t i = 0; i < sizeof FROM_ROLLOUT / sizeof FROM_ROLLOUT[0]; i++) {
        const Key *k = find_dotted(FROM_ROLLOUT[i][0]), *src = find_dotted(FROM_ROLLOUT[i][1]);
        if (!c->set_[k - KEYS]) memcpy((char *)c + k->offset, (const char *)c + src->offset, k->size);
    }
    // DAPO trains with its overlong punishment (results/objectives.md §4): unless set, the buffer is a fifth of
    // the generation limit, as DAPO's 4096 of 20480 tokens [reading].
    if (c->algo.name == ALGO_DAPO && !c->set_[find_dotted(OVERLONG_BUFFER) - KEYS])
        c->reward.overlong_buffer = c->rollout.max_new_tokens / 5;
}

// Whether apply_presets may fill k: a preset's key, or one that follows another key's value.
static bool automatic_key(const Key *k) {
    char name[130];
    snprintf(name, sizeof name, "%s.%s", k->section, k->key);
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++)
        if (!strcmp(PRESETS[i].key, name)) return true;
    for (size_t i = 0; i < sizeof FROM_ROLLOUT / sizeof FROM_ROLLOUT[0]; i++)
        if (!strcmp(FROM_ROLLOUT[i][0], name)) return true;
    return !strcmp(name, OVERLONG_BUFFER);
}

// c with every automatic key as if none had been given: its default, then what presets and the keys it follows
// make of it, from c's other keys.
static void automatic_values(const Config *c, Config *out) {
    char expected[160];
    *out = *c;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (!automatic_key(&KEYS[i])) continue;
        if (store(out, &KEYS[i], KEYS[i].def, expected, sizeof expected)) abort();  // config_defaults checks them
        out->set_[i] = KEY_UNSET;
    }
    apply_presets(out);
}

// Whether one of sets ("section.key=value") names k.
static bool named_in(const Key *k, const char *const *sets, int n_sets) {
    size_t ls = strlen(k->section), lk = strlen(k->key);
    for (int i = 0; i < n_sets; i++) {
        const char *s = sets[i];
        if (!strncmp(s, k->section, ls) && s[ls] == '.' && !strncmp(s + ls + 1, k->key, lk) && s[ls + 1 + lk] == '=')
            return true;
    }
    return false;
}

// Cross-key checks; messages name the keys involved.
static int validate(const Config *c, Err *e) {
    const ModelConfig *m = &c->model;
    const char *src = c->source[0] ? c->source : "config";
    if (m->num_attention_heads % m->num_key_value_heads)
        return err_set(e, "%s: [model] num_attention_heads (%d) must be a multiple of num_key_value_heads (%d)", src,
                       m->num_attention_heads, m->num_key_value_heads);
    if (!m->head_dim && m->hidden_size % m->num_attention_heads)
        return err_set(e, "%s: [model] hidden_size (%d) must be a multiple of num_attention_heads (%d) when head_dim = 0",
                       src, m->hidden_size, m->num_attention_heads);
    int hd = m->head_dim ? m->head_dim : m->hidden_size / m->num_attention_heads;
    if (hd % 2) return err_set(e, "%s: [model] head_dim (%d) must be even for rotary embeddings", src, hd);
    bool moe = m->type == MODEL_QWEN2_MOE || m->type == MODEL_QWEN3_MOE;
    if (moe && (m->num_experts < 1 || m->moe_intermediate_size < 1))
        return err_set(e, "%s: [model] type %s needs num_experts >= 1 and moe_intermediate_size >= 1", src,
                       config_enum_name("model", "type", m->type));
    if (moe && (m->num_experts_per_tok < 1 || m->num_experts_per_tok > m->num_experts))
        return err_set(e, "%s: [model] num_experts_per_tok (%d) must be in [1, num_experts = %d]", src,
                       m->num_experts_per_tok, m->num_experts);
    if (!moe && m->num_experts)
        return err_set(e, "%s: [model] num_experts = %d needs type qwen2_moe or qwen3_moe", src, m->num_experts);
    int ep = c->dist.expert_parallel;
    if (ep > 1 && !moe)
        return err_set(e, "%s: [dist] expert_parallel = %d needs a MoE model (type qwen2_moe or qwen3_moe)", src, ep);
    if (ep > 1 && m->num_experts % ep)
        return err_set(e, "%s: [dist] expert_parallel (%d) must divide [model] num_experts (%d)", src, ep,
                       m->num_experts);
    if (ep > 1 && c->train.recompute)  // a recomputed MoE layer would exchange rows again, off the ranks' lockstep
        return err_set(e, "%s: [train] recompute = true does not run with [dist] expert_parallel = %d (> 1)", src, ep);
#ifndef RLVR_CUDA
    if (c->dist.device == DIST_DEVICE_CUDA)
        return err_set(e, "%s: [dist] device = cuda: this rlvr was built without CUDA (build with make CUDA=1)", src);
#endif
    if (c->tokenizer.type == TOKENIZER_BPE && !c->tokenizer.path[0])
        return err_set(e, "%s: [tokenizer] type = bpe needs path = tokenizer.json", src);
    // The embedded task reads no file: a data path under it would be ignored, and the run would train on arithmetic.
    if (!strcmp(c->task.name, "arith") && (c->data.path[0] || c->data.eval_path[0])) {
        char q[ERR_ABBREV_SIZE];
        const char *key = c->data.path[0] ? "path" : "eval_path";
        return err_set(e, "%s: [data] %s = '%s' is read by the dataset tasks only (math, gsm8k, dapo), and [task] name "
                          "is arith; set task.name, or leave %s empty",
                       src, key, err_abbrev(c->data.path[0] ? c->data.path : c->data.eval_path, q), key);
    }
    if (c->tokenizer.type == TOKENIZER_BYTE && c->tokenizer.path[0]) {  // else the run would use bytes, unnoticed
        char q[ERR_ABBREV_SIZE];
        return err_set(e, "%s: [tokenizer] path = '%s' is read by type = bpe only, and type is byte; set type = bpe, "
                          "or leave path empty",
                       src, err_abbrev(c->tokenizer.path, q));
    }
    if (c->prompt.system[0] && c->prompt.template_ == TEMPLATE_NONE)
        return err_set(e, "%s: [prompt] system needs a chat template (template = chatml, qwen-boxed or dapo)", src);
    if (!c->prompt.enable_thinking && c->prompt.template_ == TEMPLATE_NONE)
        return err_set(e, "%s: [prompt] enable_thinking = false needs a chat template (template = chatml, qwen-boxed or dapo)",
                       src);
    if (!c->data.prompt_field[0] || !c->data.answer_field[0])
        return err_set(e, "%s: [data] %s is empty; expected the JSON key (or dotted path) of the records' %s", src,
                       c->data.prompt_field[0] ? "answer_field" : "prompt_field",
                       c->data.prompt_field[0] ? "ground truth" : "question");
    // A dataset's question reaches its prompt only through {question}: without it every prompt is the same text.
    if (!strstr(c->data.template_, "{question}")) {
        char q[ERR_ABBREV_SIZE];
        return err_set(e, "%s: [data] template = '%s' has no {question}: every prompt would be the same text, without "
                          "its question",
                       src, err_abbrev(c->data.template_, q));
    }
    if (c->task.digits_min > c->task.digits_max)
        return err_set(e, "%s: [task] digits_min (%d) must be <= digits_max (%d)", src, c->task.digits_min,
                       c->task.digits_max);
    if (c->algo.sspo_c_min > c->algo.sspo_c_max)
        return err_set(e, "%s: [algo] sspo_c_min (%g) must be <= sspo_c_max (%g)", src, c->algo.sspo_c_min,
                       c->algo.sspo_c_max);
    // The clamp of a sequence's or segment's log s_i is a safety net against exp overflow: below the clip's upper edge,
    // log(1 + εh) (SSPO's widest: εh c_max), it would cut ratios the clip keeps and zero their gradients.
    bool unit_ratio = c->algo.name == ALGO_GSPO || c->algo.name == ALGO_LUSPO || c->algo.name == ALGO_SSPO;
    double widest = c->algo.eps_high * (c->algo.name == ALGO_SSPO ? c->algo.sspo_c_max : 1);
    if (unit_ratio && c->algo.log_ratio_clamp < log1p(widest))
        return err_set(e,
                       "%s: [algo] log_ratio_clamp (%g) must be >= log(1 + %s) = %.6g: a safety net against exp "
                       "overflow (default 10), below the clip's upper edge it would cut the ratios the clip keeps "
                       "and zero their gradients",
                       src, c->algo.log_ratio_clamp, c->algo.name == ALGO_SSPO ? "eps_high sspo_c_max" : "eps_high",
                       log1p(widest));
    // Dynamic sampling drops all-equal groups before GRPO-λ's transform, the all-correct ones it ranks first too.
    if (c->algo.name == ALGO_GRPO_LAMBDA && c->algo.dynamic_sampling)
        return err_set(e,
                       "%s: [algo] name = grpo_lambda does not run with [algo] dynamic_sampling = true: dynamic "
                       "sampling drops the groups whose rewards are all equal before GRPO-λ's reward transform, among "
                       "them the all-correct groups GRPO-λ ranks first and rewards for being short",
                       src);
    // A mini-batch holds whole groups, one a prompt: more mini-batches than prompts would leave some empty, and the
    // step would run fewer updates than asked for.
    if (c->train.n_minibatches > c->train.prompts_per_step)
        return err_set(e, "%s: [train] n_minibatches (%d) must be <= prompts_per_step (%d): a mini-batch holds whole groups",
                       src, c->train.n_minibatches, c->train.prompts_per_step);
    if (c->reward.overlong_buffer > c->rollout.max_new_tokens)
        return err_set(e, "%s: [reward] overlong_buffer (%d) must be <= [rollout] max_new_tokens (%d)", src,
                       c->reward.overlong_buffer, c->rollout.max_new_tokens);
    return 0;
}

int config_finalize(Config *c, Err *e) {
    apply_presets(c);
    return validate(c, e);
}

int config_resolve(Config *c, const char *path, const char *const *sets, int n_sets, Err *e) {
    config_defaults(c);
    if (path) TRY(config_load_file(c, path, e));
    for (int i = 0; i < n_sets; i++) TRY(config_set(c, sets[i], e));
    return config_finalize(c, e);
}

int config_resolve_text(Config *c, const char *text, const char *name, const char *const *sets, int n_sets, Err *e) {
    config_defaults(c);
    TRY(config_load_text(c, text, name, e));
    for (int i = 0; i < n_sets; i++) TRY(config_set(c, sets[i], e));
    return config_finalize(c, e);
}

void config_print(FILE *f, const Config *c) {
    char value[CONFIG_STR];
    const char *section = "";
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(section, KEYS[i].section)) {
            section = KEYS[i].section;
            fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
        }
        format_value(c, &KEYS[i], value, sizeof value);
        fprintf(f, "%s = %s\n", KEYS[i].key, value);
    }
}

char *config_to_string(const Config *c) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    config_print(f, c);
    fclose(f);
    return buf;
}

// A key's value as a person reads it: as config_print writes it, a string quoted.
static void display_value(const Config *c, const Key *k, char *buf, size_t len) {
    if (k->type == K_STR) snprintf(buf, len, "'%s'", (const char *)c + k->offset);
    else format_value(c, k, buf, len);
}

static bool same_value(const Config *a, const Config *b, const Key *k) {
    const char *x = (const char *)a + k->offset, *y = (const char *)b + k->offset;
    switch (k->type) {
    case K_DOUBLE: return *(const double *)x == *(const double *)y;
    case K_STR: return !strcmp(x, y);
    case K_BOOL: return *(const bool *)x == *(const bool *)y;
    case K_I64: return *(const int64_t *)x == *(const int64_t *)y;
    case K_INT:
    case K_ENUM: return *(const int *)x == *(const int *)y;
    }
    return false;
}

int config_diff(const Config *a, const Config *b, ConfigChange **out) {
    int n = 0;
    *out = NULL;
    for (size_t i = 0; i < N_KEYS; i++) {
        const Key *k = &KEYS[i];
        if (same_value(a, b, k)) continue;
        *out = xrealloc(*out, (size_t)(n + 1) * sizeof **out);
        ConfigChange *ch = &(*out)[n++];
        snprintf(ch->key, sizeof ch->key, "%s.%s", k->section, k->key);
        display_value(a, k, ch->from, sizeof ch->from);
        display_value(b, k, ch->to, sizeof ch->to);
    }
    return n;
}

char *config_given_keys(const Config *c) {
    char *list = xmalloc(N_KEYS * 130 + 1);
    size_t used = 0;
    list[0] = 0;
    for (size_t i = 0; i < N_KEYS; i++)
        if (c->set_[i] == KEY_GIVEN) used += (size_t)sprintf(list + used, "%s.%s\n", KEYS[i].section, KEYS[i].key);
    return list;
}

int config_mark_given(Config *c, const char *list, const char *name, Err *e) {
    uint8_t given[sizeof c->set_] = {0};
    for (const char *s = list, *end; *s; s = *end ? end + 1 : end) {
        size_t n = strcspn(s, "\n");
        end = s + n;
        char key[130], q[ERR_ABBREV_SIZE];
        snprintf(key, sizeof key, "%.*s", (int)n, s);
        const Key *k = n && n < sizeof key && strchr(key, '.') ? find_dotted(key) : NULL;
        if (n && !k) return err_set(e, "%s: unknown key '%s': expected section.key names, one a line", name,
                                    err_abbrev(key, q));
        if (k) given[k - KEYS] = KEY_GIVEN;
    }
    memcpy(c->set_, given, sizeof given);
    return 0;
}

void config_guess_given(Config *c) {
    Config automatic, defaults;
    automatic_values(c, &automatic);
    config_defaults(&defaults);
    for (size_t i = 0; i < N_KEYS; i++)
        c->set_[i] = same_value(c, automatic_key(&KEYS[i]) ? &automatic : &defaults, &KEYS[i]) ? KEY_UNSET : KEY_GIVEN;
}

void config_rederive(Config *now, const Config *saved, const char *const *sets, int n_sets, bool file_named,
                     bool (*keep)(const char *key)) {
    Config will;
    automatic_values(now, &will);
    for (size_t i = 0; i < N_KEYS; i++) {
        const Key *k = &KEYS[i];
        char name[130];
        snprintf(name, sizeof name, "%s.%s", k->section, k->key);
        if (!now->set_[i]) continue;  // config_finalize's to fill
        // Named by this resume (a --set, or a line of the file it names), given in the saved run, or given another
        // value by this resume's file: by hand.
        bool given = named_in(k, sets, n_sets) || (file_named && now->set_[i] == KEY_GIVEN) ||
                     saved->set_[i] == KEY_GIVEN || !same_value(now, saved, k);
        if (keep && keep(name)) now->set_[i] = given ? KEY_GIVEN : KEY_HELD;
        else if (given) now->set_[i] = KEY_GIVEN;
        else {  // left to its default or preset, as in the saved run
            now->set_[i] = KEY_UNSET;
            if (automatic_key(k)) memcpy((char *)now + k->offset, (const char *)&will + k->offset, k->size);
        }
    }
}

int config_enum_value(const char *section, const char *key, const char *name, char *choices, size_t len) {
    const Key *k = find_key(section, key);
    if (!k || k->type != K_ENUM) return snprintf(choices, len, "?"), -1;
    int x = parse_enum(k->choices, name);
    if (x < 0) join_choices(k->choices, choices, len);
    return x;
}

const char *config_enum_name(const char *section, const char *key, int value) {
    const Key *k = find_key(section, key);
    if (!k || k->type != K_ENUM || value < 0) return "?";
    for (int i = 0; k->choices[i]; i++)
        if (i == value) return k->choices[i];
    return "?";
}
