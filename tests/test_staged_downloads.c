// The staged backend's download count (RLVR_TEST_STAGED_DOWNLOADS), which tests/it_device.sh reads to show that
// sampling and scoring keep their logits in backend memory: activation downloads are counted, other types are not.
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdlib.h>

#include "model/backend.h"
#include "model/backend_staged.h"

Test(staged_downloads, counts_activation_downloads_only, .init = cr_redirect_stderr) {
    setenv("RLVR_TEST_STAGED_DOWNLOADS", "1", 1);
    Backend *be = backend_staged_create();
    float host[16] = {0};
    double stats[4] = {0};
    void *acts = be->alloc(be, 16, BUF_ACT), *f64 = be->alloc(be, 4, BUF_F64);
    be->to_host(be, host, acts, 10, BUF_ACT);   // counted: 10
    be->to_host(be, stats, f64, 4, BUF_F64);    // statistics, not activations: not counted
    void *v = be->view(be, host, 7, BUF_ACT, VIEW_OUT);
    be->view_end(be, v, host, 7, BUF_ACT, VIEW_OUT);  // counted: 7
    v = be->view(be, host, 12, BUF_ACT, VIEW_IN);
    be->view_end(be, v, host, 12, BUF_ACT, VIEW_IN);  // an input view downloads nothing
    be->free(be, acts), be->free(be, f64);
    backend_staged_destroy(be);
    fflush(stderr);
    cr_assert_stderr_eq_str("staged backend: activation downloads: largest 10 elements, 17 in all\n");
}
