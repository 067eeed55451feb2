# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Parallel checkpoints (io/checkpoint.h): build/mpi_checkpoint on 1, 2 and 4 ranks (even and ragged shards, load
# by pieces, parallel file = serial file, a flipped byte in one expert's chunk); h5dump reads a file written on 4
# ranks, experts one per chunk with Fletcher32; rlvr ckpt names the damaged tensor, and a damaged object header or link
# heap; a load from damaged link storage says the file is damaged, not that a dataset is missing; rlvr ckpt diff
# --exact reports every difference of the two trees on its own line; rlvr train does not resume an SFT run, a refused
# resume leaves config.ini alone, a resume logs each changed key (the keys the run left to presets and derivations
# follow the new config) and refuses a change of the run's identity (seeds, task, the training records, wherever they
# lie), a key the saved run gave by hand keeps its value, its preset's or not (/meta given_keys, on 1 and 2 ranks), so
# does one the resume's own --config gives (not the run's config.ini named as --config), the
# stored config is read with /tmp read-only (ckpt stats, resume, export), and a second run in a directory in use is
# refused; the trainer saves on 4 ranks and resumes on 1 and on 2 bit
# for bit (deterministic); SIGKILL of one rank during a parallel write leaves the previous checkpoint whole; a save
# that does not fit the disk (a small tmpfs, as root) is refused with one message on 1 and 2 ranks, and one whose
# writes are refused at the close (a file size limit) too, exit 1, and on 2 ranks one under a file size limit is refused
# before HDF5 writes (it hung); a resume removes the temporary files a killed
# writer left in the run directory and its ckpt/, naming each, and nothing else.
plan 52
CK="$TMP/ckpt"
mkdir -p "$CK"
CK_TEST=$(dirname "$RLVR")/mpi_checkpoint
for np in 1 2 4; do
    mkdir -p "$CK/np$np"
    if [ -x "$CK_TEST" ]; then
        expect_ok "mpi_checkpoint on $np ranks: even and ragged shards, pieces, serial = parallel, corruption" \
            mpi $np "$CK_TEST" "$CK/np$np"
    else
        fail "mpi_checkpoint on $np ranks" "$CK_TEST is missing: make $CK_TEST"
    fi
done
GOOD4="$CK/np4/good.h5" EXPERTS=/model/model.layers.1.mlp.experts.down_proj
# The tensor is [4 experts, hidden 16, moe_intermediate 8] (tests/mpi_checkpoint.c): one chunk is one expert.
expect_ok "h5dump: a file written on 4 ranks reads; experts stored one per chunk (1, 16, 8) with Fletcher32" bash -c "
    out=\$(h5dump -p -H -d '$EXPERTS' '$GOOD4') &&
    grep -q 'CHUNKED ( 1, 16, 8 )' <<<\"\$out\" && grep -q 'CHECKSUM FLETCHER32' <<<\"\$out\" &&
    h5dump -d /optim/step '$GOOD4' | grep -q '(0): 7'"
expect_error "corrupt: rlvr ckpt stats names the damaged tensor" \
    "corrupt.h5: checksum mismatch in dataset '$EXPERTS' \(the file is damaged\)" "$RLVR" ckpt stats "$CK/np4/corrupt.h5"
# A damaged object header (a dataset's in /optim/m): ckpt info fails naming the file, not a partial tree with exit 0;
# /meta's: the attributes cannot be read (it said they were missing, as if not an rlvr checkpoint).
flip_byte() {  # FILE OFFSET
    local b; b=$(od -An -tu1 -j "$2" -N1 "$1")
    printf "\\$(printf '%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
cp "$CK/np1/good.h5" "$CK/header.h5"
at=$(h5ls -v "$CK/header.h5/optim/m" | grep -A1 '^model.norm.weight ' | sed -n 's/.*Location: *1://p')
flip_byte "$CK/header.h5" $((at + 20))
expect_error "damaged object header: ckpt info fails naming the file" "header.h5: cannot list its objects \(damaged" \
    "$RLVR" ckpt info "$CK/header.h5"
cp "$CK/np1/good.h5" "$CK/meta.h5"
at=$(h5ls -v "$CK/meta.h5" | awk '/^meta /{f=1} f && /Location:/{sub(/.*1:/, ""); print; exit}')
flip_byte "$CK/meta.h5" $((at + 20))
expect_error "damaged /meta header: the file is damaged, not missing an attribute" \
    "meta.h5: cannot read the attributes of 'meta' \(the file is damaged\)" "$RLVR" ckpt info "$CK/meta.h5"

# A damaged heap of link names (/optim/m's): ckpt info and diff --exact fail naming the file; HDF5 crashed in both.
cp "$CK/np1/good.h5" "$CK/heap.h5"
group=$(h5ls -v "$CK/heap.h5/optim" | grep -A1 '^m ' | sed -n 's/.*Location: *1://p')
heap=$(h5debug "$CK/heap.h5" "$group" | sed -n "s/.*'Dense' link storage fractal heap address: *//p")
flip_byte "$CK/heap.h5" $((heap + 20))
expect_error "damaged link heap: ckpt info fails naming the file" "heap.h5: cannot list its objects \(damaged" \
    "$RLVR" ckpt info "$CK/heap.h5"
expect_error "damaged link heap: ckpt diff --exact fails naming the file" "heap.h5: cannot list its objects \(damaged" \
    "$RLVR" ckpt diff --exact "$CK/np1/good.h5" "$CK/heap.h5"

# ckpt diff --exact: identical trees (how the file was made aside: world_size), an extra dataset, a later step.
expect_ok "diff --exact: the file saved on 4 ranks = the one saved on 1 rank" \
    "$RLVR" ckpt diff --exact "$CK/np1/good.h5" "$GOOD4"
cp "$GOOD4" "$CK/extra.h5"
h5copy -i "$GOOD4" -o "$CK/extra.h5" -s /model/model.norm.weight -d /model/extra
out=$("$RLVR" ckpt diff --exact "$GOOD4" "$CK/extra.h5" 2>"$CK/extra.err"); rc=$?
if [ $rc -eq 1 ] && [ "$out" = "/model/extra: only in $CK/extra.h5" ] && grep -q "differ (1 difference)" "$CK/extra.err"
then pass "diff --exact: a dataset present in one file only is one line, exit 1"
else fail "diff --exact: a dataset present in one file only is one line, exit 1" "exit $rc: $out"; fi

SFT=(--config "$ROOT/configs/tiny-train.ini" --set sft.steps=4 --set eval.n_prompts=0 --set dist.deterministic=true)
"$RLVR" sft "${SFT[@]}" --run-dir "$CK/u1" --set checkpoint.every=2 >/dev/null 2>&1
A="$CK/u1/ckpt/step-000002.h5" B="$CK/u1/ckpt/step-000004.h5"
out=$("$RLVR" ckpt diff --exact "$A" "$B" 2>/dev/null); rc=$?
n_tensors=$(h5ls "$B/model" | wc -l)
# A later step: every state field but the seeds and bad_steps, the step attribute, /optim/step, and (in /model,
# /optim/m and /optim/v) each tensor at most once; no wall time and nothing listed twice.
if [ $rc -eq 1 ] && grep -qx '/meta@step: values differ' <<<"$out" && grep -qx '/optim/step: 1 of 1 values differ' <<<"$out" &&
    grep -qx '/state/data_cursor: 1 of 1 values differ' <<<"$out" && ! grep -q elapsed_s <<<"$out" &&
    [ "$(cut -d: -f1 <<<"$out" | sort | uniq -d | wc -l)" -eq 0 ] &&
    [ "$(grep -c '^/model/' <<<"$out")" -le "$n_tensors" ] && [ "$(grep -c '^/model/' <<<"$out")" -gt 0 ] &&
    [ "$(grep -c '^/optim/v/' <<<"$out")" -gt 0 ]
then pass "diff --exact: steps 2 and 4 of a run differ in /model, /optim, /state and /meta step, one line each"
else fail "diff --exact: steps 2 and 4 of a run differ in /model, /optim, /state and /meta step, one line each" "exit $rc: $out"; fi

# Damaged link storage reads as a damaged file, not as a missing dataset (a file that lacks one: tests/test_checkpoint.c):
# /model's link heap for a resume and for rlvr eval, /state's object header (its links are kept there) for a resume.
cp -r "$CK/u1" "$CK/links"
L="$CK/links/ckpt/step-000004.h5"
group=$(h5ls -v "$L" | grep -A1 '^model ' | sed -n 's/.*Location: *1://p')
heap=$(h5debug "$L" "$group" | sed -n "s/.*'Dense' link storage fractal heap address: *//p")
flip_byte "$L" $((heap + 20))
expect_error "damaged /model link heap: a resume says the file is damaged, naming it and the dataset" \
    "step-000004.h5: cannot look up '/model/model.embed_tokens.weight': the links of group '/model' do not read \(the file is damaged\)" \
    "$RLVR" sft --run-dir "$CK/links" --resume
expect_error "damaged /model link heap: rlvr eval says the file is damaged" \
    "step-000004.h5: cannot look up '/model/model.embed_tokens.weight': the links of group '/model' do not read \(the file is damaged\)" \
    "$RLVR" eval --ckpt "$L" --out "$CK/links-eval" --config "$ROOT/configs/tiny-train.ini"
cp "$B" "$L"
at=$(h5ls -v "$L" | awk '/^state /{f=1} f && /Location:/{sub(/.*1:/, ""); print; exit}')
flip_byte "$L" $((at + 20))
expect_error "damaged /state header: a resume says the file is damaged, naming it and the dataset" \
    "step-000004.h5: cannot look up '/state/[a-z_]*': the links of group '/state' do not read \(the file is damaged\)" \
    "$RLVR" sft --run-dir "$CK/links" --resume

# A run goes on with the command that made it: `rlvr train --resume` on an SFT run would carry the SFT's step and
# moments into RL (and the reverse).
cp -r "$CK/u1" "$CK/kind"
expect_error "resume: rlvr train refuses an SFT run directory (kind sft)" \
    "step-000004.h5: /meta kind is sft, expected train: .rlvr train --resume. continues only its own runs" \
    "$RLVR" train --run-dir "$CK/kind" --resume=auto --config "$ROOT/configs/tiny-train.ini" --set train.steps=5
# A resume refused for another [model] leaves config.ini as it was: a plain --resume after it still continues.
cp "$CK/kind/config.ini" "$CK/kind.ini"
"$RLVR" sft --run-dir "$CK/kind" --resume --set model.hidden_size=64 >/dev/null 2>&1
expect_ok "resume: refused for another [model], config.ini unchanged" cmp "$CK/kind.ini" "$CK/kind/config.ini"

# A resume with another config (train/resume.c): each changed key is logged on a line of its own and the run goes on;
# a change of the run's identity (seeds, task, data) is refused naming every such key, and so are other records
# under the same data.path; a refused resume writes nothing. A one-step RL run on the gsm8k fixture (3 records).
RC="$CK/rc"
mkdir -p "$RC"
cp "$ROOT/tests/fixtures/datasets/gsm8k.jsonl" "$RC/gsm8k.jsonl"
"$RLVR" train --config "$ROOT/configs/tiny-train.ini" --set task.name=gsm8k --set "data.path=$RC/gsm8k.jsonl" \
    --set model.max_position_embeddings=256 --set rollout.max_new_tokens=8 --set eval.n_prompts=0 --set train.steps=1 \
    --run-dir "$RC/a" >/dev/null 2>&1
# tiny-train.ini's lr is 1e-3.
out=$("$RLVR" train --run-dir "$RC/a" --resume --set train.steps=2 --set train.lr=2e-3 2>&1); rc=$?
if [ $rc -eq 0 ] && [ "$(grep '^resume:' <<<"$out")" = $'resume: train.steps 1 -> 2\nresume: train.lr 0.001 -> 0.002' ] &&
    [ "$(grep -c ' resume: train\.\(steps 1 -> 2\|lr 0.001 -> 0.002\)$' "$RC/a/log.txt")" -eq 2 ] &&
    [ -e "$RC/a/ckpt/step-000002.h5" ]
then pass "resume: --set train.steps=2 train.lr=2e-3 logs one line per changed key, and the run goes on to step 2"
else fail "resume: --set train.steps=2 train.lr=2e-3 logs one line per changed key, and the run goes on to step 2" \
    "exit $rc: $out"; fi
cp "$RC/a/config.ini" "$RC/a.ini"
cp "$RC/a/metrics.jsonl" "$RC/a.metrics"
expect_error "resume: another rollout.seed is refused, naming it and what to do instead" \
    "step-000002.h5: a resume keeps the run's identity, which this config changes: rollout.seed 0 -> 5 \(the sampling draws of every step\)\. Keep the saved value, or start a new run from this checkpoint: --init .*step-000002.h5 and a new --run-dir" \
    "$RLVR" train --run-dir "$RC/a" --resume --set train.steps=3 --set rollout.seed=5
expect_error "resume: another train.seed and data.shuffle are refused in one message naming both" \
    "identity, which this config changes: data.shuffle true -> false \(.*\); train.seed 1 -> 2 \(.*\)\. Keep the saved values" \
    "$RLVR" train --run-dir "$RC/a" --resume --set train.steps=3 --set train.seed=2 --set data.shuffle=false
expect_error "resume: another task is refused naming task.name" "changes: task.name 'gsm8k' -> 'math' \(" \
    "$RLVR" train --run-dir "$RC/a" --resume --set train.steps=3 --set task.name=math
head -n 2 "$RC/gsm8k.jsonl" > "$RC/two.jsonl"
expect_error "resume: a data.path with other records is refused (count and hash in /state)" \
    "step-000002.h5: the training data changed: the checkpoint's data cursor indexes 3 records of hash [0-9a-f]{16}, data.path .*/two.jsonl has 2 of hash [0-9a-f]{16}; restore the run's data" \
    "$RLVR" train --run-dir "$RC/a" --resume --set train.steps=3 --set "data.path=$RC/two.jsonl"
sed -i 's/10 apples/11 apples/' "$RC/gsm8k.jsonl"
expect_error "resume: other records under the same data.path are refused (count and hash in /state)" \
    "step-000002.h5: the training data changed: the checkpoint's data cursor indexes 3 records of hash [0-9a-f]{16}, data.path .*/gsm8k.jsonl has 3 of hash [0-9a-f]{16}; restore the run's data" \
    "$RLVR" train --run-dir "$RC/a" --resume --set train.steps=3
cp "$ROOT/tests/fixtures/datasets/gsm8k.jsonl" "$RC/gsm8k.jsonl"
# algo.beta > 0 (grpo's preset) needs the reference policy a run saves only when it starts with algo.beta > 0.
expect_error "resume: turning on algo.beta without a saved reference policy is refused naming both" \
    "ckpt/reference.h5: missing: algo.beta = 0.04 needs the run's reference policy" \
    "$RLVR" train --run-dir "$RC/a" --resume --set train.steps=3 --set algo.name=grpo --set algo.beta=0.04
expect_ok "resume: the refused resumes wrote nothing (config.ini, metrics, checkpoints as before)" bash -c "
    cmp '$RC/a.ini' '$RC/a/config.ini' && cmp '$RC/a.metrics' '$RC/a/metrics.jsonl' &&
    [ \"\$(cd '$RC/a/ckpt' && echo step-*.h5)\" = 'step-000001.h5 step-000002.h5' ]"
# Another algorithm on the same policy, moments and data is an experiment a resume allows (logged), and the same
# records may move (a job staging its data on node-local disk). A shorter generation limit with it: the keys the run
# left to presets and derivations follow the new config as in a fresh run (luspo's clip range 2e-3 / 2.5e-3,
# seq-mean-token-sum and overlong factor 0.3 become gspo's 3e-4 / 4e-4 and the defaults seq-mean-token-mean and 1;
# eval.max_new_tokens follows rollout.max_new_tokens), each logged; config.ini had them all explicit, so they kept
# the saved values.
mkdir -p "$RC/moved" && cp "$RC/gsm8k.jsonl" "$RC/moved/"
out=$("$RLVR" train --run-dir "$RC/a" --resume --set train.steps=3 --set algo.name=gspo \
    --set "data.path=$RC/moved/gsm8k.jsonl" --set rollout.max_new_tokens=6 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -qx 'resume: algo.name luspo -> gspo' <<<"$out" && grep -qx 'resume: train.steps 2 -> 3' <<<"$out" &&
    grep -qx "resume: data.path '.*/rc/gsm8k.jsonl' -> '.*/rc/moved/gsm8k.jsonl'" <<<"$out" &&
    [ -e "$RC/a/ckpt/step-000003.h5" ]
then pass "resume: another algorithm (luspo -> gspo) and the same records moved are logged, and the run goes on"
else fail "resume: another algorithm (luspo -> gspo) and the same records moved are logged, and the run goes on" \
    "exit $rc: $out"; fi
want=$'resume: rollout.max_new_tokens 8 -> 6\nresume: reward.overlong_factor 0.3 -> 1\nresume: algo.name luspo -> gspo
resume: algo.eps_low 0.002 -> 0.0003\nresume: algo.eps_high 0.0025 -> 0.0004
resume: algo.agg seq-mean-token-sum -> seq-mean-token-mean\nresume: train.steps 2 -> 3\nresume: eval.max_new_tokens 8 -> 6'
if [ "$(grep '^resume:' <<<"$out" | grep -v 'data.path')" = "$want" ]
then pass "resume: luspo -> gspo: luspo's preset keys take gspo's, eval.max_new_tokens the new limit, each logged"
else fail "resume: luspo -> gspo: luspo's preset keys take gspo's, eval.max_new_tokens the new limit, each logged" \
    "$out"; fi
# awk compares the values as doubles (config.ini writes the shortest text that reads back: 0.0003).
expect_ok "resume: config.ini afterwards holds gspo's preset values and the new eval limit" awk -F ' = ' '
    /^\[/ { s = $0 } s == "[algo]" && $1 == "eps_low" { a = $2 == 0.0003 } s == "[algo]" && $1 == "eps_high" { b = $2 == 0.0004 }
    s == "[algo]" && $1 == "agg" { c = $2 == "seq-mean-token-mean" } s == "[reward]" && $1 == "overlong_factor" { d = $2 == 1 }
    s == "[eval]" && $1 == "max_new_tokens" { f = $2 == 6 } END { exit !(a && b && c && d && f) }' "$RC/a/config.ini"

# Each checkpoint records the keys its run gave by hand (/meta given_keys), written by one rank and by 2 (every rank
# writing its pieces): a luspo run whose file gives eps_low = 2e-3, luspo's own value, resumed with --set
# algo.name=gspo keeps it (without the record it took gspo's 3e-4), while eps_high, left to luspo's preset, takes
# gspo's 4e-4; the resumed run's checkpoint records eps_low as given again, eps_high not.
sed 's/^name = luspo$/&\neps_low = 2e-3/' "$ROOT/configs/tiny-train.ini" > "$CK/luspo.ini"
given_has() {  # CKPT WORD...: /meta given_keys names each word as a line of its own; a word with ! must be absent
    local keys w; keys=$(h5dump -a /meta/given_keys "$1" | sed 's/^ *//; s/^(0): "//; s/"$//') || return 1
    shift
    for w in "$@"; do
        if [[ $w == !* ]]; then ! grep -qx "${w#!}" <<<"$keys" || return 1; else grep -qx "$w" <<<"$keys" || return 1; fi
    done
}
for np in 1 2; do
    G="$CK/given$np"
    mpi $np "$RLVR" sft --config "$CK/luspo.ini" --set sft.steps=1 --set eval.n_prompts=0 --run-dir "$G" >/dev/null 2>&1
    expect_ok "given keys, $np rank(s): step 1 records algo.name, algo.eps_low and the --set sft.steps, not eps_high" \
        given_has "$G/ckpt/step-000001.h5" algo.name algo.eps_low sft.steps eval.n_prompts '!algo.eps_high' '!train.seed'
    out=$(mpi $np "$RLVR" sft --run-dir "$G" --resume --set sft.steps=2 --set algo.name=gspo 2>&1); rc=$?
    if [ $rc -eq 0 ] && grep -qx 'resume: algo.eps_high 0.0025 -> 0.0004' <<<"$out" && ! grep -q 'eps_low' <<<"$out" &&
        awk -F ' = ' '/^\[/ { s = $0 } s == "[algo]" && $1 == "eps_low" { ok = $2 == 0.002 } END { exit !ok }' "$G/config.ini" &&
        given_has "$G/ckpt/step-000002.h5" algo.name algo.eps_low sft.steps '!algo.eps_high' '!train.seed'
    then pass "given keys, $np rank(s): resumed as gspo, eps_low keeps the 2e-3 given by hand, eps_high takes 4e-4"
    else fail "given keys, $np rank(s): resumed as gspo, eps_low keeps the 2e-3 given by hand, eps_high takes 4e-4" \
        "exit $rc: $out"; fi
done
# A resume that names a config file of its own: its lines are the user's, so eps_low = 2e-3 there stays, luspo's value
# though it is, and eps_high, left out, takes gspo's; the run's own config.ini named as --config is no such file.
sed 's/^name = luspo$/name = gspo\neps_low = 2e-3/' "$ROOT/configs/tiny-train.ini" > "$CK/gspo.ini"
eps_are() {  # CONFIG EPS_LOW EPS_HIGH
    awk -F ' = ' -v lo="$2" -v hi="$3" '/^\[/ { s = $0 } s == "[algo]" && $1 == "eps_low" { a = $2 == lo }
        s == "[algo]" && $1 == "eps_high" { b = $2 == hi } END { exit !(a && b) }' "$1"
}
for own in gspo.ini config.ini; do
    N="$CK/named-$own"
    "$RLVR" sft --config "$ROOT/configs/tiny-train.ini" --set sft.steps=1 --set eval.n_prompts=0 --run-dir "$N" >/dev/null 2>&1
    if [ $own = gspo.ini ]; then
        "$RLVR" sft --run-dir "$N" --resume --config "$CK/gspo.ini" --set sft.steps=2 --set eval.n_prompts=0 >/dev/null 2>&1
        expect_ok "resume --config FILE: eps_low = 2e-3 given there stays, eps_high left out takes gspo's" \
            eps_are "$N/config.ini" 0.002 0.0004
    else
        "$RLVR" sft --run-dir "$N" --resume --config "$N/config.ini" --set sft.steps=2 --set algo.name=gspo >/dev/null 2>&1
        expect_ok "resume --config D/config.ini: every key only the saved run's, so both follow gspo" \
            eps_are "$N/config.ini" 0.0003 0.0004
    fi
done
# The stored config is parsed from memory: with /tmp read-only (a private mount namespace, as root), ckpt stats reads
# it for the expert usage, a resume for its checks and rederivation, and an export for the tokenizer; each wrote it
# to a file under /tmp first, and failed (the resume went on checking only the seeds).
RO_CHECKS=("read-only /tmp: ckpt stats measures the expert usage with the stored config"
    "read-only /tmp: a resume reads the stored config (its changes logged, not 'only the seeds')"
    "read-only /tmp: an export reads the stored config")
if [ "$(id -u)" -eq 0 ] && [[ $CK == /tmp/* ]] && unshare -m true 2>/dev/null; then
    mkdir -p "$CK/rw"
    ro_tmp() { unshare -m bash -c 'mount --bind /tmp /tmp && mount -o remount,ro,bind /tmp && ! touch /tmp/.rw 2>/dev/null &&
        mount -t tmpfs -o size=64m tmpfs "$0/rw" && cp -r "$0/u1" "$0/rw/u" && "$@"' "$CK" "$@"; }
    expect_ok "${RO_CHECKS[0]}" ro_tmp bash -c 'out=$("$RLVR" ckpt stats "$0/rw/u/ckpt/step-000004.h5") && grep -q "^  layer 0: " <<< "$out"' "$CK"
    out=$(ro_tmp "$RLVR" sft --run-dir "$CK/rw/u" --resume --set sft.steps=5 2>&1); rc=$?
    if [ $rc -eq 0 ] && grep -qx 'resume: sft.steps 4 -> 5' <<<"$out" && ! grep -q 'only the seeds' <<<"$out"
    then pass "${RO_CHECKS[1]}"; else fail "${RO_CHECKS[1]}" "exit $rc: $out"; fi
    expect_ok "${RO_CHECKS[2]}" ro_tmp bash -c '"$RLVR" export "$0/rw/u/ckpt/step-000004.h5" --out "$0/rw/hf" &&
        test -s "$0/rw/hf/config.json"' "$CK"
else
    for c in "${RO_CHECKS[@]}"; do skip "$c" "needs root, unshare and a run under /tmp"; done
fi

# Two runs in one directory (a job submitted twice): the second is refused while the first holds it (paused 2 s in
# its final save), and the first finishes whole; they overwrote each other's checkpoints and metrics.
RLVR_TEST_CKPT_SLEEP=2 "$RLVR" sft "${SFT[@]}" --run-dir "$CK/busy" >/dev/null 2>&1 &
job=$!
for _ in $(seq 1 300); do [ -e "$CK/busy/ckpt/step-000004.h5.tmp" ] && break; sleep 0.1; done
expect_error "two runs in one directory: the second is refused while the first runs" \
    "busy: in use by another run \(host .*, pid $job, holding .*busy/.lock; if that run is gone, delete the file\)" \
    "$RLVR" sft "${SFT[@]}" --set sft.lr=1e-2 --run-dir "$CK/busy" --resume=auto
wait $job
rc=$?
expect_ok "two runs in one directory: the first finishes whole" bash -c "
    [ $rc -eq 0 ] && [ \$(grep -c . '$CK/busy/metrics.jsonl') -eq 4 ] && [ -e '$CK/busy/ckpt/step-000004.h5' ]"

# Saved on 4 ranks (every rank writing), resumed on 1 and on 2: the uninterrupted 1-rank run, bit for bit.
mpi 4 "$RLVR" sft "${SFT[@]}" --run-dir "$CK/s4" --stop-after 2 >/dev/null 2>&1
expect_ok "resume: step 2 saved by 4 ranks" bash -c "'$RLVR' ckpt info '$CK/s4/ckpt/step-000002.h5' | grep -qx 'world_size 4'"
cp -r "$CK/s4" "$CK/r1" && cp -r "$CK/s4" "$CK/r2"
"$RLVR" sft --run-dir "$CK/r1" --resume >/dev/null 2>&1
mpi 2 "$RLVR" sft --run-dir "$CK/r2" --resume >/dev/null 2>&1
expect_ok "resume: saved on 4 ranks, resumed on 1 = uninterrupted, bit for bit" "$RLVR" ckpt diff --exact "$B" "$CK/r1/ckpt/step-000004.h5"
expect_ok "resume: saved on 4 ranks, resumed on 2 = uninterrupted, bit for bit" "$RLVR" ckpt diff --exact "$B" "$CK/r2/ckpt/step-000004.h5"

# SIGKILL of rank 1 alone while step 2's checkpoint is being written by both ranks (each pauses after /model).
RLVR_TEST_CKPT_SLEEP=3 mpi 2 -x RLVR_TEST_CKPT_SLEEP "$RLVR" sft "${SFT[@]}" --set checkpoint.every=1 --run-dir "$CK/kill" \
    >/dev/null 2>&1 &
job=$!
for _ in $(seq 1 300); do [ -e "$CK/kill/ckpt/step-000002.h5.tmp" ] && break; sleep 0.1; done
# Rank 1 of this run: the process whose command line names its run directory and whose environment says rank 1.
victim=
for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "--run-dir $CK/kill " || continue
    tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qx 'OMPI_COMM_WORLD_RANK=1' && victim=${p#/proc/}
done
writing=$(ls "$CK/kill/ckpt")
[ -n "$victim" ] && kill -9 "$victim"
wait $job 2>/dev/null
rc=$?
expect_ok "crash: rank 1 killed while step 2 was being written, the job failed" bash -c "
    [ -n '$victim' ] && [ $rc -ne 0 ] && [ '$(echo $writing)' = 'step-000001.h5 step-000002.h5.tmp' ]"
expect_ok "crash: step 1 complete and loadable, no step 2" bash -c "
    [ ! -e '$CK/kill/ckpt/step-000002.h5' ] && '$RLVR' ckpt diff --exact '$CK/kill/ckpt/step-000001.h5' '$CK/kill/ckpt/step-000001.h5' &&
    '$RLVR' ckpt info '$CK/kill/ckpt/step-000001.h5' | grep -qx 'step 1'"
mpi 2 "$RLVR" sft --run-dir "$CK/kill" --resume >/dev/null 2>&1
expect_ok "crash: resumed on 2 ranks = uninterrupted run, bit for bit" \
    "$RLVR" ckpt diff --exact "$B" "$CK/kill/ckpt/step-000004.h5"
expect_ok "crash: the stale .tmp is gone" test ! -e "$CK/kill/ckpt/step-000002.h5.tmp"

# A full disk (a 1.3 MB tmpfs: steps 1 and 2 fit, step 3 does not): the save is refused before HDF5 writes, where
# running out of space hung 2 ranks in HDF5's collective calls and crashed one at exit; steps 1-2 stay whole.
FULL="$TMP/full" FULL_CHECKS=("full disk: 2 ranks refuse step 3's save with one message, exit 1, no hang"
    "full disk: steps 1 and 2 whole, no .tmp" "full disk: one rank exits 1, no crash at exit")
mkdir -p "$FULL"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=1300k tmpfs "$FULL" 2>/dev/null; then
    SMALL=("${SFT[@]}" --set checkpoint.every=1 --set checkpoint.keep=2)
    err=$(timeout 60 mpirun --oversubscribe -np 2 "$RLVR" sft "${SMALL[@]}" --run-dir "$FULL/r2" 2>&1 >/dev/null); rc=$?
    if [ $rc -eq 1 ] && [ "$(grep -c 'step-000003.h5.tmp: .* MB free on its file system, the file needs about' <<<"$err")" -ge 1 ]
    then pass "${FULL_CHECKS[0]}"; else fail "${FULL_CHECKS[0]}" "exit $rc: $err"; fi
    expect_ok "${FULL_CHECKS[1]}" bash -c "[ \"\$(cd '$FULL/r2/ckpt' && echo *)\" = 'step-000001.h5 step-000002.h5' ] &&
        '$RLVR' ckpt stats '$FULL/r2/ckpt/step-000002.h5' >/dev/null"
    rm -rf "$FULL/r2"
    err=$(timeout 60 "$RLVR" sft "${SMALL[@]}" --run-dir "$FULL/r1" 2>&1 >/dev/null); rc=$?
    if [ $rc -eq 1 ] && grep -q 'MB free on its file system' <<<"$err"; then pass "${FULL_CHECKS[2]}"
    else fail "${FULL_CHECKS[2]}" "exit $rc: $err"; fi
    umount "$FULL"
else
    for c in "${FULL_CHECKS[@]}"; do skip "$c" "needs root and a tmpfs mount"; done
fi
# A save whose writes are refused at the file's close (a file size limit, as a quota would be: the room check passes)
# exits 1 with one message; HDF5 1.10 crashed at exit after it (status 139). Step 1, saved before, stays whole.
"$RLVR" sft "${SFT[@]}" --set sft.steps=1 --run-dir "$CK/limit" >/dev/null 2>&1
cp "$CK/limit/ckpt/step-000001.h5" "$CK/limit-step1.h5"
expect_ok "file size limit: step 2's save exits 1 with one message, no crash at exit; step 1 whole, no .tmp" bash -c '
    err=$(trap "" XFSZ; ulimit -f 100; "$RLVR" sft --run-dir "$1/limit" --resume --set sft.steps=2 2>&1 >/dev/null)
    rc=$?
    [ $rc -eq 1 ] && [ "$(grep -c "step-000002.h5.tmp: cannot write the HDF5 file" <<<"$err")" -eq 1 ] &&
    [ "$(cd "$1/limit/ckpt" && echo *)" = step-000001.h5 ] && cmp -s "$1/limit-step1.h5" "$1/limit/ckpt/step-000001.h5" ||
    { echo "exit $rc: $err"; false; }' _ "$CK"
# On 2 ranks the same limit (set inside each rank) hung both in H5Dcreate2's chunk allocation: each rank now checks
# its limit against the file's upper bound first. Exit 1 well within the timeout, one message, step 1 whole, no .tmp.
mpi 2 "$RLVR" sft "${SFT[@]}" --set sft.steps=1 --run-dir "$CK/limit2" >/dev/null 2>&1
cp "$CK/limit2/ckpt/step-000001.h5" "$CK/limit2-step1.h5"
expect_ok "file size limit, 2 ranks: step 2's save exits 1 with one message, no hang; step 1 whole, no .tmp" bash -c '
    err=$(timeout 60 mpirun --oversubscribe -np 2 bash -c "trap \"\" XFSZ; ulimit -f 100; exec \"\$0\" \"\$@\"" \
          "$RLVR" sft --run-dir "$1/limit2" --resume --set sft.steps=2 2>&1 >/dev/null)
    rc=$?
    [ $rc -eq 1 ] && [ "$(grep -c "step-000002.h5.tmp: the file needs about .* over this process.s file size limit" <<<"$err")" -eq 1 ] &&
    [ "$(cd "$1/limit2/ckpt" && echo *)" = step-000001.h5 ] && cmp -s "$1/limit2-step1.h5" "$1/limit2/ckpt/step-000001.h5" ||
    { echo "exit $rc: $err"; false; }' _ "$CK"
# What killed writers left (atomic_file's NAME.XXXXXX.tmp) in the run directory and ckpt/ goes at the resume, each
# named on its own line of the console and log.txt; near misses of the pattern, a deeper directory's and the
# checkpoints stay.
L=$CK/limit
mkdir -p "$L/sub"
touch "$L/config.ini.aB3xY9.tmp" "$L/metrics.jsonl.000000.tmp" "$L/ckpt/init.h5.Zz9Zz9.tmp" "$L/notes.tmp" \
    "$L/a.12345.tmp" "$L/ckpt/a.1234567.tmp" "$L/sub/deeper.abcdef.tmp"
err=$("$RLVR" sft --run-dir "$L" --resume --set sft.steps=2 2>&1); rc=$?
removed=$(grep '^removed a stale temporary file: ' <<<"$err" | sed 's/^removed a stale temporary file: //' | sort)
left=$(cd "$L" && find . -name '*.tmp' | sort | tr '\n' ' ')
if [ $rc -eq 0 ] && [ "$removed" = "$(printf '%s\n' "$L/ckpt/init.h5.Zz9Zz9.tmp" "$L/config.ini.aB3xY9.tmp" \
        "$L/metrics.jsonl.000000.tmp" | sort)" ] &&
    [ "$left" = "./a.12345.tmp ./ckpt/a.1234567.tmp ./notes.tmp ./sub/deeper.abcdef.tmp " ] &&
    [ "$(grep -c ' removed a stale temporary file: ' "$L/log.txt")" -eq 3 ] &&
    [ "$(cd "$L/ckpt" && echo *.h5)" = "step-000001.h5 step-000002.h5" ]
then pass "resume: stale temporary files removed from the run directory and ckpt/, each logged; nothing else"
else fail "resume: stale temporary files removed from the run directory and ckpt/, each logged; nothing else" \
    "exit $rc; left: $left"$'\n'"$err"; fi
