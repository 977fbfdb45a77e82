//! busybox `sh` scripts that fork, exec, pipe and wait behave under oxbox
//! exactly as on the host kernel: same stdout and same exit status. Each
//! script runs as `sh -c '<script>'` in the standard rootfs, with a fresh
//! scratch directory in `$S` for the files it writes.
//!
//! No job control and no `/proc` of other processes (not there yet). ash's
//! `wait` builtin sleeps until its SIGCHLD handler has run, so the
//! scenarios using it also prove signal delivery to guest handlers.

use oxbox_integration::{Compare, Outcome, Run, require_root};

/// Runs `script` with `sh -c` (extra `args` become `$0`, `$1`, ...) with a
/// scratch directory in `$S`; asserts that it matches native and that the
/// native run printed `want` and exited `status`, so that a baseline
/// proving nothing is caught.
fn script(script: &str, args: &[&str], want: &str, status: i32) -> Outcome {
    let mut run = Run::new(["sh", "-c", script]);
    let dir = run.scratch("shell");
    let mut run = run.env("S", &dir);
    for a in args {
        run = run.arg(*a);
    }
    let (native, _) = run.matches_native(Compare::StdoutAndStatus);
    assert_eq!(
        native.stdout(),
        want,
        "native baseline\n{}",
        native.describe()
    );
    assert_eq!(
        native.status,
        status,
        "native baseline\n{}",
        native.describe()
    );
    native
}

#[test]
fn pipelines_of_three_and_more_stages() {
    require_root!();
    script(
        "cat /data/words.txt | sort | uniq -c | sort -rn | head -n 3",
        &[],
        "      2 fig\n      2 apple\n      1 pear\n",
        0,
    );
    script(
        "for i in 1 2 3 4 5 6; do echo line$i; done | sort -r | head -n 2 | tr a-z A-Z",
        &[],
        "LINE6\nLINE5\n",
        0,
    );
    script("seq 1 2000 | grep 7 | wc -l", &[], "542\n", 0);
    // A pipeline's status is its last command's.
    script("true | false", &[], "", 1);
    script("false | true", &[], "", 0);
    // A reader that stops early: the writer dies of SIGPIPE, the pipeline
    // still succeeds.
    script("yes | head -n 3", &[], "y\ny\ny\n", 0);
}

#[test]
fn subshells_and_command_substitution() {
    require_root!();
    script(
        "x=outer; (x=inner; echo \"in $x\"); echo \"out $x\"",
        &[],
        "in inner\nout outer\n",
        0,
    );
    script(
        "(cd /data/tree && ls); pwd",
        &[],
        "a\ndangling\ndirlink\ne\nempty-dir\nlink\n/\n",
        0,
    );
    script(
        "n=$(wc -l < /data/words.txt); echo \"lines=$n\"; echo \"nested=$(echo $(echo deep))\"",
        &[],
        "lines=10\nnested=deep\n",
        0,
    );
    script(
        "echo \"sum=$(( $(seq 10 | paste -sd+) ))\"; \
         echo \"count=`ls /data | wc -l`\"",
        &[],
        "sum=55\ncount=7\n",
        0,
    );
    script("(exit 3); echo $?; x=$(exit 4); echo $?", &[], "3\n4\n", 0);
}

#[test]
fn exit_statuses_reach_dollar_question_mark() {
    require_root!();
    script(
        "false; echo $?; true; echo $?; no-such-command 2>/dev/null; echo $?; \
         /bad/not-executable 2>/dev/null; echo $?; grep -q kiwi /data/words.txt; echo $?",
        &[],
        "1\n0\n127\n126\n1\n",
        0,
    );
    script("exit 42", &[], "", 42);
    script("sh -c 'exit 42'; echo $?", &[], "42\n", 0);
    script("sh -c 'exit 300'; echo $?", &[], "44\n", 0);
    // A child killed by SIGSEGV: 128 + 11.
    script(
        "/guest/process/exit \"$S\" segv; echo $?",
        &[],
        "exiting by segv 0\n139\n",
        0,
    );
    // A child killing itself with SIGTERM: 128 + 15.
    script("sh -c 'kill -TERM $$'; echo $?", &[], "143\n", 0);
    // The status of the script is its last command's.
    script("true; false", &[], "", 1);
}

#[test]
fn and_or_lists() {
    require_root!();
    script(
        "true && echo a; false && echo b; false || echo c; true || echo d; \
         false || false || echo e; true && false || echo f",
        &[],
        "a\nc\ne\nf\n",
        0,
    );
    script(
        "test -d /data && ls /data/tree/a && grep -c needle /data/tree/a/d.txt",
        &[],
        "b\nd.txt\n1\n",
        0,
    );
    script("grep -q kiwi /data/words.txt && echo found", &[], "", 1);
}

#[test]
fn exec_replaces_the_shell() {
    require_root!();
    script("exec echo replaced; echo not reached", &[], "replaced\n", 0);
    script("exec sh -c 'exit 9'; echo not reached", &[], "", 9);
    script(
        "exec /guest/process/exit \"$S\" group 17",
        &[],
        "exiting by group 17\n",
        17,
    );
    // exec with redirections only changes the shell's own descriptors.
    script(
        "exec > \"$S/out\"; echo into file; exec >&2; cat \"$S/out\" >&2; exec 1>/dev/null",
        &[],
        "",
        0,
    );
    // env -i runs its program with an empty environment.
    script("env -i /bin/env | wc -l", &[], "0\n", 0);
    script(
        "FOO=bar env -i A=1 sh -c 'echo \"A=$A FOO=$FOO\"'",
        &[],
        "A=1 FOO=\n",
        0,
    );
}

#[test]
fn script_files_run_directly_and_through_sh() {
    require_root!();
    let body = "printf '#!/bin/sh\\necho \"$0: $# args [$1] [$2]\"\\nexit 3\\n' > \"$S/s.sh\"; ";
    // Without execute permission, running it directly is refused.
    script(
        &format!(
            "{body} \"$S/s.sh\" a 2>/dev/null; echo direct=$?; \
             sh \"$S/s.sh\" 'x y' z | sed \"s|$S|S|\"; echo via-sh=$?"
        ),
        &[],
        "direct=126\nS/s.sh: 2 args [x y] [z]\nvia-sh=0\n",
        0,
    );
    script(
        &format!(
            "{body} chmod +x \"$S/s.sh\"; \"$S/s.sh\" 'a b' \"c'd\" | sed \"s|$S|S|\"; \
             \"$S/s.sh\" >/dev/null; echo status=$?; cd \"$S\" && ./s.sh one"
        ),
        &[],
        "S/s.sh: 2 args [a b] [c'd]\nstatus=3\n./s.sh: 1 args [one] []\n",
        3,
    );
}

#[test]
fn arguments_keep_spaces_and_quotes() {
    require_root!();
    script(
        "for a in \"$@\"; do echo \"<$a>\"; done; echo \"$0 $#\"",
        &["zero", "one two", "", "it's", "\"q\"", "  lead", "a*b"],
        "<one two>\n<>\n<it's>\n<\"q\">\n<  lead>\n<a*b>\nzero 6\n",
        0,
    );
    script(
        "set -- 'a b' c; sh -c 'echo $#: \"$1\"/\"$2\"' sh \"$@\"; \
         sh -c 'echo $#' sh $*",
        &[],
        "2: a b/c\n3\n",
        0,
    );
    script(
        "sh -c \"sh -c 'echo nested \\$0 \\$1; exit 6' inner 'x y'\"; echo outer=$?",
        &[],
        "nested inner x y\nouter=6\n",
        0,
    );
    script(
        "sh -c 'sh -c \"sh -c '\\''exit 12'\\''\"'; echo $?",
        &[],
        "12\n",
        0,
    );
}

#[test]
fn redirections_write_files_that_read_back() {
    require_root!();
    script(
        "cd \"$S\" && echo one > f && echo two >> f && ls /missing 2> err; \
         cat f; wc -l < err; sort -r < f > g; cat g; \
         { echo a; echo b >&2; } > both 2>&1; cat both; \
         cat < /data/words.txt | head -n 1 > h; cat h; : > f; wc -c < f; \
         ls",
        &[],
        "one\ntwo\n1\ntwo\none\na\nb\npear\n0\nboth\nerr\nf\ng\nh\n",
        0,
    );
    script(
        "cd \"$S\" && cat > here <<EOF\nline \\$HOME=$HOME\nEOF\ncat here; \
         tee t1 t2 < /data/numbers.txt | wc -l; cmp t1 t2 && cmp t1 /data/numbers.txt && echo same",
        &[],
        "line $HOME=/root\n8\nsame\n",
        0,
    );
    // A redirection that fails: the command does not run.
    script(
        "echo x > /no/such/dir/f 2>/dev/null; echo $?",
        &[],
        "1\n",
        0,
    );
}

#[test]
fn xargs_and_find_pipelines() {
    require_root!();
    script(
        "echo 'a b c d e' | xargs -n 2 echo",
        &[],
        "a b\nc d\ne\n",
        0,
    );
    script(
        "find /data/tree -type f -name '*.txt' | sort | xargs grep -l needle",
        &[],
        "/data/tree/a/b/c.txt\n/data/tree/a/d.txt\n",
        0,
    );
    script(
        "find /data/tree -type f | sort | xargs grep -c needle",
        &[],
        "/data/tree/a/b/c.txt:1\n/data/tree/a/d.txt:1\n/data/tree/e/f.txt:0\n/data/tree/e/g.log:1\n",
        0,
    );
    // A failing command run by xargs: 123.
    script(
        "echo /data/words.txt /data/missing | xargs cat 2>/dev/null | wc -l; \
         echo /data/missing | xargs cat 2>/dev/null; echo $?",
        &[],
        "10\n123\n",
        0,
    );
    script(
        "cd \"$S\" && seq 3 | xargs -I{} sh -c 'echo file {} > f{}'; cat f1 f2 f3; \
         ls | xargs rm; ls | wc -l",
        &[],
        "file 1\nfile 2\nfile 3\n0\n",
        0,
    );
}

/// A background job hands its result to the foreground through a pipe:
/// the reader sees end-of-file only once the background job has exited,
/// so no `wait` is needed (see [`background_jobs_and_wait`]).
#[test]
fn background_jobs_run_concurrently() {
    require_root!();
    script(
        "{ (echo from background; echo $((6 * 7))) & } | while read line; do echo \"got $line\"; done",
        &[],
        "got from background\ngot 42\n",
        0,
    );
    script(
        "{ sh -c 'exit 3' & echo \"started ${!:+a pid}\"; } | cat; echo after=$?",
        &[],
        "started a pid\nafter=0\n",
        0,
    );
}

/// The same through named pipes (`mkfifo`, that is mknodat with S_IFIFO).
#[test]
fn fifos_connect_background_jobs() {
    require_root!();
    script(
        "cd \"$S\" && mkfifo fifo; (echo from background; echo $((6 * 7))) > fifo & \
         while read line; do echo \"got $line\"; done < fifo",
        &[],
        "got from background\ngot 42\n",
        0,
    );
    script(
        "cd \"$S\" && mkfifo a b; (read x < a; echo \"bg read $x\" > b) & \
         echo ping > a && cat b",
        &[],
        "bg read ping\n",
        0,
    );
}

/// ash's `wait` sleeps in `sigsuspend` until its SIGCHLD handler has run:
/// signal delivery to guest handlers at work.
#[test]
fn background_jobs_and_wait() {
    require_root!();
    script("(exit 5) & wait $!; echo status=$?", &[], "status=5\n", 0);
    script(
        "sleep 0.01 & sleep 0.01 & wait; echo all=$?",
        &[],
        "all=0\n",
        0,
    );
    script(
        "sleep 30 & pid=$!; kill -TERM $pid; wait $pid; echo status=$?",
        &[],
        "status=143\n",
        0,
    );
}
