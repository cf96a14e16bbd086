//! Files and folders only the service's own user may read: the data directory, the SQLite
//! database and the photo folder hold patient data, so they are made 700/600 whatever the
//! umask (which is 022 on most systems, i.e. readable by every local user).

use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates the folder (and missing parents) as 700; an existing folder is left as it is.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(DIR_MODE);
    builder.create(path)
}

/// Creates the folder if needed and makes it 700 even if it existed (it is ours alone).
pub fn own_dir(path: &Path) -> io::Result<()> {
    create_dir_all(path)?;
    set_mode(path, DIR_MODE)
}

/// Makes an existing file 600; a missing file is fine.
pub fn own_file(path: &Path) -> io::Result<()> {
    match set_mode(path, FILE_MODE) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Options for a new file only we may read.
pub fn new_file_options() -> tokio::fs::OpenOptions {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(FILE_MODE);
    options
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> io::Result<()> {
    Ok(())
}
