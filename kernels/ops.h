// CUDA kernels for the operations of the model's layer loop, each mirroring its CPU twin in src/model (named at
// each function). Plain C interface: device pointers, a stream (NULL = the default stream), 0 or -1 with the
// message in e. Precision: bf16 weights and activations, fp32 accumulation and statistics, fp32 gradients of
// activations (cast to bf16 where they enter a matrix product), fp32 master weights and Adam moments.
// Batch invariance (src/README.md invariant 2): every output row is computed by the same sequence of floating-
// point operations whatever the number of rows, the other rows, or prefill versus decode.
#ifndef RLVR_OPS_H
#define RLVR_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t Bf16;                  // the bits of a bfloat16 value
typedef struct CUstream_st *GpuStream;  // = cudaStream_t
typedef enum { GPU_F32 = 0, GPU_BF16 = 1 } GpuDtype;

// --- embedding (model_forward.c embed, model_backward.c embedding gradient) ---
// x[t] = table[tokens[t]] (rows of D).
int gpu_embed(const Bf16 *table, const int32_t *tokens, int T, int D, Bf16 *x, GpuStream s, Err *e);
// dtable[tokens[t]] += dx[t]; each column summed over t in order (deterministic, as the CPU).
int gpu_embed_backward(const float *dx, const int32_t *tokens, int T, int D, float *dtable, GpuStream s, Err *e);

// --- RMSNorm (model_layers.c rms_norm_rows; model_backward.c rms_norm_back) ---
// y = w * x / sqrt(mean(x^2) + eps) per row of D; inv[t] = 1/rms. One warp per row, fp32 sums in a fixed order.
int gpu_rms_norm(const Bf16 *x, const Bf16 *w, Bf16 *y, float *inv, int T, int D, float eps, GpuStream s, Err *e);
// dx += r w dy - r^3 x (sum_j w_j dy_j x_j) / D per row; dw += sum_t dy x r (each column over t in order).
int gpu_rms_norm_backward(const Bf16 *x, const Bf16 *w, const float *inv, const float *dy, float *dx, float *dw, int T,
                          int D, GpuStream s, Err *e);
// Per-head q/k norm (Qwen3): the same over T*H rows of hd (model_layers.c head_norm).
int gpu_head_norm(const Bf16 *x, const Bf16 *w, Bf16 *y, float *inv, int T, int H, int hd, float eps, GpuStream s,
                  Err *e);
int gpu_head_norm_backward(const Bf16 *x, const Bf16 *w, const float *inv, const float *dy, float *dx, float *dw,
                           int T, int H, int hd, GpuStream s, Err *e);

// --- RoPE (model_layers.c rope_rows): in place on rows [T, H*hd], HF rotate-half layout; inverse = 1 applies the
// transpose rotation (the backward) ---
int gpu_rope_bf16(Bf16 *x, const int32_t *pos, int T, int H, int hd, double theta, int inverse, GpuStream s, Err *e);
int gpu_rope_f32(float *x, const int32_t *pos, int T, int H, int hd, double theta, int inverse, GpuStream s, Err *e);

// --- matrix products (model/matmul.h) on bf16 tensor cores, fp32 accumulation ---
// y[M, N] = x[M, K] · w[N, K]^T (+ bias[N]); y fp32 or bf16; accumulate (fp32 only): y += the product.
// Each output is acc = 0; for k0 = 0, 16, 32, ...: acc += x[i, k0:k0+16] · w[j, k0:k0+16] (one bf16 mma step), then
// + bias: the same steps for every M, tile shape and position, so row i's bits never depend on the other rows.
int gpu_matmul(const Bf16 *x, const Bf16 *w, const float *bias, void *y, GpuDtype ydtype, int M, int N, int K,
               int accumulate, GpuStream s, Err *e);
// The bias gradient db[N] += sum_t dy[t, N], each column over t in order (model_backward.c linear_back).
int gpu_bias_grad(const float *dy, int T, int N, float *db, GpuStream s, Err *e);
// The backward's products (matmul.h matmul_xw, matmul_xtx_acc) as on the CPU: transposes, then gpu_matmul.
// y[M, K] (fp32) (+)= x[M, N] · w[N, K].
int gpu_matmul_xw(const Bf16 *x, const Bf16 *w, float *y, int M, int N, int K, int accumulate, GpuStream s, Err *e);
// dw[N, K] (fp32) += dy[T, N]^T · x[T, K], summed over t in order in steps of 16.
int gpu_matmul_xtx_acc(const Bf16 *dy, const Bf16 *x, float *dw, int T, int N, int K, GpuStream s, Err *e);
// dst[C, R] = src[R, C]^T.
int gpu_transpose(const Bf16 *src, Bf16 *dst, int R, int C, GpuStream s, Err *e);

// --- attention (attention.c) ---
// Writes token t's k and v rows [KD] at row row0[t] + pos[t] of the caches kbuf, vbuf (model_layers.c).
int gpu_kv_store(const Bf16 *k, const Bf16 *v, const int32_t *pos, const int64_t *row0, int T, int KD, Bf16 *kbuf,
                 Bf16 *vbuf, GpuStream s, Err *e);
// Causal attention of token t's Hq query heads (q [T, Hq*hd]) over cache rows row0[t] + 0..pos[t] (rows of
// Hk*hd; GQA: query head h reads kv head h / (Hq/Hk)). Keys are reduced in blocks of 32 from key 0 with an
// online softmax, the same blocks in training, prefill and decode. out [T, Hq*hd]; lse [T, Hq] (natural log, float64
// as attention.c; computed in fp32).
int gpu_attention(const Bf16 *q, const Bf16 *kbuf, const Bf16 *vbuf, const int32_t *pos, const int64_t *row0, int T,
                  int Hq, int Hk, int hd, Bf16 *out, double *lse, GpuStream s, Err *e);
// Backward of the training layout (sequence s = tokens seq_offsets[s]..seq_offsets[s+1]-1, its keys its own rows
// of k, v [T, Hk*hd]), from the forward's out and lse: adds dq [T, Hq*hd], dk, dv [T, Hk*hd]. dq per query over its
// keys, dk/dv per key over its queries in order: no atomics, deterministic.
int gpu_attention_backward(const Bf16 *q, const Bf16 *k, const Bf16 *v, const Bf16 *out, const double *lse,
                           const float *dout, const int64_t *seq_offsets, int n_seqs, int T, int Hq, int Hk, int hd,
                           float *dq, float *dk, float *dv, GpuStream s, Err *e);

// --- SwiGLU (model_layers.c swiglu; model_backward.c swiglu_back), residual, casts ---
// act = silu(g) * u over n elements.
int gpu_swiglu(const Bf16 *g, const Bf16 *u, Bf16 *act, size_t n, GpuStream s, Err *e);
// From dact: du = dact g s, dg = dact u s (1 + g (1 - s)), s = sigmoid(g).
int gpu_swiglu_backward(const float *dact, const Bf16 *g, const Bf16 *u, float *dg, float *du, size_t n, GpuStream s,
                        Err *e);
// x += y (the residual stream), in fp32 then rounded.
int gpu_add(Bf16 *x, const Bf16 *y, size_t n, GpuStream s, Err *e);
int gpu_add_f32(Bf16 *x, const float *y, size_t n, GpuStream s, Err *e);
int gpu_cast_to_bf16(const float *x, Bf16 *y, size_t n, GpuStream s, Err *e);
int gpu_cast_to_f32(const Bf16 *x, float *y, size_t n, GpuStream s, Err *e);

// --- MoE (moe.c) ---
// Router softmax over E logits per token (float64 sums), top-k largest first, ties to the lower index,
// weights renormalised over the chosen k when norm_topk. probs [T, E], top_e [T, K], top_w [T, K].
int gpu_router_topk(const float *logits, int T, int E, int K, int norm_topk, float *probs, int32_t *top_e,
                    float *top_w, GpuStream s, Err *e);
// Groups the T*K (token, slot) choices by expert, stably (slot order within an expert, as moe.c):
// offsets [E+1] (expert e's rows are offsets[e]..offsets[e+1]-1), rows [T*K] (grouped row -> slot t*K+k),
// slot_row [T*K] (slot -> grouped row).
int gpu_moe_group(const int32_t *top_e, int T, int K, int E, int32_t *offsets, int32_t *rows, int32_t *slot_row,
                  GpuStream s, Err *e);
// xs[r] = x[rows[r] / K] for the n grouped rows (rows of D).
int gpu_moe_gather(const Bf16 *x, const int32_t *rows, int n, int K, int D, Bf16 *xs, GpuStream s, Err *e);
// y[t] = sum over token t's chosen experts in expert order of top_w * eout[slot_row[slot]] (y fp32 [T, D]).
int gpu_moe_combine(const Bf16 *eout, const int32_t *top_e, const float *top_w, const int32_t *slot_row, int T, int K,
                    int D, float *y, GpuStream s, Err *e);
// The shared expert (Qwen2-MoE): y[t] += sigmoid(zgate[t]) * sout[t] (sigmoid in float64, as moe.c).
int gpu_moe_shared_add(const float *zgate, const Bf16 *sout, int T, int D, float *y, GpuStream s, Err *e);

// The MoE block's backward (moe.c moe_backward; kernels/moe_backward.cu). dz [T, E] = the router logits' gradient from
// dy [T, D], the slot-order expert outputs eout [T*K, D], probs, the choice, and the load-balancing term
// aux_weight * E * expert_frac[e] / moe_rows (expert_frac: device, float64 [E]).
int gpu_moe_router_backward(const float *dy, const Bf16 *eout, const float *probs, const int32_t *top_e,
                            const float *top_w, const double *expert_frac, double aux_weight, double moe_rows,
                            int norm_topk, int T, int E, int K, int D, float *dz, GpuStream s, Err *e);
// gy[r] = dy[rows[r] / K] * top_w[rows[r]] for the n grouped rows (the routed experts' output gradients, bf16).
int gpu_moe_scaled_gather(const float *dy, const int32_t *rows, const float *top_w, int n, int K, int D, Bf16 *gy,
                          GpuStream s, Err *e);
// dx[t] += the grouped input gradients dxs[slot_row[slot]] of token t's slots, in expert order (fp32, no atomics).
int gpu_moe_scatter_add(const float *dxs, const int32_t *top_e, const int32_t *slot_row, int T, int K, int D, float *dx,
                        GpuStream s, Err *e);
// The shared expert's gate: dsout = sigmoid(zgate) dy and dzg[t] = (dy . sout) g (1 - g).
int gpu_moe_shared_backward(const float *dy, const Bf16 *zgate, const Bf16 *sout, int T, int D, float *dsout,
                            float *dzg, GpuStream s, Err *e);

// --- the routed experts' products on rows grouped by expert (kernels/moe_grouped.cu; moe.c runs each expert's rows
// in turn) --- offsets [E+1] (device, from gpu_moe_group) are read on the device: one launch, no host
// synchronisation; n = offsets[E] (host-known: T*K) sizes the grid for the worst grouping. Every output is summed as
// gpu_matmul sums it (k0 = 0, 16, 32, ..., the tail zero-filled), bit-identical to a gpu_matmul on the expert's rows
// alone. Experts without rows are skipped.
// y[r] (+)= x[r] · w_e^T for each grouped row r of expert e: x [n, K], w [E, N, K], y [n, N] (fp32 or bf16).
int gpu_matmul_grouped(const Bf16 *x, const Bf16 *w, void *y, GpuDtype ydtype, const int32_t *offsets, int E, int n,
                       int N, int K, int accumulate, GpuStream s, Err *e);
// y[r] (+)= x[r] · w_e (gpu_matmul_xw per expert): x [n, N], w [E, N, K], y [n, K] fp32.
int gpu_matmul_grouped_xw(const Bf16 *x, const Bf16 *w, float *y, const int32_t *offsets, int E, int n, int N, int K,
                          int accumulate, GpuStream s, Err *e);
// dw_e [N, K] += dy_e^T · x_e over expert e's rows in grouped order (gpu_matmul_xtx_acc per expert): dy [n, N],
// x [n, K], dw [E, N, K] fp32.
int gpu_matmul_grouped_xtx_acc(const Bf16 *dy, const Bf16 *x, const int32_t *offsets, int E, int n, int N, int K,
                               float *dw, GpuStream s, Err *e);
// dst[0..n) = host[0..n), passed as kernel arguments: unlike a copy from pageable host memory, which may wait for the
// stream, this never synchronises (a few host values a kernel reads, such as the MoE backward's expert fractions).
int gpu_write_f64(double *dst, const double *host, int n, GpuStream s, Err *e);

// --- AdamW (algo/optim.c adamw_update): one tensor's n elements, float64 per element as the CPU ---
// p <- p - decay p; m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2; p <- p - lr (m/c1) / (sqrt(v/c2) + eps);
// decay = lr * weight_decay (0 for norms and biases), c1 = 1 - b1^t, c2 = 1 - b2^t. p_bf16 (may be NULL)
// receives the bf16 copy of the new weights.
int gpu_adamw(float *p, float *m, float *v, const float *g, Bf16 *p_bf16, size_t n, double lr, double decay,
              double beta1, double beta2, double eps, double c1, double c2, GpuStream s, Err *e);

// --- sampling (src/model/sample_filter.c sample_pick; model/backend.h sample), kernels/sample.cu ---
// n draws from logits [*, V] (dtype): draw k takes row rows[k] and the uniform uniform[k] in [0, 1): at temperature 0
// the argmax (lowest id on ties); else the weights exp((l - max) / temperature) of the top_k highest-ranked tokens
// (0: all) and, within them, of the smallest head holding top_p of their mass (1: all), ranked by weight then lower
// id, and the first token in id order whose running mass exceeds uniform * their total. token[k] = the choice, -1
// when the row holds a non-finite logit; target[k] = the choice, 0 for -1 (an index the log-prob kernel may read).
int gpu_sample(const void *logits, GpuDtype dtype, int V, int n, const int32_t *rows, const double *uniform,
               double temperature, int top_k, double top_p, int32_t *token, int32_t *target, GpuStream s, Err *e);

#ifdef __cplusplus
}
#endif

#endif
