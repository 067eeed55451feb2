// SSPO segmentation (results/objectives.md §3 SSPO step 1) from decoded token bytes.
#include <criterion/criterion.h>
#include <string.h>

#include "text/segment.h"

Test(segment, ascii_cjk_and_split_delimiters) {
    SegDelims d;
    Err e = {{0}};
    cr_assert_eq(segment_delims(",.;:!?\\n", &d, &e), 0, "%s", e.msg);
    // Tokens: "a," | "b" | "c\n" | "好" | "，" split over two tokens (3 bytes: EF BC 8C) | "x"
    const char text[] = "a,bc\n\xe5\xa5\xbd\xef\xbc\x8cx";
    int64_t ends[7] = {2, 3, 5, 8, 9, 11, 12};
    uint8_t seg[7];
    segment_ends(&d, text, ends, 7, seg);
    uint8_t expect[7] = {1, 0, 1, 0, 0, 1, 1};
    for (int t = 0; t < 7; t++) cr_expect_eq(seg[t], expect[t], "token %d", t);
}

Test(segment, bad_escape_and_custom_set) {
    SegDelims d;
    Err e = {{0}};
    cr_expect_eq(segment_delims("\\q", &d, &e), -1);
    cr_expect(strstr(e.msg, "sspo_delimiters") != NULL, "%s", e.msg);
    cr_assert_eq(segment_delims("|", &d, &e), 0);
    const char text[] = "ab|c.d";
    int64_t ends[4] = {2, 3, 5, 6};
    uint8_t seg[4];
    segment_ends(&d, text, ends, 4, seg);
    cr_expect(seg[0] == 0 && seg[1] == 1 && seg[2] == 0 && seg[3] == 1);  // '.' not in this set
}
