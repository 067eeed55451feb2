// libFuzzer target: the math and integer verifiers, and the number reader's sign rule, on arbitrary bytes (never
// crash or hang).
// The input is "response \x00 answer"; without a NUL the answer is fixed.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/verify.h"
#include "text/verify_num.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 2);
    memcpy(buf, data, size);
    buf[size] = 0, buf[size + 1] = 0;
    const char *response = buf, *answer = memchr(buf, 0, size) ? buf + strlen(buf) + 1 : "\\frac{1}{2}";
    Verdict v;
    verify_math(response, answer, &v);
    verify_math(answer, response, &v);
    verify_integer_answer(response, answer, &v);
    char out[VERIFY_MAX_ANSWER];
    verify_normalize(response, out, sizeof out);
    verify_truth(response, out, sizeof out);
    (void)verify_equivalent(response, answer);
    (void)verify_equivalent(answer, response);
    for (size_t i = 0; response[i]; i++) (void)num_sign_in_term(response, i);  // looks back from every position
    free(buf);
    return 0;
}
