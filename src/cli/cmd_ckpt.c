// `rlvr ckpt info|stats|diff`: read-only inspection of checkpoints, straight from the HDF5 file (no model
// config needed), so it also works on files from other runs and versions.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "cli/ckpt_usage.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "io/checkpoint.h"
#include "io/h5compare.h"
#include "io/h5io.h"

// ---- reading /model generically ----

typedef struct {
    char **names;
    int n, cap;
} Names;

static void names_add(Names *ns, const char *name) {
    if (ns->n == ns->cap) ns->names = xrealloc(ns->names, (size_t)(ns->cap = ns->cap ? 2 * ns->cap : 64) * sizeof *ns->names);
    ns->names[ns->n++] = strdup(name);
}

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *user) {
    (void)g, (void)info;
    names_add(user, name);
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void names_free(Names *ns) {
    for (int i = 0; i < ns->n; i++) free(ns->names[i]);
    free(ns->names);
}

static int list_group(hid_t f, const char *path, const char *group, Names *ns, Err *e) {
    memset(ns, 0, sizeof *ns);
    if (!h5io_exists(f, group)) return err_set(e, "%s: missing group '/%s'", path, group);
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    if (g < 0) return err_set(e, "%s: '/%s' is not a group", path, group);
    // In the file's own order, sorted after: HDF5 1.10 sorts first into a table whose clean-up, when a damaged link
    // heap stops the walk, frees entries it never filled (a crash).
    herr_t rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, collect_name, ns);
    H5Gclose(g);
    qsort(ns->names, (size_t)ns->n, sizeof *ns->names, by_name);
    return rc < 0 ? err_set(e, "%s: cannot list '/%s'", path, group) : 0;
}

typedef struct {
    float *x;
    size_t n;
    int rank;
    hsize_t dims[H5IO_MAX_RANK];
} Tensor;

static int read_tensor(hid_t f, const char *name, Tensor *t, Err *e) {
    char full[512];
    snprintf(full, sizeof full, "model/%s", name);
    t->x = h5io_read(f, full, H5T_NATIVE_FLOAT, &t->rank, t->dims, e);
    if (!t->x) return -1;
    t->n = 1;
    for (int d = 0; d < t->rank; d++) t->n *= t->dims[d];
    return 0;
}

static void dims_str(const Tensor *t, char *buf, size_t len) {
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < t->rank && used < len; d++) used += (size_t)snprintf(buf + used, len - used, "%s%llu", d ? ", " : "", (unsigned long long)t->dims[d]);
    if (used < len) snprintf(buf + used, len - used, "]");
}

// Layer index of "...layers.N...", or -1.
static int layer_of(const char *name) {
    const char *p = strstr(name, "layers.");
    return p ? atoi(p + 7) : -1;
}

// An expert tensor stacked as [E, ...] ("....experts...." with rank 3), or a per-expert "experts.N." tensor.
static int stacked_experts(const char *name, const Tensor *t) { return strstr(name, ".experts.") && t->rank == 3; }
static int expert_of(const char *name) {
    const char *p = strstr(name, ".experts.");
    return p && p[9] >= '0' && p[9] <= '9' ? atoi(p + 9) : -1;
}
static int is_router(const char *name, const Tensor *t) { return strstr(name, "mlp.gate.weight") && t->rank == 2; }

static double sumsq(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

// ---- info ----

// One line per object, into a Names to be sorted (the walk runs in the file's own order: list_group says why).
static herr_t object_line(hid_t loc, const char *name, const H5O_info_t *info, void *user) {
    char line[1024], shape[128] = "scalar";
    if (info->type != H5O_TYPE_DATASET) {
        if (strcmp(name, ".")) snprintf(line, sizeof line, "  /%s/", name), names_add(user, line);
        return 0;
    }
    hsize_t dims[H5IO_MAX_RANK];
    int rank = h5io_shape(loc, name, dims, NULL);
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT), type = d < 0 ? -1 : H5Dget_type(d);
    if (d >= 0) H5Dclose(d);
    if (rank < 0 || type < 0) return -1;
    size_t used = 0;
    for (int i = 0; i < rank; i++) used += (size_t)snprintf(shape + used, sizeof shape - used, "%s%llu", i ? "x" : "", (unsigned long long)dims[i]);
    snprintf(line, sizeof line, "  /%s  %s %s%zu", name, shape, H5Tget_class(type) == H5T_FLOAT ? "float" : "int",
             8 * H5Tget_size(type));
    H5Tclose(type);
    names_add(user, line);
    return 0;
}

static int ckpt_info(const char *path, Err *e) {
    int64_t step, world;
    char *config = NULL;
    TRY(checkpoint_read_meta(path, &step, &world, &config, e));
    hid_t f = h5io_open(path, 0, e);
    if (f < 0) return free(config), -1;
    char *rev = h5io_attr_read_str(f, "meta", "git_revision", NULL), *kind = h5io_attr_read_str(f, "meta", "kind", NULL);
    Names lines = {0};
    // A damaged object header stops the walk: the tree so far is not the file's.
    int rc = H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, object_line, &lines, H5O_INFO_BASIC) < 0
                 ? err_set(e, "%s: cannot list its objects (damaged file?)", path)
                 : 0;
    qsort(lines.names, (size_t)lines.n, sizeof *lines.names, by_name);
    if (!rc) printf("checkpoint %s\nstep %lld\nworld_size %lld\nkind %s\ngit_revision %s\ntree:\n", path, (long long)step,
                    (long long)world, kind ? kind : "?", rev ? rev : "?");
    for (int i = 0; i < lines.n && !rc; i++) printf("%s\n", lines.names[i]);
    if (!rc) printf("config:\n%s", config);
    free(rev), free(kind), free(config);
    names_free(&lines);
    h5io_close(f);
    return rc;
}

// ---- stats ----

#define USAGE_PROBLEMS 64  // held-out problems the expert usage is measured on

static void expert_stats(const char *name, const Tensor *t) {
    size_t per = t->n / t->dims[0];
    double lo = INFINITY, hi = 0;
    printf("    %s per expert:", name);
    for (hsize_t x = 0; x < t->dims[0]; x++) {
        double norm = sqrt(sumsq(t->x + x * per, per));
        lo = fmin(lo, norm), hi = fmax(hi, norm);
        printf(" %.4g", norm);
    }
    printf("  (max/min %.3f)\n", lo > 0 ? hi / lo : INFINITY);
}

static int ckpt_stats(const char *path, Err *e) {
    hid_t f = h5io_open(path, 0, e);
    if (f < 0) return -1;
    Names ns;
    int rc = list_group(f, path, "model", &ns, e);
    int64_t total = 0, bad_total = 0;
    double total_sq = 0;
    if (!rc) printf("%-56s %-18s %12s %12s %12s %12s %8s\n", "tensor", "shape", "norm", "mean", "std", "max|x|", "nonfin");
    for (int i = 0; i < ns.n && !rc; i++) {
        Tensor t;
        if ((rc = read_tensor(f, ns.names[i], &t, e))) break;
        double s = 0, s2 = 0, mx = 0;
        int64_t bad = 0;
        for (size_t k = 0; k < t.n; k++) {
            double v = t.x[k];
            if (!isfinite(v)) bad++;
            else s += v, s2 += v * v, mx = fmax(mx, fabs(v));
        }
        double n = (double)(t.n - (size_t)bad), mean = n > 0 ? s / n : 0;
        char shape[64];
        dims_str(&t, shape, sizeof shape);
        printf("%-56s %-18s %12.5g %12.4g %12.4g %12.4g %8lld\n", ns.names[i], shape, sqrt(s2), mean,
               n > 0 ? sqrt(fmax(0, s2 / n - mean * mean)) : 0, mx, (long long)bad);
        if (is_router(ns.names[i], &t) || stacked_experts(ns.names[i], &t)) expert_stats(ns.names[i], &t);
        total += (int64_t)t.n, bad_total += bad, total_sq += s2;
        free(t.x);
    }
    if (!rc) printf("total: %lld parameters, norm %.6g, non-finite %lld\n", (long long)total, sqrt(total_sq), (long long)bad_total);
    names_free(&ns);
    h5io_close(f);
    if (!rc && !bad_total) rc = ckpt_expert_usage(path, USAGE_PROBLEMS, stdout, e);
    if (!rc && bad_total) rc = err_set(e, "%s: %lld non-finite values in /model", path, (long long)bad_total);
    return rc;
}

// ---- diff ----

typedef struct {
    const char *name;
    double diff_sq, base_sq, max_abs;
} Change;

static int by_rel_desc(const void *a, const void *b) {
    const Change *x = a, *y = b;
    double rx = x->diff_sq / fmax(x->base_sq, 1e-300), ry = y->diff_sq / fmax(y->base_sq, 1e-300);
    return (rx < ry) - (rx > ry);
}

// Accumulates sums of squares into a bucket list indexed by key (layer or expert).
typedef struct {
    double diff_sq[4096], base_sq[4096];
    int max_key;
} Buckets;

static void bucket_add(Buckets *b, int key, double d, double base) {
    if (key < 0 || key >= 4096) return;
    b->diff_sq[key] += d, b->base_sq[key] += base;
    if (key > b->max_key) b->max_key = key;
}

static void bucket_print(const Buckets *b, const char *what) {
    for (int k = 0; k <= b->max_key; k++)
        if (b->base_sq[k] > 0 || b->diff_sq[k] > 0)
            printf("  %s %d: relative change %.4e\n", what, k, sqrt(b->diff_sq[k] / fmax(b->base_sq[k], 1e-300)));
}

static int diff_tensor(hid_t fa, hid_t fb, const char *pa, const char *pb, const char *name, Change *c, Buckets *layers,
                       Buckets *experts, Err *e) {
    Tensor a, b;
    TRY(read_tensor(fa, name, &a, e));
    char full[512];
    snprintf(full, sizeof full, "model/%s", name);
    if (!h5io_exists(fb, full)) return free(a.x), err_set(e, "%s: missing dataset '/%s' (present in %s)", pb, full, pa);
    if (read_tensor(fb, name, &b, e)) return free(a.x), -1;
    if (a.rank != b.rank || memcmp(a.dims, b.dims, (size_t)a.rank * sizeof a.dims[0])) {
        char sa[64], sb[64];
        dims_str(&a, sa, sizeof sa), dims_str(&b, sb, sizeof sb);
        free(a.x), free(b.x);
        return err_set(e, "dataset '/%s' has shape %s in %s but %s in %s", full, sa, pa, sb, pb);
    }
    c->name = name;
    size_t per = stacked_experts(name, &a) ? a.n / a.dims[0] : a.n;
    for (size_t i = 0; i < a.n; i++) {
        double d = (double)b.x[i] - a.x[i];
        c->diff_sq += d * d, c->base_sq += (double)a.x[i] * a.x[i];
        c->max_abs = fmax(c->max_abs, fabs(d));
        if (memcmp(&a.x[i], &b.x[i], sizeof a.x[i])) c->max_abs = fmax(c->max_abs, 0x1p-149);  // -0 vs 0, NaN bits
        if (per != a.n) bucket_add(experts, (int)(i / per), d * d, (double)a.x[i] * a.x[i]);
    }
    if (per == a.n) bucket_add(experts, expert_of(name), c->diff_sq, c->base_sq);
    bucket_add(layers, layer_of(name), c->diff_sq, c->base_sq);
    free(a.x), free(b.x);
    return 0;
}

// How and when a file was made, not what it holds: values left out of the exact comparison.
static const char *const NOT_STATE[] = {"/meta@world_size", "/meta@git_revision", "/meta@kind",
                                        "/meta@blas_kernel", "/meta@config", "/meta@given_keys",
                                        "/state/elapsed_s", NULL};

// --exact: every dataset and attribute of both trees, one line per difference; fails if there is any.
static int ckpt_diff_exact(const char *pa, const char *pb, Err *e) {
    int64_t n = h5compare(pa, pb, NOT_STATE, stdout, e);
    if (n < 0) return -1;
    return n ? err_set(e, "%s and %s differ (%lld difference%s)", pa, pb, (long long)n, n > 1 ? "s" : "") : 0;
}

static int ckpt_diff(const char *pa, const char *pb, Err *e) {
    hid_t fa = h5io_open(pa, 0, e);
    if (fa < 0) return -1;
    hid_t fb = h5io_open(pb, 0, e);
    if (fb < 0) return h5io_close(fa), -1;
    Names ns;
    int rc = list_group(fa, pa, "model", &ns, e);
    Change *ch = xcalloc((size_t)(ns.n ? ns.n : 1), sizeof *ch);
    Buckets *layers = xcalloc(1, sizeof *layers), *experts = xcalloc(1, sizeof *experts);
    layers->max_key = experts->max_key = -1;
    for (int i = 0; i < ns.n && !rc; i++) rc = diff_tensor(fa, fb, pa, pb, ns.names[i], &ch[i], layers, experts, e);
    double max_abs = 0, dsq = 0, bsq = 0;
    if (!rc) {
        qsort(ch, (size_t)ns.n, sizeof *ch, by_rel_desc);
        printf("%-56s %14s %14s\n", "tensor (largest relative change first)", "relative", "max|B-A|");
        for (int i = 0; i < ns.n; i++) {
            printf("%-56s %14.6e %14.6e\n", ch[i].name, sqrt(ch[i].diff_sq / fmax(ch[i].base_sq, 1e-300)), ch[i].max_abs);
            max_abs = fmax(max_abs, ch[i].max_abs), dsq += ch[i].diff_sq, bsq += ch[i].base_sq;
        }
        if (layers->max_key >= 0) printf("per layer:\n"), bucket_print(layers, "layer");
        if (experts->max_key >= 0) printf("per expert (all layers):\n"), bucket_print(experts, "expert");
        printf("total: relative change %.6e, max |B-A| %.6e, identical %s\n", sqrt(dsq / fmax(bsq, 1e-300)), max_abs,
               max_abs == 0 ? "yes" : "no");
    }
    free(ch), free(layers), free(experts);
    names_free(&ns);
    h5io_close(fa), h5io_close(fb);
    return rc;
}

// ---- command line ----

typedef struct {
    const char *a, *b;  // the checkpoint(s)
    bool exact;
} CkptArgs;

static const CliOpt ONE_OPTS[] = {
    CLI_ARG("C", CkptArgs, a, CLI_REQUIRED, "checkpoint (HDF5)"),
};

static const CliOpt DIFF_OPTS[] = {
    CLI_ARG("A", CkptArgs, a, CLI_REQUIRED, "checkpoint the change is relative to"),
    CLI_ARG("B", CkptArgs, b, CLI_REQUIRED, "checkpoint compared with A"),
    CLI_OPT_FLAG("--exact", CkptArgs, exact, 0,
                 "compare /model, /optim, /state and every attribute bit for bit instead, one line per difference; "
                 "exit 1 if any"),
};

static const char INFO_ABOUT[] =
    "tree (every dataset with shape and type), step, world size, git revision, and the config text";
static const char STATS_ABOUT[] =
    "per-tensor L2 norm, mean, std, max |x| and non-finite count of /model; for MoE, per-expert router row norms, "
    "expert weight norms, and each layer's expert usage on 64 held-out problems of the checkpoint's task; exit 1 "
    "when any value is not finite";
static const char DIFF_ABOUT[] =
    "per-tensor relative change |B - A| / |A| of /model, largest first, with per-layer and per-expert summaries";

static const CliSpec INFO = CLI_SPEC("rlvr ckpt info", INFO_ABOUT, ONE_OPTS, NULL);
static const CliSpec STATS = CLI_SPEC("rlvr ckpt stats", STATS_ABOUT, ONE_OPTS, NULL);
static const CliSpec DIFF = CLI_SPEC("rlvr ckpt diff", DIFF_ABOUT, DIFF_OPTS, NULL);

// Exit code of an action that returned rc (message in e).
static int finish(int rc, const Err *e) {
    fflush(stdout);
    if (rc) fprintf(stderr, "rlvr: %s\n", e->msg);
    return rc ? 1 : 0;
}

static int run_info(int argc, char **argv) {
    CkptArgs a = {0};
    Err e = {{0}};
    int rc;
    return cli_parse(&INFO, argc, argv, &a, &rc) ? finish(ckpt_info(a.a, &e), &e) : rc;
}

static int run_stats(int argc, char **argv) {
    CkptArgs a = {0};
    Err e = {{0}};
    int rc;
    return cli_parse(&STATS, argc, argv, &a, &rc) ? finish(ckpt_stats(a.a, &e), &e) : rc;
}

static int run_diff(int argc, char **argv) {
    CkptArgs a = {0};
    Err e = {{0}};
    int rc;
    if (!cli_parse(&DIFF, argc, argv, &a, &rc)) return rc;
    return finish(a.exact ? ckpt_diff_exact(a.a, a.b, &e) : ckpt_diff(a.a, a.b, &e), &e);
}

static const CliCommand ACTIONS[] = {
    {"info", run_info, INFO_ABOUT, &INFO, false},
    {"stats", run_stats, STATS_ABOUT, &STATS, false},
    {"diff", run_diff, "per-tensor relative change |B - A| / |A| of /model, largest first, with per-layer and "
                       "per-expert summaries; --exact: every difference of the two trees, exit 1 if any", &DIFF, false},
};

static const CliGroup GROUP = {
    "rlvr ckpt", "ACTION", "action",
    "Inspects checkpoints straight from the HDF5 file (no config needed), so it also reads other runs' files.",
    ACTIONS, sizeof ACTIONS / sizeof ACTIONS[0], NULL,
};

int cmd_ckpt(int argc, char **argv) {
    int rc;
    const CliCommand *c = cli_find_command(&GROUP, argc, argv, &rc);
    return c ? c->run(argc - 1, argv + 1) : rc;
}
