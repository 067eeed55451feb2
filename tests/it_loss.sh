# shellcheck shell=bash  # sourced by tests/integration.sh into a bash subshell
# Objectives (results/objectives.md §2, §6): `rlvr loss` reproduces the hand values on any number of ranks, and on
# random batches gives the same loss, gradient and metrics (relative 1e-12) for 1-4 ranks and micro-batches
# of 1, 2 and all groups; errors name the file and dataset.
# 5 hand values x 2 rank counts, 7 algorithms x 2 batches, 2 split groups, the bite, metrics, 5 errors, DAPO filter,
# GRPO-λ's length of a masked response, 4 means over nothing and over the hand case, a full disk, a write refused
# at the close
plan $((5 * 2 + 7 * 2 + 2 + 1 + 1 + 5 + 1 + 1 + 2 + 1 + 4 + 2 + 1 + 1))
LOSS_ALGOS="grpo dapo drgrpo gspo luspo grpo_lambda sspo"

# loss_value FILE: the scalar loss with 10 decimals.
loss_value() { h5dump -d loss -m %.10f "$1" | sed -n 's/^ *(0): *//p'; }

# hand_case NAME EXPECTED ALGO ARGS...: the §6 loss on 1 and 2 ranks.
"$RLVR" loss-testgen --hand-case --out "$TMP/hand.h5"
hand_case() {
    local name=$1 expect=$2; shift 2
    for np in 1 2; do
        if mpi $np "$RLVR" loss --in "$TMP/hand.h5" --out "$TMP/hand_out.h5" --algo "$@" >/dev/null 2>&1 &&
            [ "$(loss_value "$TMP/hand_out.h5")" = "$expect" ]; then
            pass "§6 hand value $name on $np rank(s)"
        else
            fail "§6 hand value $name on $np rank(s)" "got '$(loss_value "$TMP/hand_out.h5" 2>&1)', expected $expect"
        fi
    done
}
hand_case grpo -0.0067290809 grpo --set algo.eps_high=0.28 --set algo.beta=0
hand_case dapo 0.1963563967 dapo
hand_case drgrpo 0.0607447470 drgrpo --set algo.l_c=8
hand_case gspo 0.0005140678 gspo
hand_case luspo 0.7070244735 luspo

# h5_differ REF OUT: h5diff found differences (status 1; 2 is an error such as a missing file).
h5_differ() { h5diff -p 1e-12 "$1" "$2" >/dev/null 2>&1; [ $? -eq 1 ]; }

# same_outputs NAME REF OUT: every dataset and attribute equal to relative 1e-12.
same_outputs() {
    local out
    if out=$(h5diff -p 1e-12 "$2" "$3" 2>&1); then pass "$1"; else fail "$1" "$(h5diff -v -p 1e-12 "$2" "$3" | grep -B3 -A3 'differences found' | head -20)"; fi
}

# Partition invariance: every algorithm on random batch 11 with ranks 1-4 × micro-batches of 1, 2, all groups,
# and on batch 12 with a few splits (the 2-minute budget).
for seed in 11 12; do
    combos="1:1 1:2 2:1 2:2 2:all 3:1 3:2 3:all 4:1 4:2 4:all"
    [ $seed = 12 ] && combos="3:2 4:1"
    "$RLVR" loss-testgen --seed $seed --out "$TMP/rand$seed.h5"
    for algo in $LOSS_ALGOS; do
        sets=(--set algo.beta=0.02 --set algo.entropy_coef=0.003)
        ref="$TMP/ref_${seed}_$algo.h5"
        if ! "$RLVR" loss --algo $algo --in "$TMP/rand$seed.h5" --out "$ref" "${sets[@]}" >/dev/null; then
            fail "loss $algo seed $seed on 1 rank"; continue
        fi
        bad=""
        for combo in $combos; do
            np=${combo%:*} mb=${combo#*:}
            opt=(); [ "$mb" != all ] && opt=(--micro-batch "$mb")
            out="$TMP/out_${seed}_${algo}_${np}_$mb.h5"
            if ! mpi $np "$RLVR" loss --algo $algo --in "$TMP/rand$seed.h5" --out "$out" "${sets[@]}" "${opt[@]}" >/dev/null 2>&1 ||
                ! h5diff -p 1e-12 "$ref" "$out" >/dev/null 2>&1; then
                bad="$bad np=$np mb=$mb"
            fi
        done
        if [ -z "$bad" ]; then pass "$algo seed $seed: same loss/gradient/metrics for ranks:micro-batches $combos"
        else fail "$algo seed $seed: partition changed the result:$bad"; fi
    done
done

# Groups split over ranks (the trainer's general case): all-gathered group statistics stay exact.
for algo in grpo_lambda sspo; do
    mpi 3 "$RLVR" loss --algo $algo --in "$TMP/rand11.h5" --out "$TMP/split_$algo.h5" --share-sequences \
        --set algo.beta=0.02 --set algo.entropy_coef=0.003 >/dev/null 2>&1
    same_outputs "$algo: a group split over 3 ranks gives the same result" "$TMP/ref_11_$algo.h5" "$TMP/split_$algo.h5"
done

# The comparison bites: a different aggregation must show up as a difference.
"$RLVR" loss --algo grpo --in "$TMP/rand11.h5" --out "$TMP/tm.h5" --set algo.agg=token-mean --set algo.beta=0.02 \
    --set algo.entropy_coef=0.003 >/dev/null
expect_ok "h5diff detects a changed aggregation" h5_differ "$TMP/ref_11_grpo.h5" "$TMP/tm.h5"

# Every §5 loss metric is an attribute of the output root.
expect_ok "metrics are attributes of the output" bash -c 'for a in loss pg_loss kl entropy ppo_kl clip_frac clip_frac_low \
    clip_frac_high clip_frac_unit clip_frac_unit_low clip_frac_unit_high reward_mean reward_std frac_zero_std accuracy \
    response_length_mean n_efficiency_groups efficiency_reward_mean; do
    h5dump -a "/$a" "$TMP/ref_11_grpo_lambda.h5" >/dev/null 2>&1 || { echo "missing attribute $a"; exit 1; }; done'

# Errors name the file and the dataset.
for d in logp logp_old seq_offsets group reward; do h5copy -i "$TMP/hand.h5" -o "$TMP/noref.h5" -s $d -d $d; done
expect_error "loss: missing logp_ref names file, dataset and key" "noref.h5: missing dataset 'logp_ref' \(algo.beta" \
    "$RLVR" loss --algo grpo --in "$TMP/noref.h5" --out "$TMP/x.h5"
h5copy -i "$TMP/hand.h5" -o "$TMP/short.h5" -s logp -d logp
h5copy -i "$TMP/hand.h5" -o "$TMP/short.h5" -s reward -d logp_old
h5copy -i "$TMP/hand.h5" -o "$TMP/short.h5" -s seq_offsets -d seq_offsets
expect_error "loss: misshaped dataset names file and dataset" "short.h5: dataset 'logp_old' has 4 items, expected 14" \
    "$RLVR" loss --algo dapo --in "$TMP/short.h5" --out "$TMP/x.h5"
expect_error "loss: missing input file" "nothere.h5: cannot open" "$RLVR" loss --algo dapo --in "$TMP/nothere.h5" --out "$TMP/x.h5"
expect_error "loss: unknown algorithm names --algo, not a --set" "^rlvr loss: --algo 'ppo': expected one of grpo\|dapo\|" \
    "$RLVR" loss --algo ppo --in "$TMP/hand.h5" --out "$TMP/x.h5"
expect_ok "loss: unknown algorithm is a usage error (exit 2)" bash -c \
    '"$RLVR" loss --algo ppo --in "$TMP/hand.h5" --out "$TMP/x.h5" 2>/dev/null; [ $? -eq 2 ]'
# Values: a non-finite float or a flag other than 0/1 names the dataset and the item (h5import writes them).
with_text_dataset() {  # FILE NAME CLASS(FP|UIN) BITS VALUES...: the hand case with dataset NAME replaced
    local out=$1 name=$2 class=$3 bits=$4 d
    shift 4
    rm -f "$out"
    for d in logp logp_old seq_offsets group reward mask; do
        [ "$d" = "$name" ] || h5copy -i "$TMP/hand.h5" -o "$out" -s $d -d $d
    done
    echo "$@" >"$out.txt"
    printf 'PATH %s\nINPUT-CLASS %s\nRANK 1\nDIMENSION-SIZES %d\nOUTPUT-CLASS %s\nOUTPUT-SIZE %d\n' "$name" \
        "$([ "$class" = FP ] && echo TEXTFP || echo TEXTIN)" $# "$class" "$bits" >"$out.cfg"
    h5import "$out.txt" -c "$out.cfg" -o "$out"
}
with_text_dataset "$TMP/nan.h5" reward FP 64 1 nan 0 1
expect_error "loss: a NaN reward names the dataset and item" "nan.h5: dataset 'reward' item 1 is nan; expected a finite number" \
    "$RLVR" loss --algo dapo --in "$TMP/nan.h5" --out "$TMP/x.h5"
with_text_dataset "$TMP/flag.h5" mask UIN 8 1 1 1 1 1 1 1 1 1 1 1 1 2 1
expect_error "loss: a mask of 2 names the dataset and item" "flag.h5: dataset 'mask' item 12 is 2; expected 0 or 1" \
    "$RLVR" loss --algo dapo --in "$TMP/flag.h5" --out "$TMP/x.h5"
expect_error "loss: sspo needs entropy_old" "noref.h5: missing dataset 'entropy_old'" "$RLVR" loss --algo sspo --in "$TMP/noref.h5" --out "$TMP/x.h5"

# GRPO-λ's length is a response's tokens, masked or not: in the hand case with every response correct and the last
# one (4 tokens) masked, group 2's lengths are 2 and 4, and the masked response, the longer, gets the lower reward
# 1 - 0.2 sigmoid(1/sqrt 2) = 0.866048, the other 1 - 0.2 sigmoid(-1/sqrt 2) = 0.933952 (as its loss tokens, 0, it
# would rank as the shorter).
rm -f "$TMP/lambda.h5"
for d in logp logp_old seq_offsets group; do h5copy -i "$TMP/hand.h5" -o "$TMP/lambda.h5" -s $d -d $d; done
for spec in "reward FP 64 1 1 1 1" "correct UIN 8 1 1 1 1" "mask UIN 8 1 1 1 1 1 1 1 1 1 1 0 0 0 0"; do
    set -- $spec
    name=$1 class=$2 bits=$3
    shift 3
    echo "$@" >"$TMP/lambda.txt"
    printf 'PATH %s\nINPUT-CLASS %s\nRANK 1\nDIMENSION-SIZES %d\nOUTPUT-CLASS %s\nOUTPUT-SIZE %d\n' "$name" \
        "$([ "$class" = FP ] && echo TEXTFP || echo TEXTIN)" $# "$class" "$bits" >"$TMP/lambda.cfg"
    h5import "$TMP/lambda.txt" -c "$TMP/lambda.cfg" -o "$TMP/lambda.h5"
done
"$RLVR" loss --algo grpo_lambda --set algo.lambda=1 --in "$TMP/lambda.h5" --out "$TMP/lambda_out.h5" >/dev/null
used=$(h5dump -d reward_used -m %.6f "$TMP/lambda_out.h5" 2>/dev/null | sed -n 's/^ *([0-9]*): *//p' | tr -d ' \n')
expect_ok "loss: grpo_lambda's length counts a masked response's tokens (reward_used $used)" \
    test "$used" = "0.933952,0.866048,0.933952,0.866048"
# Its mean over the efficiency groups' members: (0.933952 + 0.866048) / 2 = 0.9; with lambda 0 there is none: NaN.
"$RLVR" loss --algo grpo_lambda --set algo.lambda=0 --in "$TMP/lambda.h5" --out "$TMP/lambda0_out.h5" >/dev/null
got="$(h5dump -a /efficiency_reward_mean -m %.6f "$TMP/lambda_out.h5" 2>/dev/null | sed -n 's/^ *(0): *//p') \
$(h5dump -a /efficiency_reward_mean -m %.6f "$TMP/lambda0_out.h5" 2>/dev/null | sed -n 's/^ *(0): *//p')"
expect_ok "loss: grpo_lambda's efficiency_reward_mean by hand, NaN without efficiency groups ($got)" \
    test "$got" = "0.900000 nan"

# DAPO dynamic sampling (its preset): equal-reward groups leave the batch (counted, decided on the whole
# batch, so the partition-invariance runs above cover it on 1-4 ranks) and change the normaliser.
"$RLVR" loss --algo dapo --in "$TMP/rand11.h5" --out "$TMP/ds_off.h5" --set algo.dynamic_sampling=false >/dev/null
"$RLVR" loss --algo dapo --in "$TMP/rand11.h5" --out "$TMP/ds_on.h5" >/dev/null
dropped=$(h5dump -a n_dropped_groups "$TMP/ds_on.h5" 2>/dev/null | sed -n 's/^ *(0): *//p')
if [ "${dropped:-0}" -ge 1 ] && h5_differ "$TMP/ds_off.h5" "$TMP/ds_on.h5"; then
    pass "dapo dynamic sampling drops $dropped equal-reward groups from the normaliser"
else
    fail "dapo dynamic sampling drops equal-reward groups" "n_dropped_groups='$dropped'"
fi

# Means over nothing (results/objectives.md §5) are NaN, as metrics.jsonl's are null, never a 0 that reads as a
# measurement; a batch with tokens keeps its values. attrs FILE NAME...: the attributes, 10 decimals, space-separated.
attrs() {
    local f=$1 a; shift
    for a in "$@"; do h5dump -a "/$a" -m %.10f "$f" 2>/dev/null | sed -n 's/^ *(0): *//p'; done | tr '\n' ' ' | sed 's/ $//'
}
LOSS_MEANS="loss pg_loss kl entropy ppo_kl clip_frac clip_frac_low clip_frac_high clip_frac_unit clip_frac_unit_low \
clip_frac_unit_high"
NAN11="nan nan nan nan nan nan nan nan nan nan nan"
# By hand (§6 table): ppo_kl = −Σδ/14 = 0.05/14, the one clipped token of 14 and sequence of 4, low.
"$RLVR" loss --algo grpo --in "$TMP/hand.h5" --out "$TMP/hand_m.h5" --set algo.beta=0 >/dev/null
got=$(attrs "$TMP/hand_m.h5" ppo_kl clip_frac clip_frac_low clip_frac_unit_low tokens)
expect_ok "loss: the hand case's ppo_kl, clip fractions and tokens by hand ($got)" \
    test "$got" = "0.0035714286 0.0714285714 0.0714285714 0.2500000000 14.0000000000"
with_text_dataset "$TMP/masked.h5" mask UIN 8 0 0 0 0 0 0 0 0 0 0 0 0 0 0
"$RLVR" loss --algo grpo --in "$TMP/masked.h5" --out "$TMP/masked_out.h5" --set algo.beta=0 >/dev/null
# shellcheck disable=SC2086  # word lists
got=$(attrs "$TMP/masked_out.h5" $LOSS_MEANS tokens reward_mean)
expect_ok "loss: every token masked: the loss metrics are NaN, tokens 0, the reward mean is kept ($got)" \
    test "$got" = "$NAN11 0.0000000000 0.5000000000"
with_text_dataset "$TMP/equal.h5" reward FP 64 1 1 1 1
"$RLVR" loss --algo dapo --in "$TMP/equal.h5" --out "$TMP/equal_out.h5" >/dev/null
# shellcheck disable=SC2086
got=$(attrs "$TMP/equal_out.h5" $LOSS_MEANS tokens n_dropped_groups)
expect_ok "loss: dapo dropping every group: the loss metrics are NaN ($got)" test "$got" = "$NAN11 0.0000000000 2"
# No response at all (S = 0): the response and group statistics are NaN too.
rm -f "$TMP/empty.h5"
for spec in "seq_offsets TEXTIN IN 0" "logp TEXTFP FP" "logp_old TEXTFP FP" "group TEXTIN IN" "reward TEXTFP FP"; do
    set -- $spec
    echo "${@:4}" >"$TMP/empty.txt"
    printf 'PATH %s\nINPUT-CLASS %s\nRANK 1\nDIMENSION-SIZES %d\nOUTPUT-CLASS %s\nOUTPUT-SIZE 64\n' "$1" "$2" \
        $(($# - 3)) "$3" >"$TMP/empty.cfg"
    h5import "$TMP/empty.txt" -c "$TMP/empty.cfg" -o "$TMP/empty.h5"
done
"$RLVR" loss --algo grpo --in "$TMP/empty.h5" --out "$TMP/empty_out.h5" --set algo.beta=0 >/dev/null
got=$(attrs "$TMP/empty_out.h5" reward_mean reward_std frac_zero_std response_length_mean response_length_min \
    response_length_max ppo_kl n_seq n_groups tokens)
expect_ok "loss: no response: reward, group and length statistics are NaN ($got)" \
    test "$got" = "nan nan nan nan nan nan nan 0 0 0.0000000000"

# A disk without room for the output (a 256 KB tmpfs, filled): refused before HDF5 writes (HDF5 1.10 does not
# survive a full disk mid-file), and the older output stays whole, with no .tmp beside it.
LF=$TMP/loss-full LF_CHECKS=("loss: an output its disk has no room for is refused, naming it"
    "loss: after the refusal the older output is whole, no .tmp")
mkdir -p "$LF"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=256k tmpfs "$LF" 2>/dev/null; then
    cp "$TMP/hand_out.h5" "$LF/out.h5"
    dd if=/dev/zero of="$LF/fill" bs=1k count=200 2>/dev/null
    expect_error "${LF_CHECKS[0]}" "loss-full/out.h5: .* MB free on its file system, the file needs about" \
        "$RLVR" loss --algo grpo --in "$TMP/hand.h5" --out "$LF/out.h5"
    expect_ok "${LF_CHECKS[1]}" bash -c 'cmp "$1" "$2/out.h5" && ! compgen -G "$2/*.tmp"' \
        _ "$TMP/hand_out.h5" "$LF"
    umount "$LF"
else
    for c in "${LF_CHECKS[@]}"; do skip "$c" "needs root and a tmpfs mount"; done
fi

# A write refused at the HDF5 file's close (a file size limit, as a quota would be: the room check passes) exits 1
# with one message naming the output; HDF5 1.10 crashed at exit after it (status 139). The older output stays whole.
cp "$TMP/hand_out.h5" "$TMP/limit_out.h5"
expect_ok "loss: a write refused at the close exits 1 with one message, no crash at exit; older output whole, no .tmp" \
    bash -c 'err=$(trap "" XFSZ; ulimit -f 2; "$RLVR" loss --algo grpo --in "$TMP/hand.h5" --out "$TMP/limit_out.h5" \
                   2>&1 >/dev/null); rc=$?
    [ $rc -eq 1 ] && [ "$(grep -c "limit_out.h5: cannot write the HDF5 file" <<<"$err")" -eq 1 ] &&
    cmp -s "$TMP/hand_out.h5" "$TMP/limit_out.h5" && ! compgen -G "$TMP/limit_out.h5*.tmp" ||
    { echo "exit $rc: $err"; false; }'
