//! Snapshots as static files, for a CDN or nginx in front of herald: the same URL scheme under a
//! directory (`<dir>/snapshot/<ts>` and `<dir>/snapshot/v2/<ts>`, each with a `.gz` beside it
//! for `gzip_static`), one file per timestamp a client can hold: 0 (full) and every interval
//! boundary of the last two weeks. Rewritten every interval; files are replaced atomically and
//! timestamps that fell out of the window are removed.
//!
//! The files carry no validators of their own: the web server derives them. Both files of a
//! snapshot get its build time as their modification time, so the two representations share
//! one `Last-Modified` (when the snapshot was built), while the entity tags nginx makes from
//! modification time and size differ between the plain file and its `.gz` (two
//! representations, two tags, as herald's own server does: RFC 9110 section 8.8.3). Serve them
//! with `gzip_static on; gzip_vary on;` so every answer carries `Vary: Accept-Encoding`.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::builder::{Request, Version, HORIZON_SECS};
use super::RgsService;

/// What one refresh wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
	/// Snapshot files written.
	pub files: usize,
	/// Outdated files removed.
	pub removed: usize,
	/// Bytes written.
	pub bytes: u64,
}

/// Writes every snapshot a client can ask for into `dir`; returns what it wrote.
pub fn write_all(service: &RgsService, dir: &Path, now: u64) -> std::io::Result<Written> {
	let latest_seen = service.latest_seen(now);
	let interval = service.config().interval_secs.max(1);
	let mut timestamps = vec![0u32];
	let mut t = latest_seen;
	while t > latest_seen.saturating_sub(HORIZON_SECS) && t > 0 {
		timestamps.push(t);
		t -= interval;
	}
	let mut written = Written::default();
	for (version, subdir) in
		[(Version::V1, dir.join("snapshot")), (Version::V2, dir.join("snapshot").join("v2"))]
	{
		std::fs::create_dir_all(&subdir)?;
		let mut keep = HashSet::new();
		for since in &timestamps {
			let served = service.build(Request { version, since: *since, latest_seen, now: now as u32 });
			let name = since.to_string();
			let built = UNIX_EPOCH + Duration::from_secs(served.built_at);
			replace(&subdir.join(&name), &served.raw, built)?;
			replace(&subdir.join(format!("{name}.gz")), &served.gzip, built)?;
			written.files += 2;
			written.bytes += (served.raw.len() + served.gzip.len()) as u64;
			keep.insert(name.clone());
			keep.insert(format!("{name}.gz"));
		}
		written.removed += remove_others(&subdir, &keep)?;
	}
	Ok(written)
}

/// Writes `bytes` to `path` through a temporary file and a rename, so readers never see half a
/// file; `modified` becomes its modification time (the web server's `Last-Modified`).
fn replace(path: &Path, bytes: &[u8], modified: SystemTime) -> std::io::Result<()> {
	let mut tmp: PathBuf = path.to_path_buf();
	tmp.as_mut_os_string().push(".tmp");
	let mut file = std::fs::File::create(&tmp)?;
	file.write_all(bytes)?;
	file.set_modified(modified)?;
	file.sync_all()?;
	std::fs::rename(&tmp, path)
}

/// Removes the snapshot files (names of digits, optionally `.gz`) not in `keep`, and temporary
/// files a killed writer left behind.
fn remove_others(dir: &Path, keep: &HashSet<String>) -> std::io::Result<usize> {
	let mut removed = 0;
	for entry in std::fs::read_dir(dir)? {
		let entry = entry?;
		let name = entry.file_name().to_string_lossy().into_owned();
		let name_without_tmp = name.strip_suffix(".tmp");
		let stem = name_without_tmp.unwrap_or(&name);
		let stem = stem.strip_suffix(".gz").unwrap_or(stem);
		let ours = !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit());
		if ours && entry.file_type()?.is_file() && (name_without_tmp.is_some() || !keep.contains(&name)) {
			std::fs::remove_file(entry.path())?;
			removed += 1;
		}
	}
	Ok(removed)
}
