//! Workloads: guest programs, how to build them and how to read their
//! result.
//!
//! A workload is a small C program compiled `-static` so that the same
//! binary runs natively, as the only file of a container rootfs, and under
//! oxbox without a dynamic loader in the way. Each program does its own
//! timing and prints one `key=value` line: the harness then measures the
//! operation, not container start-up.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::images::Phase;
use crate::network::{Net, Service};
use crate::runtime::RuntimeKind;
use crate::servers::Server;

/// How many iterations a workload runs, before and after calibration.
#[derive(Debug, Clone, Copy)]
pub struct Iterations {
    /// The pilot run's count: short even on the slowest runtime (gVisor's
    /// ptrace platform costs ~65 us per getppid).
    pub pilot: u64,
    /// An upper bound, so that a very fast runtime still finishes quickly.
    pub max: u64,
}

/// The report's groups of workloads, each with its own target for oxbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Syscall,
    Processes,
    Ipc,
    Files,
    Costs,
    Lifecycle,
    Servers,
    Network,
    Images,
}

impl Group {
    /// Every group, in report order.
    pub const ALL: [Self; 9] = [
        Self::Syscall,
        Self::Processes,
        Self::Ipc,
        Self::Files,
        Self::Servers,
        Self::Network,
        Self::Costs,
        Self::Lifecycle,
        Self::Images,
    ];

    /// A short name: the chart's file name and the JSON key.
    pub fn name(self) -> &'static str {
        match self {
            Self::Syscall => "syscall",
            Self::Processes => "processes",
            Self::Ipc => "ipc",
            Self::Files => "files",
            Self::Costs => "costs",
            Self::Lifecycle => "lifecycle",
            Self::Servers => "servers",
            Self::Network => "network",
            Self::Images => "images",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Syscall => "System calls",
            Self::Processes => "Processes",
            Self::Ipc => "IPC",
            Self::Files => "Files",
            Self::Costs => "Container costs",
            Self::Lifecycle => "Container lifecycle",
            Self::Servers => "Servers",
            Self::Network => "Network",
            Self::Images => "Images: import and unpack",
        }
    }

    /// Whether a larger number is better for every workload of the
    /// group: requests per second of the servers. The network group
    /// mixes goodput and latency (see [`Workload::higher_is_better`]);
    /// every other group measures a time, a size or a count.
    pub fn higher_is_better(self) -> bool {
        self == Self::Servers
    }

    /// Whether this group's workloads run on `kind`: oxbox's sandbox
    /// network mode is measured by the network group only.
    pub fn runs_on(self, kind: RuntimeKind) -> bool {
        kind != RuntimeKind::OxboxSandbox || self == Self::Network
    }

    /// The target for oxbox against runc, as the largest
    /// acceptable cost ratio (oxbox / runc for a lower-is-better number,
    /// runc / oxbox for a higher-is-better one), and how the report
    /// words it.
    pub fn runc_target(self) -> (f64, &'static str) {
        match self {
            Self::Syscall => (1.0 / 25.0, "at least 25x faster than runc"),
            Self::Processes => (1.5, "within 1.5x of runc"),
            Self::Ipc | Self::Files | Self::Servers => (1.0, "at or ahead of runc"),
            Self::Network => (1.05, "within 5% of runc (host-socket mode)"),
            Self::Costs => (1.0, "ahead of runc (by a wide margin)"),
            Self::Lifecycle => (1.2, "within 1.2x of runc"),
            Self::Images => (1.0, "at or ahead of skopeo copy + umoci unpack"),
        }
    }

    /// The runtime the group's chart is drawn relative to: native, or
    /// runc where there is no native run (a container's lifecycle; the
    /// images, whose runc row is skopeo + umoci).
    pub fn chart_baseline(self) -> RuntimeKind {
        match self {
            Self::Lifecycle | Self::Images => RuntimeKind::Runc,
            _ => RuntimeKind::Native,
        }
    }
}

/// How a workload's number is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// The program times its own loop and prints `ns_per_op=`: container
    /// start-up never enters the number.
    SelfTimed,
    /// The wall-clock time of the whole run, start to exit, seen from the
    /// harness: the runtime's cold start.
    WallClock,
    /// The program prints `ready` and sleeps; the harness sums the PSS of
    /// every process of the run meanwhile, then kills them.
    ResidentMemory,
    /// The wall-clock time of a container's whole OCI lifecycle, driven
    /// verb by verb as an engine does: `create`, `start`, wait for the
    /// first process to exit, `delete`.
    OciCycle,
    /// The wall-clock time of `docker run --rm` through the harness's
    /// private dockerd, the runtime registered with it.
    DockerRun,
    /// A server from the Debian rootfs, started in the container on the
    /// host's network, loaded from the host: requests per second.
    Server(Server),
    /// iperf3 or tcp_rr in the container (Debian rootfs), driven from
    /// the host: goodput or round-trip latency.
    Network(Net),
    /// The wall-clock time of one phase of getting an image ready to run,
    /// oxbox's own against skopeo + umoci (the runc row).
    Image(Phase),
}

impl Measure {
    /// Whether the number is a container's lifecycle, which needs a
    /// container runtime: there is no native run to compare with.
    pub fn is_lifecycle(self) -> bool {
        matches!(self, Self::OciCycle | Self::DockerRun)
    }

    /// Whether the number is the wall-clock time of the run.
    pub fn is_wall_clock(self) -> bool {
        matches!(
            self,
            Self::WallClock | Self::OciCycle | Self::DockerRun | Self::Image(_)
        )
    }
}

/// One benchmark program.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub name: &'static str,
    pub group: Group,
    /// One line for the report.
    pub description: &'static str,
    /// File name of the C source, for messages and the cache key; its
    /// stem is the program's path in the container (`/stem`).
    pub source_name: &'static str,
    /// The C source, embedded so the harness binary is self-contained
    /// (empty for a server, which runs Debian's own binaries).
    pub source: &'static str,
    /// The unit of the reported number.
    pub unit: &'static str,
    /// Nanoseconds per reported unit, for a self-timed workload's
    /// `ns_per_op=` and for calibration.
    pub ns_per_unit: f64,
    pub measure: Measure,
    pub iterations: Iterations,
    /// The syscall the loop makes once per iteration, if any: a counting
    /// run that reports fewer calls of it than iterations has counters
    /// that miss calls, and its patched fraction cannot be trusted.
    pub loop_syscall: Option<&'static str>,
    /// The guest's argv after argv[0] for a given iteration count.
    pub args: fn(u64) -> Vec<String>,
    /// Whether the root needs the source tree archive at `/tree.tar`.
    pub needs_tree: bool,
    /// The number includes the guest's own share (memory): the report
    /// compares each runtime's excess over native.
    pub minus_native: bool,
    /// A step of the named workload, shown to see where time goes: the
    /// group's target is judged on the whole, not on the step.
    pub step_of: Option<&'static str>,
}

/// The flags every workload is built with.
const CFLAGS: &[&str] = &["-O2", "-static"];

/// Iteration bounds of a run that is not a loop (cold start, memory).
const ONE_RUN: Iterations = Iterations { pilot: 1, max: 1 };

/// A self-timed workload reported in `unit` (`ns/op`, `us/op`, `ms/op`).
const fn timed(
    name: &'static str,
    group: Group,
    description: &'static str,
    (source_name, source): (&'static str, &'static str),
    unit: &'static str,
    iterations: Iterations,
    args: fn(u64) -> Vec<String>,
) -> Workload {
    let ns_per_unit = match unit.as_bytes()[0] {
        b'u' => 1e3,
        b'm' => 1e6,
        _ => 1.0,
    };
    Workload {
        name,
        group,
        description,
        source_name,
        source,
        unit,
        ns_per_unit,
        measure: Measure::SelfTimed,
        iterations,
        loop_syscall: None,
        args,
        needs_tree: false,
        minus_native: false,
        step_of: None,
    }
}

/// The name and text of a source in `workloads/`.
macro_rules! source {
    ($file:literal) => {
        ($file, include_str!(concat!("../workloads/", $file)))
    };
}

fn iteration_count_arg(n: u64) -> Vec<String> {
    vec![n.to_string()]
}

/// `getppid()` in a loop: the raw cost of entering the kernel, and the
/// headline number of a syscall-interception runtime. Under oxbox it
/// measures the fast-path stub (`hal/fast.rs`), which answers from a
/// recorded value without entering the kernel's dispatcher;
/// [`SIGPROCMASK`] measures the common entry.
pub const GETPPID: Workload = Workload {
    loop_syscall: Some("getppid"),
    ..timed(
        "getppid",
        Group::Syscall,
        "glibc getppid() in a loop (under oxbox: the fast-path stub, no dispatcher)",
        source!("getppid.c"),
        "ns/op",
        Iterations {
            pilot: 2_000,
            max: 10_000_000,
        },
        iteration_count_arg,
    )
};

/// `sigprocmask(SIG_BLOCK, NULL, &old)` in a loop: a call as cheap as
/// getppid on Linux that oxbox answers in its kernel with no host call
/// and no fast path, so the number is the common entry (patched site,
/// register save, dispatch, return) alone.
pub const SIGPROCMASK: Workload = Workload {
    loop_syscall: Some("rt_sigprocmask"),
    ..timed(
        "sigprocmask",
        Group::Syscall,
        "glibc sigprocmask() reading the mask in a loop (under oxbox: the common entry and dispatcher, no host call)",
        source!("sigprocmask.c"),
        "ns/op",
        Iterations {
            pilot: 2_000,
            max: 10_000_000,
        },
        iteration_count_arg,
    )
};

/// UnixBench "System Call Overhead": dup/close/getpid/getuid/umask.
pub const SYSCALL_MIX: Workload = timed(
    "syscall_mix",
    Group::Syscall,
    "UnixBench System Call Overhead: close(dup()), getpid, getuid, umask per op",
    source!("syscall_mix.c"),
    "ns/op",
    Iterations {
        pilot: 1_000,
        max: 5_000_000,
    },
    iteration_count_arg,
);

/// `fork()` + `_exit()` + `waitpid()`: process creation and teardown.
pub const FORK_WAIT: Workload = timed(
    "fork_wait",
    Group::Processes,
    "fork + exit + waitpid (lmbench fork+exit; UnixBench Process Creation)",
    source!("fork_wait.c"),
    "us/op",
    Iterations {
        pilot: 20,
        max: 20_000,
    },
    iteration_count_arg,
);

/// `fork()` + `execve()` of a static program + `waitpid()`.
pub const FORK_EXEC: Workload = timed(
    "fork_exec",
    Group::Processes,
    "fork + execve of a static program + waitpid",
    source!("fork_exec.c"),
    "us/op",
    Iterations {
        pilot: 10,
        max: 5_000,
    },
    iteration_count_arg,
);

/// UnixBench "Execl Throughput": exec without fork, in a chain.
pub const EXECL: Workload = timed(
    "execl",
    Group::Processes,
    "UnixBench Execl Throughput: a process execve()s itself, no fork",
    source!("execl.c"),
    "us/op",
    Iterations {
        pilot: 10,
        max: 5_000,
    },
    iteration_count_arg,
);

/// UnixBench "Shell Scripts (1 concurrent)".
pub const SHELL_1: Workload = timed(
    "shell_1",
    Group::Processes,
    "UnixBench Shell Scripts, 1 concurrent (busybox sh: sort, od, grep, tee, wc)",
    source!("shell_scripts.c"),
    "ms/op",
    Iterations { pilot: 2, max: 500 },
    |n| vec!["1".into(), n.to_string()],
);

/// UnixBench "Shell Scripts (8 concurrent)".
pub const SHELL_8: Workload = timed(
    "shell_8",
    Group::Processes,
    "UnixBench Shell Scripts, 8 concurrent (busybox sh)",
    source!("shell_scripts.c"),
    "ms/op",
    Iterations { pilot: 1, max: 100 },
    |n| vec!["8".into(), n.to_string()],
);

/// One byte back and forth between two processes over two pipes.
pub const PIPE_PINGPONG: Workload = timed(
    "pipe_pingpong",
    Group::Ipc,
    "pipe round trip between two processes (lmbench pipe latency; UnixBench Pipe-based Context Switching)",
    source!("pipe_pingpong.c"),
    "ns/op",
    Iterations {
        pilot: 200,
        max: 200_000,
    },
    iteration_count_arg,
);

/// UnixBench "Pipe Throughput": write 512 bytes and read them back.
pub const PIPE_THROUGHPUT: Workload = timed(
    "pipe_throughput",
    Group::Ipc,
    "UnixBench Pipe Throughput: write + read of 512 bytes, one process",
    source!("pipe_throughput.c"),
    "ns/op",
    Iterations {
        pilot: 500,
        max: 2_000_000,
    },
    iteration_count_arg,
);

/// A unix stream socket round trip between two processes.
pub const UNIX_PINGPONG: Workload = timed(
    "unix_pingpong",
    Group::Ipc,
    "unix stream socketpair round trip between two processes (lmbench AF_UNIX latency)",
    source!("unix_pingpong.c"),
    "ns/op",
    Iterations {
        pilot: 200,
        max: 200_000,
    },
    iteration_count_arg,
);

/// UnixBench "File Copy" with 1 KiB buffers.
pub const FILE_COPY_1K: Workload = timed(
    "file_copy_1k",
    Group::Files,
    "UnixBench File Copy, 1 KiB buffer: read + write per op",
    source!("file_ops.c"),
    "ns/op",
    Iterations {
        pilot: 500,
        max: 2_000_000,
    },
    |n| vec!["copy".into(), "1024".into(), n.to_string()],
);

/// UnixBench "File Copy" with 4 KiB buffers.
pub const FILE_COPY_4K: Workload = timed(
    "file_copy_4k",
    Group::Files,
    "UnixBench File Copy, 4 KiB buffer: read + write per op",
    source!("file_ops.c"),
    "ns/op",
    Iterations {
        pilot: 500,
        max: 2_000_000,
    },
    |n| vec!["copy".into(), "4096".into(), n.to_string()],
);

/// `stat()` of one path in a loop.
pub const STAT: Workload = timed(
    "stat",
    Group::Files,
    "stat() of a file in /tmp (lmbench stat)",
    source!("file_ops.c"),
    "ns/op",
    Iterations {
        pilot: 500,
        max: 2_000_000,
    },
    |n| vec!["stat".into(), n.to_string()],
);

/// `open()` + `close()` of one path in a loop.
pub const OPEN_CLOSE: Workload = timed(
    "open_close",
    Group::Files,
    "open() + close() of a file in /tmp (lmbench open/close)",
    source!("file_ops.c"),
    "ns/op",
    Iterations {
        pilot: 500,
        max: 2_000_000,
    },
    |n| vec!["open".into(), n.to_string()],
);

/// busybox tar extracting the source tree archive.
pub const TAR_EXTRACT: Workload = Workload {
    needs_tree: true,
    ..timed(
        "tar_extract",
        Group::Files,
        "busybox tar xf of a generated source tree (described below) into /tmp",
        source!("tar_extract.c"),
        "ms/op",
        Iterations { pilot: 2, max: 500 },
        iteration_count_arg,
    )
};

/// The runtime's cold start: `true`, run to exit.
pub const COLD_START: Workload = Workload {
    measure: Measure::WallClock,
    ns_per_unit: 1e6,
    iterations: ONE_RUN,
    args: |_| Vec::new(),
    ..timed(
        "cold_start",
        Group::Costs,
        "cold start: a static `true` run to exit (wall clock seen by the caller)",
        source!("true.c"),
        "ms",
        ONE_RUN,
        iteration_count_arg,
    )
};

/// How long the memory workload's guest sleeps at most: the harness kills
/// it long before, this only bounds a lost run.
const SLEEPER_SECONDS: u64 = 60;

/// The runtime's memory: PSS of everything a sleeping container holds.
pub const MEMORY: Workload = Workload {
    measure: Measure::ResidentMemory,
    minus_native: true,
    iterations: ONE_RUN,
    ..timed(
        "memory",
        Group::Costs,
        "memory: PSS of all the run's processes while the guest sleeps (KiB)",
        source!("sleeper.c"),
        "KiB",
        ONE_RUN,
        |_| vec![SLEEPER_SECONDS.to_string()],
    )
};

/// The bare OCI lifecycle of a container running `true`.
pub const OCI_CYCLE: Workload = Workload {
    name: "oci_cycle",
    group: Group::Lifecycle,
    description: "OCI create + start + wait for exit + delete of a bundle running /true (runc spec, terminal false), one runtime call per verb",
    measure: Measure::OciCycle,
    ..COLD_START
};

/// `docker run --rm` of an image running `true`.
pub const DOCKER_RUN: Workload = Workload {
    name: "docker_run",
    description: "docker run --rm --network none IMG /true through a private dockerd (vfs storage): client, daemon, containerd shim and runtime",
    measure: Measure::DockerRun,
    ..OCI_CYCLE
};

/// A workload that runs programs of its own rather than a C source of
/// ours (Debian's servers, the image tools), reading its result its own
/// way: so no source.
const fn external(
    name: &'static str,
    group: Group,
    description: &'static str,
    unit: &'static str,
    ns_per_unit: f64,
    measure: Measure,
) -> Workload {
    Workload {
        name,
        group,
        description,
        source_name: "",
        source: "",
        unit,
        ns_per_unit,
        measure,
        iterations: ONE_RUN,
        loop_syscall: None,
        args: |_| Vec::new(),
        needs_tree: false,
        minus_native: false,
        step_of: None,
    }
}

/// A server workload: requests per second.
const fn server(name: &'static str, description: &'static str, server: Server) -> Workload {
    external(
        name,
        Group::Servers,
        description,
        "req/s",
        1.0,
        Measure::Server(server),
    )
}

/// nginx, one worker process.
pub const NGINX_1: Workload = server(
    "nginx_1",
    "nginx (1 worker) serving a 1 KiB static file to wrk on the host",
    Server::Nginx { workers: 1 },
);

/// nginx, two worker processes.
pub const NGINX_2: Workload = server(
    "nginx_2",
    "nginx (2 workers) serving a 1 KiB static file to wrk on the host",
    Server::Nginx { workers: 2 },
);

/// redis GET, one request per round trip.
pub const REDIS_GET: Workload = server(
    "redis_get",
    "redis-server under redis-benchmark -t get, not pipelined",
    Server::Redis {
        test: "get",
        pipeline: 1,
    },
);

/// redis SET, one request per round trip.
pub const REDIS_SET: Workload = server(
    "redis_set",
    "redis-server under redis-benchmark -t set, not pipelined",
    Server::Redis {
        test: "set",
        pipeline: 1,
    },
);

/// redis GET, 16 requests per round trip.
pub const REDIS_GET_P16: Workload = server(
    "redis_get_p16",
    "redis-server under redis-benchmark -t get -P 16 (pipelined)",
    Server::Redis {
        test: "get",
        pipeline: 16,
    },
);

/// redis SET, 16 requests per round trip.
pub const REDIS_SET_P16: Workload = server(
    "redis_set_p16",
    "redis-server under redis-benchmark -t set -P 16 (pipelined)",
    Server::Redis {
        test: "set",
        pipeline: 16,
    },
);

/// A network workload: iperf3 goodput in Mbit/s or tcp_rr latency.
const fn network(name: &'static str, description: &'static str, net: Net) -> Workload {
    let (unit, ns_per_unit) = match net {
        Net::Stream { .. } => ("Mbit/s", 1.0),
        Net::RequestResponse { .. } => ("us/op", 1e3),
    };
    external(
        name,
        Group::Network,
        description,
        unit,
        ns_per_unit,
        Measure::Network(net),
    )
}

/// iperf3, 64-byte writes from the host into the container.
pub const IPERF3_64: Workload = network(
    "iperf3_64",
    "iperf3 stream of 64 B writes, host to container: goodput",
    Net::Stream {
        message: 64,
        reverse: false,
    },
);

/// iperf3, 1 KiB writes from the host into the container.
pub const IPERF3_1K: Workload = network(
    "iperf3_1k",
    "iperf3 stream of 1 KiB writes, host to container: goodput",
    Net::Stream {
        message: 1024,
        reverse: false,
    },
);

/// iperf3, 64 KiB writes from the host into the container: bulk.
pub const IPERF3_64K: Workload = network(
    "iperf3_64k",
    "iperf3 stream of 64 KiB writes, host to container: bulk goodput",
    Net::Stream {
        message: 64 * 1024,
        reverse: false,
    },
);

/// iperf3 -R, 64 KiB writes from the container to the host: bulk.
pub const IPERF3_64K_REVERSE: Workload = network(
    "iperf3_64k_reverse",
    "iperf3 -R stream of 64 KiB writes, container to host: bulk goodput",
    Net::Stream {
        message: 64 * 1024,
        reverse: true,
    },
);

/// One byte to the container's echo server and back, TCP_RR style.
pub const TCP_RR_1: Workload = network(
    "tcp_rr_1",
    "TCP_RR: 1-byte request, 1-byte answer from an echo server in the container, TCP_NODELAY (netperf TCP_RR)",
    Net::RequestResponse { size: 1 },
);

/// The TCP_RR program: the server in the container and the client on
/// the host.
pub const TCP_RR_SOURCE: CSource = source!("tcp_rr.c");

/// From the image archive to a runnable root: `oxbox load` then `oxbox
/// spec --image` against `skopeo copy` then `umoci unpack`.
pub const IMAGE_READY: Workload = external(
    "image_ready",
    Group::Images,
    "from the image archive (described below) to a bundle's rootfs, in a fresh store: oxbox load -i + oxbox spec --image, against skopeo copy oci-archive: oci: + umoci unpack",
    "s",
    1e9,
    Measure::Image(Phase::Ready),
);

/// The import step of [`IMAGE_READY`]: `oxbox load` against `skopeo copy`.
pub const IMAGE_IMPORT: Workload = Workload {
    name: "image_import",
    description: "its first step, the import into the store: oxbox load -i (which also unpacks the layers), against skopeo copy (which only copies blobs)",
    measure: Measure::Image(Phase::Import),
    step_of: Some("image_ready"),
    ..IMAGE_READY
};

/// The unpack step of [`IMAGE_READY`]: `oxbox spec --image` against
/// `umoci unpack`.
pub const IMAGE_UNPACK: Workload = Workload {
    name: "image_unpack",
    description: "its second step, the root filesystem: oxbox spec --image (what oxbox do IMAGE does first; the layers are unpacked already), against umoci unpack",
    measure: Measure::Image(Phase::Unpack),
    ..IMAGE_IMPORT
};

/// Every workload, in report order.
pub const ALL: &[Workload] = &[
    GETPPID,
    SIGPROCMASK,
    SYSCALL_MIX,
    FORK_WAIT,
    FORK_EXEC,
    EXECL,
    SHELL_1,
    SHELL_8,
    PIPE_PINGPONG,
    PIPE_THROUGHPUT,
    UNIX_PINGPONG,
    FILE_COPY_1K,
    FILE_COPY_4K,
    STAT,
    OPEN_CLOSE,
    TAR_EXTRACT,
    NGINX_1,
    NGINX_2,
    REDIS_GET,
    REDIS_SET,
    REDIS_GET_P16,
    REDIS_SET_P16,
    IPERF3_64,
    IPERF3_1K,
    IPERF3_64K,
    IPERF3_64K_REVERSE,
    TCP_RR_1,
    COLD_START,
    MEMORY,
    OCI_CYCLE,
    DOCKER_RUN,
    IMAGE_READY,
    IMAGE_IMPORT,
    IMAGE_UNPACK,
];

/// Finds a workload by name.
pub fn by_name(name: &str) -> Option<&'static Workload> {
    ALL.iter().find(|w| w.name == name)
}

/// Why a runtime cannot run a workload at all (a missing syscall family),
/// as the guest itself reported it: shown as "unsupported", never as a
/// number or a failure of the harness.
#[derive(Debug)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unsupported: {}", self.0)
    }
}

impl std::error::Error for Unsupported {}

impl Workload {
    /// The server this workload loads from the host, if it is one (a
    /// servers or a network workload).
    pub fn server(&self) -> Option<Service> {
        match self.measure {
            Measure::Server(server) => Some(Service::Server(server)),
            Measure::Network(net) => Some(Service::Net(net)),
            _ => None,
        }
    }

    /// Whether a larger number is better: requests per second and
    /// goodput; every other number is a time, a size or a count.
    pub fn higher_is_better(&self) -> bool {
        match self.measure {
            Measure::Network(net) => net.higher_is_better(),
            _ => self.group.higher_is_better(),
        }
    }

    /// A bulk goodput: the number oxbox's sandbox mode is judged against
    /// runc on (at least 80% of its goodput).
    pub fn is_bulk(&self) -> bool {
        matches!(self.measure, Measure::Network(net) if net.is_bulk())
    }

    /// The guest's path inside a container rootfs.
    pub fn guest_path(&self) -> String {
        let stem = self
            .source_name
            .strip_suffix(".c")
            .unwrap_or(self.source_name);
        format!("/{stem}")
    }

    /// Reads a self-timed run's result in this workload's unit; a guest
    /// that printed `unsupported=WHY` gives an [`Unsupported`] error.
    pub fn parse(&self, stdout: &str) -> Result<f64> {
        if let Some(why) = stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix("unsupported="))
        {
            return Err(Unsupported(why.to_string()).into());
        }
        Ok(parse_ns_per_op(stdout)? / self.ns_per_unit)
    }

    /// Builds the program with gcc, or returns the cached binary.
    pub fn build(&self, cache_dir: &Path) -> Result<PathBuf> {
        build_static(cache_dir, (self.source_name, self.source), &[])
    }
}

/// A C file's name and text.
pub type CSource = (&'static str, &'static str);

/// Builds a static program from `main` and the `headers` it includes
/// (`#include "name"`, written beside it), or returns the cached binary.
///
/// The cache key hashes the texts and the flags, so an edited program is
/// rebuilt and an unchanged one never is.
pub fn build_static(cache_dir: &Path, main: CSource, headers: &[CSource]) -> Result<PathBuf> {
    let (name, _) = main;
    let key = cache_key(main, headers);
    let stem = name.strip_suffix(".c").unwrap_or(name);
    let binary = cache_dir.join(format!("{stem}-{key}"));
    if binary.is_file() {
        return Ok(binary);
    }
    let sources = cache_dir.join(format!("{key}.src"));
    fs::create_dir_all(&sources).with_context(|| format!("creating {}", sources.display()))?;
    for (file, text) in headers.iter().chain([&main]) {
        let path = sources.join(file);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    // Build beside the final name and rename: an interrupted build
    // never leaves a truncated binary that looks cached.
    let partial = binary.with_extension("partial");
    let output = Command::new("gcc")
        .args(CFLAGS)
        .arg("-o")
        .arg(&partial)
        .arg(sources.join(name))
        .output()
        .context("running gcc (is it installed?)")?;
    if !output.status.success() {
        bail!(
            "gcc failed on {name}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    fs::rename(&partial, &binary).with_context(|| format!("renaming to {}", binary.display()))?;
    Ok(binary)
}

fn cache_key(main: CSource, headers: &[CSource]) -> String {
    let mut hash = Sha256::new();
    hash.update(CFLAGS.join(" "));
    for (name, text) in [&main].into_iter().chain(headers) {
        hash.update([0]);
        hash.update(name);
        hash.update([0]);
        hash.update(text);
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads the `ns_per_op=<float>` line a timing loop prints.
pub fn parse_ns_per_op(stdout: &str) -> Result<f64> {
    parse_key(stdout, "ns_per_op")
}

/// Finds `key=<float>` on a line of its own; the last one wins, so a
/// program may print progress before its result.
fn parse_key(stdout: &str, key: &str) -> Result<f64> {
    let Some(value) = stdout
        .lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix(key)?.strip_prefix('='))
    else {
        bail!("no '{key}=' line in output: {:?}", excerpt(stdout));
    };
    let number: f64 = value
        .trim()
        .parse()
        .with_context(|| format!("'{key}={value}' is not a number"))?;
    if !number.is_finite() || number < 0.0 {
        bail!("'{key}={value}' is not a valid measurement");
    }
    Ok(number)
}

/// The start of a long output, for error messages.
fn excerpt(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ns_per_op_is_read_from_its_line() {
        assert_eq!(parse_ns_per_op("ns_per_op=219.478\n").unwrap(), 219.478);
        assert_eq!(parse_ns_per_op("warming up\nns_per_op=6.5\n").unwrap(), 6.5);
    }

    #[test]
    fn the_last_result_line_wins() {
        assert_eq!(parse_ns_per_op("ns_per_op=1\nns_per_op=2\n").unwrap(), 2.0);
    }

    #[test]
    fn missing_or_malformed_results_are_errors() {
        assert!(parse_ns_per_op("").is_err());
        assert!(parse_ns_per_op("ns_per_op=fast\n").is_err());
        assert!(parse_ns_per_op("ns_per_op=-1\n").is_err());
        assert!(parse_ns_per_op("ns_per_op=nan\n").is_err());
        // A key that merely starts the same is not the result.
        assert!(parse_ns_per_op("ns_per_op_x=3\n").is_err());
    }

    #[test]
    fn getppid_takes_the_iteration_count_as_its_only_argument() {
        assert_eq!((GETPPID.args)(1000), ["1000"]);
        assert_eq!(GETPPID.guest_path(), "/getppid");
    }

    #[test]
    fn cache_key_is_stable_and_depends_on_the_source_and_headers() {
        let main = (GETPPID.source_name, GETPPID.source);
        let a = cache_key(main, &[]);
        assert_eq!(a, cache_key(main, &[]));
        assert_eq!(a.len(), 16);
        let edited = (GETPPID.source_name, "int main(void) { return 0; }");
        assert_ne!(a, cache_key(edited, &[]));
        let with_header = cache_key(main, &[("check.h", "#define X 1")]);
        assert_ne!(a, with_header);
        assert_ne!(with_header, cache_key(main, &[("check.h", "#define X 2")]));
    }

    #[test]
    fn workloads_are_found_by_name() {
        assert_eq!(by_name("getppid").unwrap().name, "getppid");
        assert!(by_name("nope").is_none());
    }
}
