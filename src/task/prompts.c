#include "task/prompts.h"

#include <stdlib.h>
#include <string.h>

int prompt_encode(const PromptConfig *cfg, const Tokenizer *tok, const char *text, int32_t **ids, int *n, Err *e) {
    Template t;
    TRY(template_open(&t, cfg, tok, e));
    return template_encode(&t, text, ids, n, e);
}

static void grow(PromptSet *ps) {
    if (ps->n < ps->cap) return;
    ps->cap = ps->cap ? 2 * ps->cap : 16;
    size_t c = (size_t)ps->cap;
    ps->index = xrealloc(ps->index, c * sizeof *ps->index);
    ps->tokens = xrealloc(ps->tokens, c * sizeof *ps->tokens);
    ps->len = xrealloc(ps->len, c * sizeof *ps->len);
    ps->answer = xrealloc(ps->answer, c * sizeof *ps->answer);
    ps->solution = xrealloc(ps->solution, c * sizeof *ps->solution);
    ps->solution_len = xrealloc(ps->solution_len, c * sizeof *ps->solution_len);
}

void prompts_add(PromptSet *ps, int64_t index, int32_t *tokens, int len, char *answer) {
    grow(ps);
    int i = ps->n++;
    ps->index[i] = index, ps->tokens[i] = tokens, ps->len[i] = len, ps->answer[i] = answer;
    ps->solution[i] = NULL, ps->solution_len[i] = 0;
}

static int encode_solution(PromptSet *ps, const Task *task, Split split, int64_t i, const Tokenizer *tok, Err *e) {
    char *text;
    TRY(task_reference(task, split, i, &text, e));
    int rc = tokenizer_encode(tok, text, strlen(text), &ps->solution[ps->n - 1], &ps->solution_len[ps->n - 1], e);
    free(text);
    return rc;
}

int prompts_from_task(PromptSet *ps, const Task *task, Split split, int64_t first, int64_t n, bool solutions,
                      const Tokenizer *tok, Err *e) {
    Template t;
    TRY(template_open(&t, task_prompt_config(task), tok, e));
    for (int64_t i = first; i < first + n; i++) {
        TaskItem item;
        int32_t *ids;
        int len;
        TRY(task_item(task, split, i, &item, e));
        int rc = template_encode(&t, item.prompt, &ids, &len, e);
        if (!rc) prompts_add(ps, i, ids, len, item.answer), item.answer = NULL;
        task_item_free(&item);
        if (!rc && solutions) rc = encode_solution(ps, task, split, i, tok, e);
        TRY(rc);
    }
    return 0;
}

void prompts_free(PromptSet *ps) {
    for (int i = 0; i < ps->n; i++) free(ps->tokens[i]), free(ps->answer[i]), free(ps->solution[i]);
    free(ps->index), free(ps->tokens), free(ps->len), free(ps->answer), free(ps->solution), free(ps->solution_len);
    memset(ps, 0, sizeof *ps);
}
