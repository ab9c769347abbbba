//! Reading and writing NumPy `.npy` files.
//!
//! Supported: format versions 1.0 (written, and read), 2.0 and 3.0 (read); little-endian, C-order
//! arrays of `<f4` (`f32`), `<f2` (`f16`), `<i4` (`i32`) and `|b1` (`bool`). NumPy has no `bf16`, so a
//! `bf16` tensor is written as `<f4` (its values are exact in `f32`) and read back with
//! [`read_npy_as`], which rounds `f32` to `bf16` (round to nearest, ties to even).
//!
//! The layout, from the NumPy format specification: the magic string `\x93NUMPY`, one byte each of
//! major and minor version, the header length (`u16` little-endian in 1.0, `u32` in 2.0 and 3.0), and
//! the header: a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`
//! padded with spaces and ended by a newline so that the data starts at a multiple of 64 bytes. The
//! data follows, in C order.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::Path;

use moge_lower::interp::{round_to, Tensor, TensorData};
use moge_lower::DType;

/// The first six bytes of every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The data starts at a multiple of this many bytes.
const ALIGN: usize = 64;

/// Name used in messages for data that did not come from a file.
const IN_MEMORY: &str = "<in-memory .npy>";

/// A `.npy` file that could not be read or written: where, and what was wrong.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct NpyError {
    /// The file (or `<in-memory .npy>` for the byte-level functions).
    pub path: String,
    /// What was wrong.
    pub kind: NpyErrorKind,
}

/// What was wrong with a `.npy` file.
#[derive(Debug, thiserror::Error)]
pub enum NpyErrorKind {
    /// The file could not be read or written.
    #[error("cannot {action} the file: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file does not start with the `.npy` magic string.
    #[error("not a .npy file: expected the magic string \\x93NUMPY, found {found}")]
    BadMagic {
        /// The first bytes found, escaped.
        found: String,
    },
    /// A format version other than 1.0, 2.0 or 3.0.
    #[error("unsupported .npy format version {major}.{minor} (expected 1.0, 2.0 or 3.0)")]
    UnsupportedVersion {
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },
    /// The file ends inside the preamble or the header.
    #[error("the file ends inside the {what}: expected {expected} bytes, found {found}")]
    Truncated {
        /// Which part.
        what: &'static str,
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// The header is not the dict literal the format requires.
    #[error("bad header dict: {message} (header: {header})")]
    BadHeader {
        /// What is wrong with it.
        message: String,
        /// The header text.
        header: String,
    },
    /// The array is stored in Fortran order.
    #[error("the array is stored in Fortran order; only C order is supported (save np.ascontiguousarray(a))")]
    FortranOrder,
    /// The array is big-endian.
    #[error("the array is big-endian (`{descr}`); only little-endian is supported (save a.astype(a.dtype.newbyteorder('<')))")]
    BigEndian {
        /// The dtype descriptor.
        descr: String,
    },
    /// A dtype other than `<f4`, `<f2`, `<i4`, `|b1`.
    #[error("unsupported dtype `{descr}` (expected `<f4`, `<f2`, `<i4` or `|b1`)")]
    UnsupportedDType {
        /// The dtype descriptor.
        descr: String,
    },
    /// The data is shorter or longer than the shape needs.
    #[error("shape {shape} of `{descr}` needs {expected} data bytes, found {found}")]
    DataLength {
        /// The shape, as written in the header.
        shape: String,
        /// The dtype descriptor.
        descr: String,
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// A `bool` byte other than 0 or 1.
    #[error("element {index} of a bool array is the byte {byte}, expected 0 or 1")]
    BadBool {
        /// The element.
        index: usize,
        /// Its byte.
        byte: u8,
    },
    /// The file's dtype cannot be converted to the requested one without loss.
    #[error("the file holds `{descr}` values, which cannot be read as {wanted} without loss")]
    DTypeMismatch {
        /// The file's dtype descriptor.
        descr: String,
        /// The requested dtype.
        wanted: DType,
    },
    /// A tensor to write whose data does not match its dtype and shape.
    #[error("the tensor's data does not match its dtype {dtype} and shape {shape}")]
    InconsistentTensor {
        /// The tensor's dtype.
        dtype: DType,
        /// The tensor's shape.
        shape: String,
    },
}

/// Reads a `.npy` file into a tensor of the file's dtype (`<f4` as `f32`, `<f2` as `f16`, `<i4` as
/// `i32`, `|b1` as `bool`).
pub fn read_npy(path: &Path) -> Result<Tensor, NpyError> {
    let bytes = read_file(path)?;
    parse(&bytes).map_err(|kind| at(path, kind))
}

/// Reads a `.npy` file as a tensor of `dtype`: `f32` data converts to `bf16` or `f16` rounding to
/// nearest even, `f16` data to `f32` exactly or to `bf16` rounding; mixing integers, floats and
/// bools is an error.
pub fn read_npy_as(path: &Path, dtype: DType) -> Result<Tensor, NpyError> {
    let bytes = read_file(path)?;
    parse(&bytes)
        .and_then(|t| convert(t, dtype))
        .map_err(|kind| at(path, kind))
}

/// The dtype and shape a `.npy` file declares, from its preamble and header alone: the data is not
/// read, so the size of a large file can be checked before it is loaded.
pub fn read_npy_shape(path: &Path) -> Result<(DType, Vec<usize>), NpyError> {
    let reader = NpyReader::open(path)?;
    Ok((reader.dtype(), reader.shape().to_vec()))
}

/// A `.npy` file opened and its header read, the data not yet: check [`NpyReader::shape`] before
/// [`NpyReader::read_as`] loads it. The file is opened once, so this also works for a pipe
/// (`/dev/stdin`).
#[derive(Debug)]
pub struct NpyReader {
    path: String,
    file: fs::File,
    /// The preamble and the header.
    bytes: Vec<u8>,
    dtype: DType,
    shape: Vec<usize>,
}

impl NpyReader {
    /// Opens `path` and reads its preamble and header; a bad header is an error here.
    pub fn open(path: &Path) -> Result<NpyReader, NpyError> {
        let (file, bytes) = open_at_data(path)?;
        let (elem, shape, _) = parse_preamble(&bytes).map_err(|kind| at(path, kind))?;
        let dtype = match elem {
            Elem::F32 => DType::F32,
            Elem::F16 => DType::F16,
            Elem::I32 => DType::I32,
            Elem::Bool => DType::Bool,
        };
        Ok(NpyReader {
            path: path.display().to_string(),
            file,
            bytes,
            dtype,
            shape,
        })
    }

    /// The dtype the file holds (`<f4` as `f32`, `<f2` as `f16`, `<i4` as `i32`, `|b1` as `bool`).
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The shape the header declares.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Reads the data as a tensor of `dtype` (converting as [`read_npy_as`] does).
    pub fn read_as(self, dtype: DType) -> Result<Tensor, NpyError> {
        let path = Path::new(&self.path);
        let bytes = read_data(path, self.file, self.bytes)?;
        parse(&bytes)
            .and_then(|t| convert(t, dtype))
            .map_err(|kind| at(path, kind))
    }
}

/// The names under which standard input is read: the one pipe an input may come from.
const STDIN_PATHS: [&str; 3] = ["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"];

/// Refuses a path that is neither a regular file nor standard input: opening a FIFO blocks until a
/// writer comes (possibly never), and a device or socket has no end, so they are named instead.
fn refuse_special(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    if STDIN_PATHS.iter().any(|p| Path::new(p) == path) {
        return Ok(());
    }
    // `metadata` follows symlinks and does not open the file, so it never blocks; a path that does
    // not exist is left to `open`, which says so.
    let Ok(meta) = fs::metadata(path) else {
        return Ok(());
    };
    let file_type = meta.file_type();
    let what = if file_type.is_file() {
        return Ok(());
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}; inputs are regular files, or /dev/stdin for a pipe (mogec ... --input x=/dev/stdin < FILE)"),
    ))
}

/// Opens `path` and reads its preamble and header (as far as the file has them), leaving the file
/// positioned at the data.
fn open_at_data(path: &Path) -> Result<(fs::File, Vec<u8>), NpyError> {
    let io_error = |source| {
        at(
            path,
            NpyErrorKind::Io {
                action: "read",
                source,
            },
        )
    };
    refuse_special(path).map_err(io_error)?;
    let mut file = fs::File::open(path).map_err(io_error)?;
    // The longest preamble: magic (6), version (2), a u32 header length.
    let mut bytes = Vec::with_capacity(12);
    (&mut file)
        .take(12)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    // Where the data starts; `parse_preamble` reports a bad or short preamble.
    let data_start = match bytes.get(6) {
        Some(1) => bytes
            .get(8..10)
            .map_or(0, |b| 10 + usize::from(u16::from_le_bytes([b[0], b[1]]))),
        Some(2 | 3) => bytes.get(8..12).map_or(0, |b| {
            12 + u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        }),
        _ => 0,
    };
    let wanted = data_start.saturating_sub(bytes.len()) as u64;
    (&mut file)
        .take(wanted)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    Ok((file, bytes))
}

/// Parses the bytes of a `.npy` file (see [`read_npy`]).
pub fn read_npy_bytes(bytes: &[u8]) -> Result<Tensor, NpyError> {
    parse(bytes).map_err(|kind| NpyError {
        path: IN_MEMORY.to_string(),
        kind,
    })
}

/// Parses the bytes of a `.npy` file as a tensor of `dtype` (see [`read_npy_as`]).
pub fn read_npy_bytes_as(bytes: &[u8], dtype: DType) -> Result<Tensor, NpyError> {
    parse(bytes)
        .and_then(|t| convert(t, dtype))
        .map_err(|kind| NpyError {
            path: IN_MEMORY.to_string(),
            kind,
        })
}

/// Writes a tensor as a `.npy` file (format 1.0, or 2.0 if the header needs it); `bf16` is written as
/// `<f4`.
pub fn write_npy(path: &Path, tensor: &Tensor) -> Result<(), NpyError> {
    if !tensor.is_consistent() {
        return Err(at(
            path,
            NpyErrorKind::InconsistentTensor {
                dtype: tensor.dtype,
                shape: shape_tuple(&tensor.shape),
            },
        ));
    }
    let write = || -> io::Result<()> {
        let mut file = io::BufWriter::new(fs::File::create(path)?);
        write_npy_to(&mut file, tensor)?;
        io::Write::flush(&mut file)
    };
    write().map_err(|source| {
        at(
            path,
            NpyErrorKind::Io {
                action: "write",
                source,
            },
        )
    })
}

/// The bytes of a `.npy` file holding `tensor` (see [`write_npy`]). The data is written as the tensor
/// holds it; a tensor whose data does not match its shape gives a file that does not read back.
pub fn write_npy_bytes(tensor: &Tensor) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + tensor.len() * 4);
    // Writing to a Vec cannot fail.
    let _ = write_npy_to(&mut out, tensor);
    out
}

/// Writes the `.npy` file of `tensor` (the bytes of [`write_npy_bytes`]) to `out` a chunk at a time,
/// so that a tensor of gigabytes is never held a second time as file bytes.
pub fn write_npy_to(out: &mut dyn io::Write, tensor: &Tensor) -> io::Result<()> {
    let descr = match tensor.dtype {
        DType::BF16 | DType::F32 => "<f4",
        DType::F16 => "<f2",
        DType::I32 => "<i4",
        DType::Bool => "|b1",
    };
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': {}, }}",
        shape_tuple(&tensor.shape)
    );
    // Preamble: magic (6), version (2), header length (2 in 1.0, 4 in 2.0).
    let (version, len_bytes) = if header.len() + 1 + 10 <= usize::from(u16::MAX) {
        (1u8, 2)
    } else {
        (2u8, 4)
    };
    let preamble = MAGIC.len() + 2 + len_bytes;
    let unpadded = preamble + header.len() + 1;
    let padding = (ALIGN - unpadded % ALIGN) % ALIGN;
    header.extend(std::iter::repeat_n(' ', padding));
    header.push('\n');

    let mut head = Vec::with_capacity(preamble + header.len());
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&[version, 0]);
    if version == 1 {
        head.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        head.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    head.extend_from_slice(header.as_bytes());
    out.write_all(&head)?;
    match (&tensor.data, tensor.dtype) {
        (TensorData::F32(v), DType::F16) => write_chunked(out, v, |x, buf| {
            buf.extend_from_slice(&half::f16::from_f32(*x).to_le_bytes())
        }),
        (TensorData::F32(v), _) => {
            write_chunked(out, v, |x, buf| buf.extend_from_slice(&x.to_le_bytes()))
        }
        (TensorData::I32(v), _) => {
            write_chunked(out, v, |x, buf| buf.extend_from_slice(&x.to_le_bytes()))
        }
        (TensorData::Bool(v), _) => write_chunked(out, v, |&b, buf| buf.push(u8::from(b))),
    }
}

/// Writes `values`, each encoded by `put`, through a buffer of about 1 MiB.
fn write_chunked<T>(
    out: &mut dyn io::Write,
    values: &[T],
    put: impl Fn(&T, &mut Vec<u8>),
) -> io::Result<()> {
    const CHUNK: usize = 1 << 18;
    let mut buf = Vec::with_capacity(CHUNK * 4);
    for chunk in values.chunks(CHUNK) {
        buf.clear();
        chunk.iter().for_each(|x| put(x, &mut buf));
        out.write_all(&buf)?;
    }
    Ok(())
}

fn at(path: &Path, kind: NpyErrorKind) -> NpyError {
    NpyError {
        path: path.display().to_string(),
        kind,
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, NpyError> {
    let (file, bytes) = open_at_data(path)?;
    read_data(path, file, bytes)
}

/// Appends the data of `file` (positioned after the header, which `bytes` holds) to `bytes`.
fn read_data(path: &Path, file: fs::File, mut bytes: Vec<u8>) -> Result<Vec<u8>, NpyError> {
    // Read no more data than the header declares (and one byte to see that there is more): a file
    // with gigabytes after a small array, or a device that never ends, is reported, not loaded.
    let Ok((elem, shape, data_start)) = parse_preamble(&bytes) else {
        // A bad header: `parse` reports it from the bytes read.
        return Ok(bytes);
    };
    let Some(declared) = shape.iter().try_fold(elem.size(), |n, &d| n.checked_mul(d)) else {
        return Ok(bytes);
    };
    let file_len = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    if let Some(len) = file_len {
        let data_len = len.saturating_sub(data_start as u64);
        if data_len > declared as u64 {
            return Err(at(
                path,
                NpyErrorKind::DataLength {
                    shape: excerpt(&shape_tuple(&shape), QUOTE_LIMIT),
                    descr: elem.descr().to_string(),
                    expected: declared,
                    found: usize::try_from(data_len).unwrap_or(usize::MAX),
                },
            ));
        }
    }
    file.take((declared as u64).saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| {
            at(
                path,
                NpyErrorKind::Io {
                    action: "read",
                    source,
                },
            )
        })?;
    Ok(bytes)
}

/// `()`, `(3,)`, `(2, 3)`: a Python tuple.
fn shape_tuple(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// The element types a file can hold.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Elem {
    F32,
    F16,
    I32,
    Bool,
}

impl Elem {
    fn size(self) -> usize {
        match self {
            Elem::F32 | Elem::I32 => 4,
            Elem::F16 => 2,
            Elem::Bool => 1,
        }
    }

    fn descr(self) -> &'static str {
        match self {
            Elem::F32 => "<f4",
            Elem::F16 => "<f2",
            Elem::I32 => "<i4",
            Elem::Bool => "|b1",
        }
    }
}

/// At most this many characters of a header are quoted in a message.
const QUOTE_LIMIT: usize = 80;

/// `text` for a message: printable ASCII as is, other characters escaped (`\n`, `\u{..}`), cut
/// after `limit` characters with a note of the full length.
fn excerpt(text: &str, limit: usize) -> String {
    let mut out = String::new();
    let total = text.chars().count();
    for c in text.chars().take(limit) {
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    if total > limit {
        out.push_str(&format!("... ({total} characters in all)"));
    }
    out
}

/// Escapes bytes for a message: printable ASCII as is, the rest as `\xNN`.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        if b.is_ascii_graphic() || b == b' ' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// Checks the preamble and parses the header of a `.npy` file's bytes (the data need not be
/// there): the element type, the shape and where the data starts.
fn parse_preamble(bytes: &[u8]) -> Result<(Elem, Vec<usize>, usize), NpyErrorKind> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(NpyErrorKind::BadMagic {
            found: escape(&bytes[..bytes.len().min(MAGIC.len())]),
        });
    }
    let Some(&[major, minor]) = bytes.get(6..8).and_then(|v| <&[u8; 2]>::try_from(v).ok()) else {
        return Err(NpyErrorKind::Truncated {
            what: "preamble",
            expected: 8,
            found: bytes.len(),
        });
    };
    let len_bytes = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => return Err(NpyErrorKind::UnsupportedVersion { major, minor }),
    };
    let preamble = 8 + len_bytes;
    let Some(len_field) = bytes.get(8..preamble) else {
        return Err(NpyErrorKind::Truncated {
            what: "preamble",
            expected: preamble,
            found: bytes.len(),
        });
    };
    let header_len = len_field
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    let data_start = preamble.saturating_add(header_len);
    let Some(header_bytes) = bytes.get(preamble..data_start) else {
        return Err(NpyErrorKind::Truncated {
            what: "header",
            expected: data_start,
            found: bytes.len(),
        });
    };
    // 1.0 and 2.0 headers are latin-1 (ASCII in practice); 3.0 headers are UTF-8.
    let header: String = if major == 3 {
        String::from_utf8_lossy(header_bytes).into_owned()
    } else {
        header_bytes.iter().map(|&b| char::from(b)).collect()
    };
    let (elem, shape) = parse_header(&header)?;
    Ok((elem, shape, data_start))
}

fn parse(bytes: &[u8]) -> Result<Tensor, NpyErrorKind> {
    let (elem, shape, data_start) = parse_preamble(bytes)?;
    let data = &bytes[data_start..];
    let count = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let expected = count.and_then(|c| c.checked_mul(elem.size()));
    if expected != Some(data.len()) {
        return Err(NpyErrorKind::DataLength {
            shape: excerpt(&shape_tuple(&shape), QUOTE_LIMIT),
            descr: elem.descr().to_string(),
            expected: expected.unwrap_or(usize::MAX),
            found: data.len(),
        });
    }
    let tensor = match elem {
        Elem::F32 => Tensor {
            dtype: DType::F32,
            shape,
            data: TensorData::F32(
                data.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
        },
        Elem::F16 => Tensor {
            dtype: DType::F16,
            shape,
            data: TensorData::F32(
                data.chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
            ),
        },
        Elem::I32 => Tensor {
            dtype: DType::I32,
            shape,
            data: TensorData::I32(
                data.chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
        },
        Elem::Bool => {
            let mut values = Vec::with_capacity(data.len());
            for (index, &byte) in data.iter().enumerate() {
                match byte {
                    0 => values.push(false),
                    1 => values.push(true),
                    _ => return Err(NpyErrorKind::BadBool { index, byte }),
                }
            }
            Tensor {
                dtype: DType::Bool,
                shape,
                data: TensorData::Bool(values),
            }
        }
    };
    Ok(tensor)
}

/// Converts a tensor read from a file to the requested dtype (see [`read_npy_as`]).
fn convert(tensor: Tensor, wanted: DType) -> Result<Tensor, NpyErrorKind> {
    let file = tensor.dtype;
    let descr = match file {
        DType::F16 => "<f2",
        DType::I32 => "<i4",
        DType::Bool => "|b1",
        DType::BF16 | DType::F32 => "<f4",
    };
    match (tensor.data, wanted) {
        (TensorData::F32(mut v), DType::BF16 | DType::F16 | DType::F32) => {
            if wanted != file {
                v.iter_mut().for_each(|x| *x = round_to(wanted, *x));
            }
            Ok(Tensor {
                dtype: wanted,
                shape: tensor.shape,
                data: TensorData::F32(v),
            })
        }
        (data @ TensorData::I32(_), DType::I32) | (data @ TensorData::Bool(_), DType::Bool) => {
            Ok(Tensor {
                dtype: wanted,
                shape: tensor.shape,
                data,
            })
        }
        _ => Err(NpyErrorKind::DTypeMismatch {
            descr: descr.to_string(),
            wanted,
        }),
    }
}

/// A token of the header's Python literal.
#[derive(Clone, PartialEq, Debug)]
enum Token {
    Str(String),
    Int(u128),
    Ident(String),
    Punct(char),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Pieces of a header quoted in a message: short and escaped, whatever the file holds.
            Token::Str(s) => write!(f, "'{}'", excerpt(s, QUOTE_LIMIT)),
            Token::Int(n) => write!(f, "{n}"),
            Token::Ident(s) => f.write_str(&excerpt(s, QUOTE_LIMIT)),
            Token::Punct(c) => write!(f, "`{c}`"),
        }
    }
}

fn tokenize(header: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = header.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' || c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some(q) if q == c => break,
                    Some(ch) => s.push(ch),
                    None => return Err(format!("unterminated string {c}{s}")),
                }
            }
            tokens.push(Token::Str(s));
        } else if c.is_ascii_digit() {
            let mut n: u128 = 0;
            while let Some(&d) = chars.peek() {
                let Some(v) = d.to_digit(10) else { break };
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u128::from(v)))
                    .ok_or("a number is too large")?;
                chars.next();
            }
            // Python 2 wrote shapes as longs: `3L`.
            if chars.peek() == Some(&'L') {
                chars.next();
            }
            tokens.push(Token::Int(n));
        } else if c.is_alphabetic() || c == '_' {
            let mut s = String::new();
            while let Some(&d) = chars.peek() {
                if !(d.is_alphanumeric() || d == '_') {
                    break;
                }
                s.push(d);
                chars.next();
            }
            tokens.push(Token::Ident(s));
        } else if "{}():,".contains(c) {
            tokens.push(Token::Punct(c));
            chars.next();
        } else {
            return Err(format!("unexpected character `{c}`"));
        }
    }
    Ok(tokens)
}

/// Parses `{'descr': ..., 'fortran_order': ..., 'shape': (...), }` and checks the dtype and order.
fn parse_header(header: &str) -> Result<(Elem, Vec<usize>), NpyErrorKind> {
    // A header can be anything a file holds: quote only its start, escaped, so that a corrupt or
    // hostile file cannot flood the message.
    let bad = |message: String| NpyErrorKind::BadHeader {
        message: excerpt(&message, QUOTE_LIMIT * 2),
        header: excerpt(header.trim_end(), QUOTE_LIMIT),
    };
    let tokens = tokenize(header).map_err(bad)?;
    let mut pos = 0usize;
    let next = |pos: &mut usize| {
        let t = tokens.get(*pos).cloned();
        *pos += 1;
        t
    };
    let expect = |pos: &mut usize, c: char| match next(pos) {
        Some(Token::Punct(p)) if p == c => Ok(()),
        Some(t) => Err(bad(format!("expected `{c}`, found {t}"))),
        None => Err(bad(format!("expected `{c}`, found the end"))),
    };
    expect(&mut pos, '{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        let key = match next(&mut pos) {
            Some(Token::Punct('}')) => break,
            Some(Token::Str(key)) => key,
            Some(t) => return Err(bad(format!("expected a key string or `}}`, found {t}"))),
            None => {
                return Err(bad(
                    "expected a key string or `}`, found the end".to_string()
                ))
            }
        };
        expect(&mut pos, ':')?;
        match key.as_str() {
            "descr" => match next(&mut pos) {
                Some(Token::Str(s)) => descr = Some(s),
                t => {
                    return Err(bad(format!(
                        "`descr` must be a string, found {}",
                        describe(t)
                    )))
                }
            },
            "fortran_order" => match next(&mut pos) {
                Some(Token::Ident(s)) if s == "True" => fortran = Some(true),
                Some(Token::Ident(s)) if s == "False" => fortran = Some(false),
                t => {
                    return Err(bad(format!(
                        "`fortran_order` must be True or False, found {}",
                        describe(t)
                    )))
                }
            },
            "shape" => {
                expect(&mut pos, '(')?;
                let mut dims = Vec::new();
                loop {
                    match next(&mut pos) {
                        Some(Token::Punct(')')) => break,
                        Some(Token::Int(n)) => {
                            let n = usize::try_from(n)
                                .map_err(|_| bad(format!("dim {n} is too large")))?;
                            dims.push(n);
                            match next(&mut pos) {
                                Some(Token::Punct(',')) => {}
                                Some(Token::Punct(')')) => break,
                                t => {
                                    return Err(bad(format!(
                                        "expected `,` or `)` in `shape`, found {}",
                                        describe(t)
                                    )))
                                }
                            }
                        }
                        t => {
                            return Err(bad(format!(
                                "`shape` must be a tuple of integers, found {}",
                                describe(t)
                            )))
                        }
                    }
                }
                shape = Some(dims);
            }
            other => {
                return Err(bad(format!(
                    "unexpected key '{}'",
                    excerpt(other, QUOTE_LIMIT)
                )))
            }
        }
        match next(&mut pos) {
            Some(Token::Punct(',')) => {}
            Some(Token::Punct('}')) => break,
            t => {
                return Err(bad(format!(
                    "expected `,` or `}}` after a value, found {}",
                    describe(t)
                )))
            }
        }
    }
    if let Some(t) = tokens.get(pos) {
        return Err(bad(format!("unexpected {t} after the dict")));
    }
    let descr = descr.ok_or_else(|| bad("missing key 'descr'".to_string()))?;
    let fortran = fortran.ok_or_else(|| bad("missing key 'fortran_order'".to_string()))?;
    let shape = shape.ok_or_else(|| bad("missing key 'shape'".to_string()))?;
    let elem = match descr.as_str() {
        "<f4" => Elem::F32,
        "<f2" => Elem::F16,
        "<i4" => Elem::I32,
        "|b1" | "<b1" => Elem::Bool,
        // The descriptor is quoted short and escaped, like every piece of a header in a message.
        d if d.starts_with('>') && d.len() > 1 => {
            return Err(NpyErrorKind::BigEndian {
                descr: excerpt(d, QUOTE_LIMIT),
            })
        }
        d => {
            return Err(NpyErrorKind::UnsupportedDType {
                descr: excerpt(d, QUOTE_LIMIT),
            })
        }
    };
    if fortran {
        return Err(NpyErrorKind::FortranOrder);
    }
    Ok((elem, shape))
}

fn describe(t: Option<Token>) -> String {
    t.map_or_else(|| "the end".to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests;
