// Hugging Face byte-level BPE (GPT-2 / Qwen2 tokenizer.json), behind tokenizer.h for [tokenizer] type = bpe.
#ifndef RLVR_TOKENIZER_BPE_H
#define RLVR_TOKENIZER_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"

typedef struct Bpe Bpe;

// Loads cfg->path; the ids of cfg->bos_token/eos_token/pad_token go to *bos/*eos/*pad.
Bpe *bpe_load(const TokenizerConfig *cfg, int32_t *bos, int32_t *eos, int32_t *pad, Err *e);
void bpe_free(Bpe *b);
int bpe_vocab_size(const Bpe *b);
int bpe_encode(const Bpe *b, const char *text, size_t len, int32_t **ids, int *n, Err *e);
// Id of the added token (special or not) whose content is exactly content, or -1.
int32_t bpe_added_id(const Bpe *b, const char *content);
// Bytes of one token into buf (up to cap); returns the byte count, or -1 for an id out of range.
int bpe_token_bytes(const Bpe *b, int32_t id, char *buf, size_t cap);

#endif
