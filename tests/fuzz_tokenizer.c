// libFuzzer target: the BPE tokenizer.json loader on arbitrary file contents, then encode/decode of a
// fixed text with whatever loaded (it must round-trip).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    TokenizerConfig cfg = {.type = TOKENIZER_BPE};
    // /dev/shm keeps the per-input file in memory where it exists.
    snprintf(cfg.path, sizeof cfg.path, "%s/rlvr-fuzz-tokenizer-%d.json", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm",
             (int)getpid());
    snprintf(cfg.bos_token, sizeof cfg.bos_token, "<|endoftext|>");
    snprintf(cfg.eos_token, sizeof cfg.eos_token, "<|im_end|>");
    snprintf(cfg.pad_token, sizeof cfg.pad_token, "<|endoftext|>");
    FILE *f = fopen(cfg.path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    Err e = {{0}};
    Tokenizer *t = tokenizer_create(&cfg, &e);
    if (!t) return 0;
    static const char text[] = "Q: 12+34=?\n7+5=12\nAnswer: 46 <|im_end|> caf\xc3\xa9 \xff\xfe";
    int32_t *ids = NULL;
    int n = 0;
    if (tokenizer_encode(t, text, sizeof text - 1, &ids, &n, &e) == 0) {
        size_t len = 0;
        char *back = tokenizer_decode(t, ids, n, &len);
        if (len != sizeof text - 1 || memcmp(back, text, len)) abort();  // lossless for any loaded tokenizer
        free(back), free(ids);
    }
    tokenizer_free(t);
    return 0;
}
