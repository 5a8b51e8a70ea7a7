//! The search list of a resolv.conf, as miekg's `ClientConfigFromFile` reads it (the last
//! `search` or `domain` line wins), normalized as CoreDNS's `plugin.Zones.Normalize` leaves it.

use std::path::Path;

/// The search domains of the resolv.conf at `path`: lower-case and fully qualified.
pub fn search_list(path: &Path) -> Result<Vec<String>, String> {
    let text = corefile::read_text(path).map_err(|e| e.to_string())?;
    // Lines it cannot read are skipped, as miekg's reader skips them.
    let (config, _) = resolv_conf::Config::parse_with_errors(text.as_bytes());
    Ok(config
        .get_last_search_or_domain()
        .map(|domain| crate::normalize_zone(domain))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_search_or_domain_line_wins() {
        let dir = std::env::temp_dir().join(format!("resolv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("resolv.conf");
        std::fs::write(&path, "domain first.example\nsearch Default.svc.Cluster.Local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n").expect("write");
        assert_eq!(
            search_list(&path).expect("parses"),
            [
                "default.svc.cluster.local.",
                "svc.cluster.local.",
                "cluster.local."
            ]
        );
        std::fs::write(&path, "search a.example\ndomain corp.example\n").expect("write");
        assert_eq!(search_list(&path).expect("parses"), ["corp.example."]);
        std::fs::write(&path, "nameserver 10.0.0.1\n").expect("write");
        assert!(search_list(&path).expect("parses").is_empty());
        assert!(search_list(&dir.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
