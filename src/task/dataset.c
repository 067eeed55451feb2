#include "task/dataset.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "base/jsonl.h"
#include "base/rng.h"
#include "text/verify.h"

#define FEISTEL_ROUNDS 4
#define MAX_FIELD_DEPTH 8

// Follows a dotted key path ("a.b.c") through nested objects; NULL when absent.
static const cJSON *field_at(const cJSON *obj, const char *dotted) {
    char key[64];
    const char *p = dotted;
    for (int depth = 0; depth < MAX_FIELD_DEPTH && obj; depth++) {
        size_t n = strcspn(p, ".");
        if (n >= sizeof key) return NULL;
        memcpy(key, p, n), key[n] = 0;
        obj = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
        if (!p[n]) return obj;
        p += n + 1;
    }
    return NULL;
}

// Content of the last {"role": "user", "content": "..."} of a chat-message array.
static const char *last_user_content(const cJSON *messages) {
    const char *found = NULL;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsString(role) && !strcmp(role->valuestring, "user") && cJSON_IsString(content))
            found = content->valuestring;
    }
    return found;
}

// Text of a record field: a string; for answers also a number (integers without a decimal point); for
// prompts (allow_messages) also chat messages. A missing field names the setting that chose it.
static char *field_text(const cJSON *obj, const char *key, bool allow_messages, const char *where, Err *e) {
    const cJSON *v = field_at(obj, key);
    if (!v)
        return err_set(e, "%s: missing key \"%s\" (data.%s)", where, key, allow_messages ? "prompt_field" : "answer_field"),
               NULL;
    if (cJSON_IsString(v)) {
        if (!v->valuestring[0]) return err_set(e, "%s: \"%s\" is an empty string", where, key), NULL;
        return strdup(v->valuestring);
    }
    if (!allow_messages && cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        char buf[64];
        json_number_text(v->valuedouble, buf, sizeof buf);
        return strdup(buf);
    }
    if (allow_messages && cJSON_IsArray(v)) {
        const char *content = last_user_content(v);
        if (content && content[0]) return strdup(content);
        return err_set(e, "%s: \"%s\" is an array without a {\"role\": \"user\", \"content\": ...} message", where, key),
               NULL;
    }
    return err_set(e, "%s: \"%s\" must be a string%s", where, key,
                   allow_messages ? " or an array of chat messages" : " or a number"),
           NULL;
}

// The number after the last "####" as verl's gsm8k.py reads it ("#### (-?[0-9.,]+)"), commas dropped;
// -1 when there is none.
static int last_gsm8k_number(const char *s, char *out, size_t cap) {
    const char *last = NULL;
    for (const char *p = s; (p = strstr(p, "####")); p++) last = p;
    if (!last) return -1;
    const char *p = last + 4;
    while (*p == ' ') p++;
    size_t n = 0;
    if (*p == '-') out[n++] = *p++;
    for (; (isdigit((unsigned char)*p) || *p == '.' || *p == ',') && n + 1 < cap; p++)
        if (*p != ',') out[n++] = *p;
    out[n] = 0;
    return n > 0 && isdigit((unsigned char)out[n - 1]) ? 0 : -1;
}

// The ground truth of an answer field (data.answer_format): as is, or extracted as verl's preprocessing does
// (gsm8k.py: the number after "####" without commas; math_dataset.py: the last \boxed{}).
static char *ground_truth(char *answer, AnswerFormat format, const char *key, const char *where, Err *e) {
    if (format == ANSWER_PLAIN) return answer;
    bool gsm8k = format == ANSWER_GSM8K;
    const char *expected = gsm8k ? "a \"#### N\" line (data.answer_format = gsm8k)"
                                 : "a \\boxed{...} (data.answer_format = boxed)";
    char truth[VERIFY_MAX_ANSWER];
    truth[0] = 0;
    if (!gsm8k) verify_last_boxed(answer, truth, sizeof truth);
    else if (last_gsm8k_number(answer, truth, sizeof truth)) truth[0] = 0;
    free(answer);
    if (!truth[0]) return err_set(e, "%s: \"%s\" has no answer: expected %s", where, key, expected), NULL;
    return strdup(truth);
}

#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL

// FNV-1a over s and its terminating NUL, so ("ab", "c") and ("a", "bc") differ.
static uint64_t fnv1a(uint64_t h, const char *s) {
    do h = (h ^ (unsigned char)*s) * FNV64_PRIME;
    while (*s++);
    return h;
}

static void push(Dataset *d, int64_t *cap, char *q, char *a) {
    d->hash = fnv1a(fnv1a(d->hash, q), a);
    if (d->n == *cap) {
        *cap = *cap ? 2 * *cap : 1024;
        d->questions = xrealloc(d->questions, (size_t)*cap * sizeof *d->questions);
        d->answers = xrealloc(d->answers, (size_t)*cap * sizeof *d->answers);
    }
    d->questions[d->n] = q, d->answers[d->n] = a;
    d->n++;
}

// One record: 1 read, 0 end of file, -1 malformed (message in e).
static int read_record(JsonlReader *r, const DataConfig *dc, char **q, char **a, Err *e) {
    cJSON *obj = NULL;
    int rc = jsonl_next(r, &obj, e);
    if (rc <= 0) return rc;
    char where[ERR_PLACE_SIZE];
    jsonl_where(r, where, sizeof where);
    *q = field_text(obj, dc->prompt_field, true, where, e);
    *a = *q ? field_text(obj, dc->answer_field, false, where, e) : NULL;
    if (*a) *a = ground_truth(*a, dc->answer_format, dc->answer_field, where, e);
    cJSON_Delete(obj);
    if (*q && *a) return 1;
    free(*q);
    return -1;
}

int dataset_load(Dataset *d, const char *path, const DataConfig *dc, Err *e) {
    memset(d, 0, sizeof *d);
    d->hash = FNV64_OFFSET;
    JsonlReader r;
    TRY(jsonl_open(&r, path, e));
    int64_t cap = 0;
    for (;;) {
        char *q = NULL, *a = NULL;
        int rc = read_record(&r, dc, &q, &a, e);
        if (rc == 0) break;
        if (rc > 0) {
            push(d, &cap, q, a);
            continue;
        }
        if (!dc->skip_bad_lines || ferror(r.f)) {
            jsonl_close(&r);
            dataset_free(d);
            return -1;
        }
        if (!d->skipped++) snprintf(d->first_bad, sizeof d->first_bad, "%s", e->msg);
    }
    jsonl_close(&r);
    if (d->n == 0) {
        int64_t skipped = d->skipped;
        dataset_free(d);
        return err_set(e, "%s: no usable records (%lld malformed lines skipped); expected JSON objects with \"%s\" and \"%s\"",
                       path, (long long)skipped, dc->prompt_field, dc->answer_field);
    }
    return 0;
}

void dataset_free(Dataset *d) {
    for (int64_t i = 0; i < d->n; i++) free(d->questions[i]), free(d->answers[i]);
    free(d->questions);
    free(d->answers);
    memset(d, 0, sizeof *d);
}

// One balanced Feistel pass over 2·half bits; each round function is a Philox draw.
static uint64_t feistel(uint64_t x, int half, uint64_t seed, uint32_t epoch) {
    uint64_t mask = (1ULL << half) - 1, left = x >> half, right = x & mask;
    for (uint32_t round = 0; round < FEISTEL_ROUNDS; round++) {
        Rng g = rng_at(seed, epoch, round, (uint32_t)right);
        uint64_t f = ((uint64_t)rng_u32(&g) << 32 | rng_u32(&g)) & mask;
        uint64_t next = left ^ f;
        left = right, right = next;
    }
    return left << half | right;
}

int64_t dataset_permute(int64_t n, uint64_t seed, uint32_t epoch, int64_t pos) {
    if (n <= 1) return 0;
    int bits = 2;
    while ((1LL << bits) < n) bits++;
    int half = (bits + 1) / 2;  // domain 4^half < 4n: cycle walking takes < 4 passes on average
    if (half > 31) half = 31;   // round inputs are 32-bit Philox coordinates
    uint64_t x = (uint64_t)pos;
    do x = feistel(x, half, seed, epoch);
    while (x >= (uint64_t)n);
    return (int64_t)x;
}

char *dataset_render_prompt(const char *template_, const char *question) {
    size_t qn = strlen(question), cap = strlen(template_) + 1, count = 0;
    for (const char *p = template_; (p = strstr(p, "{question}")); p += 10) count++;
    cap += count * qn;
    char *out = xmalloc(cap), *o = out;
    for (const char *p = template_; *p;) {
        if (!strncmp(p, "{question}", 10)) {
            memcpy(o, question, qn), o += qn, p += 10;
        } else if (p[0] == '\\' && (p[1] == 'n' || p[1] == 't' || p[1] == '\\')) {
            *o++ = p[1] == 'n' ? '\n' : p[1] == 't' ? '\t' : '\\';
            p += 2;
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
    return out;
}
