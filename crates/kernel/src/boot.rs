//! From the image's `_start` to the guest's first instruction.
//!
//! The runtime (or a guest `execve`) `execveat`s the kernel image with
//! `[oxbox-kernel, <boot record>, program, guest argv...]` and the guest's
//! environment (see `oxbox_abi::boot`). Boot then: reads the record, sets
//! up the kernel's own thread context, handlers and slot table, installs
//! the seccomp filter, loads the guest and jumps to it. A failure to start
//! the guest ends the process with a message on the runtime's stderr and
//! exit status 127 (not found) or 126 (not executable), as shells and
//! Docker report them.

use alloc::string::String;
use alloc::vec::Vec;

use oxbox_abi::boot::BootRecord;
use oxbox_abi::hostcalls::HOST_RULES;
use oxbox_abi::{Errno, seccomp};
use oxbox_hal::entry::{self, InitialStack};
use oxbox_hal::{cpu, host, signals};

use crate::loader::{self, stack};
use crate::{log, mm, stats, syscall, task};

/// Exit status when the kernel cannot start at all (bad boot record, host
/// refusing a setup call): the runtime's own failure code, like Docker's.
const EXIT_RUNTIME_FAILURE: i32 = 125;

fn fatal(status: i32, message: &str) -> ! {
    log::write_raw(&alloc::format!("oxbox: {message}\n"));
    host::exit_group(status)
}

fn must<T, E: core::fmt::Debug>(what: &str, result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => fatal(
            EXIT_RUNTIME_FAILURE,
            &alloc::format!("kernel setup failed: {what}: {e:?}"),
        ),
    }
}

/// Boots the kernel and runs the guest; never returns.
pub fn start(initial: InitialStack) -> ! {
    let record = initial
        .arg(1)
        .and_then(|r| core::str::from_utf8(r).ok())
        .map(BootRecord::decode);
    let record = match record {
        Some(Ok(record)) => record,
        _ => fatal(
            EXIT_RUNTIME_FAILURE,
            "this is the oxbox kernel image; it runs inside containers started by `oxbox do` and cannot be run directly",
        ),
    };
    log::set_level(record.log_level);
    crate::fs::fdtable::init_nofile(record.nofile, record.raise_nofile);
    if record.stats {
        stats::enable();
    }
    let auxv: Vec<(u64, u64)> = initial.auxv().collect();
    let aux = |key: u64| auxv.iter().find(|(k, _)| *k == key).map_or(0, |(_, v)| *v);
    cpu::set_hwcap2(aux(stack::AT_HWCAP2));

    let pid = must(
        "getpid",
        syscall::host_call(oxbox_abi::Sysno::getpid, [0; 6]),
    ) as i32;
    must("kernel stack", cpu::init_main_thread(pid as u64));
    signals::set_kernel_hooks(
        crate::signal::arrived,
        crate::signal::syscall_exit,
        task::parent_changed,
    );
    must(
        "signal handlers",
        signals::install_kernel_handlers(record.signal_mask),
    );
    must("slot table", entry::install_slot_table());

    let uts = must("uname", host::uname());
    let text = |s: &[u8]| String::from_utf8_lossy(s).into_owned();
    let ppid = must(
        "getppid",
        syscall::host_call(oxbox_abi::Sysno::getppid, [0; 6]),
    ) as i32;
    task::init(
        task::Container {
            hostname: record.hostname.into(),
            uid: record.uid,
            gid: record.gid,
            stats: record.stats,
            log_level: record.log_level,
            release: text(uts.release()),
            version: text(uts.version()),
            domainname: text(uts.domainname()),
        },
        pid,
        ppid,
    );
    syscall::fs::refresh_cwd();
    if let Err(e) = oxbox_hal::shared::attach(record.first_process) {
        crate::kinfo!(
            "no process table shared with the container ({e:?}): /proc shows this process only"
        );
    }
    // The 16 random bytes the host put on this image's initial stack.
    if let Ok(random) = mm::user::read_u64(aux(stack::AT_RANDOM)) {
        crate::procs::set_tag(random as u8);
    }
    if aux(stack::AT_SYSINFO_EHDR) != 0 {
        let vdso = aux(stack::AT_SYSINFO_EHDR);
        mm::vma::VMAS.lock().insert(
            vdso,
            mm::vma::Vma {
                end: vdso + 2 * mm::PAGE_SIZE,
                prot: 5,
                shared: false,
                offset: 0,
                name: "[vdso]".into(),
            },
        );
    }

    // An instance started by a guest execve runs under the filter it
    // inherited (filters survive exec and cannot be removed).
    if record.first_process {
        let text_range = entry::text_range(aux(stack::AT_PHDR), aux(stack::AT_PHNUM));
        let text_range = must(
            "kernel text range",
            text_range.ok_or("no executable segment"),
        );
        // With its own network stack, the container gets no host IPv4 or
        // IPv6 socket at all.
        let rules: Vec<_> = if crate::net::sandbox::enabled() {
            oxbox_abi::hostcalls::sandbox_network_rules().collect()
        } else {
            HOST_RULES.to_vec()
        };
        let filter = must("seccomp filter", seccomp::compile(&rules, text_range));
        must("seccomp install", host::install_seccomp(&filter));
    }
    must("guest seccomp profile", syscall::guest_filter::load());
    syscall::enable_fast_answers();
    crate::net::sandbox::find_datagram_sockets(record.datagrams_below);

    must(
        "signal state",
        crate::signal::restore_after_exec(record.ignored_signals),
    );
    let Some(program) = initial.arg(2) else {
        fatal(EXIT_RUNTIME_FAILURE, "no command given");
    };
    let argv: Vec<Vec<u8>> = (3..initial.argc())
        .filter_map(|i| initial.arg(i))
        .map(<[u8]>::to_vec)
        .collect();
    let envp: Vec<Vec<u8>> = initial.env().map(<[u8]>::to_vec).collect();
    let host_aux = loader::HostAux {
        hwcap: aux(stack::AT_HWCAP),
        hwcap2: aux(stack::AT_HWCAP2),
        vdso: aux(stack::AT_SYSINFO_EHDR),
        minsigstksz: aux(stack::AT_MINSIGSTKSZ),
        uid: record.uid,
        gid: record.gid,
    };
    let path = if record.first_process {
        loader::find_program(program, &envp)
    } else {
        Ok(program.to_vec())
    };
    let loaded = path.and_then(|path| loader::load(&path, argv, &envp, &host_aux));
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(e) => fatal(if e.errno == Errno::ENOENT { 127 } else { 126 }, &e.message),
    };
    let join = |items: &[Vec<u8>]| {
        items
            .iter()
            .flat_map(|a| a.iter().copied().chain([0]))
            .collect::<Vec<u8>>()
    };
    task::set_image(task::Image {
        exe: loaded.exe.clone(),
        cmdline: join(&loaded.argv),
        environ: join(&envp),
    });
    crate::procs::publish();
    mm::brk::init(loaded.brk_start);
    crate::kdebug!("starting {} at {:#x}", loaded.exe, loaded.entry);
    entry::enter_guest(loaded.entry, loaded.sp)
}
