#!/usr/bin/env bash
# Doc check (make test): what the documents and comments cite still exists. It reads README.md, src/README.md,
# results/*.md and the comments of launch/, src/, kernels/, tests/, results/*.sh and the Makefile, and checks
#   path        every repository path cited (src/..., tests/..., launch/..., configs/..., results/..., kernels/...,
#               Makefile, .ci/run; {a,b} expanded, a glob or <placeholder> must match a file), a src/ path cited
#               from its folder (model/matmul.c) and, in the two READMEs, a bare file name in backticks;
#   key         every config key cited as section.key (or `[section] key`), against `rlvr config`'s output;
#   option      in the documents, every `rlvr SUB [ACTION] ... --opt` in code, and a lone `--opt` span after a
#               `rlvr SUB` span of the same paragraph, against `rlvr SUB [ACTION] --help`; in the two READMEs,
#               `make TARGET` against the Makefile;
#   identifier  in the documents, every backticked C-like name (name_with_underscores, Name, name(), Type.member),
#               and in C and CUDA comments every name() and snake_case name whose parts have 3 letters or more, as
#               a word of the code (src/, kernels/, tests/, launch/, the Makefile) outside its comments.
# Historical records (results/cpu-bench-history.md, and the sections of results/*.md whose heading names a date,
# a revision or a commit) may name what existed at their revision: there only paths and keys are checked, and a
# gone one passes only with a HISTORY entry below (its reason given), which excuses it in that file's historical
# sections only. NOT_CITED lists names that look like citations and are none (another project's, notation).
# An entry that excuses nothing is a finding too. One line per finding, exit 1 if any; CHECK_DOCS_TRACE=1 lists
# every citation checked on stderr.
# Usage: tests/check_docs.sh RLVR [ROOT]   (RLVR: the built binary; ROOT: the repository, default this file's)
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: tests/check_docs.sh RLVR [ROOT]" >&2; exit 2; }
RLVR=$(realpath -e "$1" 2>/dev/null) && [ -x "$RLVR" ] || { echo "check_docs: '$1' is not an executable rlvr (build it first: make)" >&2; exit 2; }
ROOT=$(cd "${2:-$(dirname "$0")/..}" && pwd) || { echo "check_docs: no directory '${2:-}'" >&2; exit 2; }
cd "$ROOT" || exit 2
command -v perl >/dev/null || { echo "check_docs: needs perl" >&2; exit 2; }

# FILE|NAME|why: a name a historical section of FILE may cite although it is gone.
HISTORY=(
)
# FILE|NAME|why: a name in FILE (* any file) that looks like a citation and is none.
NOT_CITED=(
    "results/cpu-bench.md|results/cpu-bench-new.jsonl|the file the command shown writes"
    "src/text/tokenizer_bpe.c|model.vocab|tokenizer.json's vocabulary, not a config key"
    "tests/test_template.c|model.vocab|tokenizer.json's vocabulary, not a config key"
    "*|load_balancing_loss_func|transformers' function, which the load-balancing loss follows"
    "*|last_boxed_only_string|the MATH reference's answer extraction, which verify follows"
    "src/bench/bench_limits.c|guest_nice|a field of /proc/stat"
    "src/model/moe.c|sum_chosen|notation: the sum over the chosen experts"
    "src/task/task.h|permutation_epoch|notation the comment defines"
    "src/train/groups.c|first_candidate|a column of the RLVR_GROUP_TIMES file"
    "results/hf-import.md|copy_folio_from_iter_atomic|a Linux kernel function in a perf profile"
    "results/hf-import.md|shmem_write_end|a Linux kernel function in a perf profile"
)

# Only the binary's help and config are read: a sanitizer build's leak report at exit is not this check's concern.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
keys=$("$RLVR" config 2>&1 | awk '/^\[.*\]$/ { s = substr($0, 2, length($0) - 2); next } / = / { print s "." $1 }')
[ "$(wc -l <<< "$keys")" -ge 50 ] || { echo "check_docs: '$RLVR config' printed no key table:"$'\n'"$keys" >&2; exit 2; }

export RLVR KEYS="$keys" ALLOWED NOT_CITED_LIST
ALLOWED=$(printf '%s\n' "${HISTORY[@]}")
NOT_CITED_LIST=$(printf '%s\n' "${NOT_CITED[@]}")
# shellcheck disable=SC2016  # the program is perl's, its $ are its own
perl -e '
use strict; use warnings;
my %key = map { $_ => 1 } split /\n/, $ENV{KEYS};
my %section = map { (split /\./)[0] => 1 } keys %key;
my $sections = join "|", sort keys %section;
my (%allow, %not_cited);
for (split /\n/, $ENV{ALLOWED}) { my ($f, $n) = split /\|/; $allow{"$f|$n"} = 1 if defined $n; }
for (split /\n/, $ENV{NOT_CITED_LIST}) { my ($f, $n) = split /\|/; $not_cited{"$f|$n"} = 1 if defined $n; }
my %count = (path => 0, key => 0, option => 0, identifier => 0);
my ($findings, %help, %words, %base) = (0);

# One citation of CLASS checked; a finding unless OK or excused.
sub check { my ($class, $f, $l, $x, $ok, $what, $hist) = @_;
    $count{$class}++;
    print STDERR "$f:$l: $class \x27$x\x27", ($ok ? "" : " MISSING"), "\n" if $ENV{CHECK_DOCS_TRACE};
    return if $ok;
    for my $e ("$f|$x", "*|$x") { if ($not_cited{$e}) { $not_cited{$e} = 2; return; } }
    if ($hist && $allow{"$f|$x"}) { $allow{"$f|$x"} = 2; return; }
    print "$f:$l: cites \x27$x\x27, which does not exist (expected $what)\n"; $findings++; }

# A line as (code, comment): // in C and CUDA, # in shell, Python and the Makefile, outside strings as far as
# one line shows.
sub split_comment { my ($f, $t) = @_;
    my $re = $f =~ /\.(?:c|h|cu|cuh)$/
        ? qr{^((?:[^"\x27/]|"(?:\\.|[^"\\])*"|\x27(?:\\.|[^\x27\\])*\x27|/(?!/))*)//(.*)}s
        : qr{^((?:[^"\x27#\\]|\\.|"(?:\\.|[^"\\])*"|\x27[^\x27]*\x27)*?)(?:^|(?<=\s))#(?!!)(.*)}s;
    return $t =~ $re ? ($1, $2) : ($t, undef); }

# A path exists, its {a,b} alternatives each, a glob (or <placeholder>) as at least one file.
sub expand { my ($p) = @_;
    return ($p) unless $p =~ /^(.*?)\{([^{}]*)\}(.*)$/;
    my ($pre, $alts, $post) = ($1, $2, $3);
    return map { expand("$pre$_$post") } split /,/, $alts, -1; }
sub path_ok { my ($p) = @_;
    (my $g = $p) =~ s/<[^<>]*>/*/g;
    return scalar(() = glob($g =~ s/([ \[\]])/\\$1/gr)) > 0 if $g =~ /[*?]/;
    return -e $g; }
sub check_path { my ($f, $l, $p, $hist) = @_;
    check("path", $f, $l, $_, path_ok($_), "a path", $hist) for expand($p); }

my $ext = qr/(?:c|h|cu|cuh|md|sh|py|json|jsonl|ini|h5|txt|tmp|png|svg|csv|tsv|safetensors|lock|o|d|so|xz|out|log|sbatch|tap|html)/;
my $folders = qr/(?:base|text|model|algo|io|task|rollout|eval|train|bench|cli)/;
my $piece = qr/(?:[\w*<>+-]|\.(?=[\w*{<])|\{[\w.,*-]*\})/;
my $pathre = qr{(?<![\w./\$-])((?:src|tests|launch|configs|results|kernels)/(?:$piece|/)*+|Makefile\b|\.ci/run\b)};

# Paths and keys: in every text read.
sub paths_keys { my ($f, $l, $t, $hist) = @_;
    while ($t =~ /$pathre(?!\$)/g) { check_path($f, $l, $1, $hist); }    # not results/bench-$(date).jsonl
    while ($t =~ m{(?<![\w./\$-])($folders/\w+\.(?:c|h))\b}g) { check_path($f, $l, "src/$1", $hist) unless -e $1; }
    while ($t =~ /(?<![\w.>\$\/-])((?:$sections)\.[a-z_][a-z0-9_]*)(?![\w(]|\.\w)/g) {
        my $k = $1; next if $k =~ /\.$ext$/;
        check("key", $f, $l, $k, $key{$k}, "a key", $hist); }
    # and `[section] key`
    while ($t =~ /`\[($sections)\]\s+([a-z_][a-z0-9_]*)\b/g) { check("key", $f, $l, "$1.$2", $key{"$1.$2"}, "a key", $hist); } }

# rlvr SUB [ACTION] --help: its options, or undef where it is no subcommand.
sub options { my ($cmd) = @_;
    return $help{$cmd} if exists $help{$cmd};
    my $out = qx{"\$RLVR" $cmd --help 2>&1};    # rlvr --help: the subcommands and global options
    return $help{$cmd} = undef if $?;
    my %o = map { $_ => 1 } $out =~ /(--[a-z][\w-]*)/g;
    return $help{$cmd} = \%o; }
sub action_of { my ($sub, $rest) = @_;
    return "" unless $sub =~ /^(?:ckpt|bench)$/ && $rest =~ /^\s+([a-z][\w-]*)/;
    return " $1"; }
# One command: rlvr SUB [ACTION] and the options after it, up to a separator.
sub check_command { my ($f, $l, $sub, $rest) = @_;
    return undef if $sub !~ /^[a-z-][\w-]*$/;    # SUBCOMMAND, a placeholder
    if ($sub =~ /^-/) { check("option", $f, $l, "rlvr $sub", options("")->{$sub}, "an option"); return undef; }
    my $cmd = $sub . action_of($sub, $rest);
    check("option", $f, $l, "rlvr $cmd", options($cmd), "a subcommand");
    return undef unless options($cmd);
    ($rest) = split /\s(?:[;|#]|&&)|\)/, $rest; $rest //= "";
    for my $o ($rest =~ /(?<![\w-])(--[a-z][\w-]*)/g) {
        check("option", $f, $l, "rlvr $cmd $o", options($cmd)->{$o}, "an option"); }
    return $cmd; }
# make [VAR=value ...] TARGET: a target of the Makefile.
my %target;
sub check_make { my ($f, $l, $t) = @_;
    return unless $t =~ /^\s*make(?:\s+[A-Z_]+=\S*)*\s+([a-z][\w.\/-]*)/;
    my $want = $1;
    unless (%target) { open my $h, "<", "Makefile" or die "check_docs: cannot read Makefile\n";
        while (my $r = <$h>) { next unless $r =~ /^([^\s#:=][^:=]*?)\s*:(?!=)/;
            for my $t (split " ", $1) { $target{$t =~ s/\$\(BUILD\)/$_/r} = 1 for qw(build build-san); } } }
    check("option", $f, $l, "make $want", $target{$want}, "a make target"); }
# The commands of one line or code span; make targets in the READMEs only (results/ also cites those of llama2.c and llm.c).
sub commands { my ($f, $l, $t, $make) = @_;
    check_make($f, $l, $t) if $make;
    my $last;
    while ($t =~ /(?:^|[\s\/(])rlvr\s+(-?-?[A-Za-z][\w-]*)(.*?)(?=(?:^|[\s\/(])rlvr\s|$)/g) {
        next if substr($t, 0, $-[0]) =~ /\.sh\s/;    # tests/integration.sh build/rlvr it_loss: an argument
        my $c = check_command($f, $l, $1, $2); $last = $c if defined $c; }
    return $last; }

# Identifiers: a word of the code outside its comments (a name only comments still use is gone), this check and
# its test (tests/it_docs.sh) left out.
sub words { return if %words;
    for my $f (grep { -f && !m{/fixtures/|/fuzz_corpus/|\.(?:h5|xz|jsonl)$|_docs\.sh$} } map { glob } qw(src/*/* kernels/* tests/* tests/*/* launch/* Makefile)) {
        open my $h, "<", $f or next;
        while (my $t = <$h>) { $words{$_} = 1 for (split_comment($f, $t))[0] =~ /\w+/g; }
        $words{$1} = 1 if $f =~ m{([^/]+)\.\w+$};    # a module: moe_ep
    } }
# STRICT (results/): snake_case only with parts of 3 letters or more, not the notation w_i or sm_90.
sub check_identifier { my ($f, $l, $s, $strict) = @_;
    my @names;
    if ($s =~ /^([A-Za-z]\w*)\(\)$/) { @names = ($1); }
    elsif ($s =~ /^([A-Z]\w*)\.([a-z_]\w*)(?:\(\))?$/) { @names = $2 =~ /^$ext$/ ? () : ($1, $2); }
    elsif (($strict ? $s =~ /^[a-z][a-z0-9]{2,}(?:_[a-z0-9]{3,})+$/ : $s =~ /^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$/)
           || $s =~ /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/ || $s =~ /^[A-Z][a-z0-9]+(?:[A-Z]\w*)?$/) { @names = ($s); }
    words();
    check("identifier", $f, $l, $_, $words{$_}, "an identifier") for @names; }
sub check_bare_file { my ($f, $l, $s) = @_;
    return unless $s =~ /^[\w-]+\.(?:c|h|cu|cuh|sh|py|sbatch)$/ && $s !~ /(?:^|_)[A-Z]+[_.]/;    # not X_internal.h
    unless (%base) { $base{s{.*/}{}r} = 1 for split /\n/, qx{find . -path ./.git -prune -o -type f -print}; }
    check("path", $f, $l, $s, $base{$s}, "a path"); }

# Markdown: every line, code blocks included; history where a heading names a date, revision or commit.
sub markdown { my ($f) = @_;
    my $readme = $f =~ m{^(?:src/)?README\.md$};
    my ($fence, $hist, $para, @level) = (0, $f eq "results/cpu-bench-history.md" ? 1 : 0);
    open my $h, "<", $f or die "check_docs: cannot read $f\n";
    while (my $t = <$h>) {
        my $l = $.;
        if ($t =~ /^```/) { $fence = !$fence; next; }
        if (!$fence && $t =~ /^(#+)\s(.*)/) {
            my ($n, $title) = (length $1, $2);
            @level = grep { $_ < $n } @level;
            push @level, $n if $title =~ /\b20\d\d-\d\d-\d\d\b|\brevisions?\b|\bcommit\b/i;
            $hist = $f eq "results/cpu-bench-history.md" || @level ? 1 : 0;
        }
        paths_keys($f, $l, $t, $hist);
        next if $hist;
        if ($fence) { commands($f, $l, $t =~ s/(?:^|\s)#.*//r, $readme); next; }    # a shell comment names no option
        undef $para if $t =~ /^\s*$|^\s*[-*|#] |^\s*\d+\. /;
        while ($t =~ /`([^`]+)`/g) {
            my $s = $1;
            my $c = commands($f, $l, $s, $readme);
            if (defined $c) { $para = $c; next; }
            undef $para if $s =~ /^(?:sbatch|srun|mpirun|scontrol|shellcheck)\b/;    # their options follow
            if ($s =~ /^--[a-z]/ && defined $para) {    # `--threads 1 --threads 2`
                check("option", $f, $l, "rlvr $para $_", options($para)->{$_}, "an option") for $s =~ /(?<![\w-])(--[a-z][\w-]*)/g;
                next; }
            check_identifier($f, $l, $s, !$readme);
            check_bare_file($f, $l, $s) if $readme;
        }
    }
}

sub comments { my ($f) = @_;
    open my $h, "<", $f or die "check_docs: cannot read $f\n";
    my $code = $f =~ /\.(?:c|h|cu|cuh)$/;
    while (my $t = <$h>) {
        my $m = (split_comment($f, $t))[1];
        next unless defined $m;
        paths_keys($f, $., $m, 0);
        next unless $code;
        # A C comment: name() and names of parts of 3 letters or more (not a math subscript such as p_hj).
        words();
        while ($m =~ /(?<![\w.\/>-])([A-Za-z_]\w*(?=\(\))|[a-z][a-z0-9]{2,}(?:_[a-z0-9]{3,})+)(?![\w\/]|\.\w)/g) {
            check("identifier", $f, $., $1, $words{$1}, "an identifier"); }
    }
}

markdown($_) for grep { -f } ("README.md", "src/README.md", glob("results/*.md"));
comments($_) for grep { -f } map { glob } qw(launch/*.sh launch/*.sbatch src/*/*.c src/*/*.h kernels/*.cu kernels/*.cuh
    kernels/*.h tests/*.c tests/*.h tests/*.cu tests/*.sh tests/*.py tests/*/*.h results/*.sh results/*.py Makefile);
# An entry that excuses nothing is stale itself.
for my $e (sort grep { $allow{$_} == 1 } keys %allow) {
    print "tests/check_docs.sh: HISTORY entry \x27$e\x27 excuses no citation (remove it)\n"; $findings++; }
for my $e (sort grep { $not_cited{$_} == 1 } keys %not_cited) {
    print "tests/check_docs.sh: NOT_CITED entry \x27$e\x27 excuses no citation (remove it)\n"; $findings++; }
printf "check_docs: %d paths, %d keys, %d subcommands and options, %d identifiers checked; %s\n",
    @count{qw(path key option identifier)}, $findings ? "FAILED: $findings finding(s)" : "no findings";
exit($findings ? 1 : 0);
'
