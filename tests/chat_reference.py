#!/usr/bin/env python3
"""Independent reference for rlvr's chat templates (src/task/template.c; run by hand, CI never runs Python).

pip install transformers jinja2, then python3 tests/chat_reference.py. It
- takes the real chat templates of Qwen3 (Qwen/Qwen3-0.6B) and Qwen2.5 (Qwen/Qwen2.5-7B-Instruct) from the
  copies in llama.cpp's models/templates, as the PyPI sdist of llama-cpp-python ships them (pip download);
- writes tests/fixtures/chat/tokenizer.json: the BPE fixture of tests/bpe_reference.py plus <think> and
  </think> as non-special added tokens, as Qwen3's tokenizer has them;
- writes tests/fixtures/chat/cases.jsonl, one line per prompt: rlvr's [prompt] settings (template, system,
  enable_thinking), the question text, the ids transformers' apply_chat_template gives on the same
  tokenizer, and the rendered text. qwen-boxed comes from the Qwen2.5-Math evaluation prompt string and dapo
  from DAPO-Math-17k's prompt text, both written out below and tokenized by transformers.
"""
import glob
import json
import os
import subprocess
import sys
import tarfile
import tempfile

from tokenizers import AddedToken, Tokenizer
from transformers import PreTrainedTokenizerFast

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
TEMPLATES = {"qwen3": "Qwen-Qwen3-0.6B.jinja", "qwen2.5": "Qwen-Qwen2.5-7B-Instruct.jinja"}
QWEN25_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
# Qwen2.5-Math evaluation/utils.py, PROMPT_TEMPLATES["qwen-boxed"] (its "{{}}" is a format escape).
QWEN_BOXED = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
              "<|im_start|>user\n{input}\nPlease reason step by step, and put your final answer within \\boxed{{}}.<|im_end|>\n"
              "<|im_start|>assistant\n")
# DAPO-Math-17k's user message around the problem.
DAPO = ("Solve the following math problem step by step. The last line of your response should be of the form "
        "Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n{input}\n\n"
        "Remember to put your answer on its own line after \"Answer:\".")

QUESTIONS = [
    "What is 12+34?",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "Let $f(x) = x^2 + 1$.\nFind $f(3)$.\n\n  Indented line, trailing spaces  ",
    "Größe, naïve café — 日本語のテキスト, 中文 😀",
    "Answer: 4\n#### 5\n\\boxed{6}",
    "A thought <think>inside</think> the question",
    " leading space and a tab\tin it",
]


def templates():
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q", "-d", d,
                        LLAMA_CPP_PYTHON], check=True)
        (sdist,) = glob.glob(os.path.join(d, "*.tar.gz"))
        out = {}
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                for key, name in TEMPLATES.items():
                    if member.name.endswith("vendor/llama.cpp/models/templates/" + name):
                        out[key] = tar.extractfile(member).read().decode()
        assert set(out) == set(TEMPLATES), out.keys()
        return out


def chat_tokenizer(here, out):
    tok = Tokenizer.from_file(os.path.join(here, "fixtures", "bpe", "tokenizer.json"))
    tok.add_tokens([AddedToken("<think>", special=False, normalized=False),
                    AddedToken("</think>", special=False, normalized=False)])
    tok.encode_special_tokens = False  # chat markers in the rendered template are special tokens
    tok.save(os.path.join(out, "tokenizer.json"))
    return tok


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "fixtures", "chat")
    os.makedirs(out, exist_ok=True)
    tmpl = templates()
    tok = chat_tokenizer(here, out)
    hf = {k: PreTrainedTokenizerFast(tokenizer_object=tok, chat_template=v) for k, v in tmpl.items()}

    def ids_of(text):
        return tok.encode(text, add_special_tokens=False).ids

    def chat(family, messages, **kw):
        text = hf[family].apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kw)
        ids = hf[family].apply_chat_template(messages, tokenize=True, add_generation_prompt=True, **kw)
        ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
        assert ids == ids_of(text), (messages, kw)
        return text, ids

    cases = []

    def add(template, q, text, ids, system="", enable_thinking=True):
        cases.append({"template": template, "system": system, "enable_thinking": enable_thinking, "question": q,
                      "ids": ids, "rendered": text})

    for q in QUESTIONS:
        user = [{"role": "user", "content": q}]
        add("chatml", q, *chat("qwen3", user))
        add("chatml", q, *chat("qwen3", user, enable_thinking=False), enable_thinking=False)
        add("chatml", q, *chat("qwen3", [{"role": "system", "content": "Be brief."}] + user), system="Be brief.")
        add("chatml", q, *chat("qwen2.5", user), system=QWEN25_DEFAULT_SYSTEM)
        boxed = QWEN_BOXED.format(input=q)
        add("qwen-boxed", q, boxed, ids_of(boxed))
        add("qwen-boxed", q, *chat("qwen3", [{"role": "system", "content": "You are a helpful assistant."},
                                              {"role": "user", "content": q + "\nPlease reason step by step, and put "
                                               "your final answer within \\boxed{}."}], enable_thinking=False),
            enable_thinking=False)
        add("dapo", q, *chat("qwen3", [{"role": "user", "content": DAPO.format(input=q)}]))
        add("dapo", q, *chat("qwen3", [{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": DAPO.format(input=q)}]), system="Be brief.")
    with open(os.path.join(out, "cases.jsonl"), "w", encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases, templates from {LLAMA_CPP_PYTHON}")


if __name__ == "__main__":
    main()
