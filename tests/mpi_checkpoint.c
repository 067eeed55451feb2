// Parallel checkpoints (io/checkpoint.h), run by tests/it_checkpoint.sh under mpirun -np 1/2/4 with a directory
// argument. A MoE model with moments and state is saved by all ranks at once, from the even split of every rank
// holding everything and from ragged shards (several unaligned pieces per tensor and rank, some empty, the data in
// rank-local buffers as a sharded optimizer keeps it); every load must give back the original bits, a file
// written in parallel must equal the one a single process writes (h5compare), pieces that do not cover a tensor
// are refused, and a flipped byte in one expert's chunk fails a load naming the tensor while the other experts
// still read. Leaves DIR/good.h5 and DIR/corrupt.h5 (one flipped byte in an expert of
// /model/model.layers.1.mlp.experts.down_proj) for the script's rlvr ckpt checks.
// Rank 0 prints one line per check; the exit status is 1 when any failed.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/dist.h"
#include "base/rng.h"
#include "io/checkpoint.h"
#include "io/h5compare.h"
#include "io/h5io.h"
#include "io/model_h5.h"

static int failures;

// A check holds only when it holds on every rank.
static void check(int ok, const char *what, const Err *e) {
    int64_t bad = !ok;
    dist_allreduce_sum_i64(&bad, 1);
    if (dist_is_root()) printf("%s %s\n", bad ? "FAIL" : "ok  ", what);
    if (!ok) fprintf(stderr, "rank %d: %s: %s\n", dist_rank(), what, e ? e->msg : "");
    failures += bad != 0;
}

static const char *dir;
static const CheckpointMeta META = {"train", "[train]\nsteps = 3\n", "test-rev", 0, NULL};
static const TrainState STATE = {.step = 3, .data_cursor = 96, .bad_steps = 1, .train_seed = 11, .rollout_seed = 12,
                                 .tokens_total = 12345, .elapsed_s = 1.25};

// Tiny MoE whose embedding (and head) spans two chunks, so the even split also cuts inside a tensor.
static void make_state(Model *m, AdamW *o, uint64_t seed) {
    Config c;
    config_defaults(&c);
    ModelConfig mc = c.model;
    mc.type = MODEL_QWEN3_MOE;
    mc.vocab_size = 70000, mc.hidden_size = 16, mc.intermediate_size = 32, mc.num_hidden_layers = 2;
    mc.num_attention_heads = 2, mc.num_key_value_heads = 1, mc.max_position_embeddings = 64;
    mc.num_experts = 4, mc.num_experts_per_tok = 2, mc.moe_intermediate_size = 8;
    Err e;
    if (model_create(m, &mc, &e)) dist_fatal("%s", e.msg);
    model_init_random(m, seed);
    adamw_init(o, m->n_params);
    Rng r = rng_at(seed, 1, 0, 0);
    for (size_t i = 0; i < m->n_params; i++) o->m[i] = (float)(rng_uniform(&r) - 0.5), o->v[i] = (float)rng_uniform(&r);
    o->step = 7;
}

static void path_of(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", dir, name); }

// Loads path whole into fresh objects; 1 when model, moments, step and state equal the originals bit for bit.
static int loads_back(const char *path, const Model *m, const AdamW *o, Err *e) {
    Model m2;
    AdamW o2;
    TrainState st;
    make_state(&m2, &o2, 99);
    int ok = checkpoint_load(path, &m2, &o2, &st, e) == 0;
    ok = ok && !memcmp(m->params, m2.params, m->n_params * sizeof(float)) &&
         !memcmp(o->m, o2.m, m->n_params * sizeof(float)) && !memcmp(o->v, o2.v, m->n_params * sizeof(float)) &&
         o2.step == o->step && !memcmp(&st, &STATE, sizeof st);
    model_free(&m2), adamw_free(&o2);
    return ok;
}

// Ragged shards: each tensor cut at random points into k * size pieces (some empty); this rank takes the pieces
// i with i % size == rank (k = 2 reverses every other round, so ranks hold unaligned, non-adjacent runs). The data
// of this rank's pieces lives in *shard (params, then m, then v), filled from the full state when fill.
static int ragged(const Model *m, const AdamW *o, uint64_t seed, int k, bool fill, CkptPiece **out, float **shard) {
    int size = dist_size(), n = 0, per = k * size;
    CkptPiece *p = xcalloc((size_t)m->n_tensors * (size_t)k, sizeof *p);
    int64_t *cut = xmalloc((size_t)(per + 1) * sizeof *cut);
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        float *x = pass ? *shard : NULL;
        n = 0;
        for (int t = 0; t < m->n_tensors; t++) {
            int64_t numel = (int64_t)m->tensors[t].numel;
            Rng r = rng_at(seed, (uint32_t)t, 0, 0);
            cut[0] = 0, cut[per] = numel;
            for (int i = 1; i < per; i++) cut[i] = (int64_t)rng_below(&r, (uint64_t)numel + 1);
            for (int i = 1; i < per; i++)  // sort the inner cuts
                for (int j = i; j > 1 && cut[j - 1] > cut[j]; j--) {
                    int64_t s = cut[j];
                    cut[j] = cut[j - 1], cut[j - 1] = s;
                }
            for (int i = 0; i < per; i++) {
                int round = i / size, owner = round % 2 ? size - 1 - i % size : i % size;
                if (owner != dist_rank()) continue;
                int64_t len = cut[i + 1] - cut[i];
                if (!pass) {
                    total += (size_t)len;
                    continue;
                }
                size_t off = m->tensors[t].offset + (size_t)cut[i];
                float *xp = x, *xm = x + total, *xv = x + 2 * total;
                if (fill) {
                    memcpy(xp, m->params + off, (size_t)len * sizeof *x);
                    memcpy(xm, o->m + off, (size_t)len * sizeof *x);
                    memcpy(xv, o->v + off, (size_t)len * sizeof *x);
                }
                p[n++] = (CkptPiece){t, cut[i], cut[i + 1], xp, xm, xv};
                x += len;
            }
        }
        if (!pass) *shard = xcalloc(3 * total + 1, sizeof **shard);
    }
    free(cut);
    *out = p;
    return n;
}

// 1 when the pieces' buffers hold exactly the full state's elements.
static int pieces_match(const Model *m, const AdamW *o, const CkptPiece *p, int n) {
    for (int i = 0; i < n; i++) {
        size_t off = m->tensors[p[i].tensor].offset + (size_t)p[i].begin, len = (size_t)(p[i].end - p[i].begin);
        if (memcmp(p[i].param, m->params + off, len * sizeof(float)) || memcmp(p[i].m, o->m + off, len * sizeof(float)) ||
            memcmp(p[i].v, o->v + off, len * sizeof(float)))
            return 0;
    }
    return 1;
}

// The even split, computed for every rank here: each tensor covered exactly once, at most one piece per tensor
// and rank, starting on a chunk boundary.
static int even_split_ok(const Model *m) {
    int size = dist_size(), ok = 1;
    int64_t *covered = xcalloc((size_t)m->n_tensors, sizeof *covered);
    for (int r = 0; r < size; r++) {
        CkptPiece *p;
        int n = checkpoint_even_pieces(m, NULL, r, size, &p);
        for (int i = 0; i < n; i++) {
            const ModelTensor *t = &m->tensors[p[i].tensor];
            int64_t chunk = model_h5_chunk_rows(t) * (int64_t)(t->numel / (size_t)t->shape[0]);
            ok = ok && p[i].begin % chunk == 0 && (i == 0 || p[i].tensor > p[i - 1].tensor);
            covered[p[i].tensor] += p[i].end - p[i].begin;
        }
        free(p);
    }
    for (int t = 0; t < m->n_tensors; t++) ok = ok && covered[t] == (int64_t)m->tensors[t].numel;
    free(covered);
    return ok;
}

// File offset of the chunk of expert x of dataset name (H5Dget_chunk_info_by_coord), or -1.
static long long expert_chunk_offset(const char *path, const char *name, hsize_t x) {
    Err e;
    hid_t f = h5io_open(path, 0, &e);
    if (f < 0) return -1;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hsize_t coord[3] = {x, 0, 0}, size = 0;
    haddr_t addr = HADDR_UNDEF;
    unsigned mask;
    herr_t rc = d >= 0 ? H5Dget_chunk_info_by_coord(d, coord, &mask, &addr, &size) : -1;
    if (d >= 0) H5Dclose(d);
    h5io_close(f);
    return rc < 0 || addr == HADDR_UNDEF ? -1 : (long long)addr;
}

static int copy_file(const char *from, const char *to) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp '%.2000s' '%.2000s'", from, to);
    return system(cmd) == 0;
}

static int flip_byte(const char *path, long long at) {
    int fd = open(path, O_RDWR);
    unsigned char b;
    int ok = fd >= 0 && pread(fd, &b, 1, at) == 1;
    b ^= 0x10;
    ok = ok && pwrite(fd, &b, 1, at) == 1;
    if (fd >= 0) close(fd);
    return ok;
}

#define TARGET "model.layers.1.mlp.experts.down_proj"

// A flipped byte in expert 2's chunk: a whole load fails naming the tensor; experts 0, 1 and 3 still read.
static void corrupted_expert(const Model *m, const AdamW *o, const char *good) {
    char bad[1024];
    path_of(bad, sizeof bad, "corrupt.h5");
    int ok = 1;
    if (dist_is_root()) {
        long long at = expert_chunk_offset(good, "/model/" TARGET, 2);
        ok = at >= 0 && copy_file(good, bad) && flip_byte(bad, at + 100);
    }
    dist_bcast(&ok, sizeof ok, 0);
    check(ok, "corrupt: one byte flipped inside expert 2's chunk of /model/" TARGET, NULL);
    Model m2;
    AdamW o2;
    TrainState st;
    make_state(&m2, &o2, 98);
    Err e = {{0}};
    ok = checkpoint_load(bad, &m2, &o2, &st, &e) == -1 &&
         strstr(e.msg, "checksum mismatch in dataset '/model/" TARGET "'") != NULL &&
         memcmp(m2.params, m->params, sizeof(float)) != 0;  // nothing loaded
    check(ok, "corrupt: the whole load fails with a checksum mismatch naming the tensor, nothing loaded", &e);
    int t = -1;
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, TARGET)) t = i;
    const ModelTensor *x = &m->tensors[t];
    int64_t per = (int64_t)x->numel / x->shape[0];
    float *buf = xcalloc(3 * x->numel, sizeof *buf);
    CkptPiece p[2] = {{t, 0, 2 * per, buf, buf + x->numel, buf + 2 * x->numel},
                      {t, 3 * per, 4 * per, buf + 3 * per, buf + x->numel + 3 * per, buf + 2 * x->numel + 3 * per}};
    int64_t step;
    ok = checkpoint_load_pieces(bad, m, p, 2, &step, NULL, &e) == 0 && pieces_match(m, o, p, 2);
    check(ok, "corrupt: experts 0, 1 and 3 of that tensor still load (one chunk per expert)", &e);
    CkptPiece two = {t, 2 * per, 3 * per, buf, buf + x->numel, buf + 2 * x->numel};
    ok = checkpoint_load_pieces(bad, m, &two, 1, &step, NULL, &e) == -1 && strstr(e.msg, "checksum mismatch");
    check(ok, "corrupt: expert 2 alone fails", &e);
    free(buf);
    model_free(&m2), adamw_free(&o2);
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    if (argc != 2) dist_fatal("usage: mpi_checkpoint DIR");
    dir = argv[1];
    Model m;
    AdamW o;
    make_state(&m, &o, 5);
    CheckpointMeta meta = META;
    meta.world_size = dist_size();
    char good[1024], serial[1024], shard[1024], hole[1024], tmp[1100], what[256];
    path_of(good, sizeof good, "good.h5"), path_of(serial, sizeof serial, "serial.h5");
    path_of(shard, sizeof shard, "shard.h5"), path_of(hole, sizeof hole, "hole.h5");
    Err e = {{0}};

    check(even_split_ok(&m), "even split: every tensor once, one chunk-aligned run per tensor and rank", NULL);
    check(checkpoint_save_parallel(good, &m, &o, &STATE, &meta, &e) == 0, "save: every rank writes its even share", &e);
    check(loads_back(good, &m, &o, &e), "save: every rank loads it back bit for bit", &e);
    int same = 1;
    if (dist_is_root()) {
        same = checkpoint_save(serial, &m, &o, &STATE, &meta, &e) == 0;
        same = same && h5compare(good, serial, NULL, stderr, &e) == 0;
    }
    dist_bcast(&same, sizeof same, 0);
    check(same, "save: the parallel file = the file one process writes (every dataset and attribute)", &e);

    CkptPiece *p;
    float *buf;
    int n = ragged(&m, &o, 17, 2, true, &p, &buf);
    check(checkpoint_save_pieces(shard, &m, p, n, &o.step, &STATE, &meta, &e) == 0,
          "shards: ragged unaligned pieces, data in rank-local buffers, saved", &e);
    check(loads_back(shard, &m, &o, &e), "shards: loaded whole, bit for bit", &e);
    free(p), free(buf);
    n = ragged(&m, &o, 23, 3, false, &p, &buf);
    int64_t step = -1;
    TrainState st;
    int ok = checkpoint_load_pieces(good, &m, p, n, &step, &st, &e) == 0 && pieces_match(&m, &o, p, n) &&
             step == o.step && !memcmp(&st, &STATE, sizeof st);
    check(ok, "shards: each rank loads only its pieces of another layout, bit for bit", &e);
    free(p), free(buf);

    n = ragged(&m, &o, 31, 2, true, &p, &buf);
    for (int i = n - 1; i >= 0; i--)
        if (dist_rank() == dist_size() - 1 && p[i].end > p[i].begin) {
            p[i].end--;  // one element of one tensor is nobody's
            break;
        }
    ok = checkpoint_save_pieces(hole, &m, p, n, &o.step, &STATE, &meta, &e) == -1 &&
         strstr(e.msg, "(first gap or overlap at element ") &&
         strstr(e.msg, "do not cover its") && access(hole, F_OK) != 0;
    snprintf(tmp, sizeof tmp, "%s.tmp", hole);
    ok = ok && access(tmp, F_OK) != 0;
    snprintf(what, sizeof what, "shards: pieces missing an element are refused on every rank, nothing written");
    check(ok, what, &e);
    free(p), free(buf);

    corrupted_expert(&m, &o, good);
    model_free(&m), adamw_free(&o);
    if (dist_is_root()) printf("%d failed\n", failures);
    dist_finalize();
    return failures ? 1 : 0;
}
