// Hugging Face byte-level BPE: tokenizer.json (cJSON) -> vocab/merges tables; encode = split the text with the
// pre-tokenizer regexes (PCRE2), then merge each piece's bytes by rank (lowest first), as HF's BPE model does.
//
// As HF does, non-special added tokens are split out of the raw text first, and a "NFC" normalizer composes the
// text between them (so decode(encode(s)) == s for NFC text; other text comes back in NFC). Bytes that are not
// UTF-8, which HF cannot be given, pass through unchanged and decode back to themselves.
// One choice differs from HF on purpose: special added tokens are never produced by encode, so "<|im_end|>" in
// user or task text is ordinary text and text can never inject EOS or a chat marker (HF's
// encode_special_tokens = true).
#include "text/tokenizer_bpe.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define MAX_REGEX 8
#define MAX_TOKENS (1 << 24)
#define ALPHABET_CPS (256 + 68)  // code points of the byte-level alphabet: 188 printable bytes + 68 moved
// GPT-2's pre-tokenizer pattern, used by a ByteLevel pre-tokenizer with use_regex = true.
#define GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

typedef struct {
    char *bytes;
    int len;
    bool set, added, special;
} Token;

struct Bpe {
    char path[CONFIG_STR];
    int n;  // ids 0..n-1
    Token *tok;
    int32_t *vocab_slot;  // open addressing: model.vocab bytes -> id (-1 = empty)
    uint32_t vocab_mask;
    uint64_t *pair_key;  // open addressing: (left id, right id) + 1 -> rank and merged id (0 = empty)
    int32_t *pair_rank, *pair_merged;
    uint32_t pair_mask;
    int32_t byte_id[256];
    int16_t byte_of_cp[ALPHABET_CPS];  // inverse of GPT-2's byte-to-unicode map (-1 = not in the alphabet)
    pcre2_code *re[MAX_REGEX];
    int n_re;
    int32_t *split_ids;  // non-special added tokens, split out of the text before the regexes
    int n_split;
    bool ignore_merges, nfc;
};

static uint64_t hash_bytes(const char *s, int n) {  // FNV-1a
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint32_t table_size(int n) {
    uint32_t size = 16;
    while (size < 2u * (uint32_t)n) size *= 2;
    return size;
}

static int32_t vocab_find(const Bpe *b, const char *s, int n) {
    for (uint32_t i = (uint32_t)hash_bytes(s, n) & b->vocab_mask;; i = (i + 1) & b->vocab_mask) {
        int32_t id = b->vocab_slot[i];
        if (id < 0) return -1;
        if (b->tok[id].len == n && !memcmp(b->tok[id].bytes, s, (size_t)n)) return id;
    }
}

static void vocab_insert(Bpe *b, int32_t id) {
    uint32_t i = (uint32_t)hash_bytes(b->tok[id].bytes, b->tok[id].len) & b->vocab_mask;
    while (b->vocab_slot[i] >= 0) i = (i + 1) & b->vocab_mask;
    b->vocab_slot[i] = id;
}

static uint64_t pair_of(int32_t left, int32_t right) { return ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1; }

static uint32_t pair_slot(const Bpe *b, uint64_t key) {
    uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & b->pair_mask;
    while (b->pair_key[i] && b->pair_key[i] != key) i = (i + 1) & b->pair_mask;
    return i;
}

// GPT-2's byte-to-unicode alphabet: printable Latin-1 bytes stand for themselves, the rest map to 256, 257, ...
static void byte_alphabet(Bpe *b) {
    int next = 256;
    for (int cp = 0; cp < ALPHABET_CPS; cp++) b->byte_of_cp[cp] = -1;
    for (int c = 0; c < 256; c++) {
        bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
        b->byte_of_cp[printable ? c : next++] = (int16_t)c;
    }
}

// Byte-level unicode text (a vocab key or merge part) -> raw bytes (malloc'd); -1 if a character is outside
// the alphabet.
static int unicode_to_bytes(const Bpe *b, const char *s, char **out, int *len) {
    size_t n = strlen(s);
    char *bytes = xmalloc(n + 1);
    int k = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (step <= 0 || cp < 0 || cp >= ALPHABET_CPS || b->byte_of_cp[cp] < 0) return free(bytes), -1;
        bytes[k++] = (char)b->byte_of_cp[cp];
        i += (size_t)step;
    }
    *out = bytes, *len = k;
    return 0;
}

static char *read_whole_file(const char *path, size_t *len, Err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, "%s: cannot open tokenizer.json (%s)", path, strerror(errno)), NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (size_t got; (got = fread(buf + n, 1, cap - n, f)) > 0;)
        if ((n += got) == cap) buf = xrealloc(buf, cap *= 2);
    bool bad = ferror(f);
    fclose(f);
    if (bad) return free(buf), err_set(e, "%s: cannot read tokenizer.json", path), NULL;
    *len = n;
    return buf;
}

static int json_id(const cJSON *v, int32_t *id) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble >= MAX_TOKENS)
        return -1;
    *id = (int32_t)v->valuedouble;
    return 0;
}

// Ids must run 0..n-1: n is one more than the largest id in model.vocab and added_tokens.
static int count_ids(Bpe *b, const cJSON *vocab, const cJSON *added, Err *e) {
    int32_t id, top = -1;
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab) {
        if (json_id(v, &id)) return err_set(e, "%s: model.vocab[\"%s\"]: expected an id in [0, %d)", b->path, v->string, MAX_TOKENS);
        if (id > top) top = id;
    }
    int i = 0;
    cJSON_ArrayForEach(v, added) {
        if (json_id(cJSON_GetObjectItemCaseSensitive(v, "id"), &id) ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "content")))
            return err_set(e, "%s: added_tokens[%d]: expected {\"id\": an id in [0, %d), \"content\": a string}", b->path,
                           i, MAX_TOKENS);
        if (id > top) top = id;
        i++;
    }
    if (top < 0) return err_set(e, "%s: model.vocab is empty", b->path);
    b->n = top + 1;
    return 0;
}

static int load_vocab(Bpe *b, const cJSON *vocab, Err *e) {
    b->vocab_mask = table_size(b->n) - 1;
    b->vocab_slot = xmalloc(((size_t)b->vocab_mask + 1) * sizeof *b->vocab_slot);
    memset(b->vocab_slot, 0xff, ((size_t)b->vocab_mask + 1) * sizeof *b->vocab_slot);
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab) {
        int32_t id = (int32_t)v->valuedouble;
        Token *t = &b->tok[id];
        if (t->set) return err_set(e, "%s: model.vocab: duplicate id %d (\"%s\")", b->path, id, v->string);
        if (unicode_to_bytes(b, v->string, &t->bytes, &t->len))
            return err_set(e, "%s: model.vocab[\"%s\"]: expected byte-level characters (GPT-2 byte-to-unicode)",
                           b->path, v->string);
        t->set = true;
        if (vocab_find(b, t->bytes, t->len) >= 0)
            return err_set(e, "%s: model.vocab: duplicate token \"%s\"", b->path, v->string);
        vocab_insert(b, id);
    }
    for (int c = 0; c < 256; c++) {
        char byte = (char)c;
        if ((b->byte_id[c] = vocab_find(b, &byte, 1)) < 0)
            return err_set(e, "%s: model.vocab lacks the byte-level token of byte 0x%02x (expected all 256)", b->path, c);
    }
    return 0;
}

static int load_added(Bpe *b, const cJSON *added, Err *e) {
    const cJSON *v;
    int i = 0;
    cJSON_ArrayForEach(v, added) {
        int32_t id = (int32_t)cJSON_GetObjectItemCaseSensitive(v, "id")->valuedouble;
        const char *content = cJSON_GetObjectItemCaseSensitive(v, "content")->valuestring;
        Token *t = &b->tok[id];
        int len = (int)strlen(content);
        if (t->set && (t->added || t->len != len || memcmp(t->bytes, content, (size_t)len)))
            return err_set(e, "%s: added_tokens[%d]: duplicate id %d (\"%s\")", b->path, i, id, content);
        if (!len) return err_set(e, "%s: added_tokens[%d]: empty content", b->path, i);
        if (!t->set) t->bytes = strdup(content), t->len = len;
        t->set = t->added = true;
        t->special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "special"));
        i++;
    }
    for (int id = 0; id < b->n; id++)
        if (!b->tok[id].set)
            return err_set(e, "%s: id %d is beyond the vocabulary: no token in model.vocab or added_tokens has id %d "
                           "(expected ids 0..N-1 without gaps)", b->path, b->n - 1, id);
    return 0;
}

// A merge is "left right" (older files) or ["left", "right"] (newer files).
static int merge_parts(const cJSON *m, const char **left, const char **right, char *buf, size_t cap) {
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
        cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
        *left = cJSON_GetArrayItem(m, 0)->valuestring, *right = cJSON_GetArrayItem(m, 1)->valuestring;
        return 0;
    }
    if (!cJSON_IsString(m) || strlen(m->valuestring) >= cap) return -1;
    strcpy(buf, m->valuestring);
    char *space = strchr(buf, ' ');
    if (!space || strchr(space + 1, ' ')) return -1;
    *space = 0;
    *left = buf, *right = space + 1;
    return 0;
}

static int32_t part_id(const Bpe *b, const char *unicode) {
    char *bytes;
    int len;
    if (unicode_to_bytes(b, unicode, &bytes, &len)) return -1;
    int32_t id = vocab_find(b, bytes, len);
    free(bytes);
    return id;
}

static int load_merges(Bpe *b, const cJSON *merges, Err *e) {
    int n = cJSON_GetArraySize(merges);
    b->pair_mask = table_size(n) - 1;
    size_t slots = (size_t)b->pair_mask + 1;
    b->pair_key = xcalloc(slots, sizeof *b->pair_key);
    b->pair_rank = xmalloc(slots * sizeof *b->pair_rank);
    b->pair_merged = xmalloc(slots * sizeof *b->pair_merged);
    char buf[1024];
    int rank = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        const char *left, *right;
        if (merge_parts(m, &left, &right, buf, sizeof buf))
            return err_set(e, "%s: model.merges[%d]: expected \"left right\" or [\"left\", \"right\"]", b->path, rank);
        int32_t l = part_id(b, left), r = part_id(b, right);
        if (l < 0 || r < 0)
            return err_set(e, "%s: model.merges[%d]: \"%s\" is not in model.vocab", b->path, rank, l < 0 ? left : right);
        int len = b->tok[l].len + b->tok[r].len;
        char *joined = xmalloc((size_t)len);
        memcpy(joined, b->tok[l].bytes, (size_t)b->tok[l].len);
        memcpy(joined + b->tok[l].len, b->tok[r].bytes, (size_t)b->tok[r].len);
        int32_t merged = vocab_find(b, joined, len);
        free(joined);
        if (merged < 0)
            return err_set(e, "%s: model.merges[%d]: the merged token \"%s%s\" is not in model.vocab", b->path, rank,
                           left, right);
        uint32_t slot = pair_slot(b, pair_of(l, r));
        if (!b->pair_key[slot])  // a repeated merge keeps its first (lowest) rank
            b->pair_key[slot] = pair_of(l, r), b->pair_rank[slot] = rank, b->pair_merged[slot] = merged;
        rank++;
    }
    return 0;
}

// HF's regexes are Oniguruma's, whose \s is Unicode White_Space; PCRE2's \s also takes U+180E (MONGOLIAN VOWEL
// SEPARATOR, no longer a space since Unicode 6.3). The pattern with \s and \S spelt as the property (malloc'd).
static char *oniguruma_spaces(const char *pattern) {
    size_t n = strlen(pattern), k = 0;
    char *out = xmalloc(8 * n + 1);
    for (size_t i = 0; i < n; i++) {
        if (pattern[i] == '\\' && (pattern[i + 1] == 's' || pattern[i + 1] == 'S')) {
            k += (size_t)sprintf(out + k, "\\%c{White_Space}", pattern[i + 1] == 's' ? 'p' : 'P');
            i++;
        } else if (pattern[i] == '\\' && pattern[i + 1]) {
            out[k++] = pattern[i++];
            out[k++] = pattern[i];
        } else {
            out[k++] = pattern[i];
        }
    }
    out[k] = 0;
    return out;
}

static pcre2_code *compile(const char *pattern, uint32_t literal, int *code, PCRE2_SIZE *offset) {
    return pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | literal, code, offset, NULL);
}

static int add_regex(Bpe *b, const char *pattern, uint32_t literal, Err *e) {
    if (b->n_re == MAX_REGEX) return err_set(e, "%s: pre_tokenizer: more than %d splits", b->path, MAX_REGEX);
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = compile(pattern, literal, &code, &offset);  // as written, so an error's offset is the file's
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return err_set(e, "%s: pre_tokenizer regex \"%s\": %s at offset %zu", b->path, pattern, (char *)msg,
                       (size_t)offset);
    }
    if (!literal) {
        char *spaces = oniguruma_spaces(pattern);
        pcre2_code_free(re);
        re = compile(spaces, 0, &code, &offset);
        free(spaces);
        if (!re) return err_set(e, "%s: pre_tokenizer regex \"%s\": cannot spell \\s as White_Space", b->path, pattern);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // an interpreter fallback remains when JIT is unavailable
    b->re[b->n_re++] = re;
    return 0;
}

static int add_split(Bpe *b, const cJSON *p, Err *e) {
    const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(p, "pattern");
    const cJSON *regex = cJSON_GetObjectItemCaseSensitive(pattern, "Regex");
    const cJSON *string = cJSON_GetObjectItemCaseSensitive(pattern, "String");
    const cJSON *behavior = cJSON_GetObjectItemCaseSensitive(p, "behavior");
    if (!cJSON_IsString(regex) && !cJSON_IsString(string))
        return err_set(e, "%s: pre_tokenizer Split: expected \"pattern\": {\"Regex\": ...} or {\"String\": ...}", b->path);
    if (!cJSON_IsString(behavior) || strcmp(behavior->valuestring, "Isolated") ||
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "invert")))
        return err_set(e, "%s: pre_tokenizer Split: expected \"behavior\": \"Isolated\" and \"invert\": false", b->path);
    return cJSON_IsString(regex) ? add_regex(b, regex->valuestring, 0, e)
                                 : add_regex(b, string->valuestring, PCRE2_LITERAL, e);
}

// Sequence of Split(s) then ByteLevel, or ByteLevel alone (with GPT-2's regex when use_regex).
static int load_pretokenizer(Bpe *b, const cJSON *p, bool *byte_level, Err *e) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    const char *name = cJSON_IsString(type) ? type->valuestring : "";
    if (!strcmp(name, "Sequence")) {
        const cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"))
            TRY(load_pretokenizer(b, item, byte_level, e));
        return 0;
    }
    if (*byte_level)
        return err_set(e, "%s: pre_tokenizer: expected ByteLevel to be the last pre-tokenizer", b->path);
    if (!strcmp(name, "Split")) return add_split(b, p, e);
    if (strcmp(name, "ByteLevel"))
        return err_set(e, "%s: pre_tokenizer type \"%s\": expected ByteLevel, Split or Sequence", b->path, name);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "add_prefix_space")))
        return err_set(e, "%s: pre_tokenizer ByteLevel: expected \"add_prefix_space\": false (a prefix space would not "
                       "round-trip)", b->path);
    *byte_level = true;
    return cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(p, "use_regex")) ? 0 : add_regex(b, GPT2_PATTERN, 0, e);
}

static int check_model(Bpe *b, const cJSON *model, const cJSON *normalizer, Err *e) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE"))
        return err_set(e, "%s: model.type = \"%s\": expected \"BPE\"", b->path,
                       cJSON_IsString(type) ? type->valuestring : "(missing)");
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(model, "vocab")))
        return err_set(e, "%s: model.vocab: expected an object of token -> id", b->path);
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(model, "merges")))
        return err_set(e, "%s: model.merges: expected an array", b->path);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback")))
        return err_set(e, "%s: model.byte_fallback = true: expected a byte-level BPE (false)", b->path);
    const char *affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {  // Qwen's own files write "" for none
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, affix[i]);
        if (cJSON_IsString(v) && v->valuestring[0])
            return err_set(e, "%s: model.%s: expected null or \"\" (byte-level BPE)", b->path, affix[i]);
    }
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(normalizer, "type");
    if (normalizer && !cJSON_IsNull(normalizer) && !(cJSON_IsString(norm) && !strcmp(norm->valuestring, "NFC")))
        return err_set(e, "%s: normalizer: expected null or NFC", b->path);
    b->nfc = cJSON_IsString(norm);
    return 0;
}

// A named token (bos/eos/pad) must be a special added token, so encode can never produce it.
static int named_id(const Bpe *b, const char *key, const char *content, int32_t *id, Err *e) {
    for (int32_t i = 0; i < b->n; i++)
        if (b->tok[i].special && (size_t)b->tok[i].len == strlen(content) && !memcmp(b->tok[i].bytes, content, strlen(content)))
            return *id = i, 0;
    return err_set(e, "%s: [tokenizer] %s = \"%s\" is not a special token in tokenizer.json added_tokens", b->path, key,
                   content);
}

static int load_json(Bpe *b, const cJSON *root, const TokenizerConfig *cfg, int32_t *ids, Err *e) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (!cJSON_IsObject(model)) return err_set(e, "%s: expected a \"model\" object", b->path);
    if (added && !cJSON_IsArray(added) && !cJSON_IsNull(added))
        return err_set(e, "%s: added_tokens: expected an array", b->path);
    TRY(check_model(b, model, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), e));
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    TRY(count_ids(b, vocab, added, e));
    b->tok = xcalloc((size_t)b->n, sizeof *b->tok);
    TRY(load_vocab(b, vocab, e));
    TRY(load_added(b, added, e));
    TRY(load_merges(b, cJSON_GetObjectItemCaseSensitive(model, "merges"), e));
    b->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
    bool byte_level = false;
    TRY(load_pretokenizer(b, pre, &byte_level, e));
    if (!byte_level) return err_set(e, "%s: pre_tokenizer: expected a ByteLevel pre-tokenizer", b->path);
    TRY(named_id(b, "bos_token", cfg->bos_token, &ids[0], e));
    TRY(named_id(b, "eos_token", cfg->eos_token, &ids[1], e));
    TRY(named_id(b, "pad_token", cfg->pad_token, &ids[2], e));
    b->split_ids = xmalloc((size_t)b->n * sizeof *b->split_ids);
    for (int32_t i = 0; i < b->n; i++)
        if (b->tok[i].added && !b->tok[i].special) b->split_ids[b->n_split++] = i;
    return 0;
}

Bpe *bpe_load(const TokenizerConfig *cfg, int32_t *bos, int32_t *eos, int32_t *pad, Err *e) {
    size_t len;
    char *text = read_whole_file(cfg->path, &len, e);
    if (!text) return NULL;
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= text && at <= text + len ? (long)(at - text) : -1;
        err_set(e, "%s: invalid JSON near byte %ld (expected a Hugging Face tokenizer.json)", cfg->path, off);
        return free(text), NULL;
    }
    free(text);
    Bpe *b = xcalloc(1, sizeof *b);
    snprintf(b->path, sizeof b->path, "%s", cfg->path);
    byte_alphabet(b);
    int32_t ids[3];
    int rc = load_json(b, root, cfg, ids, e);
    cJSON_Delete(root);
    if (rc) return bpe_free(b), NULL;
    *bos = ids[0], *eos = ids[1], *pad = ids[2];
    return b;
}

void bpe_free(Bpe *b) {
    if (!b) return;
    for (int i = 0; b->tok && i < b->n; i++) free(b->tok[i].bytes);
    for (int i = 0; i < b->n_re; i++) pcre2_code_free(b->re[i]);
    free(b->tok), free(b->vocab_slot), free(b->pair_key), free(b->pair_rank), free(b->pair_merged);
    free(b->split_ids), free(b);
}

int bpe_vocab_size(const Bpe *b) { return b->n; }

int32_t bpe_added_id(const Bpe *b, const char *content) {
    size_t len = strlen(content);
    for (int32_t i = b->n - 1; i >= 0; i--)  // added tokens usually come last
        if (b->tok[i].added && (size_t)b->tok[i].len == len && !memcmp(b->tok[i].bytes, content, len)) return i;
    return -1;
}

int bpe_token_bytes(const Bpe *b, int32_t id, char *buf, size_t cap) {
    if (id < 0 || id >= b->n) return -1;
    const Token *t = &b->tok[id];
    memcpy(buf, t->bytes, (size_t)t->len < cap ? (size_t)t->len : cap);
    return t->len;
}

typedef struct {
    int32_t *ids, *word;
    size_t n, cap, word_cap;
    pcre2_match_data *md[MAX_REGEX];
} Enc;

static void emit(Enc *x, int32_t id) {
    if (x->n == x->cap) x->ids = xrealloc(x->ids, (x->cap = 2 * x->cap + 16) * sizeof *x->ids);
    x->ids[x->n++] = id;
}

static int32_t rank_of(const Bpe *b, int32_t left, int32_t right, int32_t *merged) {
    uint32_t slot = pair_slot(b, pair_of(left, right));
    if (!b->pair_key[slot]) return INT32_MAX;
    if (merged) *merged = b->pair_merged[slot];
    return b->pair_rank[slot];
}

// Merges, left to right from `first`, every occurrence of the pair (l, r) of rank `rank`, as HF's merge queue
// would, stopping early when a new neighbour pair outranks it (the caller then looks again); returns the new length.
static size_t merge_pass(const Bpe *b, int32_t *w, size_t m, size_t first, int32_t l, int32_t r, int32_t rank,
                         int32_t merged) {
    size_t out = first;
    bool stop = false;
    for (size_t i = first; i < m;) {
        if (stop || i + 1 >= m || w[i] != l || w[i + 1] != r) {
            w[out++] = w[i++];
            continue;
        }
        w[out] = merged;
        stop = (out > 0 && rank_of(b, w[out - 1], merged, NULL) < rank) ||
               (i + 2 < m && rank_of(b, merged, w[i + 2], NULL) < rank);
        out++, i += 2;
    }
    return out;
}

// One pre-token: its bytes' tokens, then the lowest-ranked adjacent pair merged (leftmost first) until none is left.
static void encode_piece(const Bpe *b, Enc *x, const char *s, size_t len) {
    int32_t whole = b->ignore_merges && len < INT_MAX ? vocab_find(b, s, (int)len) : -1;
    if (whole >= 0) return emit(x, whole);
    if (len > x->word_cap) x->word = xrealloc(x->word, (x->word_cap = len) * sizeof *x->word);
    int32_t *w = x->word;
    size_t m = len;
    for (size_t i = 0; i < len; i++) w[i] = b->byte_id[(unsigned char)s[i]];
    for (;;) {
        size_t best = m;
        int32_t best_rank = INT32_MAX, best_id = -1;
        for (size_t i = 0; i + 1 < m; i++) {
            int32_t merged, rank = rank_of(b, w[i], w[i + 1], &merged);
            if (rank < best_rank) best = i, best_rank = rank, best_id = merged;
        }
        if (best == m) break;
        m = merge_pass(b, w, m, best, w[best], w[best + 1], best_rank, best_id);
    }
    for (size_t i = 0; i < m; i++) emit(x, w[i]);
}

static size_t utf8_char_len(const char *s, size_t left) {
    size_t k = 1;
    while (k < left && ((unsigned char)s[k] & 0xC0) == 0x80) k++;
    return k;
}

// Splits s with regex `level` into matches and the gaps between them (HF "Isolated"), each split further by the
// next regex; pieces past the last regex are encoded.
static int split_text(const Bpe *b, Enc *x, int level, const char *s, size_t len, Err *e) {
    if (len == 0) return 0;
    if (level == b->n_re) return encode_piece(b, x, s, len), 0;
    size_t last = 0, from = 0;
    while (from < len) {
        int rc = pcre2_match(b->re[level], (PCRE2_SPTR)s, len, from, 0, x->md[level], NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return err_set(e, "%s: pre_tokenizer regex failed: %s", b->path, (char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(x->md[level]);
        if (ov[1] == ov[0]) {  // an empty match splits nothing: look again one character later
            from = ov[0] + utf8_char_len(s + ov[0], len - ov[0]);
            continue;
        }
        TRY(split_text(b, x, level + 1, s + last, ov[0] - last, e));
        TRY(split_text(b, x, level + 1, s + ov[0], ov[1] - ov[0], e));
        last = from = ov[1];
    }
    return split_text(b, x, level + 1, s + last, len - last, e);
}

// The non-special added token starting at s (the longest), or -1.
static int32_t added_at(const Bpe *b, const char *s, size_t left) {
    int32_t best = -1;
    for (int i = 0; i < b->n_split; i++) {
        const Token *t = &b->tok[b->split_ids[i]];
        if ((size_t)t->len <= left && !memcmp(s, t->bytes, (size_t)t->len) && (best < 0 || t->len > b->tok[best].len))
            best = b->split_ids[i];
    }
    return best;
}

static void append(char **buf, size_t *n, size_t *cap, const void *s, size_t len) {
    if (*n + len > *cap) *buf = xrealloc(*buf, *cap = 2 * (*n + len));
    memcpy(*buf + *n, s, len);
    *n += len;
}

// s in NFC (malloc'd, length in *out): each maximal run of valid UTF-8 composed, any other byte kept as it is.
static char *nfc(const char *s, size_t len, size_t *out) {
    size_t n = 0, cap = len + 16;
    char *buf = xmalloc(cap);
    for (size_t i = 0; i < len;) {
        size_t run = i;
        utf8proc_int32_t cp;
        for (utf8proc_ssize_t k; run < len; run += (size_t)k)
            if ((k = utf8proc_iterate((const utf8proc_uint8_t *)s + run, (utf8proc_ssize_t)(len - run), &cp)) <= 0) break;
        utf8proc_uint8_t *composed = NULL;
        utf8proc_ssize_t m = run > i ? utf8proc_map((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(run - i),
                                                    &composed, UTF8PROC_STABLE | UTF8PROC_COMPOSE)
                                     : 0;
        if (m < 0) abort();  // the run was checked to be valid UTF-8; only out of memory remains
        if (m > 0) append(&buf, &n, &cap, composed, (size_t)m);
        free(composed);
        if (run < len) append(&buf, &n, &cap, s + run, 1);
        i = run + 1;
    }
    *out = n;
    return buf;
}

static bool ascii(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80) return false;
    return true;
}

// Text between added tokens: normalized (ASCII is already NFC), then pre-tokenized and merged.
static int encode_span(const Bpe *b, Enc *x, const char *s, size_t len, Err *e) {
    if (!b->nfc || ascii(s, len)) return split_text(b, x, 0, s, len, e);
    size_t n;
    char *normal = nfc(s, len, &n);
    int rc = split_text(b, x, 0, normal, n, e);
    free(normal);
    return rc;
}

static int encode_text(const Bpe *b, Enc *x, const char *text, size_t len, Err *e) {
    size_t start = 0;
    for (size_t i = 0; b->n_split && i < len; i++) {
        int32_t id = added_at(b, text + i, len - i);
        if (id < 0) continue;
        TRY(encode_span(b, x, text + start, i - start, e));
        emit(x, id);
        start = i + (size_t)b->tok[id].len;
        i = start - 1;
    }
    return encode_span(b, x, text + start, len - start, e);
}

int bpe_encode(const Bpe *b, const char *text, size_t len, int32_t **ids, int *n, Err *e) {
    if (len > (size_t)INT32_MAX) return err_set(e, "text of %zu bytes is too long to tokenize", len);
    Enc x = {0};
    for (int i = 0; i < b->n_re; i++) x.md[i] = pcre2_match_data_create_from_pattern(b->re[i], NULL);
    int rc = encode_text(b, &x, text, len, e);
    for (int i = 0; i < b->n_re; i++) pcre2_match_data_free(x.md[i]);
    free(x.word);
    if (rc) return free(x.ids), -1;
    *ids = x.n ? x.ids : xrealloc(x.ids, sizeof *x.ids);
    *n = (int)x.n;
    return 0;
}
