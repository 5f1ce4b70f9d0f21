//! Jute's primitive encodings and the [`Jute`] trait.
//!
//! Encoding (`BinaryOutputArchive`): `int`/`long` big-endian two's complement, `boolean` one byte,
//! `ustring` and `buffer` an int length then the bytes (-1 = null), `vector<T>` an int count then
//! the elements (-1 = null), records their fields in order with nothing else.
//!
//! Invariants: decoding never panics and never allocates more than the input can justify: a
//! declared length is checked against the bytes that remain before anything is allocated, and
//! against `max_len` (ZooKeeper's "Unreasonable length" check).

use bytes::{BufMut, Bytes, BytesMut};

/// Why some bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a field.
    #[error("truncated: needed {needed} more bytes at offset {offset}")]
    Truncated {
        /// Byte offset of the field that did not fit.
        offset: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// A string, buffer or vector length that is negative (other than -1) or too large.
    #[error("unreasonable length {len} at offset {offset}")]
    BadLength {
        /// Byte offset of the length field.
        offset: usize,
        /// The declared length.
        len: i64,
    },
    /// An opcode or enumeration value that this record does not allow.
    #[error("unknown {what} {value}")]
    UnknownValue {
        /// What kind of value.
        what: &'static str,
        /// The value found.
        value: i64,
    },
}

/// A cursor over one frame's bytes. Buffers come out as zero-copy slices of the frame.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
    pos: usize,
    max_len: usize,
}

/// Largest string/buffer/vector length accepted when no limit is given (jute.maxbuffer + extra).
pub const DEFAULT_MAX_FIELD_LEN: usize = 2 * super::codes::JUTE_MAX_BUFFER_DEFAULT;

impl Reader {
    /// A reader over `buf` with the default field-length limit.
    pub fn new(buf: Bytes) -> Reader {
        Reader::with_limit(buf, DEFAULT_MAX_FIELD_LEN)
    }

    /// A reader over `buf` refusing string/buffer/vector lengths above `max_len`.
    pub fn with_limit(buf: Bytes, max_len: usize) -> Reader {
        Reader {
            buf,
            pos: 0,
            max_len,
        }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The current byte offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A jute `int`.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A jute `long`.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// A jute `boolean`: any non-zero byte is true, as Java reads it.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A length field: `None` for -1 (null), an error for other negatives or lengths above the
    /// limit or above what remains (each element needs at least `min_elem` bytes).
    fn len(&mut self, min_elem: usize) -> Result<Option<usize>, DecodeError> {
        let offset = self.pos;
        let len = self.i32()?;
        if len == -1 {
            return Ok(None);
        }
        let bad = DecodeError::BadLength {
            offset,
            len: len as i64,
        };
        if len < 0 || len as usize > self.max_len {
            return Err(bad);
        }
        let len = len as usize;
        if len.saturating_mul(min_elem) > self.remaining() {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: len * min_elem - self.remaining(),
            });
        }
        Ok(Some(len))
    }

    /// A jute `buffer`; `None` is the null buffer.
    pub fn buffer(&mut self) -> Result<Option<Bytes>, DecodeError> {
        match self.len(1)? {
            None => Ok(None),
            Some(n) => {
                let start = self.pos;
                self.pos += n;
                Ok(Some(self.buf.slice(start..start + n)))
            }
        }
    }

    /// A jute `ustring`; `None` is the null string. Invalid UTF-8 is replaced by U+FFFD, as
    /// Java's `new String(bytes, UTF_8)` does (such a path is then invalid, never a crash).
    pub fn opt_string(&mut self) -> Result<Option<String>, DecodeError> {
        match self.len(1)? {
            None => Ok(None),
            Some(n) => {
                let b = self.take(n)?;
                Ok(Some(String::from_utf8_lossy(b).into_owned()))
            }
        }
    }

    /// A jute `ustring` where null reads as the empty string.
    pub fn string(&mut self) -> Result<String, DecodeError> {
        Ok(self.opt_string()?.unwrap_or_default())
    }

    /// A jute `vector<T>`; null reads as empty. Any other negative count also reads as empty:
    /// Java's `BinaryInputArchive.startVector` checks only for -1 and its index is `done` at
    /// once for a count <= 0 (unlike strings and buffers, whose negative lengths are errors).
    pub fn vec<T: Jute>(&mut self) -> Result<Vec<T>, DecodeError> {
        if self.remaining() >= 4 {
            let b = &self.buf[self.pos..self.pos + 4];
            if i32::from_be_bytes([b[0], b[1], b[2], b[3]]) < -1 {
                self.pos += 4;
                return Ok(Vec::new());
            }
        }
        match self.len(T::MIN_SIZE)? {
            None => Ok(Vec::new()),
            Some(n) => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(T::read(self)?);
                }
                Ok(v)
            }
        }
    }
}

/// Writers of the primitive encodings onto a [`BytesMut`].
pub mod write {
    use super::*;

    /// A jute `ustring`.
    pub fn string(out: &mut BytesMut, s: &str) {
        out.put_i32(s.len() as i32);
        out.put_slice(s.as_bytes());
    }

    /// A jute `ustring` that may be null.
    pub fn opt_string(out: &mut BytesMut, s: Option<&str>) {
        match s {
            None => out.put_i32(-1),
            Some(s) => string(out, s),
        }
    }

    /// A jute `buffer` that may be null.
    pub fn buffer(out: &mut BytesMut, b: Option<&[u8]>) {
        match b {
            None => out.put_i32(-1),
            Some(b) => {
                out.put_i32(b.len() as i32);
                out.put_slice(b);
            }
        }
    }

    /// A jute `boolean`.
    pub fn bool(out: &mut BytesMut, b: bool) {
        out.put_u8(b as u8);
    }

    /// A jute `vector<T>`.
    pub fn vec<T: Jute>(out: &mut BytesMut, v: &[T]) {
        out.put_i32(v.len() as i32);
        for x in v {
            x.write(out);
        }
    }
}

/// A value with a jute encoding.
pub trait Jute: Sized {
    /// The fewest bytes one value takes on the wire (bounds vector pre-allocation).
    const MIN_SIZE: usize;
    /// Appends the encoding.
    fn write(&self, out: &mut BytesMut);
    /// Reads one value.
    fn read(r: &mut Reader) -> Result<Self, DecodeError>;

    /// The encoding as a fresh buffer.
    fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::new();
        self.write(&mut b);
        b.freeze()
    }

    /// Decodes one value from the start of `bytes`, ignoring trailing bytes as every client does.
    fn from_bytes(bytes: Bytes) -> Result<Self, DecodeError> {
        Self::read(&mut Reader::new(bytes))
    }
}

impl Jute for i32 {
    const MIN_SIZE: usize = 4;
    fn write(&self, out: &mut BytesMut) {
        out.put_i32(*self)
    }
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.i32()
    }
}

impl Jute for i64 {
    const MIN_SIZE: usize = 8;
    fn write(&self, out: &mut BytesMut) {
        out.put_i64(*self)
    }
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.i64()
    }
}

impl Jute for bool {
    const MIN_SIZE: usize = 1;
    fn write(&self, out: &mut BytesMut) {
        write::bool(out, *self)
    }
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.bool()
    }
}

impl Jute for String {
    const MIN_SIZE: usize = 4;
    fn write(&self, out: &mut BytesMut) {
        write::string(out, self)
    }
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.string()
    }
}

impl Jute for Option<Bytes> {
    const MIN_SIZE: usize = 4;
    fn write(&self, out: &mut BytesMut) {
        write::buffer(out, self.as_deref())
    }
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.buffer()
    }
}

impl<T: Jute> Jute for Vec<T> {
    const MIN_SIZE: usize = 4;
    fn write(&self, out: &mut BytesMut) {
        write::vec(out, self)
    }
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        r.vec()
    }
}

/// Declares a record struct whose fields are encoded in declaration order.
#[macro_export]
macro_rules! jute_record {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
        #[allow(missing_docs)] // fields are named and ordered as in zookeeper.jute
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $crate::proto::jute::Jute for $name {
            const MIN_SIZE: usize = 0 $(+ <$ty as $crate::proto::jute::Jute>::MIN_SIZE)*;
            #[allow(unused_variables)]
            fn write(&self, out: &mut bytes::BytesMut) {
                $($crate::proto::jute::Jute::write(&self.$field, out);)*
            }
            #[allow(unused_variables)]
            fn read(r: &mut $crate::proto::jute::Reader) -> Result<Self, $crate::proto::jute::DecodeError> {
                Ok($name { $($field: <$ty as $crate::proto::jute::Jute>::read(r)?,)* })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_length_other_than_null_is_refused() {
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe]));
        assert!(matches!(r.buffer(), Err(DecodeError::BadLength { .. })));
    }

    #[test]
    fn null_buffer_and_empty_buffer_differ() {
        let mut r = Reader::new(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
        assert_eq!(r.buffer().unwrap(), None);
        assert_eq!(r.buffer().unwrap(), Some(Bytes::new()));
    }

    #[test]
    fn huge_vector_count_is_refused_before_allocation() {
        let mut r = Reader::new(Bytes::from_static(&[0x00, 0x10, 0x00, 0x00, 1, 2]));
        assert!(r.vec::<String>().is_err());
    }

    #[test]
    fn negative_vector_count_reads_as_empty_like_java() {
        let mut b = BytesMut::new();
        b.put_i32(-5);
        b.put_i32(i32::MIN);
        b.put_i32(7);
        let mut r = Reader::new(b.freeze());
        assert_eq!(r.vec::<String>().unwrap(), Vec::<String>::new());
        assert_eq!(r.vec::<i32>().unwrap(), Vec::<i32>::new());
        assert_eq!(r.i32().unwrap(), 7);
    }

    #[test]
    fn length_above_limit_is_unreasonable() {
        let mut b = BytesMut::new();
        b.put_i32(100);
        b.put_slice(&[0u8; 100]);
        let mut r = Reader::with_limit(b.freeze(), 10);
        assert!(matches!(
            r.buffer(),
            Err(DecodeError::BadLength { len: 100, .. })
        ));
    }
}
