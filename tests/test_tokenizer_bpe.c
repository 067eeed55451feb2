// Hugging Face byte-level BPE: ids equal the reference (tests/bpe_reference.py, HF `tokenizers`) for every
// fixture case, lossless round trips of any bytes without a normalizer and of NFC text with one,
// tokenizer_token_bytes = decode, no special token from text, and one clear error for each kind of broken
// tokenizer.json.
#include <cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

#include "base/rng.h"
#include "text/tokenizer.h"

#define FIXTURE "tests/fixtures/bpe/tokenizer.json"
#define CASES "tests/fixtures/bpe/cases.jsonl"

static TokenizerConfig bpe_config(const char *path) {
    TokenizerConfig cfg = {.type = TOKENIZER_BPE};
    snprintf(cfg.path, sizeof cfg.path, "%s", path);
    strcpy(cfg.bos_token, "<|endoftext|>");
    strcpy(cfg.eos_token, "<|im_end|>");
    strcpy(cfg.pad_token, "<|endoftext|>");
    return cfg;
}

static Tokenizer *load(const char *path) {
    TokenizerConfig cfg = bpe_config(path);
    Err e = {{0}};
    Tokenizer *t = tokenizer_create(&cfg, &e);
    cr_assert(t, "%s", e.msg);
    return t;
}

// decode(encode(s)) == s, and the tokens' bytes laid end to end are the decoded text.
static void assert_round_trip(const Tokenizer *t, const char *s, size_t n) {
    int32_t *ids;
    int m;
    Err e = {{0}};
    cr_assert_eq(tokenizer_encode(t, s, n, &ids, &m, &e), 0, "%s", e.msg);
    size_t len;
    char *back = tokenizer_decode(t, ids, m, &len);
    cr_assert_eq(len, n);
    cr_assert(!memcmp(back, s, n), "round trip of \"%.*s\"", (int)n, s);
    size_t at = 0;
    char buf[512];
    for (int i = 0; i < m; i++) {
        cr_assert(ids[i] >= 0 && ids[i] < tokenizer_vocab_size(t));
        cr_assert(ids[i] != tokenizer_eos(t) && ids[i] != tokenizer_bos(t), "text produced a special token");
        int nb = tokenizer_token_bytes(t, ids[i], buf, sizeof buf);
        cr_assert(nb > 0 && at + (size_t)nb <= n && !memcmp(buf, back + at, (size_t)nb));
        at += (size_t)nb;
    }
    cr_assert_eq(at, n);
    free(back), free(ids);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return s;
}

// Every fixture case encodes to exactly the reference ids; returns the number of cases.
static int check_cases(const Tokenizer *t) {
    FILE *f = fopen(CASES, "r");
    cr_assert(f);
    char line[65536];
    int n_cases = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *c = cJSON_Parse(line);
        cr_assert(c);
        const char *text = cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring;
        cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "ids");
        int32_t *ids;
        int m;
        Err e = {{0}};
        cr_assert_eq(tokenizer_encode(t, text, strlen(text), &ids, &m, &e), 0, "%s", e.msg);
        cr_assert_eq(m, cJSON_GetArraySize(want), "\"%s\": %d ids, reference %d", text, m, cJSON_GetArraySize(want));
        for (int i = 0; i < m; i++)
            cr_assert_eq(ids[i], cJSON_GetArrayItem(want, i)->valueint, "\"%s\": id %d is %d, reference %d", text, i,
                         ids[i], cJSON_GetArrayItem(want, i)->valueint);
        assert_round_trip(t, text, strlen(text));
        free(ids), cJSON_Delete(c);
        n_cases++;
    }
    fclose(f);
    return n_cases;
}

Test(tokenizer_bpe, fixture_cases_match_the_hf_reference) {
    Tokenizer *t = load(FIXTURE);
    cr_assert_eq(tokenizer_vocab_size(t), 500);
    cr_assert_geq(check_cases(t), 40);
    tokenizer_free(t);
}

// Writes the fixture, changed by `edit`, to a temporary file (path in out).
static void write_variant(void (*edit)(cJSON *), char *out, size_t cap) {
    char *text = slurp(FIXTURE, NULL);
    cJSON *root = cJSON_Parse(text);
    edit(root);
    snprintf(out, cap, "/tmp/rlvr_test_bpe_%d.json", (int)getpid());
    FILE *f = fopen(out, "w");
    char *json = cJSON_PrintUnformatted(root);
    fputs(json, f);
    fclose(f);
    free(json), free(text), cJSON_Delete(root);
}

static cJSON *model_of(cJSON *root) { return cJSON_GetObjectItemCaseSensitive(root, "model"); }

static void merges_as_strings(cJSON *root) {
    cJSON *merges = cJSON_GetObjectItemCaseSensitive(model_of(root), "merges"), *m;
    cJSON *strings = cJSON_CreateArray();
    cJSON_ArrayForEach(m, merges) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s %s", cJSON_GetArrayItem(m, 0)->valuestring, cJSON_GetArrayItem(m, 1)->valuestring);
        cJSON_AddItemToArray(strings, cJSON_CreateString(buf));
    }
    cJSON_ReplaceItemInObjectCaseSensitive(model_of(root), "merges", strings);
}

Test(tokenizer_bpe, older_string_merges_give_the_same_ids) {
    char path[256];
    write_variant(merges_as_strings, path, sizeof path);
    Tokenizer *t = load(path);
    cr_assert_geq(check_cases(t), 40);
    tokenizer_free(t);
    unlink(path);
}

Test(tokenizer_bpe, named_ids_and_special_tokens_never_come_from_text) {
    Tokenizer *t = load(FIXTURE);
    cr_assert_eq(tokenizer_bos(t), 0);  // <|endoftext|>, <|im_start|>, <|im_end|> are ids 0, 1, 2 in the fixture
    cr_assert_eq(tokenizer_eos(t), 2);
    cr_assert_eq(tokenizer_pad(t), 0);
    const char *text = "4<|im_end|><|endoftext|><|im_start|>";
    int32_t *ids;
    int m;
    Err e = {{0}};
    cr_assert_eq(tokenizer_encode(t, text, strlen(text), &ids, &m, &e), 0);
    for (int i = 0; i < m; i++) cr_assert_gt(ids[i], 2, "text produced special token %d", ids[i]);
    free(ids);
    int32_t specials[] = {2, 1, 0};
    size_t len;
    char *s = tokenizer_decode(t, specials, 3, &len);
    cr_assert_str_eq(s, "<|im_end|><|im_start|><|endoftext|>");
    free(s);
    char buf[4];
    cr_assert_eq(tokenizer_token_bytes(t, 2, buf, sizeof buf), 10);  // full length even when buf is short
    cr_assert(!memcmp(buf, "<|im", 4));
    cr_assert_eq(tokenizer_token_bytes(t, 500, buf, sizeof buf), -1);
    cr_assert_eq(tokenizer_token_bytes(t, -1, buf, sizeof buf), -1);
    tokenizer_free(t);
}

static void add_non_special_token(cJSON *root) {
    cJSON *tok = cJSON_CreateObject();
    cJSON_AddNumberToObject(tok, "id", 500);
    cJSON_AddStringToObject(tok, "content", "<tool>");
    cJSON_AddBoolToObject(tok, "special", 0);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), tok);
}

Test(tokenizer_bpe, non_special_added_tokens_are_split_out_of_text) {
    char path[256];
    write_variant(add_non_special_token, path, sizeof path);
    Tokenizer *t = load(path);
    cr_assert_eq(tokenizer_vocab_size(t), 501);
    const char *text = "x<tool>y<tool><tool";
    int32_t *ids;
    int m;
    Err e = {{0}};
    cr_assert_eq(tokenizer_encode(t, text, strlen(text), &ids, &m, &e), 0);
    int found = 0;
    for (int i = 0; i < m; i++) found += ids[i] == 500;
    cr_assert_eq(found, 2);
    assert_round_trip(t, text, strlen(text));
    free(ids);
    tokenizer_free(t);
    unlink(path);
}

static void no_normalizer(cJSON *root) { cJSON_ReplaceItemInObjectCaseSensitive(root, "normalizer", cJSON_CreateNull()); }

// Random bytes (invalid UTF-8 and NULs included) and random mixes of tricky pieces: no error, and lossless
// without a normalizer.
Test(tokenizer_bpe, random_bytes_round_trip) {
    char path[256];
    write_variant(no_normalizer, path, sizeof path);
    Tokenizer *t = load(path);
    unlink(path);
    static const char *const pieces[] = {" ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "a", "Qx", "12", "+", "=?",
                                         "é", "日本", "😀", "\xff", "\xe6\x97", "\x80", "<|im_end|>", "\0", "Answer:"};
    int n_pieces = (int)(sizeof pieces / sizeof *pieces);
    Rng r = rng_at(11, 0, 0, 0);
    for (int trial = 0; trial < 3000; trial++) {
        char s[600];
        size_t n = 0;
        if (trial % 2) {
            for (size_t k = rng_below(&r, 300); n < k; n++) s[n] = (char)rng_below(&r, 256);
        } else {
            for (int k = (int)rng_below(&r, 40); k > 0; k--) {
                const char *p = pieces[rng_below(&r, (uint64_t)n_pieces)];
                size_t pn = p[0] ? strlen(p) : 1;
                memcpy(s + n, p, pn), n += pn;
            }
        }
        assert_round_trip(t, s, n);
    }
    tokenizer_free(t);
}

// With the NFC normalizer, decode(encode(s)) is s in NFC (utf8proc's), and bytes that are not UTF-8 stay as they are.
Test(tokenizer_bpe, nfc_normalizer_composes_valid_text_and_keeps_other_bytes) {
    Tokenizer *t = load(FIXTURE);
    static const char *const pieces[] = {"e", "\xcc\x81", "\xcc\xa7", "A", "\xcc\x8a", "\xe2\x84\xab", "\xcd\xb4",
                                         "\xe1\x84\x92", "\xe1\x85\xa1", "\xe1\x86\xab", " ", "\xc3\xa9", "'s", "1"};
    Rng r = rng_at(12, 0, 0, 0);
    for (int trial = 0; trial < 2000; trial++) {
        char s[256] = {0};
        for (int k = (int)rng_below(&r, 20); k > 0; k--) strcat(s, pieces[rng_below(&r, sizeof pieces / sizeof *pieces)]);
        char *want = (char *)utf8proc_NFC((const utf8proc_uint8_t *)s);
        int32_t *ids;
        int m;
        Err e = {{0}};
        cr_assert_eq(tokenizer_encode(t, s, strlen(s), &ids, &m, &e), 0, "%s", e.msg);
        size_t len;
        char *back = tokenizer_decode(t, ids, m, &len);
        cr_assert_str_eq(back, want, "\"%s\"", s);
        assert_round_trip(t, want, strlen(want));  // NFC text comes back unchanged
        free(back), free(ids), free(want);
    }
    const char mixed[] = "\xff" "e\xcc\x81" "\xfe\x80" "A\xcc\x8a";
    int32_t *ids;
    int m;
    Err e = {{0}};
    cr_assert_eq(tokenizer_encode(t, mixed, sizeof mixed - 1, &ids, &m, &e), 0);
    size_t len;
    char *back = tokenizer_decode(t, ids, m, &len);
    cr_assert_eq(len, 7);
    cr_assert(!memcmp(back, "\xff" "\xc3\xa9" "\xfe\x80" "\xc3\x85", len));
    free(back), free(ids);
    tokenizer_free(t);
}

Test(tokenizer_bpe, long_runs_encode) {
    Tokenizer *t = load(FIXTURE);
    size_t n = 20000;
    char *s = malloc(n);
    for (size_t i = 0; i < n; i++) s[i] = i % 1000 < 500 ? ' ' : "ab1\n"[i % 4];
    assert_round_trip(t, s, n);
    free(s);
    tokenizer_free(t);
}

// tokenizer_create on a broken variant fails with a message matching `want`.
static void expect_load_error(void (*edit)(cJSON *), const char *want) {
    char path[256];
    write_variant(edit, path, sizeof path);
    TokenizerConfig cfg = bpe_config(path);
    Err e = {{0}};
    Tokenizer *t = tokenizer_create(&cfg, &e);
    unlink(path);
    cr_assert_null(t, "expected an error containing \"%s\"", want);
    cr_assert(strstr(e.msg, path), "message does not name the file: %s", e.msg);
    cr_assert(strstr(e.msg, want), "message \"%s\" lacks \"%s\"", e.msg, want);
}

static void wrong_model_type(cJSON *root) { cJSON_ReplaceItemInObjectCaseSensitive(model_of(root), "type", cJSON_CreateString("WordPiece")); }
static void unknown_merge_part(cJSON *root) {
    cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(model_of(root), "merges"), 3);
    cJSON_ReplaceItemInArray(m, 1, cJSON_CreateString("zzzqqq"));
}
static void merge_without_result(cJSON *root) {
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, cJSON_CreateString("Q"));
    cJSON_AddItemToArray(pair, cJSON_CreateString("~"));
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(model_of(root), "merges"), pair);
}
static void bad_merge_string(cJSON *root) {
    cJSON_ReplaceItemInArray(cJSON_GetObjectItemCaseSensitive(model_of(root), "merges"), 0, cJSON_CreateString("abc"));
}
static void duplicate_id(cJSON *root) {
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(model_of(root), "vocab"), "a", cJSON_CreateNumber(100));
}
static void id_beyond_vocab(cJSON *root) {
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(model_of(root), "vocab"), "a", cJSON_CreateNumber(700));
}
static void negative_id(cJSON *root) {
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(model_of(root), "vocab"), "a", cJSON_CreateNumber(-3));
}
static void bad_regex(cJSON *root) {
    cJSON *split = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), "pretokenizers"), 0);
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(split, "pattern"), "Regex", cJSON_CreateString("(\\p{L}+"));
}
static void no_byte_level(cJSON *root) {
    cJSON_DeleteItemFromArray(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), "pretokenizers"), 1);
}
static void unknown_pretokenizer(cJSON *root) {
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), "type", cJSON_CreateString("Whitespace"));
}
static void eos_not_special(cJSON *root) {
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), 2), "special",
                              cJSON_CreateFalse());
}
static void missing_byte_token(cJSON *root) { cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(model_of(root), "vocab"), "~"); }
static void non_byte_level_token(cJSON *root) {
    cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model_of(root), "vocab");
    int id = cJSON_GetObjectItemCaseSensitive(vocab, "a")->valueint;
    cJSON_DeleteItemFromObjectCaseSensitive(vocab, "a");
    cJSON_AddNumberToObject(vocab, "日", id);
}
static void prefix_space(cJSON *root) {
    cJSON *bl = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), "pretokenizers"), 1);
    cJSON_ReplaceItemInObjectCaseSensitive(bl, "add_prefix_space", cJSON_CreateTrue());
}

Test(tokenizer_bpe, each_broken_tokenizer_json_gives_its_error) {
    expect_load_error(wrong_model_type, "model.type = \"WordPiece\": expected \"BPE\"");
    expect_load_error(unknown_merge_part, "is not in model.vocab");
    expect_load_error(merge_without_result, "the merged token \"Q~\" is not in model.vocab");
    expect_load_error(bad_merge_string, "model.merges[0]: expected \"left right\"");
    expect_load_error(duplicate_id, "model.vocab: duplicate id 100");
    expect_load_error(id_beyond_vocab, "id 700 is beyond the vocabulary");
    expect_load_error(negative_id, "model.vocab[\"a\"]: expected an id");
    expect_load_error(bad_regex, "pre_tokenizer regex \"(\\p{L}+\": missing closing parenthesis");
    expect_load_error(no_byte_level, "expected a ByteLevel pre-tokenizer");
    expect_load_error(unknown_pretokenizer, "pre_tokenizer type \"Whitespace\": expected ByteLevel");
    expect_load_error(eos_not_special, "[tokenizer] eos_token = \"<|im_end|>\" is not a special token in tokenizer.json");
    expect_load_error(missing_byte_token, "lacks the byte-level token of byte 0x7e");
    expect_load_error(non_byte_level_token, "model.vocab[\"日\"]: expected byte-level characters");
    expect_load_error(prefix_space, "expected \"add_prefix_space\": false");
}

Test(tokenizer_bpe, missing_file_invalid_json_and_unknown_names) {
    Err e = {{0}};
    TokenizerConfig cfg = bpe_config("/nonexistent/tokenizer.json");
    cr_assert_null(tokenizer_create(&cfg, &e));
    cr_assert(strstr(e.msg, "/nonexistent/tokenizer.json: cannot open tokenizer.json"), "%s", e.msg);
    char path[256];
    snprintf(path, sizeof path, "/tmp/rlvr_test_bpe_bad_%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("{\"model\": {\"type\": \"BPE\", \"vocab\": {", f);
    fclose(f);
    cfg = bpe_config(path);
    cr_assert_null(tokenizer_create(&cfg, &e));
    cr_assert(strstr(e.msg, "invalid JSON near byte"), "%s", e.msg);
    unlink(path);
    cfg = bpe_config(FIXTURE);
    strcpy(cfg.bos_token, "<s>");
    cr_assert_null(tokenizer_create(&cfg, &e));
    cr_assert(strstr(e.msg, FIXTURE ": [tokenizer] bos_token = \"<s>\" is not a special token"), "%s", e.msg);
}

Test(tokenizer_bpe, tokenizer_must_fit_the_model) {
    Tokenizer *t = load(FIXTURE);
    Err e = {{0}};
    cr_assert_eq(tokenizer_fits_model(t, 500, &e), 0);
    cr_assert_eq(tokenizer_fits_model(t, 499, &e), -1);
    cr_assert_str_eq(e.msg, "[model] vocab_size = 499 is smaller than the tokenizer's 500 tokens");
    tokenizer_free(t);
}
