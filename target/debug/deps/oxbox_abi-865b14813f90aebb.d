/work/main/target/debug/deps/oxbox_abi-865b14813f90aebb.d: crates/abi/src/lib.rs crates/abi/src/boot.rs crates/abi/src/hostcalls.rs crates/abi/src/layout.rs crates/abi/src/seccomp.rs

/work/main/target/debug/deps/oxbox_abi-865b14813f90aebb: crates/abi/src/lib.rs crates/abi/src/boot.rs crates/abi/src/hostcalls.rs crates/abi/src/layout.rs crates/abi/src/seccomp.rs

crates/abi/src/lib.rs:
crates/abi/src/boot.rs:
crates/abi/src/hostcalls.rs:
crates/abi/src/layout.rs:
crates/abi/src/seccomp.rs:
