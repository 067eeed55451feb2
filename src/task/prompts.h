// Prompts ready for the model: the problem text in the [prompt] chat template (task/template.h), with their global problem index, the ground-truth
// answer and, for supervised use, the encoded reference solution. One home for the prompt form that
// sampling, training, evaluation and `rlvr ckpt stats` share.
#ifndef RLVR_PROMPTS_H
#define RLVR_PROMPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "task/task.h"
#include "task/template.h"
#include "text/tokenizer.h"

typedef struct {
    int n, cap;
    int64_t *index;      // global problem index (the sampler keys its draws by it)
    int32_t **tokens;    // the prompt's ids (template_encode)
    int *len;
    char **answer;       // ground truth for the verifier; NULL when unknown
    int32_t **solution;  // encoded reference solution (prompts_from_task with solutions = true), else NULL
    int *solution_len;
} PromptSet;

// text in the template of cfg, malloc'd (template_encode).
int prompt_encode(const PromptConfig *cfg, const Tokenizer *tok, const char *text, int32_t **ids, int *n, Err *e);

// Appends problems [first, first + n) of a split in the task's template (task_prompt_config); with solutions, also each one's reference solution
// (embedded tasks only: datasets have none).
int prompts_from_task(PromptSet *ps, const Task *task, Split split, int64_t first, int64_t n, bool solutions,
                      const Tokenizer *tok, Err *e);

// Appends one prompt, taking ownership of tokens and answer (answer may be NULL).
void prompts_add(PromptSet *ps, int64_t index, int32_t *tokens, int len, char *answer);

void prompts_free(PromptSet *ps);

#endif
