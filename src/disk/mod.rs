//! The only layer that touches the OS: mappings, files, the log directory.

pub mod dir;
pub mod file;
pub mod mmap;
