//! `struct stat` and `struct statx` for files the kernel makes up.

pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;

/// The device number reported for `/proc` entries (like procfs's anonymous dev).
const PROC_DEV: u64 = 0x16;

/// The attributes of a synthetic file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynthStat {
    pub ino: u64,
    pub mode: u32,
    pub nlink: u64,
    pub size: u64,
}

impl SynthStat {
    /// Encodes as the x86-64 `struct stat` (144 bytes).
    pub fn to_stat(self) -> [u8; 144] {
        let mut b = [0u8; 144];
        let mut put = |off: usize, bytes: &[u8]| b[off..off + bytes.len()].copy_from_slice(bytes);
        put(0, &PROC_DEV.to_le_bytes());
        put(8, &self.ino.to_le_bytes());
        put(16, &self.nlink.to_le_bytes());
        put(24, &self.mode.to_le_bytes());
        put(48, &self.size.to_le_bytes());
        put(56, &1024u64.to_le_bytes());
        b
    }

    /// Encodes as `struct statx` (256 bytes) with the basic fields valid.
    pub fn to_statx(self) -> [u8; 256] {
        const STATX_BASIC_STATS: u32 = 0x7ff;
        let mut b = [0u8; 256];
        let mut put = |off: usize, bytes: &[u8]| b[off..off + bytes.len()].copy_from_slice(bytes);
        put(0, &STATX_BASIC_STATS.to_le_bytes());
        put(4, &1024u32.to_le_bytes());
        put(16, &(self.nlink as u32).to_le_bytes());
        put(28, &(self.mode as u16).to_le_bytes());
        put(32, &self.ino.to_le_bytes());
        put(40, &self.size.to_le_bytes());
        put(136, &0u32.to_le_bytes());
        put(140, &(PROC_DEV as u32).to_le_bytes());
        b
    }
}
