// Chat templates: the [data] text of a problem as the token ids the model is given ([prompt] template, system,
// enable_thinking). Special tokens are inserted by id from the tokenizer's added tokens, never by tokenizing
// text, so a problem containing "<|im_start|>" stays plain text. Each template names its source in template.c.
#ifndef RLVR_TEMPLATE_H
#define RLVR_TEMPLATE_H

#include <stdint.h>

#include "base/config.h"
#include "base/error.h"
#include "text/tokenizer.h"

typedef struct {
    PromptConfig cfg;
    const Tokenizer *tok;
    int32_t bos, im_start, im_end, think, think_end;  // -1 where the template does not use the token
} Template;

// Resolves the ids the template needs; -1 naming the template and the token the tokenizer lacks.
int template_open(Template *t, const PromptConfig *cfg, const Tokenizer *tok, Err *e);

// The prompt for one problem text, malloc'd:
//   none       [BOS] + encode(text)
//   chatml     [system message if system is set] user message(text), then the generation prompt
//   qwen-boxed chatml, user text + "\nPlease reason step by step, ...", system "You are a helpful assistant."
//              unless system is set
//   dapo       chatml, user text inside DAPO-Math-17k's "Solve the following math problem ..." instruction
// A message is <|im_start|> encode(role "\n" content) <|im_end|> encode("\n"); the generation prompt is
// <|im_start|> encode("assistant\n"), followed when enable_thinking = false by
// <think> encode("\n\n") </think> encode("\n\n").
int template_encode(const Template *t, const char *text, int32_t **ids, int *n, Err *e);

// The user message's content for text (the instruction around it), malloc'd; text itself for none and chatml
// and for a text that already has the template's instruction (DAPO-Math-17k's prompts have DAPO's).
char *template_user_text(const Template *t, const char *text);

#endif
