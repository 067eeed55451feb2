// Tokenizer interface: byte-level (embedded tasks) or Hugging Face byte-level BPE (tokenizer.json).
#ifndef RLVR_TOKENIZER_H
#define RLVR_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"

typedef struct Tokenizer Tokenizer;

Tokenizer *tokenizer_create(const TokenizerConfig *cfg, Err *e);
void tokenizer_free(Tokenizer *t);
int tokenizer_vocab_size(const Tokenizer *t);
int32_t tokenizer_bos(const Tokenizer *t);
int32_t tokenizer_eos(const Tokenizer *t);
int32_t tokenizer_pad(const Tokenizer *t);
// Id of the token that only a template can insert, by content: an added token of tokenizer.json (special or
// not), or a special token of the byte-level tokenizer ("<|im_start|>", "<think>", ...); -1 when there is none.
int32_t tokenizer_added_id(const Tokenizer *t, const char *content);
// 0 when every token id is a row of a model with model_vocab_size rows, else -1 naming both sizes.
int tokenizer_fits_model(const Tokenizer *t, int model_vocab_size, Err *e);

// Text to ids (no BOS/EOS added; never a special token); *ids malloc'd. Lossless: decode(encode(s)) == s for any
// bytes, except that a tokenizer.json with an NFC normalizer gives valid UTF-8 back in NFC, as Hugging Face does.
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int32_t **ids, int *n, Err *e);
// Ids to text (malloc'd, NUL-terminated, length in *len); special tokens render as their names.
char *tokenizer_decode(const Tokenizer *t, const int32_t *ids, int n, size_t *len);
// Bytes of one token into buf (up to cap); returns the byte count, or -1 for an id out of range.
int tokenizer_token_bytes(const Tokenizer *t, int32_t id, char *buf, size_t cap);

#endif
