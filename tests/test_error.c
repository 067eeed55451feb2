// Error messages (src/base/error.h): a message longer than Err's buffer keeps its start and its end, where what was
// expected is, with one "..." between, never half a UTF-8 character.
#include <criterion/criterion.h>
#include <string.h>

#include "base/error.h"

// A path of n bytes: "/" then the letter d.
static char *long_path(size_t n) {
    char *p = malloc(n + 1);
    memset(p, 'd', n), p[0] = '/', p[n] = 0;
    return p;
}

static bool ends_with(const char *s, const char *end) {
    size_t a = strlen(s), b = strlen(end);
    return a >= b && !memcmp(s + a - b, end, b);
}

static int count(const char *s, const char *what) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

Test(error, short_message_is_whole) {
    Err e;
    cr_expect_eq(err_set(&e, "%s:%d: expected %s", "a.ini", 3, "key = value"), -1);
    cr_expect_str_eq(e.msg, "a.ini:3: expected key = value");
    err_prefix(&e, "loading %s", "x");
    cr_expect_str_eq(e.msg, "loading x: a.ini:3: expected key = value");
}

// A 3 KB path (PATH_MAX is 4096) named at the start: the message is cut in the middle, to the buffer's 1023 bytes,
// and still ends with the line and what was expected; its start is the path's start.
Test(error, long_path_keeps_the_expected_form) {
    char *p = long_path(3000);
    Err e;
    err_set(&e, "%s/bad.ini:7: syntax error: expected [section] or key = value", p);
    cr_expect_eq(strlen(e.msg), sizeof e.msg - 1, "%zu bytes", strlen(e.msg));
    cr_expect(ends_with(e.msg, "ddd/bad.ini:7: syntax error: expected [section] or key = value"), "%s", e.msg);
    cr_expect(!strncmp(e.msg, "/dddd", 5));
    cr_expect_eq(count(e.msg, "..."), 1, "%s", e.msg);
    cr_expect(!strchr(e.msg, '\n'));
    free(p);
}

// A prefix added to a cut message cuts it again: still one "...", the prefix first, the same end.
Test(error, prefix_of_a_cut_message) {
    char *p = long_path(3000);
    Err e;
    err_set(&e, "%s: missing dataset 'logp'", p);
    err_prefix(&e, "loading %s", p);
    cr_expect_eq(strlen(e.msg), sizeof e.msg - 1);
    cr_expect(!strncmp(e.msg, "loading /ddd", 12), "%s", e.msg);
    cr_expect(ends_with(e.msg, "dd: missing dataset 'logp'"), "%s", e.msg);
    cr_expect_eq(count(e.msg, "..."), 1, "%s", e.msg);
    free(p);
}

// Cut points inside a 2-byte UTF-8 character (é = C3 A9) move to its boundary: the kept text is whole characters.
Test(error, cut_never_splits_a_character) {
    char s[4001];
    for (int i = 0; i < 2000; i++) s[2 * i] = (char)0xC3, s[2 * i + 1] = (char)0xA9;
    s[4000] = 0;
    for (int shift = 0; shift < 2; shift++) {
        Err e;
        err_set(&e, "%.*s%s: expected x", shift, "a", s);
        const char *dots = strstr(e.msg, "...");
        cr_assert(dots);
        size_t head = (size_t)(dots - e.msg);
        cr_expect_eq((head - (size_t)shift) % 2, 0, "head of %zu bytes after %d ASCII byte(s)", head, shift);
        cr_expect_eq((unsigned char)dots[3], 0xC3, "the end starts on a character");
        cr_expect(ends_with(e.msg, "\xc3\xa9: expected x"));
    }
}
