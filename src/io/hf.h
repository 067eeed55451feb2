// Hugging Face model directories in and out of rlvr checkpoints (README.md "Real models"):
// config.json + model.safetensors, or shards listed by model.safetensors.index.json. Tensors stream one piece at
// a time, so memory stays near one chunk, whatever the model's size. MoE experts are per-expert tensors on the Hub
// (model.layers.L.mlp.experts.E.gate_proj.weight) and fused [E, ...] tensors in rlvr (model.layers.L.mlp.experts.
// gate_proj).
#ifndef RLVR_HF_H
#define RLVR_HF_H

#include <stdint.h>

#include "base/error.h"
#include "io/safetensors.h"
#include "model/model.h"

typedef struct {
    int64_t n_params, n_tensors;  // rlvr tensors written
    uint64_t source_bytes;        // tensor bytes read
    double seconds;
} HfImportStats;

// DIR/config.json (model_hf_config_check) + its safetensors -> a checkpoint at out (kind init, step 0) with
// /meta hf_config = DIR/config.json verbatim, hf_generation_config = DIR/generation_config.json when present, and
// a config whose [model] matches (plus [tokenizer] type = bpe, path = DIR/tokenizer.json when there is one).
// Every input tensor must be used (a tied lm_head.weight must equal the embedding); BF16/F16/F32 become float32
// exactly. Written beside out and renamed (h5io_output_create), fsynced. revision: recorded as /meta git_revision.
int hf_import(const char *dir, const char *out, const char *revision, HfImportStats *st, Err *e);

// A checkpoint's model -> DIR (made with its missing parents, all removed again on failure; or an existing empty
// one): config.json (/meta hf_config with its dtype set), generation_config.json, model.safetensors or
// model-0000K-of-0000N.safetensors shards of at most shard_bytes (a larger tensor gets a shard of its own) with
// model.safetensors.index.json, and, when the checkpoint's config names a bpe tokenizer.json, that file and its
// siblings (tokenizer_config.json, vocab.json, merges.txt, ...).
// dtype: ST_F32 or ST_BF16 (round to nearest even).
int hf_export(const char *ckpt, const char *dir, StDtype dtype, uint64_t shard_bytes, Err *e);

// "5GB", "500MB", "2GiB", "1000" -> bytes (GB = 10^9 as transformers' max_shard_size, GiB = 2^30); a decimal
// number, a whole number of bytes once scaled ("1.5" and "0x10" are errors).
int hf_parse_size(const char *text, uint64_t *bytes, Err *e);

// Pieces of an rlvr tensor on the Hub: E for a fused expert tensor (piece p = expert p), else 1.
int hf_n_pieces(const ModelTensor *t);
// Hub name of piece p of t.
void hf_piece_name(const ModelTensor *t, int p, char *buf, size_t len);

#endif
