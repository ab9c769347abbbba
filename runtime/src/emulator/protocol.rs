//! The request and response files exchanged with the emulator process (see `launcher.cpp`).
//!
//! Integers are little-endian; a string is a u32 length and its bytes.
//!
//! Request: `MOGEREQ3`, kernel name, u32 block_dim, u8 core type (0 AIV, 1 AIC, 2 MIX_AIC_1_2), u32 check
//! bits (1 races, 2 the PipeBarrier<PIPE_V> rule, 4 the instruction trace, 8 timing-only with the trace),
//! u32 argument count, per argument (name, u8 is_output,
//! u64 length, zeros to the next multiple of [`ARG_ALIGN`], bytes, zeros to the next multiple of
//! [`ARG_ALIGN`]), u64 workspace bytes, u64 tiling length, tiling bytes. The alignment lets the launcher
//! map each argument's bytes in place (copy-on-write), so that the pages a kernel never touches (most of
//! a layer's expert weights) are never read into memory; the zeros after them read as the zero gap an
//! allocated argument had.
//!
//! Response: `MOGERSP3`, u32 status. Status 0: u64 GM bytes read, u64 GM bytes written, u64 UB high-water
//! mark, u64 wall nanoseconds, u64 total violations, u32 reported violations and per violation (u32 core,
//! core label, call, message), u32 core count and per core (label, u64 GM read, u64 GM written), u32
//! argument count and per argument (u8 sent; when 1: u64 length, bytes), then u8 traced and, when 1, the
//! instruction trace: u32 name count and the API names, u32 core count and per core u64 event count and
//! its 64-byte records (see [`crate::model::trace`]). An argument not sent is an input the kernel did not
//! write: its bytes are the request's. Other statuses: a message (1: kernel not found, 2: bad request).
//!
//! Both files are streamed: an argument of gigabytes is written from and read into its own buffer,
//! never copied into a whole-file buffer.

use std::io::{self, Read, Write};
use std::time::Duration;

use super::RawLaunch;

const REQUEST_MAGIC: &[u8; 8] = b"MOGEREQ3";
const RESPONSE_MAGIC: &[u8; 8] = b"MOGERSP3";

/// The alignment of each argument's bytes in the request file: a page (the launcher's `kArgAlign`).
pub(super) const ARG_ALIGN: u64 = 4096;

/// A writer that counts the bytes written, for the alignment of the arguments.
struct Counting<W> {
    out: W,
    at: u64,
}

impl<W: Write> Counting<W> {
    fn bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.at += bytes.len() as u64;
        Ok(())
    }

    fn u32(&mut self, value: u32) -> io::Result<()> {
        self.bytes(&value.to_le_bytes())
    }

    fn u64(&mut self, value: u64) -> io::Result<()> {
        self.bytes(&value.to_le_bytes())
    }

    fn string(&mut self, text: &[u8]) -> io::Result<()> {
        self.u32(text.len() as u32)?;
        self.bytes(text)
    }

    /// Zeros up to the next multiple of [`ARG_ALIGN`].
    fn align(&mut self) -> io::Result<()> {
        let pad = (ARG_ALIGN - self.at % ARG_ALIGN) % ARG_ALIGN;
        self.bytes(&[0; ARG_ALIGN as usize][..pad as usize])
    }
}

/// Writes a launch request to `out` (see the module documentation).
pub(super) fn write_request(out: impl Write, launch: &RawLaunch<'_>) -> io::Result<()> {
    let mut out = Counting { out, at: 0 };
    out.bytes(REQUEST_MAGIC)?;
    out.string(launch.kernel.as_bytes())?;
    out.u32(launch.block_dim)?;
    out.bytes(&[launch.core_type.code()])?;
    out.u32(launch.check.bits())?;
    out.u32(launch.args.len() as u32)?;
    for arg in &launch.args {
        out.string(arg.name.as_bytes())?;
        out.bytes(&[u8::from(arg.is_output)])?;
        out.u64(arg.bytes.len() as u64)?;
        out.align()?;
        out.bytes(&arg.bytes)?;
        out.align()?;
    }
    out.u64(launch.workspace_bytes as u64)?;
    out.u64(launch.tiling.len() as u64)?;
    out.bytes(&launch.tiling)?;
    out.out.flush()
}

/// The bytes of a launch request (see [`write_request`]).
#[cfg(test)]
pub(super) fn encode_request(launch: &RawLaunch<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_request(&mut out, launch);
    out
}

/// One violation as the launcher reports it.
pub(super) struct RawViolation {
    pub(super) core: u32,
    pub(super) label: String,
    pub(super) call: String,
    pub(super) message: String,
}

/// A decoded response.
pub(super) enum Response {
    /// The kernel ran (possibly with violations).
    Ran {
        gm_read: u64,
        gm_written: u64,
        ub_high: u64,
        wall: Duration,
        total_violations: u64,
        violations: Vec<RawViolation>,
        cores: Vec<super::CoreStats>,
        /// Per argument, its bytes after the run; `None` for an input the kernel did not write.
        args: Vec<Option<Vec<u8>>>,
        /// The instruction trace, when the request asked for one (core labels and launch kind unset).
        trace: Option<crate::model::trace::Trace>,
    },
    /// The kernel symbol is missing.
    KernelNotFound,
    /// The launcher rejected the request.
    BadRequest(String),
}

/// Reads a response from a stream; each argument's bytes go straight into a buffer of their own.
struct Reader<R> {
    input: R,
}

impl<R: Read> Reader<R> {
    fn take(&mut self, n: usize) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        out.try_reserve_exact(n)
            .map_err(|_| format!("the response announces {n} bytes, which cannot be allocated"))?;
        let got = (&mut self.input)
            .take(n as u64)
            .read_to_end(&mut out)
            .map_err(|e| format!("the response cannot be read: {e}"))?;
        if got < n {
            return Err(format!(
                "the response is truncated: {n} bytes wanted, {got} left"
            ));
        }
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0; N];
        let bytes = self.take(N)?;
        out.copy_from_slice(&bytes);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        Ok(String::from_utf8_lossy(&self.take(len)?).into_owned())
    }
}

/// Decodes a response file read from `input`.
pub(super) fn read_response(input: impl Read) -> Result<Response, String> {
    let mut reader = Reader { input };
    if reader.take(8)? != RESPONSE_MAGIC {
        return Err(String::from("the response does not start with MOGERSP3"));
    }
    match reader.u32()? {
        0 => {
            let gm_read = reader.u64()?;
            let gm_written = reader.u64()?;
            let ub_high = reader.u64()?;
            let wall = Duration::from_nanos(reader.u64()?);
            let total_violations = reader.u64()?;
            let count = reader.u32()?;
            let mut violations = Vec::with_capacity(count.min(64) as usize);
            for _ in 0..count {
                let core = reader.u32()?;
                let label = reader.string()?;
                let call = reader.string()?;
                let message = reader.string()?;
                violations.push(RawViolation {
                    core,
                    label,
                    call,
                    message,
                });
            }
            let core_count = reader.u32()?;
            let mut cores = Vec::with_capacity(core_count.min(1024) as usize);
            for _ in 0..core_count {
                let label = reader.string()?;
                let gm_bytes_read = reader.u64()?;
                let gm_bytes_written = reader.u64()?;
                cores.push(super::CoreStats {
                    label,
                    gm_bytes_read,
                    gm_bytes_written,
                });
            }
            let arg_count = reader.u32()?;
            let mut args = Vec::with_capacity(arg_count.min(64) as usize);
            for _ in 0..arg_count {
                if reader.u8()? == 0 {
                    args.push(None);
                    continue;
                }
                let len = usize::try_from(reader.u64()?)
                    .map_err(|_| String::from("argument length overflows"))?;
                args.push(Some(reader.take(len)?));
            }
            let trace = read_trace(&mut reader)?;
            Ok(Response::Ran {
                gm_read,
                gm_written,
                ub_high,
                wall,
                total_violations,
                violations,
                cores,
                args,
                trace,
            })
        }
        1 => Ok(Response::KernelNotFound),
        2 => Ok(Response::BadRequest(reader.string()?)),
        status => Err(format!("unknown response status {status}")),
    }
}

/// Reads the trace section of a response (see the module documentation).
fn read_trace<R: Read>(
    reader: &mut Reader<R>,
) -> Result<Option<crate::model::trace::Trace>, String> {
    use crate::model::trace::{decode_record, CoreTrace, Trace, RECORD_BYTES};
    if reader.u8()? == 0 {
        return Ok(None);
    }
    let name_count = reader.u32()?;
    let mut names = Vec::with_capacity(name_count.min(4096) as usize);
    for _ in 0..name_count {
        names.push(reader.string()?);
    }
    let core_count = reader.u32()?;
    let mut cores = Vec::with_capacity(core_count.min(1024) as usize);
    for core in 0..core_count {
        let events = usize::try_from(reader.u64()?)
            .ok()
            .and_then(|n| n.checked_mul(RECORD_BYTES))
            .ok_or_else(|| String::from("the trace's event count overflows"))?;
        let bytes = reader.take(events)?;
        let instrs = bytes
            .chunks_exact(RECORD_BYTES)
            .enumerate()
            .map(|(i, record)| {
                decode_record(record).map_err(|e| format!("trace of core {core}, event {i}: {e}"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        cores.push(CoreTrace {
            label: String::new(),
            instrs,
        });
    }
    Ok(Some(Trace {
        names,
        cores,
        ..Trace::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{CheckMode, CoreType, GmArg};
    use super::*;

    #[test]
    fn each_argument_starts_and_ends_on_the_alignment_with_zeros_around_it() {
        // The launcher maps an argument at its offset: the offset must be a page multiple, and the
        // rest of its last page zeros (the gap an allocated argument had).
        let arg = |name: &str, bytes: Vec<u8>| GmArg {
            name: name.to_string(),
            bytes,
            is_output: false,
        };
        let launch = RawLaunch {
            source: "",
            kernel: "k",
            block_dim: 1,
            core_type: CoreType::Aiv,
            check: CheckMode::default(),
            args: vec![arg("a", vec![7; 5000]), arg("bb", vec![9; 3])],
            workspace_bytes: 0,
            tiling: vec![1, 2],
        };
        let bytes = encode_request(&launch);
        let header: usize = 8 + (4 + 1) + 4 + 1 + 4 + 4;
        let first = header + (4 + 1) + 1 + 8;
        let a_at = first.next_multiple_of(4096);
        assert!(bytes[first..a_at].iter().all(|&b| b == 0));
        assert_eq!(&bytes[a_at..a_at + 5000], &[7; 5000][..]);
        let a_end = (a_at + 5000).next_multiple_of(4096);
        assert!(bytes[a_at + 5000..a_end].iter().all(|&b| b == 0));
        let b_header = a_end + (4 + 2) + 1 + 8;
        let b_at = b_header.next_multiple_of(4096);
        assert_eq!(&bytes[b_at..b_at + 3], &[9; 3]);
        let b_end = (b_at + 3).next_multiple_of(4096);
        // Workspace size, tiling length and the tiling close the request.
        assert_eq!(bytes.len(), b_end + 8 + 8 + 2);
        assert_eq!(&bytes[b_end + 16..], &[1, 2]);
    }

    #[test]
    fn a_response_sends_back_only_some_arguments_and_a_short_one_is_an_error() {
        let mut data = RESPONSE_MAGIC.to_vec();
        data.extend(0u32.to_le_bytes());
        for value in [10u64, 20, 30, 40, 0] {
            data.extend(value.to_le_bytes());
        }
        data.extend(0u32.to_le_bytes()); // violations
        data.extend(0u32.to_le_bytes()); // cores
        data.extend(2u32.to_le_bytes()); // arguments
        data.push(0); // the first not sent
        data.push(1);
        data.extend(3u64.to_le_bytes());
        data.extend([4, 5, 6]);
        data.push(0); // no trace
        match read_response(&data[..]) {
            Ok(Response::Ran { args, gm_read, .. }) => {
                assert_eq!(gm_read, 10);
                assert_eq!(args, vec![None, Some(vec![4, 5, 6])]);
            }
            _ => panic!("the response does not decode"),
        }
        // Without the trace flag and the last argument byte.
        let short = read_response(&data[..data.len() - 2]);
        assert!(
            matches!(&short, Err(m) if m.contains("truncated: 3 bytes wanted, 2 left")),
            "{:?}",
            short.err()
        );
    }

    /// A response without violations, arguments or cores, then `trace`.
    fn response_with_trace(trace: &[u8]) -> Vec<u8> {
        let mut data = RESPONSE_MAGIC.to_vec();
        data.extend(0u32.to_le_bytes());
        for value in [0u64; 5] {
            data.extend(value.to_le_bytes());
        }
        data.extend([0u32; 3].iter().flat_map(|v| v.to_le_bytes()));
        data.extend(trace);
        data
    }

    #[test]
    fn the_trace_section_decodes_and_a_bad_record_names_its_core_and_event() {
        let mut trace = vec![1];
        trace.extend(2u32.to_le_bytes()); // names
        for name in ["?", "SetFlag"] {
            trace.extend((name.len() as u32).to_le_bytes());
            trace.extend(name.as_bytes());
        }
        trace.extend(1u32.to_le_bytes()); // cores
        trace.extend(1u64.to_le_bytes()); // events
        let mut record = [0u8; 64];
        // SET_FLAG on MTE2 (slot 4), call 1, HardEvent 4 (MTE2_V), id 3.
        record[..4].copy_from_slice(&[6, 4, 1, 0]);
        record[8..12].copy_from_slice(&4u32.to_le_bytes());
        record[12..16].copy_from_slice(&3u32.to_le_bytes());
        let mut good = trace.clone();
        good.extend(record);
        match read_response(&response_with_trace(&good)[..]) {
            Ok(Response::Ran { trace: Some(t), .. }) => {
                let instr = &t.cores[0].instrs[0];
                assert_eq!(instr.pipe, crate::model::Pipe::Mte2);
                assert_eq!(
                    instr.op,
                    crate::model::trace::Op::SetFlag { event: 4, id: 3 }
                );
                assert_eq!(t.name(instr), "SetFlag");
            }
            _ => panic!("the trace does not decode"),
        }
        record[0] = 99;
        let mut bad = trace;
        bad.extend(record);
        let err = read_response(&response_with_trace(&bad)[..]).err();
        assert_eq!(
            err.as_deref(),
            Some("trace of core 0, event 0: unknown trace event kind 99")
        );
    }
}
