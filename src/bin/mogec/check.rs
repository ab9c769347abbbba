//! `mogec check`: check every kernel of one or more files.
//!
//! Prints `ok: SIGNATURE` on stdout for every kernel that checks, and the diagnostics of the others
//! in rustc's shape on stderr, followed by a one-line summary.

use moge::load::LoadError;

use crate::args::CheckArgs;
use crate::error::{quoted_list, Error};
use crate::output;
use crate::source::{self, count, Source};

/// Runs `mogec check`.
pub fn run(args: &CheckArgs) -> Result<(), Error> {
    // Unreadable files are usage errors: report them before checking anything.
    let sources: Vec<Source> = args
        .files
        .iter()
        .map(|path| source::read(path))
        .collect::<Result<_, _>>()?;
    if let [single] = sources.as_slice() {
        return check_file(single);
    }
    let mut rendered = String::new();
    let mut failed = 0;
    for source in &sources {
        if let Err(err) = check_file(source) {
            failed += 1;
            if let Error::Load(LoadError::Diagnostics { rendered: text, .. }) = &err {
                rendered.push_str(text);
            }
            rendered.push_str(&format!("error: {err}\n\n"));
        }
    }
    if failed == 0 {
        return Ok(());
    }
    Err(LoadError::Diagnostics {
        rendered,
        summary: format!("could not check {failed} of {} files", sources.len()),
    }
    .into())
}

/// Checks one file: prints an `ok:` line per good kernel and returns the diagnostics of the others.
fn check_file(source: &Source) -> Result<(), Error> {
    let file = source::check(source)?;
    if file.kernels.is_empty() && file.errors.is_empty() {
        return Err(LoadError::Select(moge::select::SelectError::NoKernels {
            path: source.path.clone(),
        })
        .into());
    }
    let mut rendered = String::new();
    // Errors outside the kernels (a kernel attribute on a struct or a method) come first.
    let mut errors = file.errors.len();
    if !file.errors.is_empty() {
        rendered.push_str(&source::rendered(source, &file.errors));
    }
    let mut failed: Vec<&str> = Vec::new();
    for kernel in &file.kernels {
        match &kernel.result {
            Ok(graph) => output::stdout_line(&format!("ok: {}", source::signature(graph))),
            Err(diags) => {
                rendered.push_str(&source::rendered(source, diags));
                errors += diags.len();
                failed.push(&kernel.path);
            }
        }
    }
    if errors == 0 {
        return Ok(());
    }
    let which = match failed.as_slice() {
        [] => "the file, outside its kernels".to_string(),
        [one] => format!("kernel `{one}`"),
        many => format!("{} ({})", count(many.len(), "kernel"), quoted_list(many)),
    };
    Err(LoadError::Diagnostics {
        rendered,
        summary: format!(
            "could not check `{}`: {} in {which}",
            source.path,
            count(errors, "error")
        ),
    }
    .into())
}
