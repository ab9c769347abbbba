//! Tests of `.npy` I/O. The byte strings are written by hand from the NumPy format specification.

// The literals are exact binary fractions written out in full (e.g. 1.00390625 = 1 + 2^-8), which
// clippy would shorten to the nearest shortest decimal; the full form shows the rounding points.
#![allow(clippy::excessive_precision)]

use std::path::PathBuf;

use super::*;

/// Preamble (magic, version 1.0, header length 118 = 0x76) + header + data. Every header here is
/// padded so the data starts at byte 128: 10 preamble bytes + 118 header bytes (dict, spaces, `\n`).
fn v1(dict: &str, data: &[u8]) -> Vec<u8> {
    let spaces = 118 - 1 - dict.len();
    let mut out = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', spaces));
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

/// 1.0 and -2.0 as little-endian f32: 0x3f800000 and 0xc0000000.
const ONE_MINUS_TWO_F32: [u8; 8] = [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0];

fn f32_tensor(shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_f32(DType::F32, shape.to_vec(), data.to_vec()).unwrap()
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("moge-npy-test-{}-{name}.npy", std::process::id()))
}

#[test]
fn writes_the_exact_bytes_of_format_1_0() {
    // The dict is 57 characters; 10 + 57 + 1 = 68, so 60 spaces pad the header to 118 bytes.
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    assert_eq!(dict.len(), 57);
    let want = v1(dict, &ONE_MINUS_TWO_F32);
    assert_eq!(want.len(), 128 + 8);
    assert_eq!(write_npy_bytes(&f32_tensor(&[2], &[1.0, -2.0])), want);
}

#[test]
fn reads_f32_f16_i32_and_bool() {
    let t = read_npy_bytes(&v1(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
        &ONE_MINUS_TWO_F32,
    ))
    .unwrap();
    assert_eq!((t.dtype, t.shape.clone()), (DType::F32, vec![2]));
    assert_eq!(t.as_f32().unwrap(), &[1.0, -2.0]);
    // f16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff.
    let t = read_npy_bytes(&v1(
        "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }",
        &[0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b],
    ))
    .unwrap();
    assert_eq!(t.dtype, DType::F16);
    assert_eq!(t.as_f32().unwrap(), &[1.0, -2.0, 65504.0]);
    // i32 (2, 2): 1, -1 (0xffffffff), 256 (0x100), 7.
    let t = read_npy_bytes(&v1(
        "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }",
        &[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0, 7, 0, 0, 0],
    ))
    .unwrap();
    assert_eq!((t.dtype, t.shape.clone()), (DType::I32, vec![2, 2]));
    assert_eq!(t.as_i32().unwrap(), &[1, -1, 256, 7]);
    let t = read_npy_bytes(&v1(
        "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
        &[1, 0, 1],
    ))
    .unwrap();
    assert_eq!(t.as_bool().unwrap(), &[true, false, true]);
}

#[test]
fn reads_format_2_0_and_3_0_headers() {
    // Same dict; the length field is 4 bytes, so the header is 116 bytes to start the data at 128.
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    for major in [2u8, 3] {
        let mut bytes = vec![0x93, b'N', b'U', b'M', b'P', b'Y', major, 0, 116, 0, 0, 0];
        bytes.extend_from_slice(dict.as_bytes());
        bytes.extend(std::iter::repeat_n(b' ', 116 - 1 - dict.len()));
        bytes.push(b'\n');
        bytes.extend_from_slice(&ONE_MINUS_TWO_F32);
        let t = read_npy_bytes(&bytes).unwrap();
        assert_eq!(t.as_f32().unwrap(), &[1.0, -2.0], "version {major}.0");
    }
}

#[test]
fn accepts_header_spelling_variants() {
    // Double quotes, no trailing comma, keys in another order, Python 2 longs, rank 0.
    let t = read_npy_bytes(&v1(
        r#"{"shape": (2L,), "fortran_order": False, "descr": "<f4"}"#,
        &ONE_MINUS_TWO_F32,
    ))
    .unwrap();
    assert_eq!(t.shape, vec![2]);
    let t = read_npy_bytes(&v1(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
        &ONE_MINUS_TWO_F32[..4],
    ))
    .unwrap();
    assert_eq!(
        (t.shape.clone(), t.as_f32().unwrap().to_vec()),
        (vec![], vec![1.0])
    );
}

#[test]
fn round_trips_every_dtype_rank_zero_and_empty_arrays() {
    let cases = vec![
        f32_tensor(&[2, 3], &[0.5, -1.25, 3.0e-8, 1.0e30, -0.0, 7.0]),
        Tensor::from_f32(DType::F16, vec![3], vec![1.0, -0.5, 65504.0]).unwrap(),
        Tensor::from_i32(vec![2, 1, 2], vec![i32::MIN, -1, 0, i32::MAX]).unwrap(),
        Tensor::from_bool(vec![2], vec![false, true]).unwrap(),
        f32_tensor(&[], &[42.0]),
        f32_tensor(&[0, 3], &[]),
    ];
    for t in cases {
        let back = read_npy_bytes(&write_npy_bytes(&t)).unwrap();
        assert_eq!(back, t);
        assert_eq!(
            write_npy_bytes(&t).len() % 64,
            (t.len() * t.dtype.size_bytes()) % 64,
            "data starts at 64k"
        );
    }
    // bf16 goes out as <f4 and comes back with read_npy_bytes_as.
    let t = Tensor::from_f32(DType::BF16, vec![2], vec![1.0078125, -3.0]).unwrap();
    let bytes = write_npy_bytes(&t);
    assert_eq!(read_npy_bytes(&bytes).unwrap().dtype, DType::F32);
    assert_eq!(read_npy_bytes_as(&bytes, DType::BF16).unwrap(), t);
}

#[test]
fn read_as_rounds_floats_and_refuses_lossy_conversions() {
    // 1 + 2^-8 is a bf16 tie -> 1; 1 + 2^-11 is an f16 tie -> 1.
    let bytes = write_npy_bytes(&f32_tensor(&[2], &[1.00390625, 1.00048828125]));
    let t = read_npy_bytes_as(&bytes, DType::BF16).unwrap();
    assert_eq!(
        (t.dtype, t.as_f32().unwrap().to_vec()),
        (DType::BF16, vec![1.0, 1.0])
    );
    let t = read_npy_bytes_as(&bytes, DType::F16).unwrap();
    assert_eq!(t.as_f32().unwrap(), &[1.00390625, 1.0]);
    let err = read_npy_bytes_as(&bytes, DType::I32).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<in-memory .npy>: the file holds `<f4` values, which cannot be read as i32 without loss"
    );
    let ints = write_npy_bytes(&Tensor::from_i32(vec![1], vec![3]).unwrap());
    let err = read_npy_bytes_as(&ints, DType::F32).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<in-memory .npy>: the file holds `<i4` values, which cannot be read as f32 without loss"
    );
}

/// The message of reading `bytes`, without the `<in-memory .npy>: ` prefix.
fn read_error(bytes: &[u8]) -> String {
    let err = read_npy_bytes(bytes).unwrap_err();
    let msg = err.to_string();
    msg.strip_prefix("<in-memory .npy>: ")
        .unwrap_or(&msg)
        .to_string()
}

#[test]
fn malformed_files_are_errors() {
    assert_eq!(
        read_error(b"PK\x03\x04"),
        "not a .npy file: expected the magic string \\x93NUMPY, found PK\\x03\\x04"
    );
    assert_eq!(
        read_error(b"\x93NUMPY\x01"),
        "the file ends inside the preamble: expected 8 bytes, found 7"
    );
    assert_eq!(
        read_error(b"\x93NUMPY\x04\x00\x00\x00"),
        "unsupported .npy format version 4.0 (expected 1.0, 2.0 or 3.0)"
    );
    let mut cut = v1(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
        &[],
    );
    cut.truncate(50);
    assert_eq!(
        read_error(&cut),
        "the file ends inside the header: expected 128 bytes, found 50"
    );
    let msg = read_error(&v1("{'descr': '<f4', 'shape': (2,), }", &ONE_MINUS_TWO_F32));
    assert_eq!(
        msg,
        "bad header dict: missing key 'fortran_order' (header: {'descr': '<f4', 'shape': (2,), })"
    );
    let msg = read_error(&v1(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }",
        &ONE_MINUS_TWO_F32,
    ));
    assert!(
        msg.starts_with("bad header dict: `shape` must be a tuple of integers, found x"),
        "{msg}"
    );
    let msg = read_error(&v1(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
        &ONE_MINUS_TWO_F32,
    ));
    assert!(
        msg.starts_with("bad header dict: unexpected key 'extra'"),
        "{msg}"
    );
    let msg = read_error(&v1("[1, 2]", &ONE_MINUS_TWO_F32));
    assert!(
        msg.starts_with("bad header dict: unexpected character `[`"),
        "{msg}"
    );
}

#[test]
fn unsupported_layouts_and_dtypes_are_errors() {
    let msg = read_error(&v1(
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
        &[0; 16],
    ));
    assert!(
        msg.starts_with("the array is stored in Fortran order; only C order is supported"),
        "{msg}"
    );
    let msg = read_error(&v1(
        "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
        &ONE_MINUS_TWO_F32,
    ));
    assert!(
        msg.starts_with("the array is big-endian (`>f4`); only little-endian is supported"),
        "{msg}"
    );
    let msg = read_error(&v1(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    ));
    assert_eq!(
        msg,
        "unsupported dtype `<f8` (expected `<f4`, `<f2`, `<i4` or `|b1`)"
    );
}

#[test]
fn data_length_and_bool_bytes_are_checked() {
    let msg = read_error(&v1(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
        &ONE_MINUS_TWO_F32,
    ));
    assert_eq!(msg, "shape (3,) of `<f4` needs 12 data bytes, found 8");
    let msg = read_error(&v1(
        "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }",
        &ONE_MINUS_TWO_F32,
    ));
    assert_eq!(msg, "shape (1,) of `<i4` needs 4 data bytes, found 8");
    let msg = read_error(&v1(
        "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
        &[1, 2, 0],
    ));
    assert_eq!(
        msg,
        "element 1 of a bool array is the byte 2, expected 0 or 1"
    );
}

#[test]
fn files_round_trip_and_io_errors_name_the_file() {
    let path = temp_path("roundtrip");
    let t = Tensor::from_f32(DType::BF16, vec![2, 2], vec![0.1, 0.2, -0.3, 4.0]).unwrap();
    write_npy(&path, &t).unwrap();
    assert_eq!(read_npy_as(&path, DType::BF16).unwrap(), t);
    assert_eq!(read_npy(&path).unwrap().dtype, DType::F32);
    let _ = fs::remove_file(&path);

    let missing = temp_path("does-not-exist");
    let msg = read_npy(&missing).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("{}: cannot read the file: ", missing.display())),
        "{msg}"
    );
    let in_missing_dir = missing.join("x.npy");
    let msg = write_npy(&in_missing_dir, &t).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: cannot write the file: ",
            in_missing_dir.display()
        )),
        "{msg}"
    );

    let bad = Tensor {
        dtype: DType::F32,
        shape: vec![3],
        data: TensorData::F32(vec![1.0]),
    };
    let msg = write_npy(&path, &bad).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "{}: the tensor's data does not match its dtype f32 and shape (3,)",
            path.display()
        )
    );
}

#[test]
fn headers_too_long_for_format_1_0_are_written_as_2_0() {
    // 22000 axes of size 1 print as "1, " each: 66000 bytes of shape, more than the 65535 that the
    // 2-byte length field of format 1.0 can describe.
    let t = Tensor::from_i32(vec![1; 22_000], vec![9]).unwrap();
    let bytes = write_npy_bytes(&t);
    assert_eq!(&bytes[..8], b"\x93NUMPY\x02\x00");
    let header_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    assert_eq!((12 + header_len) % 64, 0);
    assert_eq!(bytes.len(), 12 + header_len + 4);
    assert_eq!(read_npy_bytes(&bytes).unwrap(), t);
}

#[test]
fn a_bad_header_is_quoted_short_and_escaped() {
    // A 60000-character header with a control character and a non-ASCII letter near its start.
    let mut dict = String::from("{'descr': '<f4',\u{1b}\u{e9} 'junk': '");
    dict.push_str(&"x".repeat(60_000));
    dict.push_str("'}");
    let mut bytes = b"\x93NUMPY\x03\x00".to_vec();
    let header = format!("{dict}\n");
    bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    let msg = read_npy_bytes(&bytes).unwrap_err().to_string();
    assert!(msg.len() < 500, "{} characters: {msg}", msg.len());
    assert!(!msg.contains('\u{1b}') && !msg.contains('\u{e9}'), "{msg}");
    assert!(msg.contains("\\u{1b}\\u{e9}"), "{msg}");
    assert!(msg.contains("characters in all)"), "{msg}");
    assert!(
        msg.starts_with("<in-memory .npy>: bad header dict: "),
        "{msg}"
    );
}

#[test]
fn the_declared_shape_is_read_without_the_data() {
    // Generated: tensors of every dtype and of ranks 0..4, written, then cut after the header.
    let mut state = 0x5eed_u64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    for case in 0..40 {
        let rank = next(4) as usize;
        let shape: Vec<usize> = (0..rank).map(|_| next(5) as usize).collect();
        let n: usize = shape.iter().product();
        let tensor = match case % 3 {
            0 => Tensor::from_f32(DType::F32, shape.clone(), vec![0.5; n]).unwrap(),
            1 => Tensor::from_f32(DType::F16, shape.clone(), vec![0.5; n]).unwrap(),
            _ => Tensor::from_i32(shape.clone(), vec![7; n]).unwrap(),
        };
        let bytes = write_npy_bytes(&tensor);
        let path = temp_path(&format!("shape-{case}"));
        // Only the preamble and the header: reading the shape must not need the data.
        let data_start = bytes.len() - n * if case % 3 == 1 { 2 } else { 4 };
        fs::write(&path, &bytes[..data_start]).unwrap();
        assert_eq!(
            read_npy_shape(&path).unwrap(),
            (tensor.dtype, shape.clone()),
            "case {case}"
        );
        let _ = fs::remove_file(&path);
    }
    let path = temp_path("shape-bad");
    fs::write(&path, b"\x93NUMPY\x01\x00\x76\x00{'descr'").unwrap();
    let msg = read_npy_shape(&path).unwrap_err().to_string();
    assert!(msg.contains("the file ends inside the header"), "{msg}");
    let _ = fs::remove_file(&path);
}

#[test]
fn only_the_declared_data_is_read() {
    // A 2-element f32 array followed by 1 MiB more: the length is reported from the file's size,
    // and a file that is exactly right still reads.
    let mut bytes = v1(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
        &ONE_MINUS_TWO_F32,
    );
    let path = temp_path("trailing");
    fs::write(&path, &bytes).unwrap();
    assert_eq!(read_npy(&path).unwrap().as_f32().unwrap(), &[1.0, -2.0]);
    bytes.extend(std::iter::repeat_n(0u8, 1 << 20));
    fs::write(&path, &bytes).unwrap();
    let msg = read_npy(&path).unwrap_err().to_string();
    assert!(
        msg.ends_with(&format!("needs 8 data bytes, found {}", 8 + (1 << 20))),
        "{msg}"
    );
    let _ = fs::remove_file(&path);
    // A device that never ends is not read at all: /dev/zero is refused as a device.
    let msg = read_npy(Path::new("/dev/zero")).unwrap_err().to_string();
    assert!(msg.contains("it is a device"), "{msg}");
}

#[test]
fn fifos_devices_and_directories_are_refused_without_blocking() {
    // A FIFO with no writer: opening it would block forever. It must be refused at once (the read
    // runs on a thread so that a regression fails the test instead of hanging it).
    let fifo = temp_path("fifo");
    let _ = fs::remove_file(&fifo);
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) reads the NUL-terminated path only.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let (send, receive) = std::sync::mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let _ = send.send(read_npy_shape(&path).map(|_| ()).map_err(|e| e.to_string()));
    });
    let msg = receive
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("a FIFO is refused, not opened")
        .unwrap_err();
    assert!(msg.contains("it is a FIFO (named pipe)"), "{msg}");
    assert!(msg.contains("/dev/stdin"), "{msg}");
    let _ = fs::remove_file(&fifo);
    for (path, what) in [("/dev/null", "a device"), ("/tmp", "a directory")] {
        let err = read_npy(Path::new(path)).unwrap_err();
        assert!(matches!(err.kind, NpyErrorKind::Io { .. }), "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }
}

#[test]
fn a_reader_checks_the_header_then_reads_the_data_of_the_same_open_file() {
    let t = f32_tensor(&[2], &[1.0, -2.0]);
    let path = temp_path("reader");
    write_npy(&path, &t).unwrap();
    let reader = NpyReader::open(&path).unwrap();
    assert_eq!(
        (reader.dtype(), reader.shape()),
        (DType::F32, &[2usize][..])
    );
    // Replacing the file now does not change what the open reader reads.
    fs::remove_file(&path).unwrap();
    fs::write(&path, b"junk").unwrap();
    assert_eq!(reader.read_as(DType::F32).unwrap(), t);
    let _ = fs::remove_file(&path);
}

#[test]
fn every_quoted_piece_of_a_header_is_short() {
    // Generated headers: a long string (up to 20,000 characters, with control and non-ASCII ones)
    // in each place a header's text can reach a message: the dtype, a big-endian dtype, a key, a
    // value of the wrong kind, a word, a token after the dict. Every message stays short and says
    // how long the piece was.
    let mut state = 0x5eed_u64;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for case in 0..60 {
        let len = 200 + (next() % 20_000) as usize;
        let piece: String = (0..len)
            .map(|i| match (next() % 50, i) {
                (0, _) => '\u{7}',
                (1, _) => '\u{e9}',
                _ => 'x',
            })
            .collect();
        let word: String = "x".repeat(len);
        let dict = match case % 6 {
            0 => format!("{{'descr': '<{piece}', 'fortran_order': False, 'shape': (1,), }}"),
            1 => format!("{{'descr': '>{piece}', 'fortran_order': False, 'shape': (1,), }}"),
            2 => format!("{{'{piece}': '<f4', 'fortran_order': False, 'shape': (1,), }}"),
            3 => format!("{{'descr': '<f4', 'fortran_order': '{piece}', 'shape': (1,), }}"),
            4 => format!("{{'descr': '<f4', 'fortran_order': {word}, 'shape': (1,), }}"),
            _ => format!("{{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }} '{piece}'"),
        };
        let mut bytes = b"\x93NUMPY\x03\x00".to_vec();
        let header = format!("{dict}\n");
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0; 4]);
        let msg = read_npy_bytes(&bytes).unwrap_err().to_string();
        assert!(
            msg.len() < 600,
            "case {case}: {} characters: {msg}",
            msg.len()
        );
        assert!(
            !msg.contains('\u{7}') && !msg.contains('\u{e9}'),
            "case {case}: {msg}"
        );
        assert!(msg.contains("characters in all)"), "case {case}: {msg}");
    }
}

#[test]
fn a_shape_of_thousands_of_axes_is_quoted_short() {
    // 3000 axes of 1 and 4 bytes of data where the shape needs 4: fine; with none, the data length
    // error quotes the shape, cut short.
    let dims = vec!["1"; 3000].join(",");
    let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims},), }}\n");
    let mut bytes = b"\x93NUMPY\x03\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    let msg = read_npy_bytes(&bytes).unwrap_err().to_string();
    assert!(msg.len() < 400, "{} characters: {msg}", msg.len());
    assert!(msg.contains("characters in all)"), "{msg}");
    bytes.extend_from_slice(&[0; 4]);
    assert_eq!(read_npy_bytes(&bytes).unwrap().shape.len(), 3000);
}
