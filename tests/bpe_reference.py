#!/usr/bin/env python3
"""Independent reference for the BPE tokenizer (run by hand; CI never runs Python).

Trains a small byte-level BPE with the Qwen2 pre-tokenizer using Hugging Face `tokenizers`
(pip install tokenizers), writes tests/fixtures/bpe/tokenizer.json and cases.jsonl
({"text": ..., "ids": [...]}) with the ids HF produces. Special tokens are encoded as ordinary text
(encode_special_tokens = True), which is what rlvr does: text can never produce a special token.
"""
import json
import os
import unicodedata

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers, decoders

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CORPUS = []
for a in range(0, 120, 7):
    for b in range(3, 60, 11):
        CORPUS.append(f"Q: {a}+{b}=?\n{a % 10}+{b % 10}={a % 10 + b % 10}\nAnswer: {a + b}")
        CORPUS.append(f"Q: {a}*{b}=?\nAnswer: {a * b}")
CORPUS += [
    "The quick brown fox jumps over the lazy dog. It's what they'll say, isn't it? We've done it, I'm sure.",
    "Let's think step by step. First, add the ones; then carry the tens.    Indented text\n\n\nand blank lines.",
    "Größe, naïve café, déjà vu — Ελληνικά, русский язык, 日本語のテキスト, 中文文本, 한국어.",
    "Emoji: 😀🎉👍🏽 and flags 🇫🇷; math: ∑ x² ≤ ∞, π ≈ 3.14159.",
    "def f(x):\n\treturn x * 2  # double\n",
] * 3

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "fixtures", "bpe")
    os.makedirs(out, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    tok.encode_special_tokens = True
    tok.save(os.path.join(out, "tokenizer.json"))
    cases = [
        "", " ", "  ", "\t", "\n", "\n\n", "\r\n", " \n \n", "    x", "a  b   c    ", "x\n\n\ny",
        "Q: 12+34=?\n7+5=12\nAnswer: 46", "Answer: 1234567890", "007", "3.14159", "-42",
        "It's", "they'll", "I'M", "we've", "you'd", "she's gone", "O'Reilly",
        "The quick brown fox jumps over the lazy dog.", "Hello, World!", "foo_bar(baz) -> qux;",
        "Größe naïve café", "日本語のテキスト", "中文文本", "русский язык", "😀🎉👍🏽", "🇫🇷 flag",
        "x² ≤ ∞", "mixed 123abc 中文 😀 end",
        "<|im_end|>", "Answer: 4<|im_end|>", "<|im_start|>user\nhi<|im_end|>\n", "<|endoftext|><|endoftext|>",
        "<|im_end", "\u00a0non-breaking\u00a0space", "tab\tseparated\tvalues", "trailing space ",
        "!!!???...",
        # Long pieces: many merges of the same pair in one word (rlvr merges them in one pass).
        "theanswer" * 200, "a" * 1000, " " * 300 + "x", "1+1=2\n" * 50, "Answer:" * 100, "ab" * 500 + "ba" * 500,
        " ".join(CORPUS[:40]),
    ]
    # Only NFC text: rlvr skips the NFC normalizer so that decode(encode(s)) == s for every input.
    assert all(unicodedata.normalize("NFC", c) == c for c in cases)
    with open(os.path.join(out, "cases.jsonl"), "w", encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps({"text": c, "ids": tok.encode(c, add_special_tokens=False).ids},
                               ensure_ascii=False) + "\n")
    print(f"vocab {tok.get_vocab_size()}, {len(cases)} cases")

if __name__ == "__main__":
    main()
