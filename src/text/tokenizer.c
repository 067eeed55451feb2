// Tokenizer dispatch (byte-level here, Hugging Face BPE in tokenizer_bpe.c) and the byte-level tokenizer: ids
// 0-255 are the bytes themselves, then the special tokens below. Neither tokenizer's encode ever produces a
// special token (text cannot inject EOS); decoding renders specials as their names.
#include "text/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_bpe.h"

#define BYTE_TOKENS 256

// Special tokens in id order after the 256 bytes: BOS, EOS, PAD, then chat/reasoning markers for the tasks.
static const char *const SPECIAL_NAMES[] = {"<|bos|>", "<|eos|>",  "<|pad|>",  "<|im_start|>", "<|im_end|>",
                                            "<think>", "</think>", "<answer>", "</answer>"};
#define N_SPECIAL ((int)(sizeof SPECIAL_NAMES / sizeof SPECIAL_NAMES[0]))

struct Tokenizer {
    int vocab_size;
    int32_t bos, eos, pad;
    Bpe *bpe;  // NULL for the byte-level tokenizer
};

Tokenizer *tokenizer_create(const TokenizerConfig *cfg, Err *e) {
    Tokenizer *t = xcalloc(1, sizeof *t);
    if (cfg->type == TOKENIZER_BPE) {
        if (!(t->bpe = bpe_load(cfg, &t->bos, &t->eos, &t->pad, e))) return free(t), NULL;
        t->vocab_size = bpe_vocab_size(t->bpe);
        return t;
    }
    t->vocab_size = BYTE_TOKENS + N_SPECIAL;
    t->bos = BYTE_TOKENS + 0, t->eos = BYTE_TOKENS + 1, t->pad = BYTE_TOKENS + 2;
    return t;
}

void tokenizer_free(Tokenizer *t) {
    if (t) bpe_free(t->bpe);
    free(t);
}

int tokenizer_vocab_size(const Tokenizer *t) { return t->vocab_size; }
int32_t tokenizer_bos(const Tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const Tokenizer *t) { return t->eos; }
int32_t tokenizer_pad(const Tokenizer *t) { return t->pad; }

int32_t tokenizer_added_id(const Tokenizer *t, const char *content) {
    if (t->bpe) return bpe_added_id(t->bpe, content);
    for (int i = 0; i < N_SPECIAL; i++)
        if (!strcmp(SPECIAL_NAMES[i], content)) return BYTE_TOKENS + i;
    return -1;
}

int tokenizer_fits_model(const Tokenizer *t, int model_vocab_size, Err *e) {
    if (t->vocab_size <= model_vocab_size) return 0;
    return err_set(e, "[model] vocab_size = %d is smaller than the tokenizer's %d tokens", model_vocab_size,
                   t->vocab_size);
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int32_t **ids, int *n, Err *e) {
    if (t->bpe) return bpe_encode(t->bpe, text, len, ids, n, e);
    if (len > (size_t)INT32_MAX) return err_set(e, "text of %zu bytes is too long to tokenize", len);
    int32_t *x = xmalloc((len ? len : 1) * sizeof *x);
    for (size_t i = 0; i < len; i++) x[i] = (unsigned char)text[i];
    *ids = x;
    *n = (int)len;
    return 0;
}

int tokenizer_token_bytes(const Tokenizer *t, int32_t id, char *buf, size_t cap) {
    if (t->bpe) return bpe_token_bytes(t->bpe, id, buf, cap);
    if (id < 0 || id >= t->vocab_size) return -1;
    if (id < BYTE_TOKENS) {
        if (cap >= 1) buf[0] = (char)id;
        return 1;
    }
    const char *name = SPECIAL_NAMES[id - BYTE_TOKENS];
    size_t n = strlen(name);
    memcpy(buf, name, n < cap ? n : cap);
    return (int)n;
}

char *tokenizer_decode(const Tokenizer *t, const int32_t *ids, int n, size_t *len) {
    size_t total = 0;
    char tmp[32];
    for (int i = 0; i < n; i++) {
        int b = tokenizer_token_bytes(t, ids[i], tmp, sizeof tmp);
        total += b < 0 ? strlen("<|unk|>") : (size_t)b;
    }
    char *s = xmalloc(total + 1), *p = s;
    for (int i = 0; i < n; i++) {
        int b = tokenizer_token_bytes(t, ids[i], p, total + 1 - (size_t)(p - s));
        if (b < 0) b = (int)strlen(memcpy(p, "<|unk|>", 8));  // ids outside the vocabulary stay visible
        p += b;
    }
    *p = 0;
    if (len) *len = total;
    return s;
}
