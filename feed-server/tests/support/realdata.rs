//! Real market data captured by others, in `../shared/realdata/` beside the project (CI has it):
//! a test that needs a file says it skipped, and passes, when the folder is absent.

use std::path::{Path, PathBuf};

/// `../shared/realdata/RELATIVE`, or `None` (and a line saying the test skipped) without it.
pub fn sample(relative: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/realdata")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: {} is absent", path.display());
        None
    }
}
