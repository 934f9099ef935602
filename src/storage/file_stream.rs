//! Files as byte streams, for the disk store: each file is read or written by one blocking
//! thread, so the async side never waits on the disk.
//!
//! Sizes chosen by measuring `layercache-bench serve` (and plain write loops) on a 2-core
//! machine:
//! - writes are gathered into one `writev` of up to 1 MiB: far fewer calls than one per
//!   body frame (hyper hands out 8–400 KiB), but never more than 1 MiB per call. Above 2
//!   MiB, ext4 asks for huge (2 MiB) page-cache folios, and on that machine a 4 MiB write
//!   loop cost 4–15 times the CPU of a 1 MiB one;
//! - reads fill 1 MiB buffers that are recycled once the HTTP layer has sent them, so their
//!   pages stay mapped instead of being faulted in afresh for every chunk.

use std::collections::VecDeque;
use std::io::{IoSlice, Read, Write};
use std::path::PathBuf;

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;

use super::blob_store::ByteStream;

/// Read this much per `read` call.
pub const READ_CHUNK: usize = 1 << 20;
/// Write at most this much per call, gathering body frames until it is reached.
const WRITE_BATCH: usize = 1 << 20;
/// Body frames in flight to a file's writer thread. Small: every frame held here is memory
/// the sender cannot reuse, and hyper's frames are up to 1 MiB; with 4, eight uploads at
/// once peaked at 64 MiB (#23).
const CHANNEL_DEPTH: usize = 2;
/// Read chunks queued ahead of the HTTP layer. Each is a whole [`READ_CHUNK`], so this is
/// most of a download's memory: with 4, eight downloads at once peaked at 80 MiB (#23);
/// two keep the disk ahead of a loopback socket all the same.
const READ_DEPTH: usize = 2;
/// Read buffers kept for reuse: those in the channel, one being sent, one being filled.
const READ_BUFFERS: usize = READ_DEPTH + 2;

/// Buffers handed out as `Bytes` and taken back once every reader has dropped them.
struct Recycler {
    out: VecDeque<Bytes>,
}

impl Recycler {
    /// A buffer with room for `cap` bytes: the oldest one handed out if nobody holds it
    /// any more (its pages are already mapped), else a fresh one. A reused one keeps up to
    /// `cap` of its old bytes, which the caller overwrites.
    fn take(&mut self, cap: usize) -> BytesMut {
        if self.out.len() >= READ_BUFFERS
            && let Some(old) = self.out.pop_front()
            && let Ok(mut buf) = old.try_into_mut()
            && buf.capacity() >= cap
        {
            // Its bytes are overwritten by the next read: keep them rather than zero
            // them again (that memset cost as much as the read).
            buf.truncate(cap);
            return buf;
        }
        BytesMut::with_capacity(cap)
    }

    fn hand_out(&mut self, buf: BytesMut) -> Bytes {
        let bytes = buf.freeze();
        self.out.push_back(bytes.clone());
        bytes
    }
}

/// Stream `len` bytes of `file` from its current position.
pub fn read_stream(mut file: std::fs::File, len: u64) -> ByteStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(READ_DEPTH);
    tokio::task::spawn_blocking(move || {
        let mut recycler = Recycler {
            out: VecDeque::with_capacity(READ_BUFFERS + 1),
        };
        let mut left = len;
        while left > 0 {
            let want = left.min(READ_CHUNK as u64) as usize;
            let mut buf = recycler.take(want);
            // Zeroes only what a fresh buffer lacks.
            buf.resize(want, 0);
            let item = match file.read(&mut buf) {
                Ok(0) => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file is shorter than when it was opened",
                )),
                Ok(n) => {
                    buf.truncate(n);
                    left -= n as u64;
                    Ok(recycler.hand_out(buf))
                }
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
}

/// Write every pending chunk, in calls of at most [`WRITE_BATCH`] bytes.
fn write_all_chunks(
    file: &mut std::fs::File,
    pending: &mut VecDeque<Bytes>,
) -> std::io::Result<()> {
    while !pending.is_empty() {
        let mut room = WRITE_BATCH;
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(pending.len());
        for b in pending.iter() {
            if room == 0 {
                break;
            }
            let k = b.len().min(room);
            slices.push(IoSlice::new(&b[..k]));
            room -= k;
        }
        let mut n = file.write_vectored(&slices)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let Some(front) = pending.front_mut() else {
                break;
            };
            let k = n.min(front.len());
            front.advance(k);
            n -= k;
            if front.is_empty() {
                pending.pop_front();
            }
        }
    }
    Ok(())
}

/// Create `path` and write `body` to it; returns the bytes written. On an error the file
/// may be left partly written: the caller owns it (the disk store writes to a temp file).
/// A body error is returned as is; a write error as the file's.
pub async fn write_file(path: PathBuf, mut body: ByteStream) -> Result<u64, WriteError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(CHANNEL_DEPTH);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
        let mut file = std::fs::File::create(&path)?;
        let mut written = 0u64;
        let mut pending = VecDeque::new();
        while let Some(first) = rx.blocking_recv() {
            let mut size = first.len();
            pending.push_back(first);
            // Whatever else has arrived goes out in the same call.
            while size < WRITE_BATCH {
                match rx.try_recv() {
                    Ok(b) => {
                        size += b.len();
                        pending.push_back(b);
                    }
                    Err(_) => break,
                }
            }
            write_all_chunks(&mut file, &mut pending)?;
            written += size as u64;
        }
        file.flush()?;
        Ok(written)
    });
    let mut body_error = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            // An empty chunk would make the writer's `write_vectored` return 0, which reads
            // as a failed write (`WriteZero`); bodies may carry them (an empty object does).
            Ok(b) if b.is_empty() => {}
            // A closed channel means the writer failed; its error is reported below.
            Ok(b) => {
                if tx.send(b).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                body_error = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let written = writer.await.map_err(std::io::Error::other).and_then(|r| r);
    match (body_error, written) {
        (Some(e), _) => Err(WriteError::Body(e)),
        (None, Ok(n)) => Ok(n),
        (None, Err(e)) => Err(WriteError::File(e)),
    }
}

/// Why [`write_file`] failed: the body it was given, or the file.
#[derive(Debug)]
pub enum WriteError {
    Body(std::io::Error),
    File(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    #[tokio::test]
    async fn write_then_read_round_trips_across_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data = pattern(3 * READ_CHUNK + 12_345);
        // Frames of odd sizes, some larger than a write batch.
        let frames: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(700_001)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let n = write_file(path.clone(), futures::stream::iter(frames).boxed())
            .await
            .unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(std::fs::read(&path).unwrap(), data);

        let chunks: Vec<Bytes> = read_stream(std::fs::File::open(&path).unwrap(), n)
            .try_collect()
            .await
            .unwrap();
        assert!(chunks.iter().all(|c| c.len() <= READ_CHUNK));
        assert_eq!(chunks.concat(), data);
    }

    #[tokio::test]
    async fn a_body_error_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let frames = vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("client went away")),
        ];
        let r = write_file(dir.path().join("f"), futures::stream::iter(frames).boxed()).await;
        assert!(matches!(r, Err(WriteError::Body(_))));
    }

    #[test]
    fn buffers_come_back_once_released() {
        let mut r = Recycler {
            out: VecDeque::new(),
        };
        let mut ptrs = Vec::new();
        for _ in 0..READ_BUFFERS {
            let mut b = r.take(1024);
            b.resize(1024, 1);
            ptrs.push(b.as_ptr());
            drop(r.hand_out(b));
        }
        let again = r.take(1024);
        assert_eq!(
            again.as_ptr(),
            ptrs[0],
            "the oldest released buffer is reused"
        );
        assert_eq!(
            again.len(),
            1024,
            "its old bytes are kept, not zeroed again"
        );
        // A buffer someone still holds is never handed out again.
        let held = r.hand_out(again);
        for _ in 0..READ_BUFFERS - 1 {
            let b = r.take(1024);
            drop(r.hand_out(b));
        }
        let fresh = r.take(1024);
        assert_ne!(fresh.as_ptr(), held.as_ptr());
    }
}
