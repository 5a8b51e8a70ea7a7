//! Reading the files a Corefile names (itself, imports, hosts files, resolv.conf, weight
//! files): whole, but never more than [`MAX_FILE`], so a path like `/dev/zero` in an edit fails
//! instead of filling memory.

use std::io::Read;
use std::path::Path;

/// The largest file read: far above any Corefile or hosts file (ad-blocking hosts files run
/// to a few MB).
pub const MAX_FILE: u64 = 64 << 20;

/// The text of the file at `path` (invalid UTF-8 is an error, as `fs::read_to_string`).
pub fn read_text(path: impl AsRef<Path>) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_FILE + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than {MAX_FILE} bytes"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_files_stop_at_the_bound() {
        let e = read_text("/dev/zero").expect_err("bounded");
        assert_eq!(e.kind(), std::io::ErrorKind::FileTooLarge);
        assert!(read_text("/proc/self/status").is_ok_and(|t| t.contains("Name:")));
    }
}
