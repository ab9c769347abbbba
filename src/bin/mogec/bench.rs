//! `mogec bench`: a thin wrapper over `moge::bench` — the sweep from the flags (or the kernel's
//! default), the output directory checked, a progress line, the table, bench.csv and bench.svg.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use moge::bench::{self, BenchInfo, BenchOptions, Sweep};
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
    let name = args.kernel.kernel.as_deref();
    // The kernel's path in its file (`module::name`): two kernels of one name in different modules
    // are different benches. A selection error is reported by `select` just below.
    let path = moge::select::select_kernel(&source.path, &file, name)
        .ok()
        .and_then(|i| file.kernels.get(i))
        .map(|k| k.path.clone());
    let kernel = source::select(&source, file, name)?;
    let path = path.unwrap_or_else(|| kernel.name.clone());
    let kernel = source::specialize(&kernel, &args.kernel.set, source::Command::EvalOrRun)?;
    let sweep = sweep(&kernel, args)?;
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("bench-{}", path.replace("::", "-"))));
    // Everything about the output directory is checked before the first size runs.
    let created = check_out_dir(&out_dir, &path)?;
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
    let rows = match rows {
        Ok(rows) => rows,
        Err(err) => {
            if created {
                // Only if still empty: nothing was written into it.
                let _ = std::fs::remove_dir(&out_dir);
            }
            return Err(err);
        }
    };
    let target = args.target.name;
    output::stdout(&bench::table(&kernel.name, target, &sweep, &rows));
    let info = BenchInfo {
        kernel: path,
        target: target.to_string(),
        timing_only: args.timing_only,
        static_dims: args
            .kernel
            .set
            .iter()
            .map(|b| (b.name.clone(), b.value))
            .collect(),
    };
    let csv = bench::csv(&info, &sweep, &rows);
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
            _ if !given.is_empty() => {
                // Every dim given one size: which one to sweep is the user's to say.
                let d = &given[0];
                return Err(Error::Bench(format!(
                    "kernel `{}` has no default sweep and every --dim has one size: give one of them as a list of sizes to sweep, e.g. --dim {}={}",
                    kernel.name,
                    d.name,
                    example_list(d.sizes[0])
                )));
            }
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

/// A sweep around `size` for an error message: `1,SIZE,8·SIZE` (or `1,8,64` from 1).
fn example_list(size: i64) -> String {
    if size <= 1 {
        "1,8,64".to_string()
    } else {
        format!("1,{size},{}", size.saturating_mul(8))
    }
}

/// Checks the output directory before anything runs, so that no sweep is lost to it: it must be a
/// directory (created here when missing; returns whether it was), writable, holding nothing but
/// an earlier bench's bench.csv and bench.svg (as files), of the same kernel `path`.
fn check_out_dir(dir: &Path, path: &str) -> Result<bool, Error> {
    let refuse = |why: String| Err(Error::Bench(format!("-o {}: {why}", dir.display())));
    let created = match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => false,
        Ok(_) => return refuse("exists and is not a directory; give -o a directory".to_string()),
        // Missing, or under something that is not a directory: creating it says what is wrong.
        Err(_) => {
            if let Err(err) = std::fs::create_dir_all(dir) {
                return refuse(format!("cannot create the output directory: {err}"));
            }
            true
        }
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => return refuse(format!("cannot read the output directory: {err}")),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !BENCH_FILES.iter().any(|f| name == *f) {
            return refuse(format!(
                "the output directory holds `{}`, which no bench wrote: give -o a new or empty directory, or one holding only bench.csv and bench.svg",
                name.to_string_lossy()
            ));
        }
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            return refuse(format!(
                "`{}` in the output directory is not a regular file, so it cannot be replaced",
                name.to_string_lossy()
            ));
        }
    }
    if let Ok(csv) = std::fs::read_to_string(dir.join("bench.csv")) {
        if let Some(other) = bench::recorded_kernel(&csv).filter(|k| k != path) {
            return refuse(format!(
                "the output directory holds the bench of kernel `{other}`, not `{path}`; give -o another directory"
            ));
        }
    }
    // Writable: a file created and removed now, rather than a failed write after the sweep.
    let probe = dir.join(format!(".mogec-bench-probe-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(err) => {
            if created {
                let _ = std::fs::remove_dir(dir);
            }
            return refuse(format!("cannot write into the output directory: {err}"));
        }
    }
    Ok(created)
}
