# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Command-line edge values across subcommands, for each kind of value: an integer option, a --set number, an input
# path, an output path, a name, a size. Each wrong value (empty, a sign, huge, 1e999, nan, inf, hexadecimal, spaces,
# trailing text, 100 KB, a directory, a device, a pipe, random bytes) is one message line naming the option or the
# place and what was expected, with exit status 2 for a usage error and 1 for a config or file error; never a
# crash, never a value read as another.
plan $((13 + 8 + 15 + 9 + 3 + 20 + 9 + 10 + 3 + 7 + 3 + 7))

# refused NAME STATUS TEXT CMD...: CMD exits with STATUS and writes exactly one message line, which contains TEXT
# (the usage line after a usage error and the "rank 0 on" line a run starts with aside); with AT_END set, which ends
# with TEXT.
refused() {
    local name=$1 status=$2 text=$3 err rc lines; shift 3
    err=$(timeout 30 "$@" 2>&1 >/dev/null); rc=$?
    lines=$(grep -av -e '^usage: ' -e '^ ' -e '^rlvr: rank [0-9]* on ' <<< "$err")
    if [ "$rc" -ne "$status" ]; then fail "$name" "exit status $rc, expected $status:"$'\n'"${err: -300}"
    elif [ "$(grep -ac . <<< "$lines")" -ne 1 ]; then fail "$name" "expected one message line:"$'\n'"$err"
    elif ! grep -aqF -- "$text" <<< "$lines"; then fail "$name" "the message lacks '$text':"$'\n'"${err: -300}"
    elif [ -n "${AT_END:-}" ] && [ "${lines: -${#text}}" != "$text" ]; then
        fail "$name" "the message does not end with '$text':"$'\n'"...${lines: -300}"
    else pass "$name"; fi
}

TINY=$ROOT/configs/tiny-train.ini
LONG=$(head -c 100000 /dev/zero | tr '\0' 7)
MID=$(head -c 2000 /dev/zero | tr '\0' 7)  # a name over a message's 1 KB, within a path's 4095 bytes
CUT=$(head -c 40 /dev/zero | tr '\0' 7)...  # err_abbrev's first 40 bytes
mkdir -p "$TMP/dir"
touch "$TMP/file"
# Random bytes after a first line that fails the same way each time (an escape sequence, a NUL byte).
{ printf '\033[31m\377\376\000\001\r\n'; head -c 4096 /dev/urandom; } > "$TMP/random.bin"
mkfifo "$TMP/pipe"
"$RLVR" init --config "$TINY" --out "$TMP/ck.h5" >/dev/null 2>&1
"$RLVR" loss-testgen --seed 1 --out "$TMP/x.h5" >/dev/null 2>&1
printf '{"response": "3", "answer": "3"}\n' > "$TMP/r.jsonl"

# Integer options: the value as given, the range, exit 2 (13 for --ranks, 8 across subcommands).
for v in "" -1 0 99999999999999999999 1e999 nan inf 0x10 " 3" "3 " 3abc 2.5; do
    refused "int: rlvr config --ranks '$v'" 2 "rlvr config: --ranks '$v': expected an integer in [1, 1048576]" \
        "$RLVR" config --ranks "$v"
done
refused "int: 100 KB value, cut in the message" 2 "rlvr config: --ranks '$CUT': expected an integer in [1, 1048576]" \
    "$RLVR" config --ranks "$LONG"
refused "int: sample --n -1" 2 "rlvr sample: --n '-1': expected an integer in [1, 65536]" \
    "$RLVR" sample --n -1 --ckpt "$TMP/ck.h5" --prompts "$TMP/r.jsonl" --out "$TMP/o.jsonl"
refused "int: eval --n 0" 2 "rlvr eval: --n '0': expected an integer in [1, 65536]" \
    "$RLVR" eval --ckpt "$TMP/ck.h5" --out "$TMP/ev" --n 0
refused "int: loss --micro-batch 0x10" 2 "rlvr loss: --micro-batch '0x10': expected an integer in [1, 1099511627776]" \
    "$RLVR" loss --algo grpo --in "$TMP/x.h5" --out "$TMP/y.h5" --micro-batch 0x10
refused "int: bench model --threads ' 2'" 2 "rlvr bench model: --threads ' 2': expected an integer in [1, 4096]" \
    "$RLVR" bench model --threads 1 --threads " 2"
refused "int: bench loss --repeat 3abc" 2 "rlvr bench loss: --repeat '3abc': expected an integer in [1, 1000]" \
    "$RLVR" bench loss --repeat 3abc
refused "int: bench sample --new 1e999" 2 "rlvr bench sample: --new '1e999': expected an integer in [1, 1048576]" \
    "$RLVR" bench sample --new 1e999
refused "int: dist-selftest --fail-on-rank -1" 2 "rlvr dist-selftest: --fail-on-rank '-1': expected an integer in" \
    "$RLVR" dist-selftest --fail-on-rank -1
refused "int: loss-testgen --seed -1 (never wrapped)" 2 "rlvr loss-testgen: --seed '-1': expected an integer in [0, " \
    "$RLVR" loss-testgen --seed -1 --out "$TMP/t.h5"

# --set numbers: a float key and an integer key, exit 1 naming the --set, the key and the range (15).
for v in "" -1 nan inf 1e999 " 0.1" "0.1 " 3abc 0x1p-3; do
    refused "set float: train.lr='$v'" 1 "--set train.lr=$v: [train] lr = '$v': expected a number in [0, 10]" \
        "$RLVR" config --set "train.lr=$v"
done
refused "set float: 1e-999 underflows" 1 "lr = '1e-999': expected a number in [0, 10], 0 or of magnitude at least" \
    "$RLVR" config --set train.lr=1e-999
for v in " 3" 3abc 99999999999999999999 -1 2.5; do
    refused "set int: train.steps='$v'" 1 "--set train.steps=$v: [train] steps = '$v': expected an integer in [0, " \
        "$RLVR" config --set "train.steps=$v"
done
# --set forms (9).
for s in train.steps =1 .steps=1 train.=1; do
    refused "set form: '$s'" 1 "--set $s: expected section.key=value" "$RLVR" config --set "$s"
done
refused "set: unknown section" 1 "--set nosuch.key=1: unknown section [nosuch]" "$RLVR" config --set nosuch.key=1
refused "set: unknown key, with a hint" 1 "unknown key 'stpes' in [train] (did you mean 'steps'?)" \
    "$RLVR" config --set train.stpes=1
refused "set: bool" 1 "[dist] deterministic = 'maybe': expected true or false" \
    "$RLVR" config --set dist.deterministic=maybe
refused "set: enum is case-sensitive" 1 "[algo] name = 'GRPO': expected one of grpo|" "$RLVR" config --set algo.name=GRPO
refused "set: 100 KB string" 1 "[task] name = '$CUT': expected a string of at most 63 bytes" \
    "$RLVR" config --set "task.name=$LONG"
# --set across subcommands (3).
refused "set: train --set train.lr=nan" 1 "--set train.lr=nan: [train] lr = 'nan'" \
    "$RLVR" train --config "$TINY" --run-dir "$TMP/run-nan" --set train.lr=nan
refused "set: init --set model.init_std=0x1" 1 "[model] init_std = '0x1': expected a number in" \
    "$RLVR" init --config "$TINY" --out "$TMP/i.h5" --set model.init_std=0x1
refused "set: reward --set reward.format_reward=' 1'" 1 "[reward] format_reward = ' 1': expected a number in" \
    "$RLVR" reward --in "$TMP/r.jsonl" --out "$TMP/o.jsonl" --set "reward.format_reward= 1"

# Input paths: a directory, a missing file, a device, random bytes, 100 KB (17).
refused "in: --config DIR" 1 "$TMP/dir: cannot read config file: Is a directory" "$RLVR" config --config "$TMP/dir"
refused "in: --config missing" 1 "$TMP/none.ini: cannot open config file: No such file or directory" \
    "$RLVR" config --config "$TMP/none.ini"
refused "in: --config random bytes" 1 "$TMP/random.bin:1: NUL byte in the line: expected text" \
    "$RLVR" config --config "$TMP/random.bin"
expect_ok "in: --config /dev/null is an empty file: every default" "$RLVR" config --config /dev/null
refused "in: ckpt info DIR" 1 "$TMP/dir: a directory; expected a checkpoint file" "$RLVR" ckpt info "$TMP/dir"
refused "in: ckpt info missing" 1 "$TMP/none.h5: cannot open (no such file or no permission)" \
    "$RLVR" ckpt info "$TMP/none.h5"
refused "in: ckpt info /dev/null" 1 "/dev/null: not an HDF5 file" "$RLVR" ckpt info /dev/null
refused "in: ckpt stats random bytes" 1 "$TMP/random.bin: not an HDF5 file" "$RLVR" ckpt stats "$TMP/random.bin"
refused "in: train --init random bytes" 1 "$TMP/random.bin: not an HDF5 file" \
    "$RLVR" train --config "$TINY" --run-dir "$TMP/run-init" --init "$TMP/random.bin"
refused "in: reward --in DIR" 1 "$TMP/dir: a directory; expected a JSONL file" \
    "$RLVR" reward --in "$TMP/dir" --out "$TMP/o.jsonl"
refused "in: reward --in missing" 1 "$TMP/none.jsonl: cannot open: No such file or directory" \
    "$RLVR" reward --in "$TMP/none.jsonl" --out "$TMP/o.jsonl"
refused "in: reward --in random bytes" 1 "$TMP/random.bin:1: NUL byte in line; expected one JSON object per line" \
    "$RLVR" reward --in "$TMP/random.bin" --out "$TMP/o.jsonl"
refused "in: sample --prompts DIR" 1 "$TMP/dir: a directory; expected a JSONL file" \
    "$RLVR" sample --ckpt "$TMP/ck.h5" --prompts "$TMP/dir" --out "$TMP/o.jsonl"
refused "in: reward --in /dev/null, no responses" 1 "/dev/null: no responses; expected one JSON object per line" \
    "$RLVR" reward --in /dev/null --out "$TMP/o.jsonl"
refused "in: score --in /dev/null, no sequences" 1 "/dev/null: no sequences; expected one JSON object per line" \
    "$RLVR" score --ckpt "$TMP/ck.h5" --in /dev/null --out "$TMP/s.h5"
refused "in: sample --prompts /dev/null, no prompts" 1 "/dev/null: no prompts; expected one JSON object per line" \
    "$RLVR" sample --ckpt "$TMP/ck.h5" --prompts /dev/null --out "$TMP/o.jsonl"
refused "in: loss --in /dev/null" 1 "/dev/null: not an HDF5 file" \
    "$RLVR" loss --algo grpo --in /dev/null --out "$TMP/y.h5"
refused "in: import --hf without config.json" 1 "$TMP/dir/config.json" \
    "$RLVR" import --hf "$TMP/dir" --out "$TMP/imp.h5"
refused "in: --config of 100 KB, longer than any path" 2 \
    "rlvr config: --config '$CUT': expected F of at most 4095 bytes, not 100000" "$RLVR" config --config "$LONG"
refused "in: ckpt info of 100 KB, longer than any path" 2 \
    "rlvr ckpt info: argument '$CUT': expected C of at most 4095 bytes, not 100000" "$RLVR" ckpt info "$LONG"

# Output paths: a pipe stands for a device (a checkpoint's rename would replace /dev/null itself), a directory, a
# file where a directory is wanted, a missing parent (9).
refused "out: init --out PIPE" 1 "$TMP/pipe: not a regular file (a device, pipe or socket)" \
    "$RLVR" init --config "$TINY" --out "$TMP/pipe"
expect_ok "out: the pipe is still a pipe" test -p "$TMP/pipe"
refused "out: init --out DIR" 1 "$TMP/dir: a directory; expected a new or regular file" \
    "$RLVR" init --config "$TINY" --out "$TMP/dir"
refused "out: loss-testgen --out PIPE" 1 "$TMP/pipe: not a regular file" \
    "$RLVR" loss-testgen --seed 1 --out "$TMP/pipe"
refused "out: reward --out DIR" 1 "$TMP/dir: cannot open for writing: Is a directory" \
    "$RLVR" reward --in "$TMP/r.jsonl" --out "$TMP/dir"
refused "out: reward --out in a missing directory" 1 "$TMP/none/o.jsonl: cannot create a temporary file beside it" \
    "$RLVR" reward --in "$TMP/r.jsonl" --out "$TMP/none/o.jsonl"
refused "out: eval --out FILE" 1 "$TMP/file: not a directory" "$RLVR" eval --ckpt "$TMP/ck.h5" --out "$TMP/file"
refused "out: export --out FILE" 1 "$TMP/file: " "$RLVR" export "$TMP/ck.h5" --out "$TMP/file"
refused "out: train --run-dir FILE" 1 "$TMP/file/ckpt: cannot create directory: Not a directory" \
    "$RLVR" train --config "$TINY" --run-dir "$TMP/file"

# Names: exit 2 with the known ones (10).
refused "name: loss --algo nosuch" 2 "rlvr loss: --algo 'nosuch': expected one of grpo" \
    "$RLVR" loss --algo nosuch --in "$TMP/x.h5" --out "$TMP/y.h5"
refused "name: loss --algo GRPO" 2 "rlvr loss: --algo 'GRPO': expected one of grpo" \
    "$RLVR" loss --algo GRPO --in "$TMP/x.h5" --out "$TMP/y.h5"
refused "name: loss --algo 2000 bytes" 2 "rlvr loss: --algo '$CUT': expected one of grpo" \
    "$RLVR" loss --algo "$MID" --in "$TMP/x.h5" --out "$TMP/y.h5"
refused "name: reward --task 2000 bytes" 2 "rlvr reward: --task '$CUT': expected arith, math, gsm8k or dapo" \
    "$RLVR" reward --task "$MID" --in "$TMP/r.jsonl" --out "$TMP/o.jsonl"
refused "name: export --dtype f16" 2 "rlvr export: --dtype f16: expected bf16 or f32" \
    "$RLVR" export "$TMP/ck.h5" --out "$TMP/ex" --dtype f16
refused "name: import --dtype bf16" 2 "rlvr import: --dtype bf16: checkpoints hold f32 only" \
    "$RLVR" import --hf "$TMP/dir" --out "$TMP/imp.h5" --dtype bf16
refused "name: train --resume=" 2 "rlvr train: --resume=: expected --resume or --resume=auto, not an empty value" \
    "$RLVR" train --run-dir "$TMP/run-resume" --resume=
refused "name: train --resume=yes" 2 "rlvr train: --resume=yes: expected --resume or --resume=auto" \
    "$RLVR" train --run-dir "$TMP/run-resume" --resume=yes
refused "name: empty string" 2 "rlvr sample: --ckpt '': expected C, not an empty string" \
    "$RLVR" sample --ckpt "" --prompts "$TMP/r.jsonl" --out "$TMP/o.jsonl"
refused "name: empty string, --opt= form" 2 "rlvr score: --out '': expected OUT.h5, not an empty string" \
    "$RLVR" score --ckpt "$TMP/ck.h5" --in "$TMP/r.jsonl" --out=

# Sizes (3).
for v in 0x10 1.5 " 3"; do
    refused "size: export --shard-size '$v'" 2 "rlvr export: --shard-size: size '$v': expected a positive whole number" \
        "$RLVR" export "$TMP/ck.h5" --out "$TMP/ex" --shard-size "$v"
done

# The option itself (7).
refused "opt: missing value at the end" 2 "rlvr config: --ranks needs a value: --ranks N" "$RLVR" config --ranks
refused "opt: an option where the value goes" 2 "rlvr config: --config needs a value: --config F (found option '--set'" \
    "$RLVR" config --config --set train.steps=1
refused "opt: unknown, with a hint" 2 "rlvr config: unknown option '--rank' (did you mean '--ranks'?)" \
    "$RLVR" config --rank 2
refused "opt: unknown, 100 KB, cut" 2 "rlvr config: unknown option '--$(head -c 38 /dev/zero | tr '\0' 7)...'" \
    "$RLVR" config "--$LONG"
refused "opt: a flag given a value" 2 "rlvr sample: --show-prompt takes no value" \
    "$RLVR" sample --show-prompt=1 --prompts "$TMP/r.jsonl"
refused "opt: a stray argument" 2 "rlvr init: unexpected argument 'stray'" \
    "$RLVR" init --config "$TINY" --out "$TMP/i.h5" stray
refused "opt: a single dash is an argument" 2 "rlvr ckpt diff: unexpected argument '-'" \
    "$RLVR" ckpt diff "$TMP/ck.h5" "$TMP/ck.h5" -

# Control bytes are quoted escaped, so the message stays one line and leaves the terminal alone (3).
refused "quote: a newline in a value" 2 "rlvr config: --ranks '3\\n4': expected an integer in [1, 1048576]" \
    "$RLVR" config --ranks $'3\n4'
refused "quote: a newline in a --set name" 1 "--set a\\nb.c=1: expected section.key=value" "$RLVR" config --set $'a\nb.c=1'
printf '\033[31mkey = 1\n' > "$TMP/escape.ini"
refused "quote: an escape sequence in a config file" 1 "$TMP/escape.ini:1: key '\\x1B[31mkey' outside any [section]" \
    "$RLVR" config --config "$TMP/escape.ini"

# A path of 3 KB (PATH_MAX is 4096; a message holds 1 KB) keeps the end of the message, the file's name and what
# was expected: the message is cut in its middle (7). refused_ending: refused, the message ending with TEXT.
refused_ending() { AT_END=1 refused "$@"; }
DEEP=$TMP
for i in $(seq 12); do DEEP=$DEEP/$(head -c 240 /dev/zero | tr '\0' d)$i; done
mkdir -p "$DEEP"
printf '[train]\nno equals sign\n' > "$DEEP/bad.ini"
refused_ending "3 KB path: config file with a bad line" 1 \
    "/bad.ini:2: syntax error: expected [section] or key = value" "$RLVR" config --config "$DEEP/bad.ini"
printf '[train]\nsteps = abc\n' > "$DEEP/bad_value.ini"  # a key's place (config.c file_entry) keeps the whole path
refused_ending "3 KB path: config file with a bad value" 1 \
    "/bad_value.ini:2: [train] steps = 'abc': expected an integer in [0, 1073741824]" \
    "$RLVR" config --config "$DEEP/bad_value.ini"
printf '{"response": "3"}\n' > "$DEEP/bad.jsonl"
refused_ending "3 KB path: reward dataset with a bad line" 1 \
    '/bad.jsonl:1: expected "answer" (string) or "index" (a problem number >= 0)' \
    "$RLVR" reward --in "$DEEP/bad.jsonl" --out "$TMP/o.jsonl"
printf '{"prompt": 3}\n' > "$DEEP/prompts.jsonl"
refused_ending "3 KB path: prompts with a bad line" 1 '/prompts.jsonl:1: "prompt" must be a string' \
    "$RLVR" sample --ckpt "$TMP/ck.h5" --prompts "$DEEP/prompts.jsonl" --out "$TMP/o.jsonl"
refused_ending "3 KB path: missing checkpoint" 1 "/none.h5: cannot open (no such file or no permission)" \
    "$RLVR" ckpt info "$DEEP/none.h5"
h5copy -i "$TMP/x.h5" -o "$TMP/logp_only.h5" -s logp -d logp  # h5copy itself overflows on a 3 KB path
mv "$TMP/logp_only.h5" "$DEEP/in.h5"
refused_ending "3 KB path: HDF5 input without a dataset" 1 "/in.h5: missing dataset 'seq_offsets'" \
    "$RLVR" loss --algo grpo --in "$DEEP/in.h5" --out "$TMP/y.h5"
# tokenizer.path is a config string of at most 255 bytes: here a 3 KB token makes the message long.
printf '{"model": {"type": "BPE", "vocab": {"%s": -1}, "merges": []}}' "$(head -c 3000 /dev/zero | tr '\0' k)" \
    > "$TMP/tok.json"
refused_ending "3 KB token: bad tokenizer file" 1 'kkk"]: expected an id in [0, 16777216)' \
    "$RLVR" sample --ckpt "$TMP/ck.h5" --prompts "$TMP/r.jsonl" --out "$TMP/o.jsonl" \
    --set tokenizer.type=bpe --set "tokenizer.path=$TMP/tok.json"
