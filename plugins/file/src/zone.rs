//! A zone read from a zone file: its apex and its names in canonical order, and CoreDNS's
//! lookup in it (plugin/file/lookup.go).

use std::collections::BTreeMap;
use std::path::Path;

use clusterdns_plugin::proto::rr::rdata::CNAME;
use clusterdns_plugin::proto::rr::{LowerName, Name, RData, Record, RecordType};
use clusterdns_plugin::proto::serialize::txt::Parser;

/// How many CNAMEs inside the zone a lookup follows (CoreDNS's `externalLookup` stops after 8).
const MAX_CHASE: usize = 8;

/// Why a zone file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// A record that does not parse, with the line its entry starts on.
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: String,
        line: usize,
        message: String,
    },
    /// CoreDNS's words for a file without the zone's SOA.
    #[error("file {path:?} has no SOA record for origin {origin}")]
    NoSoa { path: String, origin: String },
}

/// One zone: the apex SOA and NS kept apart (as CoreDNS's `Apex`), every other record under
/// its owner name. Names are lower-cased, as CoreDNS's `Insert` does, so answers carry the
/// zone file's names in lower case whatever the question's case.
#[derive(Debug, Clone)]
pub struct Zone {
    origin: Name,
    soa: Record,
    ns: Vec<Record>,
    /// In canonical order (RFC 4034 6.1), which finds empty non-terminals and transfer order.
    names: BTreeMap<LowerName, Node>,
}

/// The records of one owner name, by type, in the order the file first gave each type.
#[derive(Debug, Clone, Default)]
struct Node {
    sets: Vec<(RecordType, Vec<Record>)>,
}

impl Node {
    fn get(&self, rtype: RecordType) -> &[Record] {
        self.sets
            .iter()
            .find(|(t, _)| *t == rtype)
            .map_or(&[], |(_, rs)| rs.as_slice())
    }

    fn insert(&mut self, record: Record) {
        let rtype = record.record_type();
        match self.sets.iter_mut().find(|(t, _)| *t == rtype) {
            Some((_, rs)) => rs.push(record),
            None => self.sets.push((rtype, vec![record])),
        }
    }
}

/// What a lookup found, as CoreDNS's `Result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Success,
    NameError,
    Delegation,
    NoData,
    ServerFailure,
}

/// A lookup's sections and result. `chase` is a CNAME target outside what the zone holds: the
/// handler asks the server for it (CoreDNS's `upstream.Lookup`) and appends what comes back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    pub found: Found,
    pub chase: Option<Name>,
}

impl Answer {
    fn new(answers: Vec<Record>, authorities: Vec<Record>, additionals: Vec<Record>, found: Found) -> Self {
        Self {
            answers,
            authorities,
            additionals,
            found,
            chase: None,
        }
    }
}

impl Zone {
    /// Reads zone file `text` for `origin`; `path` names the file in errors and anchors
    /// relative `$INCLUDE`s, which CoreDNS allows too.
    pub fn parse(text: &str, origin: &Name, path: &Path) -> Result<Zone, ZoneError> {
        let origin = origin.to_lowercase();
        let parsed = Parser::new(text, Some(path.to_path_buf()), Some(origin.clone()))
            .parse()
            .map_err(|e| ZoneError::Syntax {
                path: path.display().to_string(),
                line: failing_line(text, &origin, path),
                message: e.to_string(),
            })?;
        let records = parsed
            .1
            .into_values()
            .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>());
        Zone::from_records(&origin, records).ok_or_else(|| ZoneError::NoSoa {
            path: path.display().to_string(),
            origin: origin.to_string(),
        })
    }

    /// The zone `origin` of `records` (a file's, or a transfer's); `None` without its SOA.
    pub fn from_records(origin: &Name, records: impl IntoIterator<Item = Record>) -> Option<Zone> {
        let origin = origin.to_lowercase();
        let mut soa = None;
        let mut ns = Vec::new();
        let mut names: BTreeMap<LowerName, Node> = BTreeMap::new();
        for record in records {
            let mut record = lowercase(record);
            // Records outside the zone could never be found (CoreDNS stores them all the
            // same; it would transfer them): left out.
            if !origin.zone_of(&record.name) {
                continue;
            }
            match record.record_type() {
                RecordType::SOA if record.name == origin => soa = Some(record),
                RecordType::NS if record.name == origin => ns.push(record),
                _ => {
                    record.name.set_fqdn(true);
                    names
                        .entry(LowerName::new(&record.name))
                        .or_default()
                        .insert(record);
                }
            }
        }
        Some(Zone {
            origin,
            soa: soa?,
            ns,
            names,
        })
    }

    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// The zone's SOA record.
    pub fn soa(&self) -> &Record {
        &self.soa
    }

    /// The SOA serial, which decides whether a re-read file replaces the zone.
    pub fn serial(&self) -> u32 {
        match self.soa.data {
            RData::SOA(ref soa) => soa.serial,
            _ => 0,
        }
    }

    /// The zone as CoreDNS's file transfers it: the SOA and apex NS, then every name's records
    /// in canonical order, then the SOA again; for an IXFR from the zone's own serial the SOA
    /// alone.
    pub fn transfer(&self, serial: Option<u32>) -> Vec<Vec<Record>> {
        if serial.is_some_and(|s| s != 0 && s == self.serial()) {
            return vec![vec![self.soa.clone()]];
        }
        let mut chunks = Vec::with_capacity(self.names.len() + 2);
        chunks.push(
            std::iter::once(self.soa.clone())
                .chain(self.ns.iter().cloned())
                .collect(),
        );
        for node in self.names.values() {
            chunks.push(node.sets.iter().flat_map(|(_, rs)| rs.iter().cloned()).collect());
        }
        chunks.push(vec![self.soa.clone()]);
        chunks
    }

    fn node(&self, name: &Name) -> Option<&Node> {
        self.names.get(&LowerName::new(name))
    }

    /// Looks up `qname` (lower-cased) and `qtype` as CoreDNS's `Zone.Lookup` does, without
    /// DNSSEC records.
    pub fn lookup(&self, qname: &Name, qtype: RecordType) -> Answer {
        let soa = || vec![self.soa.clone()];
        if *qname == self.origin {
            match qtype {
                RecordType::SOA => return Answer::new(soa(), self.ns.clone(), Vec::new(), Found::Success),
                RecordType::NS => {
                    // Not glue at the apex, strictly; CoreDNS gives the in-zone addresses too.
                    let glue = self.glue(&self.ns);
                    return Answer::new(self.ns.clone(), Vec::new(), glue, Found::Success);
                }
                _ => {}
            }
        }

        // From the apex down, label by label: a delegation (NS) on the way ends the
        // search; a wildcard seen at some level is kept for when the full name is missing.
        let depth = self.origin.num_labels();
        let mut found: Option<&Node> = None;
        let mut wildcard: Option<&Node> = None;
        for labels in depth..=qname.num_labels() {
            let part = qname.trim_to(usize::from(labels));
            found = self.node(&part);
            let Some(node) = found else {
                if let Some(w) = wildcard_of(&part).and_then(|w| self.node(&w)) {
                    wildcard = Some(w);
                }
                continue;
            };
            // DS at the cut itself is the parent's record: the search goes on.
            let ns = node.get(RecordType::NS);
            let ds_at_cut = qtype == RecordType::DS && part == *qname;
            if !ns.is_empty() && !ds_at_cut {
                return Answer::new(Vec::new(), ns.to_vec(), self.glue(ns), Found::Delegation);
            }
        }

        if let Some(node) = found {
            let cnames = node.get(RecordType::CNAME);
            if !cnames.is_empty() && qtype != RecordType::CNAME {
                return self.chase(cnames.to_vec(), qtype);
            }
            let records = node.get(qtype);
            if records.is_empty() {
                return Answer::new(Vec::new(), soa(), Vec::new(), Found::NoData);
            }
            let additionals = self.additional(records);
            return Answer::new(records.to_vec(), self.ns.clone(), additionals, Found::Success);
        }

        if let Some(node) = wildcard {
            let cnames = renamed(node.get(RecordType::CNAME), qname);
            if !cnames.is_empty() && qtype != RecordType::CNAME {
                return self.chase(cnames, qtype);
            }
            let records = renamed(node.get(qtype), qname);
            if records.is_empty() {
                return Answer::new(Vec::new(), soa(), Vec::new(), Found::NoData);
            }
            return Answer::new(records, self.ns.clone(), Vec::new(), Found::Success);
        }

        // A name below qname exists: qname is an empty non-terminal, NODATA rather than
        // NXDOMAIN (CoreDNS looks at the next name in canonical order).
        let below = self
            .names
            .range(LowerName::new(qname)..)
            .find(|(name, _)| **name != LowerName::new(qname))
            .is_some_and(|(name, _)| qname.zone_of(&Name::from(name.clone())));
        let found = if below { Found::NoData } else { Found::NameError };
        Answer::new(Vec::new(), soa(), Vec::new(), found)
    }

    /// CoreDNS's `externalLookup`: follows `cnames` inside the zone (at most 8 steps), then
    /// adds the records of `qtype` at the last target; a target the zone does not hold is left
    /// for the handler to ask the server about.
    fn chase(&self, mut answers: Vec<Record>, qtype: RecordType) -> Answer {
        let mut target = cname_target(&answers);
        for step in 0.. {
            let Some(node) = target.as_ref().and_then(|t| self.node(t)) else {
                let mut a = Answer::new(answers, self.ns.clone(), Vec::new(), Found::Success);
                a.chase = target;
                return a;
            };
            let cnames = node.get(RecordType::CNAME);
            if cnames.is_empty() {
                answers.extend_from_slice(node.get(qtype));
                break;
            }
            answers.extend_from_slice(cnames);
            target = cname_target(cnames);
            if step + 1 > MAX_CHASE {
                break;
            }
        }
        Answer::new(answers, self.ns.clone(), Vec::new(), Found::Success)
    }

    /// Glue for NS records: the A and AAAA records of targets below the NS owner.
    fn glue(&self, ns: &[Record]) -> Vec<Record> {
        let mut glue = Vec::new();
        for record in ns {
            if let RData::NS(target) = &record.data
                && record.name.zone_of(&target.0)
                && let Some(node) = self.node(&target.0)
            {
                glue.extend_from_slice(node.get(RecordType::A));
                glue.extend_from_slice(node.get(RecordType::AAAA));
            }
        }
        glue
    }

    /// CoreDNS's `additionalProcessing`: addresses of in-zone SRV and MX targets.
    fn additional(&self, answers: &[Record]) -> Vec<Record> {
        let mut extra = Vec::new();
        for record in answers {
            let target = match &record.data {
                RData::SRV(srv) => &srv.target,
                RData::MX(mx) => &mx.exchange,
                _ => continue,
            };
            if let Some(node) = self.origin.zone_of(target).then(|| self.node(target)).flatten() {
                extra.extend_from_slice(node.get(RecordType::A));
                extra.extend_from_slice(node.get(RecordType::AAAA));
            }
        }
        extra
    }
}

/// `*` in place of the leftmost label of `name` (CoreDNS's `replaceWithAsteriskLabel`).
fn wildcard_of(name: &Name) -> Option<Name> {
    if name.num_labels() == 0 {
        return None;
    }
    Name::from_ascii("*").ok()?.append_domain(&name.base_name()).ok()
}

/// Records with their owner set to `qname`: a wildcard's answer.
fn renamed(records: &[Record], qname: &Name) -> Vec<Record> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.name = qname.clone();
            r
        })
        .collect()
}

fn cname_target(records: &[Record]) -> Option<Name> {
    match records.first().map(|r| &r.data) {
        Some(RData::CNAME(CNAME(target))) => Some(target.clone()),
        _ => None,
    }
}

/// Owner and the names in NS, SOA, CNAME, MX and SRV data in lower case, as CoreDNS stores
/// them.
fn lowercase(mut record: Record) -> Record {
    record.name = record.name.to_lowercase();
    record.data = match record.data {
        RData::NS(mut ns) => {
            ns.0 = ns.0.to_lowercase();
            RData::NS(ns)
        }
        RData::CNAME(mut c) => {
            c.0 = c.0.to_lowercase();
            RData::CNAME(c)
        }
        RData::MX(mut mx) => {
            mx.exchange = mx.exchange.to_lowercase();
            RData::MX(mx)
        }
        RData::SRV(mut srv) => {
            srv.target = srv.target.to_lowercase();
            RData::SRV(srv)
        }
        RData::SOA(mut soa) => {
            soa.mname = soa.mname.to_lowercase();
            soa.rname = soa.rname.to_lowercase();
            RData::SOA(soa)
        }
        other => other,
    };
    record
}

/// The line of the first entry of `text` that does not parse: the shortest run of whole
/// entries that fails, found by bisection (hickory's parser reports no positions).
fn failing_line(text: &str, origin: &Name, path: &Path) -> usize {
    let ends = entry_ends(text);
    let fails = |count: usize| {
        let end = if count == 0 { 0 } else { ends[count - 1].0 };
        Parser::new(&text[..end], Some(path.to_path_buf()), Some(origin.clone()))
            .parse()
            .is_err()
    };
    // The smallest number of entries that fails; all of them when none alone does.
    let (mut lo, mut hi) = (0, ends.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fails(mid + 1) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    // The failing entry starts after the one before it, at its first line that is not blank
    // or a comment.
    let (from, line) = match lo.checked_sub(1).and_then(|i| ends.get(i)) {
        Some(&(end, line)) => (end, line + 1),
        None => (0, 1),
    };
    let to = ends.get(lo).map_or(text.len(), |e| e.0);
    let skipped = text[from..to]
        .lines()
        .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with(';'))
        .count();
    line + skipped
}

/// Where each entry of a zone file ends: the byte offset after its last line and that line's
/// number. A line ends an entry outside parentheses and quotes (`;` comments skipped).
fn entry_ends(text: &str) -> Vec<(usize, usize)> {
    let mut ends = Vec::new();
    let (mut depth, mut quoted, mut comment, mut escaped) = (0usize, false, false, false);
    let mut line = 1;
    for (i, c) in text.char_indices() {
        if c == '\n' {
            comment = false;
            if depth == 0 && !quoted {
                ends.push((i + 1, line));
            }
            line += 1;
            continue;
        }
        if comment {
            continue;
        }
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => comment = true,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    // An unterminated last entry (no newline, or a parenthesis left open) ends the text.
    if ends.last().map_or(0, |e| e.0) < text.len() {
        ends.push((text.len(), line));
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CoreDNS's plugin/file test zone (example_org.go) plus delegation, wildcard and ENT cases.
    pub const EXAMPLE_ORG: &str = "$TTL 3600
$ORIGIN example.org.
@       IN      SOA     sns.dns.icann.org. noc.dns.icann.org. (
                        2015082541 ; serial
                        7200       ; refresh
                        3600       ; retry
                        1209600    ; expire
                        3600 )     ; minimum
        IN      NS      b.iana-servers.net.
        IN      NS      a.iana-servers.net.
        IN      MX      10 mx.example.org.
a       IN      A       139.162.196.78
        IN      AAAA    2a01:7e00::f03c:91ff:fef1:6735
www     IN      CNAME   a
archive IN      CNAME   a
out     IN      CNAME   www.example.net.
mx      IN      A       192.0.2.25
srv     IN      SRV     10 10 8080 a.example.org.
*.wild  IN      TXT     \"wild\"
*.w2    IN      CNAME   a
a.b.c   IN      A       192.0.2.1
sub     IN      NS      ns1.sub
        IN      NS      ns.elsewhere.net.
ns1.sub IN      A       192.0.2.53
UPPER   IN      CNAME   A
loop1   IN      CNAME   loop2
loop2   IN      CNAME   loop1
";

    fn zone() -> Zone {
        let origin = Name::from_ascii("example.org.").expect("origin");
        Zone::parse(EXAMPLE_ORG, &origin, Path::new("db.example.org")).expect("zone")
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    fn texts(records: &[Record]) -> Vec<String> {
        records.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn answers_as_coredns_file_does() {
        let z = zone();
        let a = z.lookup(&name("a.example.org."), RecordType::A);
        assert_eq!(a.found, Found::Success);
        assert_eq!(texts(&a.answers), ["a.example.org. 3600 IN A 139.162.196.78"]);
        assert_eq!(a.authorities.len(), 2, "apex NS in authority");

        let cname = z.lookup(&name("www.example.org."), RecordType::AAAA);
        assert_eq!(
            texts(&cname.answers),
            [
                "www.example.org. 3600 IN CNAME a.example.org.",
                "a.example.org. 3600 IN AAAA 2a01:7e00::f03c:91ff:fef1:6735"
            ]
        );

        let nodata = z.lookup(&name("a.example.org."), RecordType::TXT);
        assert_eq!((nodata.found, nodata.answers.len()), (Found::NoData, 0));
        assert_eq!(nodata.authorities[0].record_type(), RecordType::SOA);

        let nx = z.lookup(&name("nope.example.org."), RecordType::A);
        assert_eq!(nx.found, Found::NameError);
        assert_eq!(texts(&nx.authorities).len(), 1);

        let ent = z.lookup(&name("b.c.example.org."), RecordType::A);
        assert_eq!(ent.found, Found::NoData, "empty non-terminal");
        let ent2 = z.lookup(&name("c.example.org."), RecordType::A);
        assert_eq!(ent2.found, Found::NoData, "empty non-terminal two levels up");

        let mx = z.lookup(&name("example.org."), RecordType::MX);
        assert_eq!(texts(&mx.additionals), ["mx.example.org. 3600 IN A 192.0.2.25"]);
        let srv = z.lookup(&name("srv.example.org."), RecordType::SRV);
        assert_eq!(srv.additionals.len(), 2, "A and AAAA of the target");
    }

    #[test]
    fn apex_wildcards_and_delegations() {
        let z = zone();
        let soa = z.lookup(&name("example.org."), RecordType::SOA);
        assert_eq!((soa.answers.len(), soa.authorities.len()), (1, 2));
        let ns = z.lookup(&name("example.org."), RecordType::NS);
        assert_eq!((ns.answers.len(), ns.additionals.len()), (2, 0));

        let wild = z.lookup(&name("x.y.wild.example.org."), RecordType::TXT);
        assert_eq!(texts(&wild.answers), ["x.y.wild.example.org. 3600 IN TXT wild"]);
        let wild_nodata = z.lookup(&name("x.wild.example.org."), RecordType::A);
        assert_eq!(wild_nodata.found, Found::NoData);
        let wild_cname = z.lookup(&name("q.w2.example.org."), RecordType::A);
        assert_eq!(
            texts(&wild_cname.answers),
            [
                "q.w2.example.org. 3600 IN CNAME a.example.org.",
                "a.example.org. 3600 IN A 139.162.196.78"
            ]
        );

        let deleg = z.lookup(&name("host.sub.example.org."), RecordType::A);
        assert_eq!(deleg.found, Found::Delegation);
        assert_eq!(deleg.authorities.len(), 2);
        assert_eq!(
            texts(&deleg.additionals),
            ["ns1.sub.example.org. 3600 IN A 192.0.2.53"]
        );
        let ds = z.lookup(&name("sub.example.org."), RecordType::DS);
        assert_eq!(ds.found, Found::NoData, "DS at the cut is the parent's");
    }

    #[test]
    fn cnames_out_of_zone_are_left_to_the_server_and_loops_end() {
        let z = zone();
        let out = z.lookup(&name("out.example.org."), RecordType::A);
        assert_eq!(out.chase, Some(name("www.example.net.")));
        assert_eq!(out.answers.len(), 1);
        let looped = z.lookup(&name("loop1.example.org."), RecordType::A);
        assert_eq!(looped.found, Found::Success);
        assert!(looped.answers.len() <= MAX_CHASE + 2, "{}", looped.answers.len());
        let upper = z.lookup(&name("upper.example.org."), RecordType::A);
        assert_eq!(
            texts(&upper.answers)[0],
            "upper.example.org. 3600 IN CNAME a.example.org."
        );
    }

    #[test]
    fn transfers_go_apex_first_in_canonical_order() {
        let z = zone();
        let chunks = z.transfer(None);
        let owners: Vec<String> = chunks.iter().map(|c| c[0].name.to_string()).collect();
        assert_eq!(owners.first().map(String::as_str), Some("example.org."));
        assert_eq!(chunks[0].len(), 3, "SOA and the two apex NS");
        assert_eq!(chunks.last().map(|c| c[0].record_type()), Some(RecordType::SOA));
        let middle: Vec<&str> = owners[1..owners.len() - 1].iter().map(String::as_str).collect();
        let mut canonical = middle.clone();
        canonical.sort_by_key(|n| LowerName::new(&name(n)));
        assert_eq!(middle, canonical);
        assert!(middle.contains(&"a.b.c.example.org."));
        let records: usize = chunks.iter().map(Vec::len).sum();
        assert_eq!(records, 2 + 2 + 17, "both SOAs, the apex NS, every other record");

        assert_eq!(
            z.transfer(Some(2015082541)).concat().len(),
            1,
            "IXFR from our serial"
        );
        assert_eq!(z.transfer(Some(2015082540)).len(), chunks.len(), "IXFR as AXFR");
    }

    #[test]
    fn bad_files_say_where() {
        let origin = name("example.org.");
        let text = EXAMPLE_ORG.replace("mx      IN      A       192.0.2.25", "mx IN A 192.0.2");
        let e = Zone::parse(&text, &origin, Path::new("db.example.org")).expect_err("bad A");
        let line = EXAMPLE_ORG
            .lines()
            .position(|l| l.starts_with("mx "))
            .expect("mx line")
            + 1;
        assert!(
            e.to_string().starts_with(&format!("db.example.org:{line}: ")),
            "{e}"
        );

        let e = Zone::parse("$TTL 60\na IN A 192.0.2.1\n", &origin, Path::new("db")).expect_err("no SOA");
        assert_eq!(
            e.to_string(),
            "file \"db\" has no SOA record for origin example.org."
        );
        let e = Zone::parse("$TTL 60\n@ IN SOA a. b. (1 2\n 3 4\n", &origin, Path::new("db"))
            .expect_err("open paren");
        assert!(e.to_string().starts_with("db:2: "), "{e}");
    }
}
