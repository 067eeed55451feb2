// The real Qwen2.5 tokenizer (tests/fixtures/qwen2.5/tokenizer.json.xz, built by tests/qwen_reference.py from
// Qwen's BPE ranks): rlvr's ids equal Hugging Face `tokenizers`' for every committed corpus case (code, CJK, emoji,
// numbers, whitespace runs, non-NFC text, random bytes, long strings), and the named, special and non-special
// added tokens are where Qwen2.5 puts them.
#include <cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text/tokenizer.h"

#define XZ "tests/fixtures/qwen2.5/tokenizer.json.xz"
#define CASES "tests/fixtures/qwen2.5/cases.jsonl"

static char path[256];
static Tokenizer *qwen;

// Decompressed once per test process into /tmp (xz-utils, launch/setup.sh), then loaded.
static void load_qwen(void) {
    snprintf(path, sizeof path, "/tmp/rlvr_test_qwen_%d.json", (int)getpid());
    char cmd[512];
    snprintf(cmd, sizeof cmd, "xz -dc %s > %s", XZ, path);
    cr_assert_eq(system(cmd), 0, "cannot run: %s", cmd);
    TokenizerConfig cfg = {.type = TOKENIZER_BPE};
    snprintf(cfg.path, sizeof cfg.path, "%s", path);
    strcpy(cfg.bos_token, "<|endoftext|>");
    strcpy(cfg.eos_token, "<|im_end|>");
    strcpy(cfg.pad_token, "<|endoftext|>");
    Err e = {{0}};
    qwen = tokenizer_create(&cfg, &e);
    unlink(path);
    cr_assert(qwen, "%s", e.msg);
}

static void free_qwen(void) { tokenizer_free(qwen); }

static char *slurp(const char *file) {
    FILE *f = fopen(file, "rb");
    cr_assert(f, "cannot open %s", file);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

static void expect_ids(const char *text, size_t len, const cJSON *want, const char *kind) {
    int32_t *ids;
    int m;
    Err e = {{0}};
    cr_assert_eq(tokenizer_encode(qwen, text, len, &ids, &m, &e), 0, "%s", e.msg);
    int n = cJSON_GetArraySize(want), i = 0;
    while (i < m && i < n && ids[i] == cJSON_GetArrayItem(want, i)->valueint) i++;
    cr_assert(i == m && i == n, "%s case \"%.80s\": %d ids, HF %d; first difference at %d: %d, HF %d", kind, text, m,
              n, i, i < m ? ids[i] : -1, i < n ? cJSON_GetArrayItem(want, i)->valueint : -1);
    free(ids);
}

Test(tokenizer_qwen, corpus_cases_match_hugging_face, .init = load_qwen, .fini = free_qwen) {
    char *all = slurp(CASES);
    int n_cases = 0, n_long = 0;
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *c = cJSON_Parse(line);
        cr_assert(c, "%s line %d: invalid JSON", CASES, n_cases + 1);
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(c, "text");
        const char *kind = cJSON_GetObjectItemCaseSensitive(c, "kind")->valuestring;
        size_t len = strlen(text->valuestring);  // the corpus holds no NUL
        expect_ids(text->valuestring, len, cJSON_GetObjectItemCaseSensitive(c, "ids"), kind);
        n_cases++, n_long += len > 4096;
        cJSON_Delete(c);
    }
    free(all);
    cr_assert_geq(n_cases, 400);
    cr_assert_geq(n_long, 8);
}

Test(tokenizer_qwen, added_tokens_are_qwen25s, .init = load_qwen, .fini = free_qwen) {
    cr_assert_eq(tokenizer_vocab_size(qwen), 151665);  // 151,643 ranks + 22 added tokens
    cr_assert_eq(tokenizer_bos(qwen), 151643);
    cr_assert_eq(tokenizer_eos(qwen), 151645);
    cr_assert_eq(tokenizer_pad(qwen), 151643);
    char buf[32];
    cr_assert_eq(tokenizer_token_bytes(qwen, 151644, buf, sizeof buf), 12);
    cr_assert(!memcmp(buf, "<|im_start|>", 12));
    cr_assert_eq(tokenizer_token_bytes(qwen, 151664, buf, sizeof buf), 12);
    cr_assert(!memcmp(buf, "<|file_sep|>", 12));
    // <tool_call> (151657) is not special: split out of text as HF does; <|im_end|> is special: never from text.
    const char *text = "<tool_call>x<|im_end|>";
    int32_t *ids;
    int m;
    Err e = {{0}};
    cr_assert_eq(tokenizer_encode(qwen, text, strlen(text), &ids, &m, &e), 0);
    cr_assert_eq(ids[0], 151657);
    for (int i = 1; i < m; i++) cr_assert_lt(ids[i], 151643, "text produced added token %d", ids[i]);
    free(ids);
}
