// Stop strings: parsing with escapes, and detection of a stop string completed by appended bytes.
#include <criterion/criterion.h>
#include <string.h>

#include "rollout/stop.h"

Test(stop, parses_separators_and_escapes) {
    StopList s;
    Err e = {{0}};
    cr_assert_eq(stop_parse(&s, "</answer>|\\n\\n|a\\|b|\\\\t\\t", &e), 0, "%s", e.msg);
    cr_assert_eq(s.n, 4);
    cr_expect_str_eq(s.str[0], "</answer>");
    cr_expect_str_eq(s.str[1], "\n\n");
    cr_expect_str_eq(s.str[2], "a|b");
    cr_expect_str_eq(s.str[3], "\\t\t");
    cr_expect_eq(s.max_len, 9);
    stop_free(&s);
    cr_assert_eq(stop_parse(&s, "", &e), 0);
    cr_expect_eq(s.n, 0);
}

Test(stop, rejects_bad_specs) {
    StopList s;
    Err e = {{0}};
    cr_expect_eq(stop_parse(&s, "a||b", &e), -1);
    cr_expect(strstr(e.msg, "empty stop string"), "%s", e.msg);
    cr_expect_eq(stop_parse(&s, "ab\\", &e), -1);
    cr_expect(strstr(e.msg, "after a backslash"), "%s", e.msg);
    cr_expect_eq(stop_parse(&s, "\\x", &e), -1);
}

Test(stop, detects_only_newly_completed_occurrences) {
    StopList s;
    Err e = {{0}};
    cr_assert_eq(stop_parse(&s, "END|\\n\\n", &e), 0);
    const char *t = "xEND yy\n\n";
    cr_expect(!stop_completed(&s, t, 0, 3), "EN is not END");
    cr_expect(stop_completed(&s, t, 3, 4), "D completes END");
    cr_expect(!stop_completed(&s, t, 4, 5), "an earlier occurrence does not count again");
    cr_expect(stop_completed(&s, t, 0, 9), "several bytes at once (a multi-byte token)");
    cr_expect(!stop_completed(&s, t, 4, 8));
    cr_expect(stop_completed(&s, t, 8, 9));
    stop_free(&s);
}
