// Chat templates (template.h). Sources, matched byte for byte by tests/chat_reference.py:
// - ChatML and the Qwen3 think block: the chat_template of Qwen3's tokenizer_config.json
//   (huggingface.co/Qwen/Qwen3-8B), whose generation prompt with enable_thinking = false ends in
//   "<think>\n\n</think>\n\n". Qwen2.5's template is the same ChatML with a default system message.
// - qwen-boxed: the "qwen-boxed" prompt of Qwen2.5-Math's evaluation (github.com/QwenLM/Qwen2.5-Math,
//   evaluation/utils.py), which SimpleRL-Zoo's verl data uses.
// - dapo: the prompt text of DAPO-Math-17k (huggingface.co/datasets/BytedTsinghua-SIA/DAPO-Math-17k).
#include "task/template.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QWEN_BOXED_SYSTEM "You are a helpful assistant."
#define QWEN_BOXED_INSTRUCTION "\nPlease reason step by step, and put your final answer within \\boxed{}."
#define DAPO_BEFORE                                                                                              \
    "Solve the following math problem step by step. The last line of your response should be of the form "     \
    "Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
#define DAPO_AFTER "\n\nRemember to put your answer on its own line after \"Answer:\"."

typedef struct {
    int32_t *ids;
    int n, cap;
} Ids;

static void put_id(Ids *x, int32_t id) {
    if (x->n == x->cap) x->cap = x->cap ? 2 * x->cap : 64, x->ids = xrealloc(x->ids, (size_t)x->cap * sizeof *x->ids);
    x->ids[x->n++] = id;
}

static int put_text(Ids *x, const Tokenizer *tok, const char *text, Err *e) {
    int32_t *ids;
    int n;
    TRY(tokenizer_encode(tok, text, strlen(text), &ids, &n, e));
    for (int i = 0; i < n; i++) put_id(x, ids[i]);
    free(ids);
    return 0;
}

static char *concat(const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = xmalloc(la + lb + lc + 1);
    memcpy(s, a, la), memcpy(s + la, b, lb), memcpy(s + la + lb, c, lc + 1);
    return s;
}

static int put_message(Ids *x, const Template *t, const char *role, const char *content, Err *e) {
    char *body = concat(role, "\n", content);
    put_id(x, t->im_start);
    int rc = put_text(x, t->tok, body, e);
    free(body);
    TRY(rc);
    put_id(x, t->im_end);
    return put_text(x, t->tok, "\n", e);
}

static int find(const Template *t, const char *content, const char *why, int32_t *id, Err *e) {
    *id = tokenizer_added_id(t->tok, content);
    if (*id >= 0) return 0;
    return err_set(e, "[prompt] %s needs \"%s\" as an added token of the tokenizer, and it has none", why, content);
}

int template_open(Template *t, const PromptConfig *cfg, const Tokenizer *tok, Err *e) {
    *t = (Template){.cfg = *cfg, .tok = tok, .bos = -1, .im_start = -1, .im_end = -1, .think = -1, .think_end = -1};
    if (cfg->template_ == TEMPLATE_NONE) return t->bos = tokenizer_bos(tok), 0;
    char why[96];
    snprintf(why, sizeof why, "template = %s", config_enum_name("prompt", "template", cfg->template_));
    TRY(find(t, "<|im_start|>", why, &t->im_start, e));
    TRY(find(t, "<|im_end|>", why, &t->im_end, e));
    if (cfg->enable_thinking) return 0;
    TRY(find(t, "<think>", "enable_thinking = false", &t->think, e));
    return find(t, "</think>", "enable_thinking = false", &t->think_end, e);
}

static bool starts_with(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

// A text that already has the instruction (DAPO-Math-17k's prompts have DAPO's) keeps it once.
char *template_user_text(const Template *t, const char *text) {
    switch (t->cfg.template_) {
    case TEMPLATE_QWEN_BOXED:
        return ends_with(text, QWEN_BOXED_INSTRUCTION) ? strdup(text) : concat(text, QWEN_BOXED_INSTRUCTION, "");
    case TEMPLATE_DAPO:
        return starts_with(text, DAPO_BEFORE) && ends_with(text, DAPO_AFTER) ? strdup(text)
                                                                                : concat(DAPO_BEFORE, text, DAPO_AFTER);
    default: return strdup(text);
    }
}

static const char *system_text(const Template *t) {
    if (t->cfg.system[0]) return t->cfg.system;
    return t->cfg.template_ == TEMPLATE_QWEN_BOXED ? QWEN_BOXED_SYSTEM : NULL;
}

static int chat(Ids *x, const Template *t, const char *text, Err *e) {
    const char *system = system_text(t);
    if (system) TRY(put_message(x, t, "system", system, e));
    char *user = template_user_text(t, text);
    int rc = put_message(x, t, "user", user, e);
    free(user);
    TRY(rc);
    put_id(x, t->im_start);
    TRY(put_text(x, t->tok, "assistant\n", e));
    if (t->cfg.enable_thinking) return 0;
    put_id(x, t->think);
    TRY(put_text(x, t->tok, "\n\n", e));
    put_id(x, t->think_end);
    return put_text(x, t->tok, "\n\n", e);
}

int template_encode(const Template *t, const char *text, int32_t **ids, int *n, Err *e) {
    Ids x = {0};
    int rc;
    if (t->cfg.template_ == TEMPLATE_NONE) {
        put_id(&x, t->bos);
        rc = put_text(&x, t->tok, text, e);
    } else {
        rc = chat(&x, t, text, e);
    }
    if (rc) return free(x.ids), -1;
    *ids = x.ids, *n = x.n;
    return 0;
}
