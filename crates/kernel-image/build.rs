//! Links the kernel image as a static, non-PIE executable at the fixed
//! kernel base, with no C runtime: the seccomp filter identifies kernel
//! syscalls by instruction pointer, so the text must sit at the same
//! address in every container process.

fn main() {
    let base = format!("-Wl,--image-base={:#x}", oxbox_abi::layout::KERNEL_BASE);
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,-z,norelro",
        &base,
    ] {
        println!("cargo::rustc-link-arg-bins={arg}");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
