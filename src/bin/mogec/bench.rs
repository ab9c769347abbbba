//! `mogec bench`: a thin wrapper over `moge::bench` — the sweep from the flags (or the kernel's
//! default), the output directory checked, a progress line, the table, bench.csv and bench.svg.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use moge::bench::{self, BenchOptions, Sweep};
use moge::files::{self, Contents};
use moge_lower::graph::Kernel;

use crate::args::BenchArgs;
use crate::error::{quoted_list, Error};
use crate::output;
use crate::source;

/// The files a bench writes: a directory holding only these is an earlier bench's, and may be
/// written again.
const BENCH_FILES: [&str; 2] = ["bench.csv", "bench.svg"];

/// Runs `mogec bench`.
pub fn run(args: &BenchArgs) -> Result<(), Error> {
    let source = source::read(&args.kernel.file)?;
    let file = source::check(&source)?;
    let kernel = source::select(&source, file, args.kernel.kernel.as_deref())?;
    let kernel = source::specialize(&kernel, &args.kernel.set, source::Command::EvalOrRun)?;
    let sweep = sweep(&kernel, args)?;
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("bench-{}", kernel.name)));
    check_out_dir(&out_dir)?;
    let options = BenchOptions {
        target: args.target.clone(),
        fuse: args.fuse.into(),
        tiling: args.tiling.into(),
        timing_only: args.timing_only,
        seed: args.random,
    };
    let show = std::io::stderr().is_terminal();
    let mut progress = |index: usize, count: usize, size: i64| {
        if show {
            output::stderr(&format!(
                "\r\x1b[2K[{}/{count}] {}={size} ...",
                index + 1,
                sweep.dim
            ));
        }
    };
    let rows = bench::bench(&kernel, &sweep, &options, &mut progress)
        .map_err(|err| Error::Run(Box::new(err)));
    if show {
        output::stderr("\r\x1b[2K");
    }
    let rows = rows?;
    let target = args.target.name;
    output::stdout(&bench::table(&kernel.name, target, &sweep, &rows));
    let csv = bench::csv(&sweep, &rows);
    let svg = bench::svg(&kernel.name, target, &sweep, &rows);
    let written = vec![
        ("bench.csv".to_string(), Contents::Bytes(csv.into_bytes())),
        ("bench.svg".to_string(), Contents::Bytes(svg.into_bytes())),
    ];
    files::write_all(&out_dir, &written, std::slice::from_ref(&args.kernel.file))?;
    let csv_path = out_dir.join("bench.csv");
    output::stdout_line(&format!(
        "wrote {} and {}",
        csv_path.display(),
        out_dir.join("bench.svg").display()
    ));
    let failed = rows.iter().filter(|r| r.outcome.is_err()).count();
    if failed > 0 {
        return Err(Error::BenchFailed {
            failed,
            total: rows.len(),
            csv: csv_path.display().to_string(),
        });
    }
    Ok(())
}

/// The sweep from `--dim`, or the kernel's default; every dynamic dim of the kernel gets a size.
fn sweep(kernel: &Kernel, args: &BenchArgs) -> Result<Sweep, Error> {
    let dynamic: Vec<String> = kernel
        .dynamic_dims()
        .iter()
        .map(|d| d.to_string())
        .collect();
    if dynamic.is_empty() {
        return Err(Error::Bench(format!(
            "kernel `{}` has no dynamic dims: there is nothing to sweep (`mogec run` runs it once)",
            kernel.name
        )));
    }
    let mut given = args.dim.clone();
    for (i, d) in given.iter().enumerate() {
        if !dynamic.contains(&d.name) {
            return Err(Error::Bench(format!(
                "--dim {}: kernel `{}` has no dynamic dim `{}`; its dynamic dims are {}",
                d.name,
                kernel.name,
                d.name,
                quoted_list(&dynamic)
            )));
        }
        if given[..i].iter().any(|e| e.name == d.name) {
            return Err(Error::Bench(format!(
                "--dim {} is given twice; give its sizes once, as a comma list (--dim {}=1,8,64)",
                d.name, d.name
            )));
        }
    }
    let lists: Vec<&str> = given
        .iter()
        .filter(|d| d.sizes.len() > 1)
        .map(|d| d.name.as_str())
        .collect();
    if lists.len() > 1 {
        return Err(Error::Bench(format!(
            "--dim: only one dim may have several sizes (the swept one), but {} have; give the others one size each and run one bench per size",
            quoted_list(&lists)
        )));
    }
    let swept = match lists.first() {
        Some(name) => given.iter().position(|d| d.name == *name),
        None => None,
    };
    let swept = match swept {
        Some(index) => given.remove(index),
        None => match Sweep::default_for(&kernel.name) {
            // A default sweep whose dim was given one size: that size is the whole sweep.
            Some(default) if !given.iter().any(|d| d.name == default.dim) => crate::args::DimList {
                name: default.dim,
                sizes: default.sizes,
            },
            _ if given.len() == 1 && dynamic.len() == 1 => given.remove(0),
            _ => {
                return Err(Error::Bench(format!(
                    "kernel `{}` has no default sweep: give the sizes of one of its dynamic dims ({}), e.g. --dim {}=1,64,1024",
                    kernel.name,
                    quoted_list(&dynamic),
                    dynamic[0]
                )));
            }
        },
    };
    let fixed: Vec<(String, i64)> = given.iter().map(|d| (d.name.clone(), d.sizes[0])).collect();
    let missing: Vec<&String> = dynamic
        .iter()
        .filter(|d| **d != swept.name && !fixed.iter().any(|(n, _)| n == *d))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Bench(format!(
            "kernel `{}` sweeps `{}`; its other dynamic dims need one size each: --dim {}",
            kernel.name,
            swept.name,
            missing
                .iter()
                .map(|m| format!("{m}=SIZE"))
                .collect::<Vec<_>>()
                .join(" --dim ")
        )));
    }
    Ok(Sweep {
        dim: swept.name,
        sizes: swept.sizes,
        fixed,
    })
}

/// Refuses an output directory that holds files other than an earlier bench's.
fn check_out_dir(dir: &Path) -> Result<(), Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // A directory that does not exist yet is created by the write; a file in the way is
        // reported by it.
        Err(_) => return Ok(()),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !BENCH_FILES.iter().any(|f| name == *f) {
            return Err(Error::Bench(format!(
                "the output directory `{}` holds `{}`, which no bench wrote: give -o a new or empty directory, or one holding only bench.csv and bench.svg",
                dir.display(),
                name.to_string_lossy()
            )));
        }
    }
    Ok(())
}
