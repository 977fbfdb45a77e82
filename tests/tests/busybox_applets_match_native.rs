//! Unmodified busybox-static applets that need no fork behave under oxbox
//! exactly as on the host kernel: same stdout, same exit status and, where
//! the message comes from busybox and `strerror` (not from timing), same
//! stderr. Each applet is invoked by name through `PATH` and a symlink to
//! `/bin/busybox`, as in a small distribution.

use oxbox_integration::run::DEFAULT_HOSTNAME;
use oxbox_integration::{
    Compare, Outcome, Run, Scratch, assert_same, native_only, require_root, rootfs,
};

/// `argv` prints the same and exits the same natively and under oxbox.
fn same(argv: &[&str]) -> Outcome {
    let (native, _) = Run::new(argv.iter().copied()).matches_native(Compare::StdoutAndStatus);
    native
}

/// Like [`same`], stderr included.
fn same_all(argv: &[&str]) -> Outcome {
    let (native, _) = Run::new(argv.iter().copied()).matches_native(Compare::All);
    native
}

/// Like [`same`], with `input` on stdin.
fn same_stdin(argv: &[&str], input: &str) -> Outcome {
    let (native, _) = Run::new(argv.iter().copied())
        .stdin(input)
        .matches_native(Compare::StdoutAndStatus);
    native
}

/// Guards against a baseline that proves nothing: the native run must have
/// printed something and exited with `status`.
fn expect(native: &Outcome, status: i32) {
    assert_eq!(native.status, status, "{}", native.describe());
    assert!(
        !native.stdout.is_empty() || !native.stderr.is_empty(),
        "{}",
        native.describe()
    );
}

#[test]
fn ls_lists_directories_and_trees() {
    require_root!();
    expect(&same(&["ls", "/data"]), 0);
    expect(&same(&["ls", "-la", "/data/tree"]), 0);
    expect(&same(&["ls", "-lR", "/data/tree"]), 0);
    expect(&same(&["ls", "-i1", "/data"]), 0);
    expect(&same(&["ls", "/"]), 0);
}

#[test]
fn ls_of_a_missing_path_fails_with_the_same_message() {
    require_root!();
    expect(&same_all(&["ls", "/data/missing"]), 1);
}

#[test]
fn cat_concatenates_files_and_stdin() {
    require_root!();
    expect(&same(&["cat", "/data/words.txt", "/data/numbers.txt"]), 0);
    expect(&same_stdin(&["cat"], "from stdin\nline two\n"), 0);
    expect(&same_stdin(&["cat", "/data/words.txt", "-"], "tail\n"), 0);
    expect(&same(&["cat", "/bin/busybox"]), 0);
}

#[test]
fn cat_of_a_missing_file_fails_with_the_same_message() {
    require_root!();
    expect(&same_all(&["cat", "/data/words.txt", "/nope"]), 1);
}

#[test]
fn wc_counts_lines_words_bytes() {
    require_root!();
    expect(
        &same(&["wc", "/data/lorem.txt", "/data/words.txt", "/data/empty"]),
        0,
    );
    expect(&same_stdin(&["wc", "-l"], "a\nb\nc\n"), 0);
    expect(&same(&["wc", "-c", "/bin/busybox"]), 0);
}

/// Over half a megabyte on stdin reaches the guest whole, then EOF.
#[test]
fn large_stdin_is_read_to_the_end() {
    require_root!();
    let input: String = (0..60_000).map(|i| format!("line {i}\n")).collect();
    assert!(input.len() > 500_000);
    let native = same_stdin(&["wc", "-l", "-c"], &input);
    assert_eq!(native.stdout().split_whitespace().next(), Some("60000"));
    expect(&same_stdin(&["sha256sum"], &input), 0);
    expect(&same_stdin(&["tail", "-n", "2"], &input), 0);
}

#[test]
fn sort_orders_lines() {
    require_root!();
    expect(&same(&["sort", "/data/words.txt"]), 0);
    expect(&same(&["sort", "-r", "-u", "/data/words.txt"]), 0);
    expect(&same(&["sort", "-n", "/data/numbers.txt"]), 0);
    expect(
        &same(&["sort", "-t", ",", "-k", "2", "-n", "/data/table.csv"]),
        0,
    );
    expect(&same_stdin(&["sort", "-f"], "b\nA\na\nB\n"), 0);
}

#[test]
fn checksums_match() {
    require_root!();
    for tool in ["sha256sum", "sha1sum", "sha512sum", "md5sum"] {
        expect(
            &same(&[tool, "/data/words.txt", "/data/binary.dat", "/data/empty"]),
            0,
        );
    }
    expect(&same(&["sha256sum", "/bin/busybox"]), 0);
    expect(&same_stdin(&["sha256sum"], "abc"), 0);
}

#[test]
fn find_walks_the_tree() {
    require_root!();
    expect(&same(&["find", "/data/tree"]), 0);
    expect(&same(&["find", "/data", "-name", "*.txt"]), 0);
    expect(&same(&["find", "/data/tree", "-type", "l"]), 0);
    expect(
        &same(&["find", "/data/tree", "-type", "f", "-size", "-1k"]),
        0,
    );
    expect(&same(&["find", "-L", "/data/tree", "-name", "c.txt"]), 0);
    expect(&same_all(&["find", "/data/missing"]), 1);
}

#[test]
fn grep_matches_lines() {
    require_root!();
    expect(&same(&["grep", "apple", "/data/words.txt"]), 0);
    expect(&same(&["grep", "-n", "-i", "date", "/data/words.txt"]), 0);
    expect(&same(&["grep", "-c", "-v", "fig", "/data/words.txt"]), 0);
    expect(&same(&["grep", "-E", "ap+le|^f", "/data/words.txt"]), 0);
    expect(&same(&["grep", "-r", "needle", "/data/tree"]), 0);
    expect(&same(&["grep", "-l", "-r", "needle", "/data"]), 0);
    // No match: status 1 and nothing printed.
    let none = same(&["grep", "kiwi", "/data/words.txt"]);
    assert_eq!(none.status, 1, "{}", none.describe());
    expect(&same_all(&["grep", "x", "/data/missing"]), 2);
}

#[test]
fn sed_edits_streams() {
    require_root!();
    expect(&same(&["sed", "s/apple/APPLE/g", "/data/words.txt"]), 0);
    expect(&same(&["sed", "-n", "2,4p", "/data/words.txt"]), 0);
    expect(&same(&["sed", "/^$/d", "/data/lorem.txt"]), 0);
    expect(
        &same(&["sed", "-e", "1d", "-e", "$d", "/data/numbers.txt"]),
        0,
    );
    expect(
        &same_stdin(
            &["sed", "-E", "s/([a-z]+) ([a-z]+)/\\2 \\1/"],
            "hello world\n",
        ),
        0,
    );
}

#[test]
fn awk_computes_over_fields() {
    require_root!();
    expect(
        &same(&[
            "awk",
            "-F,",
            "NR>1 { s += $2 * $3 } END { printf \"%.2f\\n\", s }",
            "/data/table.csv",
        ]),
        0,
    );
    expect(
        &same(&["awk", "{ print length($0), $1 }", "/data/lorem.txt"]),
        0,
    );
    expect(
        &same(&["awk", "BEGIN { for (i = 1; i <= 5; i++) print i, i * i }"]),
        0,
    );
    expect(
        &same(&[
            "awk",
            "{ n[$1]++ } END { for (w in n) if (n[w] > 1) print w }",
            "/data/words.txt",
        ]),
        0,
    );
}

#[test]
fn uname_and_hostname_report_the_container() {
    require_root!();
    expect(&same(&["uname", "-s", "-n", "-m"]), 0);
    let host = same(&["hostname"]);
    assert_eq!(host.stdout(), format!("{DEFAULT_HOSTNAME}\n"));
    let (named, _) = Run::new(["hostname"])
        .hostname("applet-box")
        .matches_native(Compare::All);
    assert_eq!(named.stdout(), "applet-box\n");
}

#[test]
fn id_and_whoami_report_root() {
    require_root!();
    expect(&same(&["id"]), 0);
    expect(&same(&["id", "-u"]), 0);
    expect(&same(&["id", "-gn"]), 0);
    expect(&same(&["whoami"]), 0);
}

/// The environment is the documented guest environment plus `-e`; `env`
/// prints it in the order the kernel laid it out, so lines are compared as
/// a set.
#[test]
fn env_shows_the_guest_environment() {
    require_root!();
    let run = Run::new(["env"]).env("GREETING", "hello world");
    let native = run.native();
    let mut want: Vec<String> = native.stdout().lines().map(String::from).collect();
    want.sort();
    assert_eq!(
        want,
        [
            "GREETING=hello world",
            "HOME=/root",
            &format!("HOSTNAME={DEFAULT_HOSTNAME}"),
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ],
        "native baseline"
    );
    if native_only() {
        return;
    }
    let oxbox = run.oxbox();
    let mut got: Vec<String> = oxbox.stdout().lines().map(String::from).collect();
    got.sort();
    assert_eq!(got, want, "{}", oxbox.describe());
    assert_eq!(oxbox.status, 0, "{}", oxbox.describe());
}

/// dd's transfer statistics on stderr contain a duration, so only stdout
/// and the status are compared.
#[test]
fn dd_copies_blocks() {
    require_root!();
    expect(
        &same(&["dd", "if=/data/binary.dat", "bs=16", "skip=2", "count=3"]),
        0,
    );
    expect(&same(&["dd", "if=/dev/zero", "bs=1024", "count=4"]), 0);
    expect(&same_stdin(&["dd", "bs=4", "conv=sync"], "pad me\n"), 0);
}

#[test]
fn head_and_tail_cut_files() {
    require_root!();
    expect(&same(&["head", "-n", "3", "/data/words.txt"]), 0);
    expect(&same(&["head", "-c", "10", "/data/lorem.txt"]), 0);
    expect(&same(&["tail", "-n", "2", "/data/words.txt"]), 0);
    expect(&same(&["tail", "-c", "20", "/data/lorem.txt"]), 0);
    expect(&same(&["tail", "-n", "+8", "/data/words.txt"]), 0);
    expect(&same_stdin(&["tail", "-n", "1"], "a\nb\nlast\n"), 0);
}

#[test]
fn tr_and_cut_transform_text() {
    require_root!();
    expect(&same_stdin(&["tr", "a-z", "A-Z"], "Hello, World\n"), 0);
    expect(&same_stdin(&["tr", "-d", "aeiou"], "education\n"), 0);
    expect(&same_stdin(&["tr", "-s", " "], "a    b  c\n"), 0);
    expect(
        &same(&["cut", "-d", ",", "-f", "1,3", "/data/table.csv"]),
        0,
    );
    expect(&same(&["cut", "-c", "1-5", "/data/lorem.txt"]), 0);
}

#[test]
fn hex_dumps_match() {
    require_root!();
    expect(&same(&["xxd", "/data/binary.dat"]), 0);
    expect(&same(&["xxd", "-l", "32", "-c", "8", "/data/lorem.txt"]), 0);
    expect(
        &same(&["od", "-A", "x", "-t", "x1", "-c", "/data/words.txt"]),
        0,
    );
    expect(&same(&["hexdump", "-C", "/data/binary.dat"]), 0);
    expect(&same(&["base64", "/data/binary.dat"]), 0);
}

#[test]
fn small_text_tools_match() {
    require_root!();
    expect(&same(&["seq", "10", "-3", "1"]), 0);
    expect(&same(&["expr", "6", "*", "7"]), 0);
    expect(&same(&["basename", "/a/b/c.txt", ".txt"]), 0);
    expect(&same(&["dirname", "/a/b/c.txt"]), 0);
    expect(&same(&["printf", "%05d|%s|%x\\n", "42", "hi", "255"]), 0);
    expect(&same(&["echo", "-n", "no newline"]), 0);
    expect(&same_stdin(&["uniq", "-c"], "a\na\nb\na\n"), 0);
    expect(&same(&["rev", "/data/words.txt"]), 0);
    expect(&same(&["nl", "/data/words.txt"]), 0);
    expect(&same(&["tac", "/data/numbers.txt"]), 0);
    expect(&same(&["fold", "-w", "20", "/data/lorem.txt"]), 0);
    expect(&same(&["paste", "/data/words.txt", "/data/numbers.txt"]), 0);
    expect(&same(&["diff", "/data/words.txt", "/data/numbers.txt"]), 1);
    assert_eq!(
        same(&["cmp", "/data/words.txt", "/data/words.txt"]).status,
        0
    );
    expect(&same(&["cmp", "/data/words.txt", "/data/numbers.txt"]), 1);
    expect(&same(&["date", "-u", "-d", "@1000000000"]), 0);
}

#[test]
fn exit_statuses_propagate() {
    require_root!();
    assert_eq!(same(&["true"]).status, 0);
    assert_eq!(same(&["false"]).status, 1);
    assert_eq!(same(&["test", "-f", "/data/words.txt"]).status, 0);
    assert_eq!(same(&["test", "-d", "/data/words.txt"]).status, 1);
    assert_eq!(same(&["test", "-L", "/data/tree/link"]).status, 0);
    assert_eq!(same(&["sleep", "0.05"]).status, 0);
}

#[test]
fn stat_and_readlink_describe_files() {
    require_root!();
    expect(
        &same(&[
            "stat",
            "-c",
            "%n %s %a %F %h %u %g %i",
            "/data/words.txt",
            "/data/tree",
            "/data/tree/link",
            "/data/tree/e/f.txt",
        ]),
        0,
    );
    expect(&same(&["readlink", "/data/tree/link"]), 0);
    expect(&same(&["readlink", "-f", "/data/tree/dirlink/b/c.txt"]), 0);
    expect(&same(&["realpath", "/data/tree/link"]), 0);
    expect(&same(&["du", "-a", "/data/tree"]), 0);
    expect(&same(&["pwd"]), 0);
}

/// `-w` sets the guest's working directory, so relative paths start there.
#[test]
fn a_working_directory_applies_to_relative_paths() {
    require_root!();
    for argv in [
        vec!["pwd"],
        vec!["ls", "a"],
        vec!["cat", "link"],
        vec!["find", "."],
    ] {
        let (native, _) = Run::new(argv)
            .workdir("/data/tree")
            .matches_native(Compare::All);
        expect(&native, 0);
    }
}

/// On a read-only rootfs reads work and writes fail with EROFS, worded by
/// busybox exactly as natively. The targets sit in a scratch directory, so
/// a rootfs that is not read-only after all damages nothing shared.
#[test]
fn a_read_only_rootfs_refuses_writes() {
    require_root!();
    let scratch = Scratch::new(rootfs().path(), "read-only");
    scratch.reset();
    let victim = scratch.host().join("victim");
    std::fs::write(&victim, "keep me\n").unwrap();
    let s = scratch.guest();
    let (native, _) = Run::new(["cat", &format!("{s}/victim")])
        .read_only()
        .matches_native(Compare::All);
    expect(&native, 0);
    for argv in [
        vec!["mkdir".to_string(), format!("{s}/new")],
        vec!["cp".into(), "/data/words.txt".into(), format!("{s}/copy")],
        vec!["rm".into(), format!("{s}/victim")],
        vec!["mv".into(), format!("{s}/victim"), format!("{s}/moved")],
    ] {
        let (native, _) = Run::new(argv).read_only().matches_native(Compare::All);
        expect(&native, 1);
        assert!(
            native.stderr().contains("Read-only file system"),
            "{}",
            native.describe()
        );
        assert!(
            victim.is_file(),
            "a write went through the read-only rootfs"
        );
    }
    assert_eq!(
        std::fs::read_dir(scratch.host()).unwrap().count(),
        1,
        "only the victim may be in {}",
        scratch.host().display()
    );
}

/// `/proc/self/exe` names the file that runs, symlinks resolved: for an
/// applet reached through `/bin/<applet> -> busybox`, that is busybox.
#[test]
fn proc_self_exe_of_an_applet_is_busybox() {
    require_root!();
    let native = same(&["readlink", "/proc/self/exe"]);
    assert_eq!(native.stdout(), "/bin/busybox\n");
    expect(&same(&["realpath", "/proc/self/exe"]), 0);
}

/// A sequence of commands that change a scratch directory (mkdir, cp, mv,
/// rm) and others that look at it: each step prints and exits the same
/// natively and under oxbox, starting from the same empty directory.
#[test]
fn file_commands_change_the_tree_like_native() {
    require_root!();
    let scratch = Scratch::new(oxbox_integration::rootfs().path(), "applets-files");
    let s = scratch.guest().to_string();
    let steps: Vec<Vec<String>> = [
        vec!["mkdir", "-p", "{s}/d/e"],
        vec!["cp", "/data/words.txt", "{s}/d/w"],
        vec!["cp", "-r", "/data/tree/a", "{s}/d/copy"],
        vec!["mv", "{s}/d/w", "{s}/d/e/moved"],
        vec!["ls", "-R", "{s}/d"],
        vec!["cat", "{s}/d/e/moved", "{s}/d/copy/b/c.txt"],
        vec!["rm", "{s}/d/e/moved"],
        vec!["rm", "{s}/d/e/moved"],
        vec!["mkdir", "{s}/d"],
        vec!["rm", "-r", "{s}/d/copy"],
        vec!["find", "{s}"],
    ]
    .iter()
    .map(|step| step.iter().map(|a| a.replace("{s}", &s)).collect())
    .collect();
    let run_all = |oxbox: bool| -> Vec<Outcome> {
        scratch.reset();
        steps
            .iter()
            .map(|argv| {
                let run = Run::new(argv.iter().cloned());
                if oxbox { run.oxbox() } else { run.native() }
            })
            .collect()
    };
    let native = run_all(false);
    assert_eq!(native[4].status, 0, "{}", native[4].describe());
    assert_ne!(native[7].status, 0, "removing twice must fail natively");
    if native_only() {
        return;
    }
    let oxbox = run_all(true);
    for (n, o) in native.iter().zip(&oxbox) {
        assert_same(n, o, Compare::All);
    }
}
