//! The only layer that touches the OS: mappings, files, the log directory, the beacon.

pub mod beacon;
pub mod dir;
pub mod file;
pub mod mmap;
