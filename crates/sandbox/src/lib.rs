//! placeholder: the sandbox crate is being written.
