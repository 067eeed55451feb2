// JSON helpers (src/base/jsonl.h): json_quote gives a JSON string that a summary line can hold whatever the text.
#include <criterion/criterion.h>
#include <stdlib.h>

#include "base/jsonl.h"

// Expected forms written out by RFC 8259 §7: '"' and '\' escaped, a control byte as an escape, '/' and UTF-8 kept.
Test(jsonl, quote_escapes_what_json_needs) {
    const char *cases[][2] = {
        {"runs/x.h5", "\"runs/x.h5\""},
        {"q\"uo\\te", "\"q\\\"uo\\\\te\""},
        {"a\nb\tc", "\"a\\nb\\tc\""},
        {"caf\xc3\xa9", "\"caf\xc3\xa9\""},
        {"", "\"\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *q = json_quote(cases[i][0]);
        cr_expect_str_eq(q, cases[i][1]);
        free(q);
    }
}
