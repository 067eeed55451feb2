// keyed_sum_f64 on one process: rows summed in key order, not in the order given, column by column.
#include <criterion/criterion.h>

#include "base/keyed_sum.h"

Test(keyed_sum, rows_summed_in_key_order) {
    // In key order (1e16, +1, +1, -1e16) the two 1s are each lost to rounding: 0. In the given order they would not.
    int64_t keys[4] = {3, 0, 2, 1};
    double rows[8] = {-1e16, 5, 1e16, 1, 1, 2, 1, 3}, out[2];
    keyed_sum_f64(keys, rows, 4, 2, out);
    double given = ((-1e16 + 1e16) + 1) + 1;  // the given order's sum, for contrast
    cr_expect(given == 2);
    cr_expect(out[0] == 0, "column 0 in key order: got %.17g", out[0]);
    cr_expect(out[1] == 11, "column 1: got %.17g", out[1]);
}

Test(keyed_sum, no_rows_gives_zeros) {
    double out[3] = {7, 7, 7};
    keyed_sum_f64(NULL, NULL, 0, 3, out);
    cr_expect(out[0] == 0 && out[1] == 0 && out[2] == 0);
}
