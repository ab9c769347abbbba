//! The request and response files exchanged with the emulator process (see `launcher.cpp`).
//!
//! Integers are little-endian; a string is a u32 length and its bytes.
//!
//! Request: `MOGEREQ2`, kernel name, u32 block_dim, u8 core type (0 AIV, 1 AIC, 2 MIX_AIC_1_2), u32 check
//! bits (1 races, 2 the PipeBarrier<PIPE_V> rule), u32 argument count, per argument (name, u8 is_output,
//! u64 length, bytes), u64 workspace bytes, u64 tiling length, tiling bytes.
//!
//! Response: `MOGERSP2`, u32 status. Status 0: u64 GM bytes read, u64 GM bytes written, u64 UB high-water
//! mark, u64 wall nanoseconds, u64 total violations, u32 reported violations and per violation (u32 core,
//! core label, call, message), u32 core count and per core (label, u64 GM read, u64 GM written), u32 argument count and per argument (u64 length, bytes). Other statuses: a message
//! (1: kernel not found, 2: bad request).

use std::time::Duration;

use super::RawLaunch;

const REQUEST_MAGIC: &[u8; 8] = b"MOGEREQ2";
const RESPONSE_MAGIC: &[u8; 8] = b"MOGERSP2";

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

/// Encodes a launch request.
pub(super) fn encode_request(launch: &RawLaunch<'_>) -> Vec<u8> {
    let payload: usize = launch
        .args
        .iter()
        .map(|arg| arg.bytes.len() + arg.name.len() + 17)
        .sum();
    let mut out = Vec::with_capacity(64 + launch.kernel.len() + payload + launch.tiling.len());
    out.extend_from_slice(REQUEST_MAGIC);
    put_bytes(&mut out, launch.kernel.as_bytes());
    put_u32(&mut out, launch.block_dim);
    out.push(launch.core_type.code());
    put_u32(&mut out, launch.check.bits());
    put_u32(&mut out, launch.args.len() as u32);
    for arg in &launch.args {
        put_bytes(&mut out, arg.name.as_bytes());
        out.push(u8::from(arg.is_output));
        put_u64(&mut out, arg.bytes.len() as u64);
        out.extend_from_slice(&arg.bytes);
    }
    put_u64(&mut out, launch.workspace_bytes as u64);
    put_u64(&mut out, launch.tiling.len() as u64);
    out.extend_from_slice(&launch.tiling);
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
        args: Vec<Vec<u8>>,
    },
    /// The kernel symbol is missing.
    KernelNotFound,
    /// The launcher rejected the request.
    BadRequest(String),
}

struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.data.len() < n {
            return Err(format!(
                "the response is truncated: {} bytes wanted, {} left",
                n,
                self.data.len()
            ));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let low = u64::from(self.u32()?);
        let high = u64::from(self.u32()?);
        Ok(low | high << 32)
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
}

/// Decodes a response file.
pub(super) fn decode_response(data: &[u8]) -> Result<Response, String> {
    let mut reader = Reader { data };
    if reader.take(8)? != RESPONSE_MAGIC {
        return Err(String::from("the response does not start with MOGERSP1"));
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
                let len = usize::try_from(reader.u64()?)
                    .map_err(|_| String::from("argument length overflows"))?;
                args.push(reader.take(len)?.to_vec());
            }
            Ok(Response::Ran {
                gm_read,
                gm_written,
                ub_high,
                wall,
                total_violations,
                violations,
                cores,
                args,
            })
        }
        1 => Ok(Response::KernelNotFound),
        2 => Ok(Response::BadRequest(reader.string()?)),
        status => Err(format!("unknown response status {status}")),
    }
}
