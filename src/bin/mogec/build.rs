//! `mogec build`: specialize one kernel and write what `--emit` asks for.

use crate::args::BuildArgs;
use crate::emit::{self, Artifacts, EmitKind};
use crate::error::Error;
use crate::output;
use crate::source;

/// Runs `mogec build`.
pub fn run(args: &BuildArgs) -> Result<(), Error> {
    let source = source::read(&args.kernel.file)?;
    let file = source::check(&source)?;
    let kernel = source::select(&source, file, args.kernel.kernel.as_deref())?;
    let specialized = source::specialize(&kernel, &args.kernel.set, source::Command::Build)?;
    let program = if args.emit.iter().any(|k| k.needs_program()) {
        Some(
            moge_codegen_ascendc::compile_program_with(
                &specialized,
                &args.target,
                &moge_lower::schedule::ScheduleOptions {
                    fuse: args.fuse.into(),
                    tiling: args.tiling.into(),
                    ..Default::default()
                },
            )
            .map_err(|source| Error::Codegen {
                kernel: specialized.name.clone(),
                source: Box::new(source),
            })?,
        )
    } else {
        None
    };
    let artifacts = Artifacts {
        kernel: &specialized,
        program: program.as_ref(),
    };
    let written = emit::emit(
        &args.emit,
        &artifacts,
        &args.out_dir,
        std::slice::from_ref(&args.kernel.file),
    )?;
    output::stdout_line(&format!("built: {}", source::signature(&specialized)));
    for path in written {
        output::stdout_line(&format!("wrote {}", path.display()));
    }
    // A directory with the kernels and their manifest runs as it is (edited or not).
    let has = |kind| args.emit.contains(&kind);
    if has(EmitKind::Ascendc) && has(EmitKind::Manifest) {
        let dims: Vec<String> = specialized
            .dynamic_dims()
            .iter()
            .map(|d| format!(" --dim {d}=128"))
            .collect();
        output::stdout_line(&format!(
            "run it: mogec run {} --random 1{} -o OUT{}",
            args.out_dir.display(),
            dims.concat(),
            if has(EmitKind::Graph) {
                ""
            } else {
                " (add graph to --emit to compare with the interpreter)"
            }
        ));
    }
    Ok(())
}
