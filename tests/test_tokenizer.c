// Byte-level tokenizer: lossless round trip for any bytes, special ids, decode of specials.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "text/tokenizer.h"

static Tokenizer *byte_tokenizer(void) {
    TokenizerConfig cfg = {.type = TOKENIZER_BYTE};
    Err e = {{0}};
    Tokenizer *t = tokenizer_create(&cfg, &e);
    cr_assert(t, "%s", e.msg);
    return t;
}

Test(tokenizer, round_trip_of_every_byte_and_random_strings) {
    Tokenizer *t = byte_tokenizer();
    Rng r = rng_at(5, 0, 0, 0);
    for (int trial = 0; trial < 200; trial++) {
        size_t n = trial == 0 ? 256 : rng_below(&r, 300);
        char *s = malloc(n + 1);
        for (size_t i = 0; i < n; i++) s[i] = (char)(trial == 0 ? i : rng_below(&r, 256));  // NULs included
        int32_t *ids;
        int m;
        Err e = {{0}};
        cr_assert_eq(tokenizer_encode(t, s, n, &ids, &m, &e), 0, "%s", e.msg);
        cr_assert_eq(m, (int)n);
        for (int i = 0; i < m; i++) cr_assert(ids[i] >= 0 && ids[i] < 256);
        size_t len;
        char *back = tokenizer_decode(t, ids, m, &len);
        cr_assert_eq(len, n);
        cr_assert(!memcmp(back, s, n));
        cr_assert_eq(back[n], 0);
        free(back), free(ids), free(s);
    }
    tokenizer_free(t);
}

Test(tokenizer, special_ids_and_their_names) {
    Tokenizer *t = byte_tokenizer();
    cr_expect_eq(tokenizer_bos(t), 256);
    cr_expect_eq(tokenizer_eos(t), 257);
    cr_expect_eq(tokenizer_pad(t), 258);
    cr_expect(tokenizer_vocab_size(t) > 258 && tokenizer_vocab_size(t) <= 512, "vocab %d", tokenizer_vocab_size(t));
    int32_t ids[] = {'a', 256, 'b', 257, 258};
    size_t len;
    char *s = tokenizer_decode(t, ids, 5, &len);
    cr_expect_str_eq(s, "a<|bos|>b<|eos|><|pad|>");
    cr_expect_eq(len, strlen(s));
    free(s);
    char buf[4];
    cr_expect_eq(tokenizer_token_bytes(t, 257, buf, sizeof buf), 7, "byte count beyond cap is still reported");
    cr_expect_eq(tokenizer_token_bytes(t, tokenizer_vocab_size(t), buf, sizeof buf), -1);
    cr_expect_eq(tokenizer_token_bytes(t, -1, buf, sizeof buf), -1);
    tokenizer_free(t);
}

Test(tokenizer, text_never_encodes_to_a_special_token) {
    Tokenizer *t = byte_tokenizer();
    int32_t *ids;
    int n;
    Err e = {{0}};
    cr_assert_eq(tokenizer_encode(t, "<|eos|>", 7, &ids, &n, &e), 0);
    cr_expect_eq(n, 7);
    for (int i = 0; i < n; i++) cr_expect_lt(ids[i], 256);
    free(ids);
    tokenizer_free(t);
}
