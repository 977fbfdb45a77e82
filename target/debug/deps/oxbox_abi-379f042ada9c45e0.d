/work/main/target/debug/deps/oxbox_abi-379f042ada9c45e0.d: crates/abi/src/lib.rs crates/abi/src/boot.rs crates/abi/src/hostcalls.rs crates/abi/src/layout.rs crates/abi/src/seccomp.rs

/work/main/target/debug/deps/liboxbox_abi-379f042ada9c45e0.rlib: crates/abi/src/lib.rs crates/abi/src/boot.rs crates/abi/src/hostcalls.rs crates/abi/src/layout.rs crates/abi/src/seccomp.rs

/work/main/target/debug/deps/liboxbox_abi-379f042ada9c45e0.rmeta: crates/abi/src/lib.rs crates/abi/src/boot.rs crates/abi/src/hostcalls.rs crates/abi/src/layout.rs crates/abi/src/seccomp.rs

crates/abi/src/lib.rs:
crates/abi/src/boot.rs:
crates/abi/src/hostcalls.rs:
crates/abi/src/layout.rs:
crates/abi/src/seccomp.rs:
