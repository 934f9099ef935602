//! What both directions share: packet construction and Go `os.FileMode` bits, which
//! fsutil puts on the wire as a file's mode.

use bollard::fsutil::types::Packet;
use bollard::fsutil::types::packet::PacketType;

pub const MODE_DIR: u32 = 1 << 31;
pub const MODE_SYMLINK: u32 = 1 << 27;
pub const MODE_DEVICE: u32 = 1 << 26;
pub const MODE_NAMED_PIPE: u32 = 1 << 25;
pub const MODE_SOCKET: u32 = 1 << 24;
pub const MODE_SETUID: u32 = 1 << 23;
pub const MODE_SETGID: u32 = 1 << 22;
pub const MODE_CHAR_DEVICE: u32 = 1 << 21;
pub const MODE_STICKY: u32 = 1 << 20;
pub const MODE_IRREGULAR: u32 = 1 << 19;
/// Go's `os.ModeType`: every bit that makes an entry something other than a regular file.
pub const MODE_TYPE: u32 = MODE_DIR
    | MODE_SYMLINK
    | MODE_DEVICE
    | MODE_NAMED_PIPE
    | MODE_SOCKET
    | MODE_CHAR_DEVICE
    | MODE_IRREGULAR;

/// The special permission bits: (Unix, Go).
pub const SPECIAL_BITS: [(u32, u32); 3] = [
    (0o4000, MODE_SETUID),
    (0o2000, MODE_SETGID),
    (0o1000, MODE_STICKY),
];

pub fn packet(kind: PacketType, id: u32, data: Vec<u8>) -> Packet {
    Packet {
        r#type: kind as i32,
        stat: None,
        id,
        data,
    }
}
